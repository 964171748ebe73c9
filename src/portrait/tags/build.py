"""Build profiles: run the compiled catalog on DuckDB (or Spark) and store a dated snapshot.

A build is *full* (every person's facts computed) or *incremental*: when the previous build used
the same catalog and time zone, only persons touched since then are recomputed — persons with
newly ingested events or user records, persons whose events crossed a window edge between the
two build dates, and persons whose identity changed. Rules (stage 2) always run over everyone,
because scores compare a person with the whole population. Either way the result is the same.
When nobody is touched, the date is the previous build's and the model scores are as they were,
the build is *unchanged*: the previous build is the answer and nothing is written.

A build of the newest date is *live*: reads without a date (profile, segments, campaigns) answer
from it. A build of an earlier date stores its snapshot and statistics beside the live one,
readable by its date, and leaves the live profile, its segment history and journeys alone.

:class:`Builder` runs a build in three steps: plan (``tags.build_plan``: date, names, full or
incremental), compute (``tags.build_compute``: into a staging snapshot) and persist
(``store.profile_build.save_build``: snapshot, versions, statistics and log in one transaction).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from portrait.store import pii as stored_pii
from portrait.store import pii_tags, tag_builds
from portrait.store import profile_build as work
from portrait.store import profiles as snapshots
from portrait.store.tag_builds import BuildLogRecord
from portrait.store.warehouse import Warehouse
from portrait.tags.build_compute import compute, normalized_facts
from portrait.tags.build_plan import BuildPlan, Progress, default_as_of, plan_build
from portrait.tags.catalog import Catalog

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher

__all__ = [
    "BACKENDS",
    "BuildError",
    "BuildResult",
    "Builder",
    "check_build",
    "default_as_of",
    "normalized_facts",
]

BACKENDS = ("duckdb", "pyspark")


class BuildError(RuntimeError):
    """A build cannot run as asked (bad date, unknown backend, nothing to build from)."""


@dataclass
class BuildResult:
    """What a build did: which snapshot it wrote, how (full, incremental, unchanged), how long."""

    build_id: str
    as_of: str
    backend: str
    mode: str
    persons: int
    recomputed: int
    tags: int
    seconds: float
    snapshot: str
    events: int
    live: bool  # of the newest date: reads without a date answer from it
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the build could not do

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_build(as_of: str | date | None, backend: str) -> None:
    """Refuse a build that cannot run as asked before it starts (bad date, unknown backend)."""
    if backend not in BACKENDS:
        raise BuildError(f"unknown backend {backend!r}; use duckdb or pyspark")
    if isinstance(as_of, str):
        try:
            date.fromisoformat(as_of)
        except ValueError:
            raise ValueError(f"{as_of!r} is not a date; write it as YYYY-MM-DD") from None


class Builder:
    """Runs builds against one warehouse."""

    def __init__(
        self,
        wh: Warehouse,
        catalog: Catalog,
        timezone: str,
        keep: int = 30,
        cipher: PiiCipher | None = None,
    ) -> None:
        self.wh = wh
        self.catalog = catalog
        self.timezone = timezone
        self.keep = keep
        # opens the users' birth dates (sealed at rest) for the age tags, inside the build
        self.cipher = cipher

    def run(
        self,
        as_of: date | None = None,
        backend: str = "duckdb",
        full: bool = False,
        progress: Progress | None = None,
    ) -> BuildResult:
        """Build the profiles as of ``as_of``. One build runs at a time in a workspace, so a
        staging table found now was left by a build that died (killed mid-save): it goes, and
        so does this build's own if this build fails. It computes on a connection of its own
        (a warehouse session: its temporary tables live there, readers go on meanwhile)."""
        with self.wh.session():
            snapshots.drop_staging_tables(self.wh)
            stored_pii.stage_build_users(self.wh, self.cipher)
            try:
                return self._run(as_of, backend, full, progress or (lambda _msg: None))
            except BaseException:
                snapshots.drop_staging_tables(self.wh)
                raise
            finally:
                stored_pii.drop_build_users(self.wh)
                pii_tags.drop_open_base(self.wh)

    def _run(self, as_of: date | None, backend: str, full: bool, say: Progress) -> BuildResult:
        if backend not in BACKENDS:
            raise BuildError(f"unknown backend {backend!r}; use duckdb or pyspark")
        t0 = time.perf_counter()
        day = as_of or default_as_of(self.wh, self.timezone)
        plan = plan_build(self.wh, self.catalog, self.timezone, day, backend, full, say)
        if plan.mode == "unchanged":  # the base build is this build
            work.drop_working_tables(self.wh)
            return self._unchanged(plan, t0)
        if plan.mode == "incremental" and plan.base is not None:  # its PII tags opened
            plan.base_source = pii_tags.stage_open_base(
                self.wh, plan.base.snapshot_table, list(self.catalog), self.cipher
            )
        compute(self.wh, self.catalog, plan, say)
        self._seal(plan)
        persons = snapshots.row_count(self.wh, plan.staging)
        if plan.recomputed < 0:
            plan.recomputed = persons
        say("saving the snapshot and tag statistics")
        tick = time.perf_counter()
        record = self._record(plan, persons, t0)
        live = work.save_build(self.wh, list(self.catalog), plan.staging, record)
        plan.timings["save"] = time.perf_counter() - tick
        snapshots.drop_old_snapshots(self.wh, self.keep)
        return self._result(plan, persons, live, t0)

    def _seal(self, plan: BuildPlan) -> None:
        """The staging snapshot's PII tags sealed (``store.pii_tags``), whichever engine
        computed it; without a cipher (a bare ``Builder``) they stay as computed."""
        if self.cipher is None:
            return
        tick = time.perf_counter()
        pii = [t.id for t in self.catalog if t.pii]
        pii_tags.seal_table(self.wh, plan.staging, pii, self.cipher)
        plan.timings["seal"] = time.perf_counter() - tick

    def _record(self, plan: BuildPlan, persons: int, t0: float) -> BuildLogRecord:
        """The build's log row (save_build adds the identity digest and the time it took)."""
        return BuildLogRecord(
            build_id=plan.build_id, as_of=plan.point.date_text, as_of_epoch=plan.point.epoch,
            timezone=self.timezone, backend=plan.backend, mode=plan.mode,
            catalog_fingerprint=self.catalog.fingerprint, snapshot=plan.snapshot,
            persons=persons, recomputed=plan.recomputed,
            events_seen=plan.events_seen, last_batch=plan.last_batch, started_at=plan.started,
            seconds=time.perf_counter() - t0, inputs_digest=plan.inputs,
        )  # fmt: skip

    def _result(self, plan: BuildPlan, persons: int, live: bool, t0: float) -> BuildResult:
        return BuildResult(
            build_id=plan.build_id, as_of=plan.point.date_text, backend=plan.backend,
            mode=plan.mode, persons=persons, recomputed=plan.recomputed,
            tags=len(self.catalog), seconds=round(time.perf_counter() - t0, 3),
            snapshot=plan.snapshot, events=plan.events_seen, live=live,
            timings={k: round(v, 3) for k, v in plan.timings.items()},
        )  # fmt: skip

    def _unchanged(self, plan: BuildPlan, t0: float) -> BuildResult:
        """The base build, answered as this build's result; nothing is written."""
        assert plan.base is not None
        return replace(
            self._result(plan, plan.base_persons, False, t0),
            build_id=plan.base.build_id,
            snapshot=plan.base.snapshot_table,
            live=tag_builds.is_newest(self.wh, plan.point.date_text),
        )
