"""Everything segments read from and write to the warehouse (tables of migration 3).

The rest of ``portrait.segments`` works on Arrow columns, numpy arrays and bitmaps handed over
from here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from pyroaring import AbstractBitMap, FrozenBitMap

from portrait.segments.index import BuiltTag
from portrait.segments.sql import quote_name
from portrait.store.segments_ddl import SEGMENT_TABLES_SQL
from portrait.store.warehouse import Warehouse

SEGMENT_COLUMNS = ("name", "expression", "normalized", "description", "builtin", "created_at",
                   "updated_at")  # fmt: skip


def _arrow(wh: Warehouse, sql: str) -> pa.Table:
    with wh.lock:  # con.sql: no extra copy of the rows (unlike a DB-API result)
        return wh.con.sql(sql).to_arrow_table()


def ensure_tables(wh: Warehouse) -> None:
    """Create the segment tables if this warehouse lacks them (one made before migration 3
    had its tables)."""
    found = wh.fetchone(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name IN ('segments', 'segment_person_ids', 'segment_index_builds', "
        "'segment_index_tags', 'segment_index_bitmaps', 'segment_members')"
    )[0]
    if found < 6:
        with wh.transaction() as con:
            for stmt in SEGMENT_TABLES_SQL:
                con.execute(stmt)


# --- person ids ---------------------------------------------------------------------------------
def assign_ids(wh: Warehouse, snapshot: str) -> int:
    """Give the snapshot's persons without a dense id the next ones; returns how many."""
    with wh.lock:
        wh.execute(
            f"""INSERT INTO segment_person_ids
            SELECT s.person_id,
                   (SELECT coalesce(max(pid) + 1, 0) FROM segment_person_ids)
                   + row_number() OVER (ORDER BY s.rowid) - 1
            FROM {snapshot} s ANTI JOIN segment_person_ids m USING (person_id)"""
        )
        return wh.fetchone("SELECT count(*) FROM segment_person_ids")[0]


def snapshot_ids(wh: Warehouse, snapshot: str) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, dense ids) of the snapshot's persons, in row order."""
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
    return _arrow(wh, f"SELECT rowid AS r, {cols} FROM {snapshot} ORDER BY rowid")


def snapshot_columns(wh: Warehouse, snapshot: str) -> set[str]:
    schema, table = snapshot.split(".")
    rows = wh.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ?",
        [schema, table],
    )
    return {r[0] for r in rows}


# --- the index ----------------------------------------------------------------------------------
def write_index(
    wh: Warehouse,
    build_id: str,
    snapshot: str,
    universe: AbstractBitMap,
    built: Sequence[BuiltTag],
    skipped: dict[str, str],
    seconds: float,
) -> int:
    """Store a build's index (replacing any earlier one of that build); returns its bytes."""
    tag_rows: dict[str, list[Any]] = {k: [] for k in (
        "build_id", "tag_id", "value_type", "encoding", "distinct_values", "non_null", "present",
        "dictionary", "dtype")}  # fmt: skip
    parts: dict[str, list[Any]] = {k: [] for k in (
        "build_id", "tag_id", "part", "key", "cardinality", "bitmap")}  # fmt: skip
    size = 0
    for b in built:
        notnull = b.notnull.serialize()
        size += len(notnull)
        for key, value in zip(tag_rows, (
            build_id, b.tag, b.value_type, b.encoding, b.distinct, len(b.notnull), notnull,
            None if b.values is None else b.values.tobytes(),
            None if b.values is None else b.values.dtype.str,
        ), strict=True):  # fmt: skip
            tag_rows[key].append(value)
        for part, key, bitmap in b.parts:
            data = bitmap.serialize()
            size += len(data)
            for col, value in zip(
                parts, (build_id, b.tag, part, key, len(bitmap), data), strict=True
            ):
                parts[col].append(value)
    tags_table = pa.table(tag_rows, schema=pa.schema([
        ("build_id", pa.string()), ("tag_id", pa.string()), ("value_type", pa.string()),
        ("encoding", pa.string()), ("distinct_values", pa.int64()), ("non_null", pa.int64()),
        ("present", pa.binary()), ("dictionary", pa.large_binary()), ("dtype", pa.string()),
    ]))  # fmt: skip
    parts_table = pa.table(parts, schema=pa.schema([
        ("build_id", pa.string()), ("tag_id", pa.string()), ("part", pa.string()),
        ("key", pa.string()), ("cardinality", pa.int64()), ("bitmap", pa.large_binary()),
    ]))  # fmt: skip
    universe_bytes = universe.serialize()
    size += len(universe_bytes)
    with wh.transaction() as con:
        drop_index(wh, build_id)
        con.register("_seg_tags", tags_table)
        con.register("_seg_parts", parts_table)
        try:
            con.execute("INSERT INTO segment_index_tags SELECT * FROM _seg_tags")
            con.execute("INSERT INTO segment_index_bitmaps SELECT * FROM _seg_parts")
        finally:
            con.unregister("_seg_tags")
            con.unregister("_seg_parts")
        con.execute(
            "INSERT INTO segment_index_builds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [build_id, snapshot, len(universe), universe_bytes, len(built),
             json.dumps(skipped, ensure_ascii=False), size, seconds, datetime.now(UTC)],
        )  # fmt: skip
    return size


