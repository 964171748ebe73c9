"""Planning a build: its date, identity and names, and whether it can be incremental.

An incremental build starts from the newest stored build of the same catalog and time zone
not after its date, whose identity map is still the one kept in ``profile_identity``. It
recomputes the facts of the persons touched since (``store.profile_build.stage_affected``),
unless they are more than ``INCREMENTAL_LIMIT`` of everyone; when nobody is touched, the date
is the base build's and the model scores are as they were, the build is *unchanged*.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from portrait.store import profile_build as inputs
from portrait.store import profiles as snapshots
from portrait.store.pii import BUILD_USERS
from portrait.store.tag_builds import BaseBuild, base_build
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.expressions import Sources
from portrait.tags.sources import DAY, AsOf, event_source, user_source, utc_offsets

Progress = Callable[[str], None]
INCREMENTAL_LIMIT = 0.5  # recompute everything when more than this share of persons changed
HISTORY_DAYS = 400  # time-zone offsets are looked up at least this far back


@dataclass
class BuildPlan:
    """What a build will do, decided before it computes anything."""

    point: AsOf
    offsets: list[tuple[int, int]]
    build_id: str
    started: datetime
    snapshot: str  # the date's snapshot table
    staging: str  # where the build computes it
    events_seen: int
    last_batch: str | None
    inputs: str  # digest of the model scores it reads
    backend: str
    mode: str = "full"  # full, incremental or unchanged
    base: BaseBuild | None = None  # the build an incremental (or unchanged) build starts from
    base_persons: int = 0
    base_source: str | None = None  # the base snapshot as read (its PII tags opened)
    recomputed: int = -1  # persons whose facts are computed (-1: everyone, counted later)
    timings: dict[str, float] = field(default_factory=dict)


def default_as_of(wh: Warehouse, timezone: str) -> date:
    """The day after the latest event (local date): the profile then covers every event."""
    _, last = inputs.event_span(wh)
    if last is None:
        return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
    return last.astimezone(ZoneInfo(timezone)).date() + timedelta(days=1)


def sources(wh: Warehouse, offsets: list[tuple[int, int]], scores: bool = True) -> Sources:
    """The warehouse's canonical tables as the relations a build reads (users through the
    build's view with the birth dates decrypted, ``store.pii.stage_build_users``)."""
    t = wh.table
    return Sources(
        events=event_source(t("events"), t("products"), t("identity_map"), offsets),
        users=user_source(t(BUILD_USERS), t("identity_map")),
        scores=t("model_scores") if scores else None,
    )


def plan_build(
    wh: Warehouse,
    catalog: Catalog,
    timezone: str,
    day: date,
    backend: str,
    full: bool,
    say: Progress,
) -> BuildPlan:
    """The plan of a build as of ``day``; an incremental decision stages ``_affected``."""
    point = AsOf.from_date(datetime(day.year, day.month, day.day), timezone)
    first, _ = inputs.event_span(wh)
    start = int(first.timestamp()) if first is not None else point.epoch - HISTORY_DAYS * DAY
    started = datetime.now(UTC)
    plan = BuildPlan(
        point=point,
        offsets=utc_offsets(timezone, min(start, point.epoch - HISTORY_DAYS * DAY), point.epoch),
        build_id=(
            f"{point.date_text.replace('-', '')}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        ),
        started=started,
        snapshot=snapshots.snapshot_name(point.date_text),
        staging=f"snapshots.{snapshots.STAGING_PREFIX}{uuid.uuid4().hex[:8]}",
        events_seen=inputs.event_count(wh),
        last_batch=inputs.last_batch(wh),
        inputs=inputs.scores_digest(wh),
        backend=backend,
    )
    base = None if full or backend != "duckdb" else _base(wh, catalog, timezone, point)
    if base is not None:
        _decide_incremental(wh, catalog, plan, base, say)
    return plan


def _base(wh: Warehouse, catalog: Catalog, timezone: str, point: AsOf) -> BaseBuild | None:
    """The build an incremental build may start from, if any (see the module's docstring)."""
    base = base_build(wh, catalog.fingerprint, timezone, point.epoch)
    if base is None:
        return None
    # this build diffs the identity map against profile_identity: that must still hold the
    # map the base build used (a build that failed after saving its own may have replaced it)
    kept = inputs.identity_digest(wh, "profile_identity")
    if base.identity_digest is None or base.identity_digest != kept:
        return None
    return base


def _decide_incremental(
    wh: Warehouse, catalog: Catalog, plan: BuildPlan, base: BaseBuild, say: Progress
) -> None:
    say("finding what changed since the last build")
    tick = time.perf_counter()
    affected = _stage_affected(wh, catalog, plan, base)
    plan.timings["changes"] = time.perf_counter() - tick
    plan.base_persons = snapshots.row_count(wh, base.snapshot_table)
    same_inputs = base.epoch == plan.point.epoch and base.inputs == plan.inputs
    if affected == 0 and same_inputs:  # same date, same catalog, nothing new
        plan.mode, plan.base, plan.recomputed = "unchanged", base, 0
    elif affected <= INCREMENTAL_LIMIT * max(plan.base_persons, 1):
        plan.mode, plan.base, plan.recomputed = "incremental", base, affected


def _stage_affected(wh: Warehouse, catalog: Catalog, plan: BuildPlan, base: BaseBuild) -> int:
    """Stage the persons whose facts may differ from the base build's; how many."""
    point = plan.point
    windows = sorted({0, *(t.window_days or 0 for t in catalog if t.fact)})
    before = AsOf.from_epoch(base.epoch, point.timezone)
    crossings = [(before.window_start(w), point.window_start(w)) for w in windows]
    src = sources(wh, plan.offsets, scores=False)
    batch_done = inputs.batch_finished(wh, base.last_batch) if base.last_batch else None
    return inputs.stage_affected(
        wh, src.events, src.users, crossings, (base.epoch, point.epoch), batch_done
    )
