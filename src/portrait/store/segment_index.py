"""The segment bitmap index of each build, as stored (``segment_index_*`` tables).

Rows holding large BLOBs are fetched by their one-column key (``tag_key``, ``bitmap_key``; see
:mod:`portrait.store.segments_ddl` for why). What is stored is built by
:mod:`portrait.segments.indexer`, handed over as anything shaped like :class:`IndexedTag`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import pyarrow as pa
from pyroaring import AbstractBitMap, FrozenBitMap

from portrait.store.segments import placeholders
from portrait.store.warehouse import Warehouse

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


class IndexedTag(Protocol):
    """One tag's index as built (``portrait.segments.encode.BuiltTag`` is one)."""

    tag: str
    value_type: str
    encoding: str
    notnull: FrozenBitMap
    parts: list[tuple[str, str, FrozenBitMap]]  # (part, key, bitmap)
    values: np.ndarray | None
    codes: np.ndarray | None
    distinct: int


@dataclass(frozen=True)
class IndexInfo:
    """What a build's stored index holds (its ``segment_index_builds`` row)."""

    snapshot: str
    persons: int
    universe: FrozenBitMap
    tags: int
    skipped: dict[str, str]
    bytes: int
    seconds: float
    created_at: datetime


@dataclass(frozen=True)
class TagHeader:
    """A tag's index header: its encoding, the persons with a value and, for numbers, the
    sorted distinct values and the persons' codes."""

    value_type: str
    encoding: str
    distinct: int
    notnull: FrozenBitMap
    values: np.ndarray | None
    codes: np.ndarray | None


def _rows(build_id: str, built: Sequence[IndexedTag]) -> tuple[list[dict], list[dict]]:
    tag_rows: list[dict] = []
    bitmap_rows: list[dict] = []
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
    return tag_rows, bitmap_rows


def write_index(
    wh: Warehouse,
    build_id: str,
    snapshot: str,
    universe: AbstractBitMap,
    built: Sequence[IndexedTag],
    skipped: dict[str, str],
    seconds: float,
) -> int:
    """Store a build's index (replacing any earlier one of that build); returns its bytes."""
    tag_rows, bitmap_rows = _rows(build_id, built)
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
    """Forget a build's index (its snapshot is gone, or it is being made again)."""
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


def index_build(wh: Warehouse, build_id: str) -> IndexInfo | None:
    """What the build's stored index holds; None when the build has none."""
    row = wh.fetchone(
        "SELECT snapshot, persons, universe, tags, skipped, bytes, seconds, created_at "
        "FROM segment_index_builds WHERE build_id = ?",
        [build_id],
    )
    if row is None:
        return None
    snapshot, persons, universe, tags, skipped, size, seconds, created_at = row
    return IndexInfo(
        snapshot, persons, FrozenBitMap.deserialize(universe), tags, json.loads(skipped), size,
        seconds, created_at,
    )  # fmt: skip


def index_tags(wh: Warehouse, build_id: str, tag_ids: Sequence[str]) -> dict[str, TagHeader]:
    """The index header (encoding, dictionary, notnull bitmap) of some tags of a build."""
    if not tag_ids:
        return {}
    rows = wh.fetchall(
        "SELECT tag_id, value_type, encoding, distinct_values, present, dictionary, dtype, "
        f"codes, codes_dtype FROM segment_index_tags WHERE tag_key IN {placeholders(tag_ids)}",
        [f"{build_id}/{t}" for t in tag_ids],
    )
    out = {}
    for tag_id, value_type, encoding, distinct, notnull, dictionary, dtype, codes, cdt in rows:
        out[tag_id] = TagHeader(
            value_type,
            encoding,
            distinct,
            FrozenBitMap.deserialize(notnull),
            None if dictionary is None else np.frombuffer(dictionary, dtype=dtype),
            None if codes is None else np.frombuffer(codes, dtype=cdt),
        )
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
        f"SELECT key, bitmap FROM segment_index_bitmaps WHERE bitmap_key IN {placeholders(keys)}",
        [f"{build_id}/{tag_id}/{part}/{k}" for k in keys],
    )
    return {k: FrozenBitMap.deserialize(b) for k, b in rows}
