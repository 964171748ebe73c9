"""Segment definitions, memberships, dense person ids and snapshot reads (tables of migrations
3 and 8); the bitmap index tables are :mod:`portrait.store.segment_index`'s.

The rest of ``portrait.segments`` works on Arrow columns, numpy arrays and bitmaps handed over
from here, and never runs SQL itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from pyroaring import AbstractBitMap, FrozenBitMap

from portrait.store import profiles as profile_store
from portrait.store.warehouse import Warehouse

SEGMENT_COLUMNS = ("name", "expression", "normalized", "description", "builtin", "created_at",
                   "updated_at")  # fmt: skip


@dataclass(frozen=True)
class SegmentRow:
    """A saved (or built-in) segment's definition as stored."""

    name: str
    expression: str
    normalized: str
    description: str | None
    builtin: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredMembership:
    """One stored membership of a segment in a build (a step of its history)."""

    build_id: str
    as_of: date
    size: int
    path: str
    evaluated_at: datetime
    members: FrozenBitMap


def quote_name(name: str) -> str:
    """A column name as a SQL identifier (tag ids are checked, but quoting costs nothing)."""
    return '"' + name.replace('"', '""') + '"'


def placeholders(values: Sequence[Any]) -> str:
    """``(?, ?, ...)``: one parameter per value, for ``IN`` lists."""
    return "(" + ", ".join("?" for _ in values) + ")"


def _arrow(wh: Warehouse, sql: str) -> pa.Table:
    return wh.arrow(sql)  # a relation straight to Arrow: no extra copy of the rows


# --- builds -------------------------------------------------------------------------------------
def latest_build_id(wh: Warehouse, as_of: str | None = None) -> str | None:
    """The live profile build, or the latest build of a date (with its snapshot stored)."""
    found = profile_store.build_of(wh, as_of)
    return found["build_id"] if found else None


def build_row(wh: Warehouse, build_id: str) -> dict[str, Any]:
    """A build's row of ``tag_builds`` (the profile store's columns), by column name."""
    cols = profile_store.BUILD_COLUMNS
    row = wh.fetchone(f"SELECT {', '.join(cols)} FROM tag_builds WHERE build_id = ?", [build_id])
    return dict(zip(cols, row, strict=True))


# --- person ids ---------------------------------------------------------------------------------
def assign_ids(wh: Warehouse, snapshot: str) -> bool:
    """Give the snapshot's persons without a dense id the next ones. True when there were no
    ids before: then each person's id is its row id."""
    with wh.lock:
        if wh.fetchone("SELECT count(*) FROM segment_person_ids")[0] == 0:
            wh.execute(
                "INSERT INTO segment_person_ids "
                f"SELECT person_id, CAST(rowid AS UINTEGER) FROM {snapshot}"
            )
            return True
        wh.execute(
            f"""INSERT INTO segment_person_ids
            SELECT s.person_id,
                   (SELECT coalesce(max(pid) + 1, 0) FROM segment_person_ids)
                   + row_number() OVER (ORDER BY s.rowid) - 1
            FROM {snapshot} s ANTI JOIN segment_person_ids m USING (person_id)"""
        )
        return False


def snapshot_ids(
    wh: Warehouse, snapshot: str, ids_are_rows: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, dense ids) of the snapshot's persons, in row order."""
    if ids_are_rows:
        rows = np.sort(_arrow(wh, f"SELECT rowid AS r FROM {snapshot}").column("r").to_numpy())
        return rows, rows.astype(np.uint32)
    t = _arrow(
        wh,
        f"SELECT s.rowid AS r, m.pid FROM {snapshot} s JOIN segment_person_ids m "
        "USING (person_id) ORDER BY s.rowid",
    )
    rows = t.column("r").to_numpy()
    n = wh.fetchone(f"SELECT count(*) FROM {snapshot}")[0]
    if len(rows) != n:
        raise RuntimeError(f"{n - len(rows)} persons of {snapshot} have no dense id")
    return rows, t.column("pid").to_numpy().astype(np.uint32)


def read_columns(wh: Warehouse, snapshot: str, tags: Sequence[str]) -> pa.Table:
    """Some tag columns with their row ids, in row order."""
    cols = ", ".join(quote_name(t) for t in tags)
    # a plain scan keeps the stored order (DuckDB preserves insertion order); sorting here
    # costs nothing then, and guarantees it otherwise
    table = _arrow(wh, f"SELECT rowid AS r, {cols} FROM {snapshot}")
    rows = table.column("r").to_numpy()
    if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
        table = table.take(pa.array(np.argsort(rows, kind="stable")))
    return table


def snapshot_columns(wh: Warehouse, snapshot: str) -> set[str]:
    """The columns (tags) a snapshot holds: a tag added to the catalog later is not there."""
    schema, table = snapshot.split(".")
    rows = wh.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ?",
        [schema, table],
    )
    return {r[0] for r in rows}


# --- the warehouse path -------------------------------------------------------------------------
def count_where(wh: Warehouse, snapshot: str, where: str) -> int:
    """How many of the snapshot's persons match ``where`` (SQL made from a checked tree)."""
    return wh.fetchone(f"SELECT count(*) FROM {snapshot} WHERE {where}")[0]


