"""Encode one tag's column into its bitmap index (see :mod:`portrait.segments.index` for the
encodings): one bitmap per value or list key, or, for numbers, codes and equal-count buckets.

Works on Arrow columns and numpy arrays only; :mod:`portrait.segments.indexer` reads the columns
from the store and writes what is built back through it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import FrozenBitMap

from portrait.segments import bitmaps as bm
from portrait.segments.index import NotIndexableError, TagIndex, ValueIndex, stepped

MAX_KEYS = 5_000  # a text or list tag with more distinct values is left to the warehouse
STEPS = 16  # coarse equal-count buckets of a numeric tag, each bound by a range-encoded bitmap
FINE = 128  # fine equal-count buckets of a numeric tag, a bitmap each


@dataclass
class BuiltTag:
    """A tag's index as built: what the store writes (``store.segment_index.IndexedTag``)."""

    tag: str
    value_type: str
    encoding: str
    notnull: FrozenBitMap
    parts: list[tuple[str, str, FrozenBitMap]]  # (part, key, bitmap): value/<key>, step/<cut>
    values: np.ndarray | None = None  # a numeric tag's sorted distinct values
    codes: np.ndarray | None = None  # and the persons' ranks in them, fine bucket by bucket
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
        return _build_stepped(tag, value_type, column, ids)
    if value_type == "top":
        return _build_lists(tag, column, ids)
    if value_type in ("enum", "text", "bool"):
        return _build_values(tag, value_type, column, ids)
    raise NotIndexableError(f"{tag}: no index for type {value_type}")


def _build_stepped(tag: str, value_type: str, column: Any, ids: np.ndarray) -> BuiltTag:
    values, valid = numeric_array(column, value_type)
    uniq, codes = distinct_codes(values[valid])
    present = ids[valid]
    tops = [*step_cuts(codes, len(uniq), FINE), len(uniq) - 1] if len(uniq) else []
    # the coarse cuts, each moved up to the top of its fine bucket (a coarse bucket is made of
    # whole fine ones)
    coarse = {tops[bisect.bisect_left(tops, c)] for c in step_cuts(codes, len(uniq), STEPS)}
    cuts = sorted(c for c in coarse if c < len(uniq) - 1)
    order, bounds = bm.group_order(np.searchsorted(np.asarray(tops), codes, side="left"), len(tops))
    in_order = present[order]
    fine = [bm.from_sorted(in_order[bounds[k] : bounds[k + 1]]) for k in range(len(tops))]
    steps = bm.cumulative(fine, [tops.index(c) for c in cuts])
    return BuiltTag(
        tag, value_type, "stepped", bm.from_sorted(present),
        [("step", str(cut), step) for cut, step in zip(cuts, steps, strict=True)]
        + [("fine", str(top), f) for top, f in zip(tops, fine, strict=True)],
        values=uniq, codes=codes[order].astype(code_dtype(len(uniq))), distinct=len(uniq),
    )  # fmt: skip


DENSE_RANGE = 4  # integers spanning at most this many times their count are ranked by counting


def distinct_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct values ascending, each value's rank among them): ``np.unique`` with
    ``return_inverse``, but integers of a narrow range (counts, days, ages: most numeric tags)
    are ranked by counting instead of sorting (at 1M persons 5 ms instead of 50)."""
    if values.dtype.kind in "iu" and len(values):
        low, high = int(values.min()), int(values.max())
        if high - low < DENSE_RANGE * len(values) + 1024:
            offset = values - low
            seen = np.bincount(offset, minlength=high - low + 1) > 0
            rank = np.cumsum(seen) - 1
            return np.flatnonzero(seen).astype(values.dtype) + low, rank[offset]
    return np.unique(values, return_inverse=True)


def code_dtype(distinct: int) -> np.dtype:
    """The smallest unsigned integer type holding ranks below ``distinct``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if distinct <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def step_cuts(codes: np.ndarray, distinct: int, steps: int = STEPS) -> list[int]:
    """Codes splitting the persons into ``steps`` buckets of about equal size (fewer when a
    value holds many persons); the last code is never a cut (its step would be everyone)."""
    if distinct < 2:
        return []
    counts = np.cumsum(np.bincount(codes, minlength=distinct))
    targets = counts[-1] * np.arange(1, steps) / steps
    cuts = np.unique(np.searchsorted(counts, targets, side="left"))
    return [int(c) for c in cuts if c < distinct - 1]


def _dictionary(column: Any) -> tuple[np.ndarray, list[str]]:
    """(codes, with -1 for no value; the distinct values as text)."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_boolean(col.type):
        flags = col.fill_null(False).to_numpy(zero_copy_only=False).astype(np.int64)
        valid = col.is_valid().to_numpy(zero_copy_only=False)
        return np.where(valid, flags, -1), ["false", "true"]
    if not pa.types.is_dictionary(col.type):
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
    if b.encoding == "stepped":
        assert b.values is not None and b.codes is not None
        steps = [(int(key), bitmap) for part, key, bitmap in b.parts if part == "step"]
        fine = {key: bitmap for part, key, bitmap in b.parts if part == "fine"}
        return stepped(
            b.tag, b.value_type, b.notnull, b.values, b.codes, dict(steps),
            {int(k): len(f) for k, f in fine.items()}, lambda ks: {k: fine[k] for k in ks},
        )  # fmt: skip
    found = {key: bitmap for _, key, bitmap in b.parts}
    keys = {key: len(bitmap) for key, bitmap in found.items()}
    return ValueIndex(b.tag, b.value_type, b.notnull, keys, lambda ks: {k: found[k] for k in ks})
