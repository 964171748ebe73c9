"""Roaring-bitmap helpers: bitmaps from numpy arrays, and bit-sliced comparisons.

A numeric tag is indexed as a *bit-sliced index* (O'Neil and Quass, 1997) over order-preserving
codes: each distinct value gets its rank among the distinct values, and slice ``i`` holds the
persons whose code has bit ``i`` set. ``x <= v`` becomes ``code <= c`` with ``c`` the rank of the
largest distinct value not above ``v``, answered exactly with two or three bitmap operations per
slice, each restricted to the persons still undecided.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

EMPTY = FrozenBitMap()


def from_sorted(ids: np.ndarray) -> FrozenBitMap:
    """A bitmap of (sorted, unique) uint32 ids; from a buffer, much faster than from a list."""
    buf = array.array("I")
    buf.frombytes(np.ascontiguousarray(ids, dtype=np.uint32).tobytes())
    return FrozenBitMap(buf)


def to_numpy(bitmap: AbstractBitMap) -> np.ndarray:
    """The ids of a bitmap, ascending, as uint32."""
    return np.frombuffer(bitmap.to_array(), dtype=np.uint32)


def union(bitmaps: Sequence[AbstractBitMap]) -> BitMap:
    if not bitmaps:
        return BitMap()
    if len(bitmaps) == 1:
        return BitMap(bitmaps[0])
    return BitMap.union(*bitmaps)


def restrict(bitmap: AbstractBitMap, within: AbstractBitMap | None) -> AbstractBitMap:
    return bitmap if within is None else bitmap & within


def sliced_le(slices: Sequence[AbstractBitMap], start: AbstractBitMap, code: int) -> BitMap:
    """The members of ``start`` whose code is at most ``code``."""
    if code < 0:
        return BitMap()
    if code >= (1 << len(slices)) - 1:
        return BitMap(start)
    less = BitMap()
    equal = BitMap(start)
    for bit in range(len(slices) - 1, -1, -1):
        s = slices[bit]
        if (code >> bit) & 1:
            less |= equal - s  # bit 0 where the bound has 1: below it from here on
            equal &= s
        else:
            equal -= s
        if not equal:
            break
    less |= equal
    return less


def sliced_eq(slices: Sequence[AbstractBitMap], start: AbstractBitMap, code: int) -> BitMap:
    """The members of ``start`` whose code is ``code``."""
    if code < 0 or code >= 1 << len(slices):
        return BitMap()
    equal = BitMap(start)
    for bit in range(len(slices) - 1, -1, -1):
        if (code >> bit) & 1:
            equal &= slices[bit]
        else:
            equal -= slices[bit]
        if not equal:
            break
    return equal


def slices_of(codes: np.ndarray, ids: np.ndarray, bits: int) -> list[FrozenBitMap]:
    """Slice ``i``: the ids whose code has bit ``i`` set (``ids`` sorted, aligned with codes)."""
    return [from_sorted(ids[((codes >> bit) & 1).astype(bool)]) for bit in range(bits)]


def groups_of(codes: np.ndarray, ids: np.ndarray, count: int) -> list[FrozenBitMap]:
    """Bitmap ``k``: the ids whose code is ``k`` (``ids`` sorted, aligned with ``codes``)."""
    order = np.argsort(codes, kind="stable")  # stable: ids stay sorted within a code
    bounds = np.searchsorted(codes[order], np.arange(count + 1))
    sorted_ids = ids[order]
    return [from_sorted(sorted_ids[bounds[k] : bounds[k + 1]]) for k in range(count)]


def total_bytes(bitmaps: Iterable[AbstractBitMap]) -> int:
    return sum(len(b.serialize()) for b in bitmaps)
