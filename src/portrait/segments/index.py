"""The bitmap index of one build: per tag, the persons (dense integer ids) of each value.

* enum, text and yes/no tags: one bitmap per value (``values`` encoding);
* top-N list tags: one bitmap per key, the persons whose list holds the key;
* numbers, dates and times: a bit-sliced index over the rank of each value among the distinct
  values (``sliced`` encoding; see :mod:`portrait.segments.bitmaps`), which answers ``=``, ``<``,
  ``<=``, ``BETWEEN`` ... exactly, whatever the values.

Every tag also keeps the bitmap of persons with a value (``notnull``). Building works on Arrow
columns handed over by the storage layer; nothing here reads the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.segments import bitmaps as bm
from portrait.segments.expr import Cond

MAX_KEYS = 5_000  # a text or list tag with more distinct values is left to the warehouse
EPOCH = date(1970, 1, 1)


class NotIndexableError(ValueError):
    """This tag's values cannot be indexed (too many distinct keys, unknown type)."""


@dataclass
class ValueIndex:
    """One bitmap per value (or list key); values are loaded on demand by ``load``."""

    tag: str
    value_type: str
    notnull: FrozenBitMap
    keys: dict[str, int]  # key -> number of persons
    load: Callable[[list[str]], dict[str, FrozenBitMap]]
    _loaded: dict[str, FrozenBitMap] = field(default_factory=dict)
    encoding: str = "values"

    def bitmaps(self, keys: Sequence[str]) -> list[FrozenBitMap]:
        wanted = [k for k in keys if k in self.keys and k not in self._loaded]
        if wanted:
            self._loaded.update(self.load(wanted))
        return [self._loaded[k] for k in keys if k in self.keys]

    def value(self, key: str) -> FrozenBitMap:
        found = self.bitmaps([key])
        return found[0] if found else bm.EMPTY

    def cost(self, c: Cond) -> float:
        return 1.0 + 0.2 * len(c.values)

    def select(self, c: Cond, within: AbstractBitMap | None) -> AbstractBitMap:
        keys = [value_key(v) for v in c.values]
        if c.op in ("eq", "in", "has"):
            hits = bm.union(self.bitmaps(keys))
            return hits if within is None else hits & within
        if c.op in ("ne", "not_in", "not_has"):
            base = bm.restrict(self.notnull, within)
            return base - bm.union(self.bitmaps(keys))
        raise NotIndexableError(f"the index does not answer {c.op} on {self.tag}")


@dataclass
class SlicedIndex:
    """A bit-sliced index over the ranks of the distinct values (kept sorted in ``values``)."""

    tag: str
    value_type: str
    notnull: FrozenBitMap
    values: np.ndarray
    slices: list[FrozenBitMap]
    encoding: str = "sliced"

    def cost(self, c: Cond) -> float:
        return (4.0 + len(self.slices)) * max(1, len(c.values))

    def select(self, c: Cond, within: AbstractBitMap | None) -> AbstractBitMap:
        start = bm.restrict(self.notnull, within)
        if c.op in ("in", "not_in"):
            hits = bm.union([self._compare("eq", v, start) for v in c.values])
            return hits if c.op == "in" else start - hits
        if c.op in ("eq", "ne", "lt", "le", "gt", "ge"):
            return self._compare(c.op, c.values[0], start)
        raise NotIndexableError(f"the index does not answer {c.op} on {self.tag}")

    def _compare(self, op: str, value: Any, start: AbstractBitMap) -> AbstractBitMap:
        x = encode_number(value, self.values.dtype)
        if op in ("eq", "ne"):
            at = int(np.searchsorted(self.values, x, side="left"))
            found = at < len(self.values) and self.values[at] == x
            hits = bm.sliced_eq(self.slices, start, at) if found else BitMap()
            return hits if op == "eq" else start - hits
        # the largest code whose value passes `< x` (or `<= x`)
        side = "left" if op in ("lt", "ge") else "right"
        bound = int(np.searchsorted(self.values, x, side=side)) - 1
        below = bm.sliced_le(self.slices, start, bound)
        return below if op in ("lt", "le") else start - below


TagIndex = ValueIndex | SlicedIndex


def value_key(value: Any) -> str:
    """The text under which a value's bitmap is stored."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_number(value: Any, dtype: np.dtype) -> Any:
    """A literal in the units of a numeric tag's stored values."""
    if isinstance(value, datetime):
        delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, date):
        return (value - EPOCH).days
    if dtype.kind == "i" and isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)  # beyond int64: compare as a float, like the warehouse would
    return value


