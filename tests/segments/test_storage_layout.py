"""Segment tables of an earlier layout are brought up to date: memberships kept, index remade."""

from __future__ import annotations

from pyroaring import FrozenBitMap

from portrait.segments import storage
from portrait.store.warehouse import Warehouse

OLD_MEMBERS = """CREATE TABLE segment_members (
  name VARCHAR NOT NULL, build_id VARCHAR NOT NULL, as_of DATE NOT NULL, size BIGINT NOT NULL,
  path VARCHAR NOT NULL, normalized VARCHAR NOT NULL, bitmap BLOB NOT NULL,
  evaluated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (name, build_id))"""
OLD_BITMAPS = """CREATE TABLE segment_index_bitmaps (build_id VARCHAR, tag_id VARCHAR,
  part VARCHAR, key VARCHAR, cardinality BIGINT, bitmap BLOB)"""


def layout(wh: Warehouse, table: str) -> str:
    return wh.fetchone("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table])[0]


def test_old_layout_is_upgraded_keeping_memberships() -> None:
    wh = Warehouse(None)
    storage.ensure_tables(wh)
    for table in ("segment_members", "segment_index_bitmaps"):
        wh.execute(f"DROP TABLE {table}")
    wh.execute(OLD_MEMBERS)
    wh.execute(OLD_BITMAPS)
    members = FrozenBitMap([1, 5, 70_000])
    wh.execute(
        "INSERT INTO segment_members VALUES ('vip', 'b1', DATE '2025-01-01', 3, 'bitmap', "
        "'x = 1', ?, now())",
        [members.serialize()],
    )
    wh.execute("INSERT INTO segment_index_bitmaps VALUES ('b1', 't', 'value', 'a', 1, 'x')")

    storage.ensure_tables(wh)
    for table in ("segment_members", "segment_index_bitmaps", "segment_index_tags"):
        assert "USING COMPRESSION" in layout(wh, table).upper(), table
    row = wh.fetchone("SELECT member_key, size, bitmap FROM segment_members")
    assert row[:2] == ("vip/b1", 3)
    assert FrozenBitMap.deserialize(row[2]) == members
    # the index is derived data: dropped, to be made again by the next count or build
    assert wh.fetchone("SELECT count(*) FROM segment_index_bitmaps")[0] == 0
    assert "_segment_members_old" not in {r[0] for r in wh.fetchall("SHOW TABLES")}

    before = layout(wh, "segment_members")
    storage.ensure_tables(wh)  # current: nothing to do
    assert layout(wh, "segment_members") == before
    assert wh.fetchone("SELECT count(*) FROM segment_members")[0] == 1
