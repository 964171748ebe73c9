"""Build a profile build's bitmap index, and read it back for evaluation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyroaring import FrozenBitMap

from portrait.segments import bitmaps as bm
from portrait.segments.encode import BuiltTag, build_tag
from portrait.segments.index import NotIndexableError, TagIndex, ValueIndex, stepped
from portrait.store import segment_index
from portrait.store import segments as segment_store
from portrait.store.segment_index import TagHeader
from portrait.store.warehouse import Warehouse
from portrait.tags.model import TagDef

COLUMNS_PER_READ = 16  # tag columns fetched per query (bounds memory on wide, tall snapshots)
INDEX_THREADS = min(4, os.cpu_count() or 1)


@dataclass
class IndexReport:
    """A build's index as just made (raw figures; ``SegmentRefresh`` rounds them)."""

    build_id: str
    persons: int
    tags: int
    skipped: dict[str, str]
    bytes: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


PII_SKIPPED = "personal data stored encrypted: not indexed"


def build_index(wh: Warehouse, tags: Sequence[TagDef], build_id: str, snapshot: str) -> IndexReport:
    """Index every tag of ``snapshot`` that is in ``tags`` and store it under ``build_id``."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    first = segment_store.assign_ids(wh, snapshot)
    rows, pids = segment_store.snapshot_ids(wh, snapshot, ids_are_rows=first)
    order = None if np.all(pids[1:] > pids[:-1]) else np.argsort(pids, kind="stable")
    ids = pids if order is None else pids[order]
    universe = bm.from_sorted(ids)
    timings["ids"] = time.perf_counter() - t0

    present = segment_store.snapshot_columns(wh, snapshot)
    wanted = [t for t in tags if t.id in present and not t.pii]
    built: list[BuiltTag] = []
    # sealed in the snapshot: a token per person, no value to index (nor to segment on)
    skipped = {t.id: PII_SKIPPED for t in tags if t.id in present and t.pii}
    tick = time.perf_counter()
    # numpy's sorts, most of the work, release the GIL: a chunk's tags are indexed side by side
    with ThreadPoolExecutor(max_workers=INDEX_THREADS) as pool:
        for start in range(0, len(wanted), COLUMNS_PER_READ):
            chunk = wanted[start : start + COLUMNS_PER_READ]
            table = segment_store.read_columns(wh, snapshot, [t.id for t in chunk])
            if not np.array_equal(table.column("r").to_numpy(), rows):
                raise RuntimeError(f"the rows of {snapshot} changed while it was being indexed")

            def one(t: TagDef, table: Any = table) -> BuiltTag | str:
                column = table.column(t.id)
                if order is not None:
                    column = column.take(order)
                try:
                    return build_tag(t.id, t.type, column, ids)
                except NotIndexableError as e:
                    return str(e)

            for t, result in zip(chunk, pool.map(one, chunk), strict=True):
                if isinstance(result, str):
                    skipped[t.id] = result
                else:
                    built.append(result)
    timings["bitmaps"] = time.perf_counter() - tick
    tick = time.perf_counter()
    seconds = time.perf_counter() - t0
    size = segment_index.write_index(wh, build_id, snapshot, universe, built, skipped, seconds)
    timings["store"] = time.perf_counter() - tick
    for stale in segment_index.stale_indexes(wh):
        segment_index.drop_index(wh, stale)
    return IndexReport(
        build_id, len(universe), len(built), skipped, size, time.perf_counter() - t0, timings
    )


class IndexReader:
    """A stored index, loaded tag by tag as expressions need them (and kept in memory)."""

    def __init__(self, wh: Warehouse, build_id: str, universe: FrozenBitMap) -> None:
        self.wh = wh
        self.build_id = build_id
        self.universe = universe
        self._tags: dict[str, TagIndex | None] = {}

    @classmethod
    def open(cls, wh: Warehouse, build_id: str) -> IndexReader | None:
        info = segment_index.index_build(wh, build_id)
        return None if info is None else cls(wh, build_id, info.universe)

    def tags(self, tag_ids: Sequence[str]) -> dict[str, TagIndex | None]:
        """The index of each tag; None for a tag the build did not index."""
        missing = [t for t in tag_ids if t not in self._tags]
        if missing:
            headers = segment_index.index_tags(self.wh, self.build_id, missing)
            for tag_id in missing:
                head = headers.get(tag_id)
                self._tags[tag_id] = None if head is None else self._open(tag_id, head)
        return {t: self._tags[t] for t in tag_ids}

    def _open(self, tag_id: str, head: TagHeader) -> TagIndex:
        if head.encoding == "stepped":
            assert head.values is not None and head.codes is not None  # stored with "stepped"
            steps = segment_index.index_bitmaps(self.wh, self.build_id, tag_id, "step")
            tops = segment_index.index_keys(self.wh, self.build_id, tag_id, "fine")

            def fine(keys: list[str]) -> dict[str, FrozenBitMap]:
                return segment_index.index_bitmaps(self.wh, self.build_id, tag_id, "fine", keys)

            return stepped(
                tag_id, head.value_type, head.notnull, head.values, head.codes,
                {int(c): s for c, s in steps.items()}, {int(t): n for t, n in tops.items()},
                fine,
            )  # fmt: skip

        def load(keys: list[str]) -> dict[str, FrozenBitMap]:
            return segment_index.index_bitmaps(self.wh, self.build_id, tag_id, "value", keys)

        keys = segment_index.index_keys(self.wh, self.build_id, tag_id)
        return ValueIndex(tag_id, head.value_type, head.notnull, keys, load)


def index_or_build(
    wh: Warehouse,
    tags: Sequence[TagDef],
    build: dict[str, Any],
    say: Callable[[str], None] | None = None,
) -> IndexReader:
    """The build's index, made now if the build has none (one made before segments existed)."""
    reader = IndexReader.open(wh, build["build_id"])
    if reader is None:
        if say:
            say(f"indexing the build of {build['as_of']} (made before it had a segment index)")
        build_index(wh, tags, build["build_id"], build["snapshot"])
        reader = IndexReader.open(wh, build["build_id"])
        assert reader is not None
    return reader
