"""Migration 8 brings the segment tables of any earlier release to today's layout: the history
of memberships and the definitions are kept, the index (derived data) is dropped to be made
again. Each case opens a warehouse file whose segment tables were made by hand with an old DDL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from pyroaring import FrozenBitMap

from portrait.store import segment_index
from portrait.store import segments as segment_store
from portrait.store.segments_ddl import SEGMENT_TABLES_SQL
from portrait.store.warehouse import Warehouse

SEGMENTS = """CREATE TABLE segments (name VARCHAR PRIMARY KEY, expression VARCHAR NOT NULL,
  normalized VARCHAR NOT NULL, description VARCHAR, builtin BOOLEAN NOT NULL,
  created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)"""
PERSON_IDS = "CREATE TABLE segment_person_ids (person_id VARCHAR NOT NULL, pid UINTEGER NOT NULL)"
INDEX_BUILDS = """CREATE TABLE segment_index_builds (build_id VARCHAR PRIMARY KEY,
  snapshot VARCHAR NOT NULL, persons BIGINT NOT NULL, universe BLOB NOT NULL,
  tags INTEGER NOT NULL, skipped VARCHAR NOT NULL, bytes BIGINT NOT NULL,
  seconds DOUBLE NOT NULL, created_at TIMESTAMPTZ NOT NULL)"""

# the first release (bit-sliced numbers, two-column keys, BLOBs compressed)
FIRST_RELEASE = [
    SEGMENTS,
    PERSON_IDS,
    INDEX_BUILDS,
    """CREATE TABLE segment_index_tags (build_id VARCHAR NOT NULL, tag_id VARCHAR NOT NULL,
      value_type VARCHAR NOT NULL, encoding VARCHAR NOT NULL, distinct_values BIGINT NOT NULL,
      non_null BIGINT NOT NULL, present BLOB NOT NULL, dictionary BLOB, dtype VARCHAR,
      PRIMARY KEY (build_id, tag_id))""",
    """CREATE TABLE segment_index_bitmaps (build_id VARCHAR NOT NULL, tag_id VARCHAR NOT NULL,
      part VARCHAR NOT NULL, key VARCHAR NOT NULL, cardinality BIGINT NOT NULL,
      bitmap BLOB NOT NULL)""",
    """CREATE TABLE segment_members (name VARCHAR NOT NULL, build_id VARCHAR NOT NULL,
      as_of DATE NOT NULL, size BIGINT NOT NULL, path VARCHAR NOT NULL,
      normalized VARCHAR NOT NULL, bitmap BLOB NOT NULL, evaluated_at TIMESTAMPTZ NOT NULL,
      PRIMARY KEY (name, build_id))""",
]
# the stepped index: one-column keys, BLOBs still compressed
KEYED = [
    SEGMENTS,
    PERSON_IDS,
    INDEX_BUILDS,
    """CREATE TABLE segment_index_tags (tag_key VARCHAR PRIMARY KEY, build_id VARCHAR NOT NULL,
      tag_id VARCHAR NOT NULL, value_type VARCHAR NOT NULL, encoding VARCHAR NOT NULL,
      distinct_values BIGINT NOT NULL, non_null BIGINT NOT NULL, present BLOB NOT NULL,
      dictionary BLOB, dtype VARCHAR, codes BLOB, codes_dtype VARCHAR)""",
    """CREATE TABLE segment_index_bitmaps (bitmap_key VARCHAR PRIMARY KEY,
      build_id VARCHAR NOT NULL, tag_id VARCHAR NOT NULL, part VARCHAR NOT NULL,
      key VARCHAR NOT NULL, cardinality BIGINT NOT NULL, bitmap BLOB NOT NULL)""",
    """CREATE TABLE segment_members (member_key VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
      build_id VARCHAR NOT NULL, as_of DATE NOT NULL, size BIGINT NOT NULL,
      path VARCHAR NOT NULL, normalized VARCHAR NOT NULL, bitmap BLOB NOT NULL,
      evaluated_at TIMESTAMPTZ NOT NULL)""",
]
LAYOUTS = {"first_release": FIRST_RELEASE, "keyed": KEYED, "current": SEGMENT_TABLES_SQL}
SEGMENT_TABLES = (
    "segments", "segment_person_ids", "segment_index_builds", "segment_index_tags",
    "segment_index_bitmaps", "segment_members",
)  # fmt: skip
MEMBERS = FrozenBitMap([1, 5, 70_000])


def old_warehouse(path: Path, ddl: list[str]) -> None:
    """A warehouse at migration 7 whose segment tables have the layout ``ddl`` (none if empty)."""
    wh = Warehouse(path)
    with wh.transaction() as con:
        for table in SEGMENT_TABLES:
            con.execute(f"DROP TABLE {table}")
        for stmt in ddl:
            con.execute(stmt)
        con.execute("DELETE FROM schema_migrations WHERE version = 8")
    wh.close()


def fill(path: Path, members_key: bool) -> None:
    """A saved segment, two dense ids, a membership and an index row, as an old release wrote."""
    con = duckdb.connect(str(path))  # not a Warehouse: opening one would migrate
    try:
        con.execute(
            "INSERT INTO segments VALUES ('vip', 'm_score >= 4', 'm_score >= 4', 'big', false, "
            "TIMESTAMPTZ '2025-01-01 00:00:00+00', TIMESTAMPTZ '2025-01-01 00:00:00+00')"
        )
        con.execute("INSERT INTO segment_person_ids VALUES ('u1', 1), ('u5', 5)")
        key = "'vip/b1', " if members_key else ""
        con.execute(
            f"INSERT INTO segment_members VALUES ({key}'vip', 'b1', DATE '2025-01-01', 3, "
            "'bitmap', 'm_score >= 4', ?, TIMESTAMPTZ '2025-01-02 00:00:00+00')",
            [MEMBERS.serialize()],
        )
        con.execute(
            "INSERT INTO segment_index_builds VALUES ('b1', 'snapshots.profile_20250101', 2, "
            "?, 1, '{}', 10, 0.1, now())",
            [FrozenBitMap([1, 5]).serialize()],
        )
    finally:
        con.close()


def layout(wh: Warehouse, table: str) -> str:
    return wh.fetchone("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table])[0]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_an_old_layout_is_migrated_keeping_definitions_and_memberships(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "warehouse.duckdb"
    old_warehouse(path, LAYOUTS[name])
    fill(path, members_key=name != "first_release")

    wh = Warehouse(path)  # opening applies migration 8
    try:
        assert 8 in {r[0] for r in wh.fetchall("SELECT version FROM schema_migrations")}
        for table in ("segment_members", "segment_index_bitmaps", "segment_index_tags"):
            assert "USING COMPRESSION" in layout(wh, table).upper(), table
        assert "tag_key" in layout(wh, "segment_index_tags")
        assert "bitmap_key" in layout(wh, "segment_index_bitmaps")
        assert "member_key" in layout(wh, "segment_members")
        tables = {r[0] for r in wh.fetchall("SHOW TABLES")}
        assert "_segment_members_old" not in tables

        [vip] = segment_store.segment_rows(wh)
        assert (vip.name, vip.expression, vip.description) == ("vip", "m_score >= 4", "big")
        assert segment_store.members_of(wh, "vip", "b1") == MEMBERS
        [step] = segment_store.member_history(wh, "vip")  # no logged build: still a step
        assert (step.build_id, step.as_of, step.size) == ("b1", date(2025, 1, 1), 3)
        assert wh.fetchall("SELECT * FROM segment_person_ids ORDER BY pid") == [
            ("u1", 1),
            ("u5", 5),
        ]
        # the index is derived data: dropped, made again by the next build or count
        assert segment_index.index_build(wh, "b1") is None
    finally:
        wh.close()


def test_a_warehouse_without_segment_tables_gets_them(tmp_path: Path) -> None:
    """Migration 3 had no tables in the release that first shipped it."""
    path = tmp_path / "warehouse.duckdb"
    old_warehouse(path, [])
    wh = Warehouse(path)
    try:
        tables = {r[0] for r in wh.fetchall("SHOW TABLES")}
        assert set(SEGMENT_TABLES) <= tables
        assert segment_store.segment_rows(wh) == []
    finally:
        wh.close()
