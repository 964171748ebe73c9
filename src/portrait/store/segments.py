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
from portrait.store import profiles as profile_store
from portrait.store.segments_ddl import SEGMENT_TABLES_SQL
from portrait.store.warehouse import Warehouse

INDEX_TABLES = ("segment_index_builds", "segment_index_tags", "segment_index_bitmaps")
SEGMENT_TABLES = ("segments", "segment_person_ids", "segment_members", *INDEX_TABLES)
SEGMENT_COLUMNS = ("name", "expression", "normalized", "description", "builtin", "created_at",
                   "updated_at")  # fmt: skip


def _arrow(wh: Warehouse, sql: str) -> pa.Table:
    return wh.arrow(sql)  # a relation straight to Arrow: no extra copy of the rows


def ensure_tables(wh: Warehouse) -> None:
    """Create the segment tables if this warehouse lacks them (one made before migration 3
    had its tables), or bring an earlier layout up to date (keys, uncompressed BLOBs): the
    index is derived data and is made again; memberships are copied over."""
    sql = dict(
        wh.fetchall(
            "SELECT table_name, sql FROM duckdb_tables() "
            "WHERE schema_name = 'main' AND table_name LIKE 'segment%'"
        )
    )

    def current(table: str, key: str) -> bool:
        text = sql.get(table, "")
        return key in text and "USING COMPRESSION" in text.upper()

    index_ok = current("segment_index_tags", "tag_key") and current(
        "segment_index_bitmaps", "bitmap_key"
    )
    members_ok = current("segment_members", "member_key")
    old_members = "segment_members" in sql and not members_ok
    if set(sql) >= set(SEGMENT_TABLES) and index_ok and members_ok:
        return
    with wh.transaction() as con:
        if not index_ok:
            for table in INDEX_TABLES:
                con.execute(f"DROP TABLE IF EXISTS {table}")
        if old_members:
            con.execute("ALTER TABLE segment_members RENAME TO _segment_members_old")
        for stmt in SEGMENT_TABLES_SQL:
            con.execute(stmt)
        if old_members:
            key = (
                "member_key"
                if "member_key" in sql["segment_members"]
                else "name || '/' || build_id"
            )
            con.execute(
                f"INSERT INTO segment_members SELECT {key}, name, build_id, as_of, size, path, "
                "normalized, bitmap, evaluated_at FROM _segment_members_old"
            )
            con.execute("DROP TABLE _segment_members_old")


def _in(values: Sequence[Any]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


# --- builds -------------------------------------------------------------------------------------
def latest_build_id(wh: Warehouse, as_of: str | None = None) -> str | None:
    """The live profile build, or the latest build of a date (with its snapshot stored)."""
    found = profile_store.build_of(wh, as_of)
    return found["build_id"] if found else None


def build_row(wh: Warehouse, build_id: str) -> dict[str, Any]:
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
    schema, table = snapshot.split(".")
    rows = wh.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ?",
        [schema, table],
    )
    return {r[0] for r in rows}