def pids_where(wh: Warehouse, snapshot: str, where: str) -> np.ndarray:
    """The dense ids of the snapshot's persons matching ``where`` (columns prefixed ``s.``)."""
    t = _arrow(
        wh,
        f"SELECT m.pid FROM {snapshot} s JOIN segment_person_ids m USING (person_id) "
        f"WHERE {where} ORDER BY m.pid",
    )
    return t.column("pid").to_numpy().astype(np.uint32)


def member_rows(wh: Warehouse, snapshot: str, pids: np.ndarray, tags: Sequence[str]) -> pa.Table:
    """``user_id`` and some tags of the persons with these dense ids, by user id."""
    cols = "".join(f", s.{quote_name(t)}" for t in tags)
    with wh.reading() as con:
        con.register("_seg_pids", pa.table({"pid": pa.array(pids, pa.uint32())}))
        try:
            return con.sql(
                f"SELECT s.person_id AS user_id{cols} FROM {snapshot} s "
                "JOIN segment_person_ids m USING (person_id) JOIN _seg_pids USING (pid) "
                "ORDER BY user_id"
            ).to_arrow_table()
        finally:
            con.unregister("_seg_pids")


# --- definitions --------------------------------------------------------------------------------
def segment_rows(wh: Warehouse, name: str | None = None) -> list[SegmentRow]:
    """Every stored segment (yours, then the built-in ones), or the one named."""
    where = " WHERE name = ?" if name is not None else ""
    rows = wh.fetchall(
        f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM segments{where} ORDER BY builtin, name",
        [name] if name is not None else [],
    )
    return [SegmentRow(*r) for r in rows]


def put_segment(
    wh: Warehouse,
    name: str,
    expression: str,
    normalized: str,
    description: str | None,
    builtin: bool,
) -> None:
    """Insert a segment, or replace its definition (keeping its creation time)."""
    now = datetime.now(UTC)
    wh.execute(
        "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
        "expression = excluded.expression, normalized = excluded.normalized, "
        "description = excluded.description, builtin = excluded.builtin, "
        "updated_at = excluded.updated_at",
        [name, expression, normalized, description, builtin, now, now],
    )


def delete_segment(wh: Warehouse, name: str) -> None:
    """Forget a segment and every membership stored for it, together."""
    with wh.transaction() as con:
        con.execute("DELETE FROM segment_members WHERE name = ?", [name])
        con.execute("DELETE FROM segments WHERE name = ?", [name])


# --- memberships --------------------------------------------------------------------------------
def save_members(
    wh: Warehouse,
    name: str,
    build: dict[str, Any],
    members: AbstractBitMap,
    path: str,
    normalized: str,
) -> None:
    """Store a segment's members in a build (replacing an earlier evaluation of it)."""
    wh.execute(
        "INSERT OR REPLACE INTO segment_members VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [f"{name}/{build['build_id']}", name, build["build_id"], build["as_of"], len(members),
         path, normalized, members.serialize(), datetime.now(UTC)],
    )  # fmt: skip


def drop_members(wh: Warehouse, name: str, keep_normalized: str) -> None:
    """Forget memberships evaluated under another definition of the segment."""
    wh.execute(
        "DELETE FROM segment_members WHERE name = ? AND normalized <> ?", [name, keep_normalized]
    )


# memberships in the live history: of builds that were live when made (a past date's build,
# read with --as-of, is not a step of it), or of no logged build (benchmarks, tests)
_LIVE_HISTORY = f"(b.build_id IS NULL OR b.build_id IN ({profile_store.WAS_LIVE}))"


def member_history(wh: Warehouse, name: str) -> list[StoredMembership]:
    """A segment's stored memberships in the live builds, oldest first."""
    rows = wh.fetchall(
        f"""SELECT m.member_key, m.build_id, m.as_of, m.size, m.path, m.evaluated_at
           FROM segment_members m LEFT JOIN tag_builds b USING (build_id)
           WHERE m.name = ? AND {_LIVE_HISTORY}
           ORDER BY coalesce(b.finished_at, m.evaluated_at)""",
        [name],
    )
    if not rows:
        return []
    # the BLOBs fetched apart, by their one-column key (see segments_ddl)
    found = dict(
        wh.fetchall(
            "SELECT member_key, bitmap FROM segment_members WHERE member_key IN "
            + placeholders(rows),
            [r[0] for r in rows],
        )
    )
    return [StoredMembership(*r[1:], FrozenBitMap.deserialize(found[r[0]])) for r in rows]


def members_of(wh: Warehouse, name: str, build_id: str) -> FrozenBitMap | None:
    """A segment's stored members in a build, if they were evaluated."""
    row = wh.fetchone(
        "SELECT bitmap FROM segment_members WHERE member_key = ?", [f"{name}/{build_id}"]
    )
    return None if row is None else FrozenBitMap.deserialize(row[0])


def latest_sizes(wh: Warehouse) -> dict[str, tuple[int, str]]:
    """Each segment's size and build in its latest stored live membership."""
    rows = wh.fetchall(
        f"""SELECT m.name, arg_max(m.size, coalesce(b.finished_at, m.evaluated_at)),
                  arg_max(m.build_id, coalesce(b.finished_at, m.evaluated_at))
           FROM segment_members m LEFT JOIN tag_builds b USING (build_id)
           WHERE {_LIVE_HISTORY} GROUP BY m.name"""
    )
    return {r[0]: (r[1], r[2]) for r in rows}
