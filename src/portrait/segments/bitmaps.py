"""Roaring-bitmap helpers: bitmaps from numpy arrays, groups and range-encoded steps."""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

EMPTY = FrozenBitMap()
SERIAL_COOKIE_NO_RUNCONTAINER = 12346  # the portable roaring format's first word
ARRAY_MAX = 4096  # a container holding more ids is a bitset


def from_sorted(ids: np.ndarray) -> FrozenBitMap:
    """A bitmap of (sorted, unique) uint32 ids.

    Sparse ids (every 65,536-id container holding at most 4,096 of them, so all containers are
    arrays) are written straight in the portable serialised format with numpy and read back:
    three times faster than adding them (0.16 vs 0.47 ms for 53k ids out of 10M), which is what
    checking a numeric bucket's codes makes. Others are added from a buffer (much faster than
    from a list)."""
    ids = np.ascontiguousarray(ids, dtype=np.uint32)
    if len(ids) >= 1024:
        high = ids >> 16
        starts = np.flatnonzero(np.concatenate(([True], high[1:] != high[:-1])))
        cards = np.diff(np.append(starts, len(ids)))
        if int(cards.max()) <= ARRAY_MAX:
            n = len(starts)
            desc = np.empty((n, 2), dtype=np.uint16)  # (key, cardinality - 1) per container
            desc[:, 0] = high[starts]
            desc[:, 1] = cards - 1
            offsets = 8 + 8 * n + 2 * np.concatenate(([0], np.cumsum(cards)[:-1]))
            return FrozenBitMap.deserialize(
                np.array([SERIAL_COOKIE_NO_RUNCONTAINER, n], dtype="<u4").tobytes()
                + desc.astype("<u2").tobytes()
                + offsets.astype("<u4").tobytes()
                + ids.astype("<u2").tobytes()  # the low 16 bits, container after container
            )
    buf = array.array("I")
    buf.frombytes(ids.tobytes())
    return FrozenBitMap(buf)


def to_numpy(bitmap: AbstractBitMap) -> np.ndarray:
    """The ids of a bitmap, ascending, as uint32."""
    return np.frombuffer(bitmap.to_array(), dtype=np.uint32)


CHAINED = 8  # up to this many bitmaps, ``a | b | ...`` beats CRoaring's many-way union


def union(bitmaps: Sequence[AbstractBitMap]) -> AbstractBitMap:
    """The union of some bitmaps (a new bitmap, or the only one given: never mutate it).

    A few are OR-ed one after the other: the many-way union works through a dense bitset per
    container and costs several times more on sparse bitmaps (0.9 vs 0.15 ms for three of 5k,
    5k and 52k ids out of 10M); for many, the many-way union wins (1.3 vs 11 ms for 40 of 20k).
    """
    if not bitmaps:
        return BitMap()
    if len(bitmaps) > CHAINED:
        return BitMap.union(*bitmaps)
    out = bitmaps[0]
    for b in bitmaps[1:]:
        out = out | b
    return out


def restrict(bitmap: AbstractBitMap, within: AbstractBitMap | None) -> AbstractBitMap:
    return bitmap if within is None else bitmap & within


def cumulative(parts: Sequence[AbstractBitMap], ends: Sequence[int]) -> list[FrozenBitMap]:
    """For each of ``ends`` (ascending part numbers), the union of ``parts[0..end]``."""
    steps: list[FrozenBitMap] = []
    running = BitMap()
    done = 0
    for end in ends:
        for part in parts[done : end + 1]:
            running |= part
        done = end + 1
        steps.append(FrozenBitMap(running))
    return steps


def group_order(codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): ``order`` sorts the rows by code, keeping their order within a code;
    the rows of code ``k`` are ``order[bounds[k]:bounds[k + 1]]``."""
    small = codes.astype(np.uint8 if count <= 256 else np.uint16 if count <= 65_536 else np.int64)
    # stable: rows stay in order within a code (and a radix sort for 8- and 16-bit codes)
    order = np.argsort(small, kind="stable")
    return order, np.searchsorted(small[order], np.arange(count + 1))


def groups_of(codes: np.ndarray, ids: np.ndarray, count: int) -> list[FrozenBitMap]:
    """Bitmap ``k``: the ids whose code is ``k`` (``ids`` ascending, aligned with ``codes``)."""
    order, bounds = group_order(codes, count)
    sorted_ids = ids[order]
    return [from_sorted(sorted_ids[bounds[k] : bounds[k + 1]]) for k in range(count)]


def total_bytes(bitmaps: Iterable[AbstractBitMap]) -> int:
    return sum(len(b.serialize()) for b in bitmaps)