# --- building -----------------------------------------------------------------------------------
@dataclass
class BuiltTag:
    """A tag's index as built: what storage writes."""

    tag: str
    value_type: str
    encoding: str
    notnull: FrozenBitMap
    parts: list[tuple[str, str, FrozenBitMap]]  # (part, key, bitmap): value/<key>, slice/<bit>
    values: np.ndarray | None = None  # sorted distinct values of a numeric tag
    distinct: int = 0


def numeric_array(
    column: pa.ChunkedArray | pa.Array, value_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid mask) of a numeric column in index units: int64, float64, microseconds
    since the epoch for times, days since the epoch for dates."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if value_type == "timestamp":
        col = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    elif value_type == "date":
        col = col.cast(pa.int32()).cast(pa.int64())
    elif value_type == "int":
        col = col.cast(pa.int64())
    else:
        col = col.cast(pa.float64())
    fill = 0 if pa.types.is_integer(col.type) else 0.0
    return np.asarray(col.fill_null(fill).to_numpy(zero_copy_only=False)), valid


def build_tag(
    tag: str, value_type: str, column: pa.ChunkedArray | pa.Array, ids: np.ndarray
) -> BuiltTag:
    """Index one column; ``ids`` are the persons' dense ids, ascending, aligned with the rows."""
    if value_type in ("int", "float", "timestamp", "date"):
        return _build_sliced(tag, value_type, column, ids)
    if value_type == "top":
        return _build_lists(tag, column, ids)
    if value_type in ("enum", "text", "bool"):
        return _build_values(tag, value_type, column, ids)
    raise NotIndexableError(f"{tag}: no index for type {value_type}")


def _build_sliced(tag: str, value_type: str, column: Any, ids: np.ndarray) -> BuiltTag:
    values, valid = numeric_array(column, value_type)
    present = values[valid]
    uniq, codes = np.unique(present, return_inverse=True)
    bits = max(1, int(len(uniq) - 1).bit_length())
    present_ids = ids[valid]
    slices = bm.slices_of(codes.astype(np.uint32), present_ids, bits)
    return BuiltTag(
        tag, value_type, "sliced", bm.from_sorted(present_ids),
        [("slice", str(i), s) for i, s in enumerate(slices)], values=uniq, distinct=len(uniq),
    )  # fmt: skip


def _dictionary(column: Any) -> tuple[np.ndarray, list[str]]:
    """(codes, with -1 for no value; the distinct values as text)."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_boolean(col.type):
        col = pc.if_else(col, "true", "false")
    elif not pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    encoded = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    keys = [str(k) for k in encoded.dictionary.to_pylist()]
    if len(keys) > MAX_KEYS:
        raise NotIndexableError(
            f"{len(keys):,} distinct values, more than the index keeps ({MAX_KEYS:,})"
        )
    return codes, keys


def _build_values(tag: str, value_type: str, column: Any, ids: np.ndarray) -> BuiltTag:
    codes, keys = _dictionary(column)
    valid = codes >= 0
    groups = bm.groups_of(codes[valid], ids[valid], len(keys))
    parts = [("value", k, g) for k, g in zip(keys, groups, strict=True) if len(g)]
    return BuiltTag(
        tag, value_type, "values", bm.from_sorted(ids[valid]), parts, distinct=len(parts)
    )


def _build_lists(tag: str, column: Any, ids: np.ndarray) -> BuiltTag:
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
    keys = pc.struct_field(pc.list_flatten(col), "key")
    codes, names = _dictionary(keys)
    keep = codes >= 0
    # rows ascend, so the ids of each key stay ascending in the stable grouping
    groups = bm.groups_of(codes[keep], ids[rows[keep]], len(names))
    parts = [("value", k, g) for k, g in zip(names, groups, strict=True) if len(g)]
    return BuiltTag(tag, "top", "values", bm.from_sorted(ids[valid]), parts, distinct=len(parts))


def from_built(b: BuiltTag) -> TagIndex:
    """A freshly built tag index, ready to evaluate (without a round trip through storage)."""
    if b.encoding == "sliced":
        assert b.values is not None
        return SlicedIndex(b.tag, b.value_type, b.notnull, b.values, [p[2] for p in b.parts])
    found = {key: bitmap for _, key, bitmap in b.parts}
    keys = {key: len(bitmap) for key, bitmap in found.items()}
    return ValueIndex(b.tag, b.value_type, b.notnull, keys, lambda ks: {k: found[k] for k in ks})
