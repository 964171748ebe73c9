"""What a new profile build does to segments: index it, and (the live build) store every saved
segment's members in it, so that counts are fast and the history has a step per build.

The profile service runs :func:`refresh_segments` inside the build, once the snapshot is saved
and while the build lock is held (the Workspace hands it over as an ``after_snapshot`` step):
``portrait.tags`` never imports segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from portrait.segments.engine import SegmentEngine
from portrait.segments.expr import SegmentExpressionError
from portrait.segments.indexer import build_index
from portrait.segments.results import SegmentRefresh
from portrait.store import segments as segment_store

if TYPE_CHECKING:
    from portrait.tags.build import BuildResult
    from portrait.tags.service import ProfileService


def refresh(
    engine: SegmentEngine,
    build_id: str,
    snapshot: str,
    progress: Callable[[str], None] | None = None,
    live: bool = True,
) -> SegmentRefresh:
    """Index a new build and, when it is the live one, store every saved segment's members
    in it (a past date's members are evaluated when asked for, outside the history)."""
    say = progress or (lambda _msg: None)
    engine.ready()
    say("indexing tags for segments")
    report = build_index(engine.wh, list(engine.catalog), build_id, snapshot)
    build = segment_store.build_row(engine.wh, build_id)
    say("segment memberships")
    tick = time.perf_counter()
    skipped = {}
    for segment in segment_store.segment_rows(engine.wh) if live else []:
        try:
            engine.members(segment, build)
        except (SegmentExpressionError, LookupError) as e:
            skipped[segment.name] = str(e)
    return SegmentRefresh(
        build_id=report.build_id,
        persons=report.persons,
        tags=report.tags,
        skipped=report.skipped,
        mib=round(report.bytes / 2**20, 3),
        seconds=round(report.seconds, 3),
        timings={k: round(v, 3) for k, v in report.timings.items()},
        memberships_seconds=round(time.perf_counter() - tick, 3),
        segments_skipped=skipped,
    )


def refresh_segments(
    profiles: ProfileService, result: BuildResult, progress: Callable[[str], None] | None
) -> SegmentRefresh:
    """The profile build's step for segments: the build's warnings name the saved segments
    it cannot evaluate, and its timings show what segments cost."""
    tick = time.perf_counter()
    engine = SegmentEngine(profiles.wh, lambda: profiles.catalog)
    done = refresh(engine, result.build_id, result.snapshot, progress, live=result.live)
    for name, reason in done.segments_skipped.items():
        result.warnings.append(f"segment {name} has no members for this build: {reason}")
    result.timings["segments"] = round(time.perf_counter() - tick, 3)
    result.seconds = round(result.seconds + result.timings["segments"], 3)
    return done
