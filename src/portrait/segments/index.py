"""The bitmap index of one build: per tag, the persons (dense integer ids) of each value.

* enum, text and yes/no tags: one bitmap per value (``values`` encoding);
* top-N list tags: one bitmap per key, the persons whose list holds the key;
* numbers, dates and times (``stepped`` encoding): each value is coded by its rank among the
  distinct values; ``STEPS`` range-encoded bitmaps ("code at most c") cut the persons into
  buckets of equal size, and the codes themselves are kept per person. A range condition takes
  the buckets below its bound whole (one bitmap operation) and checks the codes of the persons
  in the bound's bucket only: exact answers to ``=``, ``<``, ``<=``, ``BETWEEN`` ... whatever
  the values, at the cost of a sixteenth of the candidates.

Every tag also keeps the bitmap of persons with a value (``notnull``). Building works on Arrow
columns handed over by the storage layer; nothing here reads the warehouse.
"""

from __future__ import annotations

import bisect
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
STEPS = 16  # equal-count buckets of a numeric tag, each bound by a range-encoded bitmap
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
        found = self.bitmaps(keys)
        hits = found[0] if len(found) == 1 else bm.union(found)  # results are never mutated
        if c.op in ("eq", "in", "has"):
            return hits if within is None else hits & within
        if c.op in ("ne", "not_in", "not_has"):
            return bm.restrict(self.notnull, within) - hits
        raise NotIndexableError(f"the index does not answer {c.op} on {self.tag}")


@dataclass
class SteppedIndex:
    """A numeric tag: sorted distinct ``values``, each person's ``codes`` (rank in ``values``,
    indexed by dense id) and ``steps[j]``, the persons whose code is at most ``cuts[j]``."""

    tag: str
    value_type: str
    notnull: FrozenBitMap
    values: np.ndarray
    codes: np.ndarray
    cuts: list[int] = field(default_factory=list)
    steps: list[FrozenBitMap] = field(default_factory=list)
    encoding: str = "stepped"

    def cost(self, c: Cond) -> float:
        return 4.0 * max(1, len(c.values))

    RANGE_OPS = frozenset({"eq", "lt", "le", "gt", "ge"})

    def select(self, c: Cond, within: AbstractBitMap | None) -> AbstractBitMap:
        if c.op in ("in", "not_in", "ne"):
            eq = [self.between(*self.interval(Cond(c.tag, c.type, "eq", (v,))), within)
                  for v in c.values]  # fmt: skip
            hits = bm.union(eq)
            return hits if c.op == "in" else bm.restrict(self.notnull, within) - hits
        return self.select_all([c], within)

    def select_all(self, conds: Sequence[Cond], within: AbstractBitMap | None) -> AbstractBitMap:
        """The persons meeting every one of some comparisons (=, <, <=, >, >=) of this tag:
        the intersection of their code intervals, answered in one go."""
        lo, hi = 0, len(self.values) - 1
        for c in conds:
            c_lo, c_hi = self.interval(c)
            lo, hi = max(lo, c_lo), min(hi, c_hi)
        return self.between(lo, hi, within)

    def interval(self, c: Cond) -> tuple[int, int]:
        """The codes (inclusive; empty when lo > hi) whose values pass a comparison."""
        x = encode_number(c.values[0], self.values.dtype)
        last = len(self.values) - 1
        if c.op == "eq":
            at = int(np.searchsorted(self.values, x, side="left"))
            found = at <= last and self.values[at] == x
            return (at, at) if found else (1, 0)
        if c.op in ("lt", "le"):  # up to the last value below (or at) x
            side = "left" if c.op == "lt" else "right"
            return 0, int(np.searchsorted(self.values, x, side=side)) - 1
        if c.op in ("gt", "ge"):  # from the first value above (or at) x
            side = "right" if c.op == "gt" else "left"
            return int(np.searchsorted(self.values, x, side=side)), last
        raise NotIndexableError(f"the index does not answer {c.op} on {self.tag}")

    def between(self, lo: int, hi: int, within: AbstractBitMap | None) -> AbstractBitMap:
        """The members of ``within`` whose code is in ``lo..hi``: the buckets wholly inside
        taken as they are, the codes checked only in the buckets holding ``lo`` and ``hi``."""
        last = len(self.values) - 1
        lo, hi = max(lo, 0), min(hi, last)
        if lo > hi:
            return BitMap()
        memo: dict[int, AbstractBitMap] = {}

        def upto(j: int) -> AbstractBitMap | None:  # within, codes <= cuts[j] (None: none)
            if j < 0:
                return None
            if j not in memo:
                step = self.steps[j] if j < len(self.steps) else self.notnull
                memo[j] = bm.restrict(step, within)
            return memo[j]

        def span(j_from: int, j_to: int) -> AbstractBitMap:  # within, buckets j_from..j_to
            top, bottom = upto(j_to), upto(j_from - 1)
            assert top is not None
            return top if bottom is None else top - bottom

        jl = bisect.bisect_left(self.cuts, lo)  # cuts[jl - 1] < lo <= cuts[jl]
        jh = bisect.bisect_left(self.cuts, hi)
        lo_whole = lo == 0 or (jl > 0 and lo == self.cuts[jl - 1] + 1)
        hi_whole = hi == last or (jh < len(self.cuts) and hi == self.cuts[jh])
        if lo_whole and hi_whole:
            return span(jl, jh)
        if jh - jl <= 1:  # one or two buckets: check them in one pass
            return self._refine(span(jl, jh), lambda codes: (codes >= lo) & (codes <= hi))
        parts = [span(jl + 1, jh - 1)]
        parts.append(span(jl, jl) if lo_whole else self._refine(span(jl, jl), lambda c: c >= lo))
        parts.append(span(jh, jh) if hi_whole else self._refine(span(jh, jh), lambda c: c <= hi))
        return bm.union(parts)

    def _refine(
        self, inside: AbstractBitMap, test: Callable[[np.ndarray], np.ndarray]
    ) -> AbstractBitMap:
        """The members of ``inside`` whose code passes ``test`` (checked one by one)."""
        ids = bm.to_numpy(inside)
        return bm.from_sorted(ids[test(self.codes[ids])])


TagIndex = ValueIndex | SteppedIndex


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
    parts: list[tuple[str, str, FrozenBitMap]]  # (part, key, bitmap): value/<key>, step/<cut>
    values: np.ndarray | None = None  # a numeric tag's sorted distinct values
    codes: np.ndarray | None = None  # and each person's rank in them, by dense id
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
    uniq, codes = np.unique(values[valid], return_inverse=True)
    present = ids[valid]
    dense = np.zeros(int(ids[-1]) + 1 if len(ids) else 0, dtype=code_dtype(len(uniq)))
    dense[present] = codes
    cuts = step_cuts(codes, len(uniq))
    steps = bm.steps_of(codes, present, cuts)
    return BuiltTag(
        tag, value_type, "stepped", bm.from_sorted(present),
        [("step", str(cut), step) for cut, step in zip(cuts, steps, strict=True)],
        values=uniq, codes=dense, distinct=len(uniq),
    )  # fmt: skip


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
        cuts = [int(p[1]) for p in b.parts]
        return SteppedIndex(
            b.tag, b.value_type, b.notnull, b.values, b.codes, cuts, [p[2] for p in b.parts]
        )
    found = {key: bitmap for _, key, bitmap in b.parts}
    keys = {key: len(bitmap) for key, bitmap in found.items()}
    return ValueIndex(b.tag, b.value_type, b.notnull, keys, lambda ks: {k: found[k] for k in ks})
