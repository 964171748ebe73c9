"""The segment facade a Workspace exposes as ``ws.segments``.

>>> expr = "gender = 'F' AND 'beauty' IN category_affinity"
>>> ws.segments.count(expr).count                                   # doctest: +SKIP
1234
>>> ws.segments.create("beauty_f", expr)                            # doctest: +SKIP
>>> ws.segments.members("beauty_f", tags=["rfm_segment"]).to_pandas()   # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyroaring import AbstractBitMap

from portrait.consent.policy import Consents, HasConsent, purpose_of_use
from portrait.errors import ConflictError
from portrait.segments import bitmaps as bm
from portrait.segments.builtin import check_name
from portrait.segments.engine import SegmentEngine
from portrait.segments.export_file import EXPORT_FORMATS, write_table
from portrait.segments.expr import suggest
from portrait.segments.index import ValueIndex
from portrait.segments.results import (
    CompositionRow,
    HistoryStep,
    IndexStatus,
    MembershipChange,
    Overlap,
    OverlapPair,
    SegmentCount,
    SegmentDetail,
    SegmentExport,
    SegmentPublic,
    SegmentSize,
)
from portrait.store import pii_tags, segment_index
from portrait.store import segments as segment_store
from portrait.store.exports import record_export
from portrait.store.segments import SegmentRow
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher

# tags a segment's composition is shown by (those the catalog has)
KEY_TAGS = ("gender", "age_band", "rfm_segment", "lifecycle_stage", "main_persona")
COMPOSITION_KEYS = 50  # the most common values of a tag that a composition looks at


class SegmentNotFoundError(LookupError):
    """No saved segment by that name."""


class SegmentConflictError(ConflictError, ValueError):
    """The name is taken (by a saved or built-in segment), or a built-in one cannot change."""


class SegmentService:
    """Segments of one workspace: count expressions, save, show, compare and export them."""

    def __init__(
        self,
        warehouse: Warehouse,
        catalog: Catalog | Callable[[], Catalog],
        consent: HasConsent | None = None,
        pii: Callable[[], PiiCipher | None] = lambda: None,
    ) -> None:
        """``catalog``: the tag catalog, or how to get the current one (the profile service
        reloads it when the workspace's tags change). ``consent``: the settings whose
        ``[consent]`` member listings and exports honour (None: no one is left out). ``pii``:
        the cipher that opens the PII tags (sealed in the snapshots) a listing asks for."""
        current = catalog if callable(catalog) else lambda: catalog
        self.engine = SegmentEngine(warehouse, current)
        self.wh = warehouse
        self.consents = Consents(warehouse, consent) if consent is not None else None
        self.pii = pii

    # --- counting -------------------------------------------------------------------------
    def count(self, expression: str, as_of: Any = None, engine: str = "auto") -> SegmentCount:
        """How many persons an expression selects (and which path answered)."""
        t0 = time.perf_counter()
        self.engine.ready()
        build = self.engine.build(as_of)
        node = self.engine.parse(expression, build)
        a = self.engine.answer(node, build, engine)
        persons = build["persons"]
        return SegmentCount(
            expression=expression,
            normalized=str(node),
            count=a.count,
            persons=persons,
            share=_share(a.count, persons),
            as_of=build["as_of"],
            build_id=build["build_id"],
            path=a.path,
            warehouse_conditions=a.warehouse_conditions,
            warnings=a.warnings,
            evaluate_ms=round(a.seconds * 1000, 3),
            ms=round((time.perf_counter() - t0) * 1000, 3),
        )

    def check(self, expression: str) -> str:
        """The expression as checked against the tag catalog (its normalized text), without
        evaluating it: how another service validates a segment it is given. Raises
        ``SegmentExpressionError`` (a ValueError) saying what is wrong."""
        return str(self.engine.parse(expression))

    # --- definitions ----------------------------------------------------------------------
    def create(
        self,
        name: str,
        expression: str,
        description: str | None = None,
        replace: bool = False,
    ) -> SegmentDetail:
        """Save a segment; its members are stored for every indexed build from now on."""
        check_name(name)
        self.engine.ready()
        node = self.engine.parse(expression)
        existing = segment_store.segment_rows(self.wh, name)
        if existing and existing[0].builtin:
            raise SegmentConflictError(f"{name!r} is a built-in segment; choose another name")
        if existing and not replace:
            raise SegmentConflictError(
                f"segment {name!r} exists ({existing[0].expression}); delete it first or "
                'replace it (--replace; over REST, "replace": true)'
            )
        segment_store.put_segment(self.wh, name, expression, str(node), description, False)
        segment_store.drop_members(self.wh, name, str(node))
        try:
            build = self.engine.build()
        except LookupError:
            return self.show(name)
        self.engine.members(self._get(name), build)
        return self.show(name)

    def delete(self, name: str) -> None:
        """Forget a saved segment and its stored memberships (built-in ones stay)."""
        segment = self._get(name)
        if segment.builtin:
            raise SegmentConflictError(f"{name!r} is a built-in segment and cannot be deleted")
        segment_store.delete_segment(self.wh, name)

    def list(self) -> list[SegmentPublic]:
        """Every saved segment with its size in its latest stored membership."""
        self.engine.ready()
        sizes = segment_store.latest_sizes(self.wh)
        return [
            SegmentPublic(
                name=s.name,
                expression=s.expression,
                description=s.description,
                builtin=s.builtin,
                size=sizes.get(s.name, (None, None))[0],
                build_id=sizes.get(s.name, (None, None))[1],
                created_at=s.created_at,
            )
            for s in segment_store.segment_rows(self.wh)
        ]

    def _get(self, name: str) -> SegmentRow:
        self.engine.ready()
        found = segment_store.segment_rows(self.wh, name)
        if not found:
            names = [s.name for s in segment_store.segment_rows(self.wh)]
            close = suggest(name, names)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SegmentNotFoundError(
                f"no segment {name!r}{hint} (`portrait segment list` shows them)"
            )
        return found[0]

    # --- reading --------------------------------------------------------------------------
    def show(self, name: str, by: list[str] | None = None, as_of: Any = None) -> SegmentDetail:
        """Definition, size and composition by key tags on the latest build (of a date), and
        growth and churn over builds."""
        segment = self._get(name)
        definition = {
            "name": segment.name, "expression": segment.expression,
            "normalized": segment.normalized, "description": segment.description,
            "builtin": segment.builtin, "created_at": segment.created_at,
        }  # fmt: skip
        try:
            build = self.engine.build(as_of)
        except LookupError:
            if as_of is not None:
                raise
            return SegmentDetail(**definition)
        members = self.engine.members(segment, build)
        history = self._history(name)
        last = next((h for h in history[::-1] if h.build_id == build["build_id"]), None)
        change = None
        if last is not None and last.previous_as_of is not None:
            assert last.joined is not None and last.left is not None
            change = MembershipChange(joined=last.joined, left=last.left, since=last.previous_as_of)
        return SegmentDetail(
            **definition,
            as_of=build["as_of"],
            build_id=build["build_id"],
            size=len(members),
            persons=build["persons"],
            share=_share(len(members), build["persons"]),
            composition=self._composition(members, build, by),
            history=history,
            change=change,
        )

    def _composition(
        self, members: AbstractBitMap, build: dict[str, Any], by: list[str] | None
    ) -> dict[str, list[CompositionRow]]:
        wanted = by or [t for t in KEY_TAGS if t in self.engine.catalog]
        for t in wanted:
            self.engine.catalog.get(t)
        reader = self.engine.reader(build)
        if reader is None:
            return {}
        size, total = len(members), len(reader.universe)
        out: dict[str, list[CompositionRow]] = {}
        for tag_id, index in reader.tags(wanted).items():
            if not isinstance(index, ValueIndex):
                continue  # numbers and unindexed tags: not shown by value
            rows = []
            for key in sorted(index.keys, key=lambda k: -index.keys[k])[:COMPOSITION_KEYS]:
                n = members.intersection_cardinality(index.value(key))
                if n:
                    share, base = n / size, index.keys[key] / total
                    rows.append(CompositionRow(
                        value=key, persons=n, share=round(share, 4),
                        lift=round(share / base, 3) if base else None,
                    ))  # fmt: skip
            rows.sort(key=lambda r: (-r.persons, r.value or ""))
            empty = size - members.intersection_cardinality(index.notnull)
            if empty:
                rows.append(
                    CompositionRow(
                        value=None, persons=empty, share=round(empty / size, 4), lift=None
                    )
                )
            out[tag_id] = rows
        return out

    def _history(self, name: str) -> list[HistoryStep]:
        out: list[HistoryStep] = []
        previous = None
        for r in segment_store.member_history(self.wh, name):
            current = r.members
            out.append(
                HistoryStep(
                    build_id=r.build_id,
                    as_of=r.as_of,
                    size=r.size,
                    path=r.path,
                    previous_as_of=None if previous is None else previous.as_of,
                    joined=None if previous is None else len(current - previous.members),
                    left=None if previous is None else len(previous.members - current),
                )
            )
            previous = r
        return out

    def overlap(self, names: list[str], as_of: Any = None) -> Overlap:
        """Sizes, pairwise intersections and Jaccard indexes of saved segments."""
        if len(names) < 2:
            raise ValueError("overlap compares two or more segments")
        segments = [self._get(n) for n in dict.fromkeys(names)]
        build = self.engine.build(as_of)
        members = {s.name: self.engine.members(s, build) for s in segments}
        pairs = []
        for a, b in itertools.combinations(members, 2):
            both = members[a].intersection_cardinality(members[b])
            size_a, size_b = len(members[a]), len(members[b])
            pairs.append(OverlapPair(
                a=a, b=b, both=both,
                jaccard=round(members[a].jaccard_index(members[b]), 6) if size_a + size_b
                else 0.0,
                share_of_a=_share(both, size_a), share_of_b=_share(both, size_b),
            ))  # fmt: skip
        return Overlap(
            as_of=build["as_of"],
            build_id=build["build_id"],
            segments=[SegmentSize(name=n, size=len(m)) for n, m in members.items()],
            union=len(bm.union(list(members.values()))),
            pairs=pairs,
        )

    def members(
        self,
        name: str,
        as_of: Any = None,
        tags: list[str] | None = None,
        purpose: str | None = None,
    ) -> pa.Table:
        """The members' user ids (and ``tags``) as Arrow; ``.to_pandas()`` for pandas. A PII
        tag (``pii: true``) needs a stated ``purpose`` (and a role with ``pii:read``). Members
        who do not consent to the purpose the listing serves are left out: ``analytics`` or
        ``personalisation`` when ``purpose`` says so (``"analytics: churn study"``), else
        marketing (see ``portrait.consent.policy.purpose_of_use``)."""
        return self._members(name, as_of, tags, purpose)[0]

    def _members(
        self, name: str, as_of: Any, tags: list[str] | None, purpose: str | None
    ) -> tuple[pa.Table, int]:
        """The members with consent to the purpose served, and how many were left out."""
        segment = self._get(name)
        build = self.engine.build(as_of)
        tags = list(dict.fromkeys(tags or []))
        for t in tags:
            self._check_export_tag(t, build)
        pii = [t for t in tags if self.engine.catalog.get(t).pii]
        if pii and not (purpose or "").strip():
            raise ValueError(
                f"{', '.join(pii)} {'is' if len(pii) == 1 else 'are'} personal data: state why "
                "you export it (--purpose / purpose=...), or leave it out"
            )
        pids = bm.to_numpy(self.engine.members(segment, build))
        table = segment_store.member_rows(self.wh, build["snapshot"], pids, tags)
        if pii:  # sealed in the snapshot: opened for this listing only
            sealed = [self.engine.catalog.get(t) for t in pii]
            table = pii_tags.open_columns(self.wh, table, sealed, self.pii(), "user_id")
        if self.consents is None:
            return table, 0
        kept = self.consents.keep(purpose_of_use(purpose), table)
        return kept, table.num_rows - kept.num_rows

    def select(self, expression: str, as_of: Any = None) -> pa.Table:
        """The user ids of the persons an expression selects (a segment not saved), as Arrow:
        what a campaign targets when its segment is an expression."""
        self.engine.ready()
        build = self.engine.build(as_of)
        answer = self.engine.answer(self.engine.parse(expression, build), build, members=True)
        assert answer.members is not None
        pids = bm.to_numpy(answer.members)
        return segment_store.member_rows(self.wh, build["snapshot"], pids, [])

    def _check_export_tag(self, tag: str, build: dict[str, Any]) -> None:
        if tag not in self.engine.catalog:
            close = suggest(tag, sorted(self.engine.catalog.by_id))
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown tag {tag!r}{hint} (`portrait tags list` shows every tag)")
        if tag not in segment_store.snapshot_columns(self.wh, build["snapshot"]):
            raise ValueError(f"the build of {build['as_of']} has no {tag}; run `portrait build`")

    def export(
        self,
        name: str,
        out: str | Path,
        tags: list[str] | None = None,
        as_of: Any = None,
        fmt: str | None = None,
        purpose: str | None = None,
    ) -> SegmentExport:
        """Write the members (user ids plus ``tags``) to CSV or Parquet, by ``fmt`` or the
        file's extension; a PII tag needs a stated ``purpose``, which the answer carries."""
        path = Path(out)
        fmt = fmt or EXPORT_FORMATS.get(path.suffix.lower())
        if fmt not in EXPORT_FORMATS.values():
            raise ValueError(f"cannot tell the format of {path.name!r}: name it .csv or .parquet")
        table, left_out = self._members(name, as_of, tags, purpose)
        write_table(table, path, fmt)
        record_export(self.wh, path, "segment", name, table.num_rows)  # erasure rewrites it
        build = self.engine.build(as_of)
        return SegmentExport(
            name=name, path=str(path), format=fmt, rows=table.num_rows,
            columns=table.column_names, as_of=build["as_of"], build_id=build["build_id"],
            purpose=purpose, consent_purpose=purpose_of_use(purpose), without_consent=left_out,
            pii_tags=[t for t in table.column_names if t in self.engine.catalog
                      and self.engine.catalog.get(t).pii],
        )  # fmt: skip

    def index(self, as_of: Any = None) -> IndexStatus:
        """What the bitmap index of a build holds: persons, tags, size, tags left out."""
        self.engine.ready()
        build = self.engine.build(as_of)
        self.engine.reader(build)
        info = segment_index.index_build(self.wh, build["build_id"])
        if info is None:  # read-only, and the build has no index
            return IndexStatus(build_id=build["build_id"], as_of=build["as_of"], mib=0.0)
        return IndexStatus(
            build_id=build["build_id"],
            as_of=build["as_of"],
            persons=info.persons,
            tags=info.tags,
            mib=round(info.bytes / 2**20, 3),
            seconds=info.seconds,
            skipped=info.skipped,
        )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0
