"""Roaring-bitmap helpers: bitmaps from numpy arrays, groups and range-encoded steps."""

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


def steps_of(codes: np.ndarray, ids: np.ndarray, cuts: Sequence[int]) -> list[FrozenBitMap]:
    """Step ``j``: the ids whose code is at most ``cuts[j]`` (cumulative, built bucket by
    bucket)."""
    bucket = np.searchsorted(np.asarray(cuts), codes, side="left")  # codes <= cuts[bucket]
    steps: list[FrozenBitMap] = []
    running = BitMap()
    for part in groups_of(bucket, ids, len(cuts) + 1)[: len(cuts)]:
        running |= part
        steps.append(FrozenBitMap(running))
    return steps


def groups_of(codes: np.ndarray, ids: np.ndarray, count: int) -> list[FrozenBitMap]:
    """Bitmap ``k``: the ids whose code is ``k`` (``ids`` ascending, aligned with ``codes``)."""
    small = codes.astype(np.uint8 if count <= 256 else np.uint16 if count <= 65_536 else np.int64)
    # stable: ids stay sorted within a code (and a radix sort for 8- and 16-bit codes)
    order = np.argsort(small, kind="stable")
    bounds = np.searchsorted(small[order], np.arange(count + 1))
    sorted_ids = ids[order]
    return [from_sorted(sorted_ids[bounds[k] : bounds[k + 1]]) for k in range(count)]


def total_bytes(bitmaps: Iterable[AbstractBitMap]) -> int:
    return sum(len(b.serialize()) for b in bitmaps)
