"""A broken tag file is refused on load with a message naming the file, the tag and the fix.

Each test starts from a valid workspace tag (``orders_2d``), breaks one thing and loads it
after the built-in catalog, as a workspace's tag folder is loaded. Where the broken tag reads
no built-in tag, it is loaded on its own: the built-in files are valid, so the first error is
the same, and parsing them takes a third of a second.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from portrait.tags.catalog import TagCatalogError, builtin_files, load_catalog, parse_catalog

FILE = "workspace/tags/custom.yaml"
VALID_TAG: dict[str, Any] = {
    "id": "orders_2d",
    "zh": "近2天订单数",
    "en": "Orders, last 2 days",
    "description": "Distinct orders placed in the 2 days before the build date.",
    "kind": "fact",
    "type": "int",
    "window": "2d",
    "fact": {
        "from": "events",
        "where": {"type": "order"},
        "agg": "count_distinct",
        "of": "order_id",
    },
}


def tag_file(*tags: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {"group": {"id": "custom", "zh": "自定义", "en": "Custom"}, "tags": list(tags)},
        allow_unicode=True,
        sort_keys=False,
    )


def tag(**changes: Any) -> dict[str, Any]:
    """The valid tag with some fields replaced (a value of None removes the field)."""
    out = copy.deepcopy(VALID_TAG)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def rule(tag_id: str, type: str, body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return tag(
        **{"window": None, "fact": None, **fields}, id=tag_id, type=type, kind="rule", rule=body
    )


def load_error(text: str, builtin: bool = False) -> str:
    """The message of the error loading ``text`` (after the built-in files if ``builtin``)."""
    with pytest.raises(TagCatalogError) as info:
        parse_catalog([*(builtin_files() if builtin else []), (FILE, text)])
    return str(info.value)


def test_the_valid_tag_loads_from_a_workspace_folder(tmp_path: Path) -> None:
    (tmp_path / "custom.yaml").write_text(tag_file(tag()), encoding="utf-8")
    catalog = load_catalog(tmp_path)
    assert catalog.get("orders_2d").file == str(tmp_path / "custom.yaml")
    assert "orders_30d" in catalog


def test_invalid_yaml() -> None:
    text = (
        "group: {id: custom, zh: 自定义, en: Custom}\n"
        "tags:\n"
        "  - id: orders_2d\n"
        "    window: [2d\n"
        "    kind: fact\n"
    )
    msg = load_error(text)
    assert msg.startswith(f"{FILE}: not valid YAML")
    assert "line 4" in msg  # where the unclosed list starts


def test_a_file_that_is_not_a_mapping() -> None:
    msg = load_error("- just\n- a list\n")
    assert msg == f"{FILE}: expected a mapping with `group:` and `tags:` at the top"


def test_unknown_field() -> None:
    broken = tag(window=None, windw="2d")
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'orders_2d': windw: is not a known field")
    assert "check the spelling" in msg


def test_unknown_aggregate() -> None:
    broken = tag(fact={**VALID_TAG["fact"], "agg": "count_distinctt"})
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'orders_2d': fact.agg: Input should be")
    assert "'count_distinct'" in msg


def test_unknown_column_in_a_fact() -> None:
    broken = tag(fact={**VALID_TAG["fact"], "of": "order_no"})
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'orders_2d': events have no column 'order_no'")
    assert "columns are: " in msg and "order_id" in msg


def test_unknown_column_in_a_condition() -> None:
    broken = tag(fact={**VALID_TAG["fact"], "where": {"kind": "order"}})
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'orders_2d': condition on unknown column 'kind'")
    assert "columns are: " in msg and " type," in msg


def test_unknown_user_column() -> None:
    broken = tag(
        id="income", type="float", window=None, fact={"from": "users", "agg": "value", "of": "pay"}
    )
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'income': users have no column 'pay'")
    assert "birth_date" in msg


def test_unknown_tag_read_by_a_rule() -> None:
    broken = rule("spend_per_visit", "float", {"compute": {"div": ["total_spend", "visits_all"]}})
    msg = load_error(tag_file(broken), builtin=True)
    assert msg == (
        f"{FILE}: tag 'spend_per_visit': reads unknown tag 'visits_all'; define it or fix the name"
    )


def test_unknown_tag_in_a_condition() -> None:
    broken = rule(
        "busy", "bool", {"cases": [{"when": {"ordrs_30d": {"ge": 3}}, "then": True}], "else": False}
    )
    msg = load_error(tag_file(broken), builtin=True)
    assert msg.startswith(f"{FILE}: tag 'busy': reads unknown tag 'ordrs_30d'")
    assert "define it or fix the name" in msg


def test_cycle_between_rules() -> None:
    a = rule("a", "int", {"compute": {"add": ["b", 1]}})
    b = rule("b", "int", {"compute": {"add": ["a", 1]}})
    msg = load_error(tag_file(a, b))
    assert msg.startswith(f"{FILE}: tag 'a' is part of a cycle (a -> b -> a)")
    assert "a rule cannot depend on itself, directly or through other rules" in msg


def test_rule_reading_itself() -> None:
    me = rule("me", "int", {"compute": {"add": ["me", 1]}})
    msg = load_error(tag_file(me))
    assert msg.startswith(f"{FILE}: tag 'me' is part of a cycle (me -> me)")


def test_undeclared_param() -> None:
    broken = rule(
        "big_spender",
        "bool",
        {"cases": [{"when": {"total_spend": {"ge": "$threshold"}}, "then": True}], "else": False},
        params={"thresold": 1000},
    )
    msg = load_error(tag_file(broken), builtin=True)
    assert msg == (
        f"{FILE}: tag 'big_spender': $threshold is not in `params`; "
        "add `params: {threshold: ...}`"
    )


def test_condition_on_an_enum_value_it_never_takes() -> None:
    broken = rule(
        "woman", "bool", {"cases": [{"when": {"gender": "female"}, "then": True}], "else": False}
    )
    msg = load_error(tag_file(broken), builtin=True)
    assert msg == f"{FILE}: tag 'woman': 'gender' never takes 'female'; it takes ['F', 'M', 'U']"


def test_enum_param_value_it_never_takes() -> None:
    broken = rule(
        "plain_buyer",
        "bool",
        {"cases": [{"when": {"price_band": "$bands"}, "then": True}], "else": False},
        params={"bands": ["budget", "cheap"]},
    )
    msg = load_error(tag_file(broken), builtin=True)
    assert msg.startswith(f"{FILE}: tag 'plain_buyer': 'price_band' never takes 'cheap'")
    assert "it takes ['budget', 'mid', 'premium']" in msg


def test_rule_value_outside_its_own_values() -> None:
    broken = rule(
        "spender",
        "enum",
        {"cases": [{"when": {"total_spend": {"ge": 100}}, "then": "big"}], "else": "low"},
        values=["low", "high"],
    )
    msg = load_error(tag_file(broken), builtin=True)
    assert msg == f"{FILE}: tag 'spender': value 'big' is not among its `values` ['low', 'high']"


def test_duplicate_id_of_a_builtin_tag(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(tag_file(tag(id="orders_30d", window="30d")), encoding="utf-8")
    with pytest.raises(TagCatalogError) as info:
        load_catalog(tmp_path)
    assert str(info.value) == (
        f"{path}: tag 'orders_30d' is already defined in builtin:behaviour.yaml; "
        "give one of them another id"
    )


def test_duplicate_id_between_two_workspace_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(tag_file(tag()), encoding="utf-8")
    (tmp_path / "b.yml").write_text(tag_file(tag()), encoding="utf-8")
    with pytest.raises(TagCatalogError) as info:
        load_catalog(tmp_path)
    assert str(info.value).startswith(
        f"{tmp_path / 'b.yml'}: tag 'orders_2d' is already defined in {tmp_path / 'a.yaml'}"
    )


@pytest.mark.parametrize(
    ("kind", "agg", "type", "allowed"),
    [
        ("events", "count", "float", "int"),
        ("events", "mean", "int", "float"),
        ("events", "top", "text", "top"),
        ("events", "last", "date", "timestamp"),
    ],
)
def test_aggregate_and_type_that_do_not_go_together(kind, agg, type, allowed) -> None:
    fact = {"from": kind, "where": {"type": "order"}, "agg": agg, "of": "price"}
    msg = load_error(tag_file(tag(type=type, fact=fact)))
    assert msg == f"{FILE}: tag 'orders_2d': agg {agg!r} gives {allowed}, not {type!r}"


def test_aggregate_without_its_column() -> None:
    broken = tag(fact={"from": "events", "where": {"type": "order"}, "agg": "count_distinct"})
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'orders_2d': fact: agg 'count_distinct' needs `of:")


@pytest.mark.parametrize("window", ["2", "2 days", "2w", "d"])
def test_bad_window(window: str) -> None:
    msg = load_error(tag_file(tag(window=window)))
    assert msg.startswith(f"{FILE}: tag 'orders_2d': window: ")
    assert f"window {window!r} must look like 30d (a number of days)" in msg


def test_window_on_a_rule() -> None:
    broken = rule("more_orders", "int", {"compute": {"add": [1, 2]}}, window="2d")
    msg = load_error(tag_file(broken))
    assert msg == f"{FILE}: tag 'more_orders': `window` applies to facts over events only"


def test_band_with_the_wrong_number_of_labels() -> None:
    broken = rule(
        "spend_band",
        "enum",
        {"band": {"of": "total_spend", "edges": [100, 1000], "labels": ["low", "high"]}},
        values=["low", "high"],
    )
    msg = load_error(tag_file(broken))
    assert msg.startswith(f"{FILE}: tag 'spend_band': ")
    assert "band has 2 edges so it needs 3 labels, got 2" in msg
