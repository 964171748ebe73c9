"""Answer expressions on one build: by the bitmap index, the warehouse, or both.

``SegmentEngine`` holds a warehouse and a tag catalog (no Workspace), so that the profile build
can refresh the index and the saved segments' memberships right after it stores a snapshot
(:mod:`portrait.segments.refresh`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyroaring import AbstractBitMap

from portrait.segments import bitmaps as bm
from portrait.segments.builtin import builtin_segments
from portrait.segments.evaluate import Evaluator
from portrait.segments.expr import (
    LIKE_OPS,
    Node,
    SegmentExpressionError,
    conditions,
    suggest,
    tags_of,
)
from portrait.segments.index import ValueIndex, value_key
from portrait.segments.indexer import IndexReader, index_or_build
from portrait.segments.parse import parse_segment
from portrait.segments.sql import condition_sql, where_sql
from portrait.store import segments as segment_store
from portrait.store.segments import SegmentRow
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.service import no_build_error, parse_day

ENGINES = ("auto", "bitmap", "warehouse")
READERS_KEPT = 2  # builds whose loaded index stays in memory
PARSED_KEPT = 256  # expressions whose parse is kept (a dashboard asks the same ones again)


@dataclass
class Answer:
    """The persons an expression selects in one build, and how they were found."""

    build: dict[str, Any]
    count: int
    path: str
    members: AbstractBitMap | None = None
    warehouse_conditions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


class SegmentEngine:
    def __init__(self, wh: Warehouse, catalog: Callable[[], Catalog]) -> None:
        self.wh = wh
        self._catalog = catalog
        self._readers: OrderedDict[str, IndexReader] = OrderedDict()
        self._columns: dict[str, set[str]] = {}
        self._builds: dict[str, dict[str, Any]] = {}
        self._parsed: OrderedDict[str, tuple[Catalog, Node]] = OrderedDict()
        self._latest: dict[str | None, tuple[int, str | None]] = {}  # as_of -> (generation, id)
        self._ready = False

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    def ready(self) -> None:
        """Tables exist and the built-in segments are stored (once per engine)."""
        if self._ready:
            return
        if not self._writable():  # read-only: use what is stored
            self._ready = True
            return
        stored = {s.name: s for s in segment_store.segment_rows(self.wh)}
        for b in builtin_segments():
            try:
                node = parse_segment(b.expression, self.catalog.by_id)
            except SegmentExpressionError:  # a catalog without the tag (a test's, a bench's)
                continue
            s = stored.get(b.name)
            current = s is not None and s.builtin and s.normalized == str(node)
            if not current or s.description != b.description:
                segment_store.put_segment(
                    self.wh, b.name, b.expression, str(node), b.description, True
                )
                segment_store.drop_members(self.wh, b.name, str(node))
        self._ready = True

    # --- builds ---------------------------------------------------------------------------
    def build(self, as_of: Any = None) -> dict[str, Any]:
        day = parse_day(as_of)
        key = day.isoformat() if day else None
        seen = self._latest.get(key)
        if seen is not None and seen[0] == self.wh.generation:  # nothing written since
            build_id = seen[1]
        else:
            generation = self.wh.generation
            build_id = segment_store.latest_build_id(self.wh, key)
            self._latest[key] = (generation, build_id)
        if build_id is None:
            raise no_build_error(self.wh, day)
        if build_id not in self._builds:  # a build's row never changes
            self._builds[build_id] = segment_store.build_row(self.wh, build_id)
        return self._builds[build_id]

    def reader(
        self, build: dict[str, Any], make: bool = True, wait: bool = True
    ) -> IndexReader | None:
        """The build's segment index; made now if it has none and ``make``. While a build is
        being saved and indexed (``build_lock``), a build without an index yet has it made by
        that build: then None at once, or (``wait``) once the build is done."""
        build_id = build["build_id"]
        if build_id in self._readers:
            self._readers.move_to_end(build_id)
            return self._readers[build_id]
        reader = IndexReader.open(self.wh, build_id)
        if reader is None and make:
            if not self.wh.build_lock.acquire(blocking=wait):
                return None
            try:
                reader = index_or_build(self.wh, list(self.catalog), build)
            finally:
                self.wh.build_lock.release()
        if reader is not None:
            self._readers[build_id] = reader
            while len(self._readers) > READERS_KEPT:
                self._readers.popitem(last=False)
        return reader

    def parse(self, expression: str, build: dict[str, Any] | None = None) -> Node:
        catalog = self.catalog
        cached = self._parsed.get(expression)
        if cached is not None and cached[0] is catalog:  # parsed against this very catalog
            node = cached[1]
            self._parsed.move_to_end(expression)
        else:
            node = parse_segment(expression, catalog.by_id)
            self._parsed[expression] = (catalog, node)
            if len(self._parsed) > PARSED_KEPT:
                self._parsed.popitem(last=False)
        if build is not None:
            columns = self._columns.get(build["build_id"])
            if columns is None:
                columns = segment_store.snapshot_columns(self.wh, build["snapshot"])
                self._columns[build["build_id"]] = columns
            missing = [t for t in tags_of(node) if t not in columns]
            if missing:
                raise SegmentExpressionError(
                    f"the build of {build['as_of']} has no {', '.join(missing)} (added to the "
                    "catalog after it); run `portrait build` to compute it"
                )
        return node

    # --- answering ------------------------------------------------------------------------
    def answer(
        self, node: Node, build: dict[str, Any], engine: str = "auto", members: bool = False
    ) -> Answer:
        """Count (and, with ``members``, list) the persons ``node`` selects in ``build``."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; use auto, bitmap or warehouse")
        t0 = time.perf_counter()
        if engine == "warehouse" and not members:
            n = segment_store.count_where(self.wh, build["snapshot"], where_sql(node))
            return Answer(build, n, "warehouse", seconds=time.perf_counter() - t0)
        reader = self.reader(build, make=self._writable(), wait=engine == "bitmap" or members)
        if reader is None:
            if engine == "bitmap" or members:
                raise LookupError(
                    f"the build of {build['as_of']} has no segment index and this workspace is "
                    "open read-only; run `portrait build` to make one"
                )
            n = segment_store.count_where(self.wh, build["snapshot"], where_sql(node))
            return Answer(build, n, "warehouse", seconds=time.perf_counter() - t0)
        indexes = reader.tags(tags_of(node))
        if engine == "bitmap":
            unserved = [
                str(c) for c in conditions(node) if c.op in LIKE_OPS or indexes[c.tag] is None
            ]
            if unserved:
                raise ValueError(
                    f"the bitmap index cannot answer {'; '.join(unserved)} (LIKE, or a tag with "
                    "too many distinct values to index); use engine auto or warehouse"
                )

        def fallback(c: Any) -> AbstractBitMap:
            where = condition_sql(c, prefix="s.")
            return bm.from_sorted(segment_store.pids_where(self.wh, build["snapshot"], where))

        result = Evaluator(indexes, reader.universe, fallback).run(node)
        return Answer(
            build, len(result.members), result.path, result.members if members else None,
            result.warehouse_conditions, self._warnings(node, indexes),
            time.perf_counter() - t0,
        )  # fmt: skip

    def _warnings(self, node: Node, indexes: dict[str, Any]) -> list[str]:
        """Text values and list keys that no person has (often a typo)."""
        out = []
        for c in conditions(node):
            index = indexes.get(c.tag)
            if c.type not in ("text", "top") or not isinstance(index, ValueIndex):
                continue
            if c.op not in ("eq", "ne", "in", "not_in", "has", "not_has"):
                continue
            for v in c.values:
                key = value_key(v)
                if key not in index.keys:
                    close = suggest(key, sorted(index.keys, key=lambda k: -index.keys[k])[:2000])
                    hint = f"; close: {', '.join(repr(k) for k in close)}" if close else ""
                    out.append(f"no person has {key!r} in {c.tag} in this build{hint}")
        return out

    def _writable(self) -> bool:
        return not self.wh.read_only

    # --- memberships ----------------------------------------------------------------------
    def members(self, segment: SegmentRow, build: dict[str, Any]) -> AbstractBitMap:
        """A saved segment's members in a build: stored, or evaluated and stored now."""
        stored = segment_store.members_of(self.wh, segment.name, build["build_id"])
        if stored is not None:
            return stored
        node = self.parse(segment.expression, build)
        answer = self.answer(node, build, members=True)
        assert answer.members is not None
        segment_store.save_members(
            self.wh, segment.name, build, answer.members, answer.path, str(node)
        )
        return answer.members