def drop_index(wh: Warehouse, build_id: str) -> None:
    for table in ("segment_index_bitmaps", "segment_index_tags", "segment_index_builds"):
        wh.execute(f"DELETE FROM {table} WHERE build_id = ?", [build_id])


def stale_indexes(wh: Warehouse) -> list[str]:
    """Indexed builds whose snapshot is gone or now holds a later build of the same date (an
    index of a table no build made, as benchmarks and tests make, stays while the table does)."""
    rows = wh.fetchall(
        """SELECT i.build_id FROM segment_index_builds i
           LEFT JOIN (SELECT snapshot, arg_max(build_id, finished_at) AS latest
                      FROM tag_builds GROUP BY snapshot) b ON b.snapshot = i.snapshot
           LEFT JOIN information_schema.tables t
             ON t.table_schema || '.' || t.table_name = i.snapshot
           WHERE b.latest <> i.build_id OR t.table_name IS NULL"""
    )
    return [r[0] for r in rows]


def index_build(wh: Warehouse, build_id: str) -> dict[str, Any] | None:
    row = wh.fetchone(
        "SELECT snapshot, persons, universe, tags, skipped, bytes, seconds, created_at "
        "FROM segment_index_builds WHERE build_id = ?",
        [build_id],
    )
    if row is None:
        return None
    keys = ("snapshot", "persons", "universe", "tags", "skipped", "bytes", "seconds", "created_at")
    out = dict(zip(keys, row, strict=True))
    out["universe"] = FrozenBitMap.deserialize(out["universe"])
    out["skipped"] = json.loads(out["skipped"])
    return out


def index_tags(wh: Warehouse, build_id: str, tag_ids: Sequence[str]) -> dict[str, dict]:
    """The index header (encoding, dictionary, notnull bitmap) of some tags of a build."""
    if not tag_ids:
        return {}
    marks = ", ".join("?" for _ in tag_ids)
    rows = wh.fetchall(
        "SELECT tag_id, value_type, encoding, distinct_values, present, dictionary, dtype "
        f"FROM segment_index_tags WHERE build_id = ? AND tag_id IN ({marks})",
        [build_id, *tag_ids],
    )
    out = {}
    for tag_id, value_type, encoding, distinct, notnull, dictionary, dtype in rows:
        out[tag_id] = {
            "value_type": value_type,
            "encoding": encoding,
            "distinct": distinct,
            "notnull": FrozenBitMap.deserialize(notnull),
            "values": None if dictionary is None else np.frombuffer(dictionary, dtype=dtype),
        }
    return out


def index_keys(wh: Warehouse, build_id: str, tag_id: str) -> dict[str, int]:
    """The values (or list keys) a tag's index holds, with their number of persons."""
    rows = wh.fetchall(
        "SELECT key, cardinality FROM segment_index_bitmaps WHERE build_id = ? AND tag_id = ? "
        "AND part = 'value'",
        [build_id, tag_id],
    )
    return dict(rows)


