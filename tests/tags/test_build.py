"""Builds: as-of without leakage, incremental equals full, versions, model scores, snapshots."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from portrait.datasets.simulator import simulate
from portrait.workspace import Workspace

START = date(2025, 1, 1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    """A small simulated shop's files (60 days from 2025-01-01)."""
    return simulate(tmp_path_factory.mktemp("shop"), users=400, days=60, seed=3, start=START)


def rows(ws: Workspace, as_of: str | None = None) -> dict[str, dict]:
    table = ws.profile_table(as_of)
    return {r["person_id"]: r for r in table.to_pylist()}


def assert_same_profiles(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert a.keys() == b.keys(), f"persons differ: {sorted(a.keys() ^ b.keys())[:5]}"
    assert len(a) > 100
    for pid, ra in a.items():
        rb = b[pid]
        for tag, va in ra.items():
            vb = rb[tag]
            if isinstance(va, float) and isinstance(vb, float):
                assert math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-12), (pid, tag, va, vb)
            else:
                assert va == vb, (pid, tag, va, vb)


def split_events(path: Path, out: Path, before: datetime) -> tuple[Path, Path]:
    """Events before/after a time, written as two files."""
    t = pq.read_table(path)
    cut = pa.scalar(before, type=t.schema.field("ts").type)
    early, late = out / "early.parquet", out / "late.parquet"
    pq.write_table(t.filter(pc.less(t["ts"], cut)), early)
    pq.write_table(t.filter(pc.greater_equal(t["ts"], cut)), late)
    return early, late


def load(ws: Workspace, shop, events: list[Path]) -> None:
    ws.ingest_file(shop.users[0], "users", timezone="UTC")
    ws.ingest_file(shop.products[0], "products", timezone="UTC")
    for p in events:
        ws.ingest_file(p, "events", timezone="UTC")


def test_as_of_uses_only_earlier_events(shop, tmp_path: Path) -> None:
    """A build as of D on all the data equals a build on a warehouse holding only the events
    before D: nothing after D leaks in (windows, recency, scores, personas).

    Identity is resolved with the current identity map (a later login stitches a visitor's
    earlier anonymous events to the user), so the cut warehouse keeps the later login and
    register events that carry those links; they are after D, so no tag may count them."""
    early, late = split_events(shop.events[0], tmp_path, datetime(2025, 2, 1))
    links = pq.read_table(late)
    links = links.filter(pc.is_in(links["type"], pa.array(["login", "register"])))
    pq.write_table(links, tmp_path / "links.parquet")
    full = Workspace.init(tmp_path / "full")
    cut = Workspace.init(tmp_path / "cut")
    load(full, shop, [shop.events[0]])
    load(cut, shop, [early, tmp_path / "links.parquet"])
    a = full.build(as_of="2025-02-01")
    b = cut.build(as_of="2025-02-01")
    assert a.persons == b.persons > 100
    assert_same_profiles(rows(full), rows(cut))
    # and the profile of a later date does see the later events
    later = full.build(as_of="2025-03-02")
    assert later.as_of == "2025-03-02"
    assert rows(full, "2025-03-02") != rows(full, "2025-02-01")
    full.close()
    cut.close()


def test_incremental_build_equals_full_rebuild(shop, tmp_path: Path) -> None:
    """After late and new events, new users' records and an identity merge, the incremental
    build recomputes only the persons concerned and gives exactly the full rebuild."""
    early, late = split_events(shop.events[0], tmp_path, datetime(2025, 2, 15))
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [early])
    first = ws.build(as_of="2025-02-15")
    assert first.mode == "full"

    # new events, plus one late-arriving event dated inside the first build's period
    late_table = pq.read_table(late)
    next_day = late_table.filter(
        pc.less(
            late_table["ts"],
            pa.scalar(datetime(2025, 2, 16), type=late_table.schema.field("ts").type),
        )
    )
    pq.write_table(next_day.slice(0, 300), tmp_path / "late1.parquet")
    ws.ingest_file(tmp_path / "late1.parquet", "events", timezone="UTC")
    users = [r[0] for r in ws.warehouse.fetchall("SELECT user_id FROM users ORDER BY 1 LIMIT 2")]
    ws.ingest_records(
        [{"event_id": "late-1", "user_id": users[0], "ts": "2025-02-10T08:00:00Z",
          "type": "order", "order_id": "o-late", "product_id": "p000001", "quantity": 2,
          "price": 99.5}],
        "events",
    )  # fmt: skip
    ws.merge_users(users[0], users[1], "test merge")

    inc = ws.build(as_of="2025-02-16")
    assert inc.mode == "incremental"
    assert 0 < inc.recomputed < inc.persons
    incremental = rows(ws)
    full = ws.build(as_of="2025-02-16", full=True)
    assert full.mode == "full"
    assert_same_profiles(incremental, rows(ws))
    merged = [p for p in incremental if p in users]
    assert len(merged) == 1  # the two merged users are one person now
    ws.close()


