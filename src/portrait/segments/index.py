"""The bitmap index of one build: per tag, the persons (dense integer ids) of each value.

* enum, text and yes/no tags: one bitmap per value (``values`` encoding);
* top-N list tags: one bitmap per key, the persons whose list holds the key;
* numbers, dates and times (``stepped`` encoding): each value is coded by its rank among the
  distinct values, and the persons are cut into buckets of about equal size on two levels:
  ``FINE`` fine buckets, one bitmap each, and ``STEPS`` coarse buckets made of whole fine ones,
  range-encoded ("code at most c", cumulative). The codes themselves are kept too, fine
  bucket after fine bucket, each bucket's in the order of its persons' ids. A range condition
  takes the coarse buckets inside it with one bitmap difference, the fine buckets at its edges
  whole, and checks the codes of the persons of the (at most two) fine buckets its bounds fall
  in: exact answers to ``=``, ``<``, ``<=``, ``BETWEEN`` ... whatever the values, reading the
  codes of 1/``FINE`` of the persons at most twice.

Every tag also keeps the bitmap of persons with a value (``notnull``). This module answers
conditions on an index; :mod:`portrait.segments.encode` makes one from Arrow columns handed over
by the store. Nothing here reads the warehouse.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from portrait.segments import bitmaps as bm
from portrait.segments.expr import Cond

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
        hits = bm.union(found)  # results are never mutated
        if c.op in ("eq", "in", "has"):
            return hits if within is None else hits & within
        if c.op in ("ne", "not_in", "not_has"):
            return bm.restrict(self.notnull, within) - hits
        raise NotIndexableError(f"the index does not answer {c.op} on {self.tag}")


@dataclass
class SteppedIndex:
    """A numeric tag: sorted distinct ``values``; ``steps[j]``, the persons whose code (rank in
    ``values``) is at most ``cuts[j]`` (coarse, cumulative); the fine buckets, bucket ``k``
    holding the persons whose code is at most ``tops[k]`` and above ``tops[k - 1]``, loaded on
    demand by ``load`` (keyed by their top); and ``codes``, the codes of bucket ``k``'s persons
    (ascending by dense id) at ``codes[starts[k]:starts[k + 1]]``."""

    tag: str
    value_type: str
    notnull: FrozenBitMap
    values: np.ndarray
    codes: np.ndarray
    cuts: list[int]
    steps: list[FrozenBitMap]
    tops: list[int]
    starts: np.ndarray
    load: Callable[[list[str]], dict[str, FrozenBitMap]]
    encoding: str = "stepped"
    _fine: dict[int, FrozenBitMap] = field(default_factory=dict)
    _ends: list[int] = field(default_factory=list)  # the last fine bucket of each coarse one

    def __post_init__(self) -> None:
        at = {top: k for k, top in enumerate(self.tops)}
        if any(c not in at for c in self.cuts):
            raise ValueError(f"{self.tag}: the coarse cuts of the index are not fine bucket tops")
        self._ends = [at[c] for c in self.cuts] + [len(self.tops) - 1]

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
        """The members of ``within`` whose code is in ``lo..hi``: whole coarse and fine
        buckets taken as they are, codes checked only in the fine buckets of ``lo`` and ``hi``."""
        lo, hi = max(lo, 0), min(hi, len(self.values) - 1)
        if lo > hi:
            return BitMap()
        tops = self.tops
        fl, fh = bisect.bisect_left(tops, lo), bisect.bisect_left(tops, hi)
        lo_whole = lo == (tops[fl - 1] + 1 if fl else 0)
        hi_whole = hi == tops[fh]
        if fl == fh and not (lo_whole and hi_whole):
            return self._refine(fl, within, lambda c: (c >= lo) & (c <= hi))
        parts = []
        if not lo_whole:
            parts.append(self._refine(fl, within, lambda c: c >= lo))
        if not hi_whole:
            parts.append(self._refine(fh, within, lambda c: c <= hi))
        a, b = (fl if lo_whole else fl + 1), (fh if hi_whole else fh - 1)
        if a <= b:
            parts.append(self._whole(a, b, within))
        return bm.union(parts)

    def _whole(self, a: int, b: int, within: AbstractBitMap | None) -> AbstractBitMap:
        """The members of ``within`` in fine buckets ``a..b``: the coarse buckets inside by
        the difference of two steps, the fine ones left at either side one by one."""
        ends = self._ends
        j1 = 0 if a == 0 else bisect.bisect_left(ends, a - 1) + 1  # first starting at >= a
        j2 = bisect.bisect_right(ends, b) - 1  # last coarse bucket ending at or before b
        if j1 > j2:
            return self._fines(list(range(a, b + 1)), within)
        first = ends[j1 - 1] + 1 if j1 else 0
        parts = [self._span(j1, j2, within)]
        edges = [*range(a, first), *range(ends[j2] + 1, b + 1)]
        if edges:
            parts.append(self._fines(edges, within))
        return bm.union(parts)

    def _span(self, j1: int, j2: int, within: AbstractBitMap | None) -> AbstractBitMap:
        """The members of ``within`` in coarse buckets ``j1..j2``."""
        top = self.steps[j2] if j2 < len(self.steps) else self.notnull
        span = top - self.steps[j1 - 1] if j1 else top
        return bm.restrict(span, within)

    def _fines(self, ks: list[int], within: AbstractBitMap | None) -> AbstractBitMap:
        """The members of ``within`` in fine buckets ``ks``."""
        wanted = [k for k in ks if k not in self._fine]
        if wanted:
            found = self.load([str(self.tops[k]) for k in wanted])
            self._fine.update({k: found[str(self.tops[k])] for k in wanted})
        got = [self._fine[k] for k in ks]
        if within is None:
            return bm.union(got)
        return bm.union([f & within for f in got])

    def _refine(
        self, k: int, within: AbstractBitMap | None, test: Callable[[np.ndarray], np.ndarray]
    ) -> AbstractBitMap:
        """The members of ``within`` in fine bucket ``k`` whose code passes ``test`` (reading
        only that bucket's codes)."""
        ids = bm.to_numpy(self._fines([k], None))
        # the whole bucket's codes are contiguous: a vectorised test over all of them beats
        # looking up the positions of ``within``'s few members in it
        hits = bm.from_sorted(ids[test(self.codes[self.starts[k] : self.starts[k + 1]])])
        return hits if within is None else hits & within


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


def stepped(
    tag: str,
    value_type: str,
    notnull: FrozenBitMap,
    values: np.ndarray,
    codes: np.ndarray,
    steps: dict[int, FrozenBitMap],
    fine: dict[int, int],
    load: Callable[[list[str]], dict[str, FrozenBitMap]],
) -> SteppedIndex:
    """A numeric tag's index from its parts: coarse steps by cut, fine bucket sizes by top."""
    cuts, tops = sorted(steps), sorted(fine)
    starts = np.concatenate([[0], np.cumsum([fine[t] for t in tops], dtype=np.int64)])
    if starts[-1] != len(codes):
        raise ValueError(f"{tag}: the index holds {len(codes):,} codes for {starts[-1]:,} persons")
    return SteppedIndex(
        tag, value_type, notnull, values, codes, cuts, [steps[c] for c in cuts], tops, starts, load
    )