def index_bitmaps(
    wh: Warehouse, build_id: str, tag_id: str, part: str, keys: Iterable[str] | None = None
) -> dict[str, FrozenBitMap]:
    params: list[Any] = [build_id, tag_id, part]
    where = ""
    if keys is not None:
        keys = list(keys)
        where = f" AND key IN ({', '.join('?' for _ in keys)})"
        params += keys
    rows = wh.fetchall(
        "SELECT key, bitmap FROM segment_index_bitmaps WHERE build_id = ? AND tag_id = ? "
        f"AND part = ?{where}",
        params,
    )
    return {k: FrozenBitMap.deserialize(b) for k, b in rows}


# --- the warehouse path -------------------------------------------------------------------------
def count_where(wh: Warehouse, snapshot: str, where: str) -> int:
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
    with wh.lock:
        wh.con.register("_seg_pids", pa.table({"pid": pa.array(pids, pa.uint32())}))
        try:
            return wh.con.sql(
                f"SELECT s.person_id AS user_id{cols} FROM {snapshot} s "
                "JOIN segment_person_ids m USING (person_id) JOIN _seg_pids USING (pid) "
                "ORDER BY user_id"
            ).to_arrow_table()
        finally:
            wh.con.unregister("_seg_pids")


# --- definitions and memberships ----------------------------------------------------------------
def segment_rows(wh: Warehouse, name: str | None = None) -> list[dict[str, Any]]:
    where = " WHERE name = ?" if name is not None else ""
    rows = wh.fetchall(
        f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM segments{where} ORDER BY builtin, name",
        [name] if name is not None else [],
    )
    return [dict(zip(SEGMENT_COLUMNS, r, strict=True)) for r in rows]


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
    with wh.transaction() as con:
        con.execute("DELETE FROM segment_members WHERE name = ?", [name])
        con.execute("DELETE FROM segments WHERE name = ?", [name])


def save_members(
    wh: Warehouse,
    name: str,
    build: dict[str, Any],
    members: AbstractBitMap,
    path: str,
    normalized: str,
) -> None:
    wh.execute(
        "INSERT OR REPLACE INTO segment_members VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [name, build["build_id"], build["as_of"], len(members), path, normalized,
         members.serialize(), datetime.now(UTC)],
    )  # fmt: skip


def drop_members(wh: Warehouse, name: str, keep_normalized: str) -> None:
    """Forget memberships evaluated under another definition of the segment."""
    wh.execute(
        "DELETE FROM segment_members WHERE name = ? AND normalized <> ?", [name, keep_normalized]
    )


def member_history(wh: Warehouse, name: str) -> list[dict[str, Any]]:
    """A segment's stored memberships, oldest build first."""
    rows = wh.fetchall(
        """SELECT m.build_id, m.as_of, m.size, m.path, m.bitmap, m.evaluated_at
           FROM segment_members m LEFT JOIN tag_builds b USING (build_id)
           WHERE m.name = ? ORDER BY coalesce(b.finished_at, m.evaluated_at)""",
        [name],
    )
    keys = ("build_id", "as_of", "size", "path", "bitmap", "evaluated_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def members_of(wh: Warehouse, name: str, build_id: str) -> FrozenBitMap | None:
    row = wh.fetchone(
        "SELECT bitmap FROM segment_members WHERE name = ? AND build_id = ?", [name, build_id]
    )
    return None if row is None else FrozenBitMap.deserialize(row[0])


def latest_sizes(wh: Warehouse) -> dict[str, tuple[int, str]]:
    """Each segment's size and build in its latest stored membership."""
    rows = wh.fetchall(
        """SELECT m.name, arg_max(m.size, coalesce(b.finished_at, m.evaluated_at)),
                  arg_max(m.build_id, coalesce(b.finished_at, m.evaluated_at))
           FROM segment_members m LEFT JOIN tag_builds b USING (build_id) GROUP BY m.name"""
    )
    return {r[0]: (r[1], r[2]) for r in rows}