def test_rebuild_without_changes_recomputes_nobody(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [shop.events[0]])
    first = ws.build(as_of="2025-03-02")
    again = ws.build(as_of="2025-03-02")  # same date, nothing new: the first build stands
    assert again.mode == "unchanged" and again.recomputed == 0
    assert (again.build_id, again.snapshot, again.persons) == (
        first.build_id, first.snapshot, first.persons,
    )  # fmt: skip
    assert [b.mode for b in ws.profile_builds()] == ["full"]
    later = ws.build(as_of="2025-03-03")  # a new date: windows move, so it is a build
    assert later.mode == "incremental" and later.build_id != first.build_id
    assert ws.build(as_of="2025-03-03").mode == "unchanged"
    ws.close()


def test_new_model_scores_make_a_same_date_rebuild_run(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [shop.events[0]])
    first = ws.build(as_of="2025-03-02")
    person = ws.warehouse.fetchone(f"SELECT min(person_id) FROM {first.snapshot}")[0]
    ws.warehouse.execute(
        "INSERT INTO model_scores VALUES (?, 'churn_propensity', '0.9', 'test', now())", [person]
    )
    again = ws.build(as_of="2025-03-02")
    assert again.mode == "incremental" and again.recomputed == 0
    assert again.build_id != first.build_id
    row = ws.warehouse.fetchone(
        f"SELECT churn_propensity FROM {again.snapshot} WHERE person_id = ?", [person]
    )
    assert row[0] == pytest.approx(0.9)
    assert ws.build(as_of="2025-03-02").mode == "unchanged"
    ws.warehouse.execute("DELETE FROM model_scores")  # scores withdrawn: a build again
    assert ws.build(as_of="2025-03-02").mode == "incremental"
    ws.close()


def test_changed_definition_gets_a_new_version(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [shop.events[0]])
    tags_dir = ws.root / "tags"
    tags_dir.mkdir()
    tag = """group: {id: shop, zh: 本店, en: This shop}
tags:
  - id: big_orders
    zh: 大单数
    en: Big order lines
    description: Order lines above a price.
    kind: fact
    type: int
    params: {price: PRICE}
    fact: {from: events, where: {type: order, price: {gt: $price}}, agg: count}
"""
    (tags_dir / "shop.yaml").write_text(tag.replace("PRICE", "500"), encoding="utf-8")
    first = ws.build()
    assert ws.tag("big_orders").version == 1
    values_before = ws.warehouse.fetchone(
        "SELECT count(*), max(version) FROM tag_values WHERE tag_id = 'big_orders'"
    )
    assert values_before[0] > 0 and values_before[1] == 1
    (tags_dir / "shop.yaml").write_text(tag.replace("PRICE", "50"), encoding="utf-8")
    ws.profiles.reload_catalog()
    second = ws.build()
    assert second.mode == "full"  # a new catalog fingerprint forces a full build
    info = ws.tag("big_orders")
    assert info.version == 2
    assert [v.version for v in info.versions] == [2, 1]
    assert ws.tag("orders_total").version == 1  # unchanged tags keep their version
    by_build = dict(
        ws.warehouse.fetchall(
            "SELECT build_id, version FROM tag_build_tags WHERE tag_id = 'big_orders'"
        )
    )
    assert by_build == {first.build_id: 1, second.build_id: 2}
    ws.close()