# --- the index ----------------------------------------------------------------------------------
TAG_SCHEMA = pa.schema([
    ("tag_key", pa.string()), ("build_id", pa.string()), ("tag_id", pa.string()),
    ("value_type", pa.string()), ("encoding", pa.string()), ("distinct_values", pa.int64()),
    ("non_null", pa.int64()), ("present", pa.binary()), ("dictionary", pa.large_binary()),
    ("dtype", pa.string()), ("codes", pa.large_binary()), ("codes_dtype", pa.string()),
])  # fmt: skip
BITMAP_SCHEMA = pa.schema([
    ("bitmap_key", pa.string()), ("build_id", pa.string()), ("tag_id", pa.string()),
    ("part", pa.string()), ("key", pa.string()), ("cardinality", pa.int64()),
    ("bitmap", pa.large_binary()),
])  # fmt: skip


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
    tag_rows, bitmap_rows = [], []
    for b in built:
        numeric = b.values is not None and b.codes is not None
        tag_rows.append({
            "tag_key": f"{build_id}/{b.tag}", "build_id": build_id, "tag_id": b.tag,
            "value_type": b.value_type, "encoding": b.encoding, "distinct_values": b.distinct,
            "non_null": len(b.notnull), "present": b.notnull.serialize(),
            "dictionary": b.values.tobytes() if numeric else None,
            "dtype": b.values.dtype.str if numeric else None,
            "codes": b.codes.tobytes() if numeric else None,
            "codes_dtype": b.codes.dtype.str if numeric else None,
        })  # fmt: skip
        bitmap_rows += [{
            "bitmap_key": f"{build_id}/{b.tag}/{part}/{key}", "build_id": build_id,
            "tag_id": b.tag, "part": part, "key": key, "cardinality": len(bitmap),
            "bitmap": bitmap.serialize(),
        } for part, key, bitmap in b.parts]  # fmt: skip
    universe_bytes = universe.serialize()
    size = len(universe_bytes) + sum(len(r["bitmap"]) for r in bitmap_rows)
    for r in tag_rows:
        size += sum(len(r[k] or b"") for k in ("present", "dictionary", "codes"))
    with wh.transaction() as con:
        drop_index(wh, build_id)
        con.register("_seg_tags", pa.Table.from_pylist(tag_rows, schema=TAG_SCHEMA))
        con.register("_seg_parts", pa.Table.from_pylist(bitmap_rows, schema=BITMAP_SCHEMA))
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
    rows = wh.fetchall(
        "SELECT tag_id, value_type, encoding, distinct_values, present, dictionary, dtype, "
        f"codes, codes_dtype FROM segment_index_tags WHERE tag_key IN {_in(tag_ids)}",
        [f"{build_id}/{t}" for t in tag_ids],
    )
    out = {}
    for tag_id, value_type, encoding, distinct, notnull, dictionary, dtype, codes, cdt in rows:
        out[tag_id] = {
            "value_type": value_type,
            "encoding": encoding,
            "distinct": distinct,
            "notnull": FrozenBitMap.deserialize(notnull),
            "values": None if dictionary is None else np.frombuffer(dictionary, dtype=dtype),
            "codes": None if codes is None else np.frombuffer(codes, dtype=cdt),
        }
    return out


def index_keys(wh: Warehouse, build_id: str, tag_id: str, part: str = "value") -> dict[str, int]:
    """The keys (values, list keys, step cuts) of a tag's bitmaps, with their persons."""
    rows = wh.fetchall(
        "SELECT key, cardinality FROM segment_index_bitmaps WHERE build_id = ? AND tag_id = ? "
        "AND part = ?",
        [build_id, tag_id, part],
    )
    return dict(rows)


def index_bitmaps(
    wh: Warehouse, build_id: str, tag_id: str, part: str, keys: Iterable[str] | None = None
) -> dict[str, FrozenBitMap]:
    """Some bitmaps of a tag (all of a part when ``keys`` is None), fetched by their keys."""
    keys = list(index_keys(wh, build_id, tag_id, part) if keys is None else keys)
    if not keys:
        return {}
    rows = wh.fetchall(
        f"SELECT key, bitmap FROM segment_index_bitmaps WHERE bitmap_key IN {_in(keys)}",
        [f"{build_id}/{tag_id}/{part}/{k}" for k in keys],
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


def member_history(wh: Warehouse, name: str) -> list[dict[str, Any]]:
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
    found = dict(
        wh.fetchall(
            f"SELECT member_key, bitmap FROM segment_members WHERE member_key IN {_in(rows)}",
            [r[0] for r in rows],
        )
    )
    keys = ("build_id", "as_of", "size", "path", "evaluated_at")
    return [{**dict(zip(keys, r[1:], strict=True)), "bitmap": found[r[0]]} for r in rows]


def members_of(wh: Warehouse, name: str, build_id: str) -> FrozenBitMap | None:
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
