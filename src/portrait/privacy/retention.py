"""Retention: each class of data kept as long as ``[retention]`` in ``portrait.toml`` says.

``retain`` (``ws.privacy.retain``, ``portrait privacy retain``, ``POST /v1/privacy/retain``
and the REST server's daily schedule) works out, per class, the cutoff (now minus its days),
what is older and the oldest that stays; then, unless it is a dry run, deletes it under the
build lock (no build saves a snapshot from events being deleted) and records one
``privacy.retain`` audit entry with the rows per class. The audit class prunes the log behind
a keyed anchor (``AuditService.prune``), which records its own ``audit.prune`` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portrait.audit.context import AuditCaller
from portrait.audit.service import AuditService
from portrait.errors import ConflictError
from portrait.privacy.settings import RetentionSettings
from portrait.store import retention as store
from portrait.store.warehouse import Warehouse

ClassName = Literal["events", "quarantine", "sends", "snapshots", "audit"]


class RetainedClass(BaseModel):
    """One class of data under retention: its limit, what goes (or went), what stays."""

    model_config = ConfigDict(frozen=True)

    name: ClassName
    limit: str = Field(description="The setting, e.g. '730 days', '12 snapshots'.")
    cutoff: datetime | None = Field(description="Older than this goes (None: by count only).")
    rows: int = Field(description="Rows that go (dry run) or went: events, records, sends, "
                      "snapshot persons, audit entries.")  # fmt: skip
    oldest_kept: date | None = Field(description="The oldest date that stays (None: nothing).")
    detail: str | None = None


class RetentionReport(BaseModel):
    """What ``portrait privacy retain`` did, or with ``dry_run`` would do."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    at: datetime
    classes: list[RetainedClass] = Field(description="Only the classes with a limit set.")
    rows: int = Field(description="Rows over every class.")


def _day(moment: datetime | date | None) -> date | None:
    return moment.date() if isinstance(moment, datetime) else moment


def retain(
    wh: Warehouse,
    settings: RetentionSettings,
    audit: AuditService,
    caller: AuditCaller,
    dry_run: bool = False,
    now: datetime | None = None,
) -> RetentionReport:
    """Apply (or with ``dry_run`` only measure) every limit of ``settings`` as of ``now``."""
    now = now or datetime.now(UTC)
    if dry_run:
        return _run(wh, settings, audit, caller, now, True)
    if not wh.build_lock.acquire(blocking=False):
        raise ConflictError(
            "a profile build is running in this workspace; apply retention when it is done "
            "(the server's GET /v1/jobs shows it)"
        )
    try:
        report = _run(wh, settings, audit, caller, now, False)
    finally:
        wh.build_lock.release()
    audit.record(
        "privacy.retain", caller, command="ws.privacy.retain", rows=report.rows,
        params={c.name: c.rows for c in report.classes},
    )  # fmt: skip
    return report


def _run(
    wh: Warehouse,
    s: RetentionSettings,
    audit: AuditService,
    caller: AuditCaller,
    now: datetime,
    dry_run: bool,
) -> RetentionReport:
    def cut(days: int | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    out: list[RetainedClass] = []
    simple: list[tuple[ClassName, int | None, Callable, Callable]] = [
        ("events", s.events_days, store.events_older, store.delete_events),
        ("quarantine", s.quarantine_days, store.quarantine_older, store.delete_quarantine),
        ("sends", s.sends_days, store.sends_older, store.delete_sends),
    ]
    for name, days, older, delete in simple:
        cutoff = cut(days)
        if cutoff is None:
            continue
        rows, kept = older(wh, cutoff)
        if not dry_run and rows:
            rows = delete(wh, cutoff)
        out.append(RetainedClass(name=name, limit=f"{days} days", cutoff=cutoff, rows=rows,
                                 oldest_kept=_day(kept)))  # fmt: skip
    if s.snapshots_days is not None or s.snapshots_keep is not None:
        out.append(_snapshots(wh, s, cut(s.snapshots_days), dry_run))
    if s.audit_days is not None:
        cutoff = cut(s.audit_days)
        assert cutoff is not None
        rows, kept = audit.prunable(cutoff)
        if not dry_run and rows:
            rows = audit.prune(cutoff, caller).pruned
        out.append(RetainedClass(name="audit", limit=f"{s.audit_days} days", cutoff=cutoff,
                                 rows=rows, oldest_kept=_day(kept)))  # fmt: skip
    return RetentionReport(dry_run=dry_run, at=now, classes=out, rows=sum(c.rows for c in out))


def _snapshots(
    wh: Warehouse, s: RetentionSettings, cutoff: datetime | None, dry_run: bool
) -> RetainedClass:
    limits = [f"{s.snapshots_days} days"] if s.snapshots_days else []
    limits += [f"{s.snapshots_keep} snapshots"] if s.snapshots_keep else []
    drop = store.snapshots_beyond(wh, _day(cutoff), s.snapshots_keep)
    names = [d[0] for d in drop]
    kept = store.oldest_snapshot_kept(wh, names)
    detail = f"{len(drop)} snapshot(s): {', '.join(str(d[1]) for d in drop)}" if drop else None
    if not dry_run and drop:
        memberships = store.drop_snapshots(wh, names)
        detail = f"{detail}; {memberships} segment membership(s) of those builds"
    return RetainedClass(
        name="snapshots", limit=" and ".join(limits), cutoff=cutoff,
        rows=sum(d[2] for d in drop), oldest_kept=kept, detail=detail,
    )  # fmt: skip