def test_model_scores_fill_model_tags(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [shop.events[0]])
    ws.build()
    person = ws.profile_table(tags=["orders_total"]).column("person_id")[0].as_py()
    assert rows(ws)[person]["churn_propensity"] is None
    ws.warehouse.execute(
        "INSERT INTO model_scores VALUES (?, 'churn_propensity', '0.25', 'churn', now())", [person]
    )
    ws.build(full=True)
    assert rows(ws)[person]["churn_propensity"] == pytest.approx(0.25)
    ws.close()


def test_profile_lookup_and_errors(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [shop.events[0]])
    with pytest.raises(LookupError, match="portrait build"):
        ws.profile("u0000001")
    ws.build(as_of="2025-03-02")
    person = ws.warehouse.fetchone(
        "SELECT person_id FROM profile WHERE orders_total > 2 ORDER BY person_id LIMIT 1"
    )[0]
    p = ws.profile(person, lang="zh")
    assert p.person_id == person and p.as_of == "2025-03-02"
    groups = [g.id for g in p.groups]
    assert groups[:3] == ["basic", "behaviour", "interest"]
    behaviour = next(g for g in p.groups if g.id == "behaviour")
    assert behaviour.label == "行为"
    tags = {t.id: t for sub in behaviour.groups for t in sub.tags}
    assert tags["orders_total"].value > 2 and tags["orders_total"].label == "累计订单数"
    assert 0 < len(p.timeline) <= 10
    assert all(e.ts < "2025-03-02" for e in p.timeline)
    with pytest.raises(LookupError, match="no profile"):
        ws.profile("nobody-here")
    with pytest.raises(LookupError, match="--as-of 2024-01-01"):
        ws.profile(person, as_of="2024-01-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        ws.build(as_of="March")
    ws.close()


def test_staged_events_carry_every_column_a_workspace_tag_reads(shop, tmp_path: Path) -> None:
    """The build stages only the event columns the facts read (``event_columns``): a workspace
    tag reading columns no built-in tag does (in ``of``, nested ``any``/``not`` conditions and
    ``weight_of``) still gets them, with the value a direct query gives; the staged table is
    dropped after the build."""
    from portrait.tags.compile import event_columns

    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [shop.events[0]])
    builtin = set(event_columns(ws.profiles.catalog))
    assert {"person_id", "t", "type", "day", "order_id", "brand"} <= builtin
    assert not {"campaign_id", "discount_amount", "user_id"} & builtin
    tags_dir = ws.root / "tags"
    tags_dir.mkdir()
    (tags_dir / "shop.yaml").write_text(
        """group: {id: shop, zh: 本店, en: This shop}
tags:
  - id: campaign_messages
    zh: 活动消息
    en: Campaign messages
    description: Messages of a campaign, not opened ones.
    kind: fact
    type: int
    fact:
      from: events
      agg: count
      where: {any: [{campaign_id: {is_null: false}}], not: {type: message_opened}}
  - id: top_discount_brand
    zh: 折扣品牌
    en: Brand with most discount
    description: The brand with the most discount money.
    kind: fact
    type: enum
    values: [brand_00, brand_01, brand_02]
    fact: {from: events, where: {type: order}, agg: mode, of: brand, weight_of: discount_amount}
""",
        encoding="utf-8",
    )
    catalog = ws.profiles.reload_catalog()
    assert {"campaign_id", "discount_amount"} <= set(event_columns(catalog))
    result = ws.build()
    got = dict(
        ws.warehouse.fetchall(
            f"SELECT person_id, campaign_messages FROM {result.snapshot} "
            "WHERE campaign_messages > 0"
        )
    )
    expected = dict(
        ws.warehouse.fetchall(
            "SELECT coalesce(m.person_id, e.user_id), count(*) FROM events e "
            "LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = e.user_id "
            "WHERE e.campaign_id IS NOT NULL AND e.type <> 'message_opened' "
            "AND e.user_id IS NOT NULL GROUP BY 1"
        )
    )
    assert got and got == expected
    left = ws.warehouse.fetchall(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_events\\_%' ESCAPE '\\'"
    )
    assert left == []
    ws.close()
