"""The typed tag language: kinds as a union, conditions as trees, and fingerprints that did not
move when the definitions became typed (recorded with the untyped code in data/)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import ibis
import pytest

from portrait.tags.catalog import TagCatalogError, builtin_files, load_catalog, parse_catalog
from portrait.tags.compile import Sources, compile_profile
from portrait.tags.conditions import (
    AllOf,
    AnyOf,
    Compare,
    Fold,
    Not,
    leaves,
    parse_condition,
    to_mapping,
)
from portrait.tags.model import FactTag, ModelTag, RuleTag
from portrait.tags.sources import EVENT_FIELDS, USER_FIELDS, AsOf

DATA = Path(__file__).parent / "data"
RECORDED = json.loads((DATA / "fingerprints.json").read_text(encoding="utf-8"))
SHOP = DATA / "shop_tags.yaml"


def shop_catalog():
    return parse_catalog([*builtin_files(), (str(SHOP), SHOP.read_text(encoding="utf-8"))])


def test_builtin_fingerprints_are_the_ones_recorded_before_typing() -> None:
    catalog = load_catalog()
    assert {t.id: t.fingerprint for t in catalog} == RECORDED["builtin"]["tags"]
    assert catalog.fingerprint == RECORDED["builtin"]["catalog"]


def test_a_shop_file_using_every_form_loads_with_the_same_fingerprints() -> None:
    catalog = shop_catalog()
    shop = {t.id: t.fingerprint for t in catalog if t.group == "shop"}
    assert shop == RECORDED["shop"]["tags"]
    assert catalog.fingerprint == RECORDED["shop"]["catalog"]


def test_each_kind_is_its_own_class_and_reads_the_other_blocks_as_none() -> None:
    catalog = shop_catalog()
    fact, rule, model = (catalog.get(i) for i in ("shop_city", "shop_busy", "shop_churn"))
    assert isinstance(fact, FactTag) and fact.rule is None and fact.model is None
    assert isinstance(rule, RuleTag) and rule.fact is None and rule.model is None
    assert isinstance(model, ModelTag) and model.fact is None and model.rule is None
    assert catalog.get("shop_next_categories").top_n == 3


def test_conditions_are_trees_written_back_as_read() -> None:
    raw = {
        "type": "$types",
        "all": [{"device": {"in": ["app"]}}, {"channel": None}],
        "not": {"any": [{"quantity": {"le": 0, "gt": -5}}, {"price": {"eq": None}}]},
    }
    tree = parse_condition(raw)
    assert isinstance(tree, AllOf)
    kinds = [type(item) for item in tree.items]
    assert kinds == [Compare, AllOf, Not]
    assert isinstance(tree.items[2].item.items[0], AnyOf)
    assert to_mapping(tree) == raw
    assert json.dumps(to_mapping(tree)) == json.dumps(raw)  # key order too (docs show it)
    ops = [(leaf.column, leaf.op) for leaf in leaves(tree)]
    assert ops == [
        ("type", "eq"),
        ("device", "in"),
        ("channel", "is_null"),
        ("quantity", "le"),
        ("quantity", "gt"),
        ("price", "eq"),
    ]


def test_a_shorthand_param_test_takes_the_form_of_its_value() -> None:
    (leaf,) = leaves(parse_condition({"type": "$types"}))
    assert leaf.resolved({"types": ["order", "refund"]}).op == "in"
    assert leaf.resolved({"types": "order"}).op == "eq"
    assert leaf.resolved({"types": None}).op == "is_null"


def test_a_fold_sees_every_node() -> None:
    class Text(Fold[str]):
        def compare(self, leaf: Compare) -> str:
            return f"{leaf.column} {leaf.op} {leaf.value}"

        def all_of(self, node: AllOf, parts: list[str]) -> str:
            return "(" + " and ".join(parts) + ")"

        def any_of(self, node: AnyOf, parts: list[str]) -> str:
            return "(" + " or ".join(parts) + ")"

        def negate(self, node: Not, part: str) -> str:
            return f"not {part}"

    tree = parse_condition({"a": 1, "not": {"any": [{"b": [2]}, {"c": {"gt": 3}}]}})
    assert Text()(tree) == "(a eq 1 and not (((b in [2]) or (c gt 3))))"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({}, "fact.where: a condition must be a non-empty mapping, got {}"),
        ({"any": {"type": "order"}}, "fact.where: `any` takes a list of conditions"),
        ({"price": {"more": 1}}, "fact.where: unknown test ['more'] on 'price'; use ["),
        ({"price": {}}, "fact.where: the test on 'price' is empty"),
        ({"price": {"in": [[1]]}}, "fact.where: the test in on 'price' compares with a value"),
    ],
)
def test_a_malformed_condition_names_its_field(where: dict, message: str) -> None:
    text = (
        "group: {id: custom, zh: 自定义, en: Custom}\n"
        "tags:\n"
        "  - {id: x, zh: x, en: x, description: x, kind: fact, type: int,\n"
        f"     fact: {{from: events, agg: count, where: {json.dumps(where)}}}}}\n"
    )
    with pytest.raises(TagCatalogError) as info:
        parse_catalog([("custom.yaml", text)])
    assert str(info.value).startswith(f"custom.yaml: tag 'x': {message}")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("", "kind: is fact or rule or model"),
        ("kind: facts,", "kind: is fact or rule or model"),
        ("kind: rule,", "kind 'rule' needs a `rule:` block"),
    ],
)
def test_a_missing_or_unknown_kind_is_named(kind: str, message: str) -> None:
    text = (
        "group: {id: custom, zh: 自定义, en: Custom}\n"
        "tags:\n"
        f"  - {{id: x, zh: x, en: x, description: x, {kind} type: int,\n"
        "     fact: {from: events, agg: count}}\n"
    )
    with pytest.raises(TagCatalogError) as info:
        parse_catalog([("custom.yaml", text)])
    assert str(info.value).startswith(f"custom.yaml: tag 'x': {message}")


def test_every_form_of_the_shop_file_compiles_and_runs() -> None:
    """The shop file's catalog compiled and run over empty sources (each form's SQL is valid)."""
    catalog = shop_catalog()
    con = ibis.duckdb.connect()

    def table(name: str, fields: dict[str, str]) -> ibis.Table:
        schema = {c: _ibis_type(kind) for c, kind in fields.items()}
        return con.create_table(name, schema=ibis.schema(schema))

    src = Sources(events=table("ev", EVENT_FIELDS), users=table("us", USER_FIELDS))
    expr = compile_profile(catalog, src, AsOf.from_date(datetime(2025, 4, 1), "UTC"))
    result = con.to_pyarrow(expr)
    assert result.num_rows == 0
    assert {"shop_orders_7d", "shop_busy", "shop_share_score"} <= set(result.column_names)


def _ibis_type(kind: str) -> str:
    for prefix, type_ in (("string", "string"), ("int", "int64"), ("float", "float64")):
        if kind.startswith(prefix):
            return type_
    return {"date": "date", "bool": "boolean"}[kind]
