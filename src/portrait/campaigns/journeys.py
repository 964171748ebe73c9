"""Triggered journeys: persons who newly meet a campaign's trigger enter it and are enrolled.

For every launched (or running) campaign with a ``trigger``, as of a moment ``at`` (nothing at
or after it is read):

- ``cart_abandonment``: the person's latest add_to_cart is at least ``hours`` old (and at most
  ``CART_LOOKBACK`` older than that) and no order followed it; entered at cart time + hours;
- ``win_back``: the lifecycle stage is dormant in the latest build (``newly`` when it was not in
  the build before); entered at that build's cut-off (or ``at``, if earlier);
- ``first_order``: registered at least ``hours`` ago (within ``FIRST_ORDER_LOOKBACK``) and never
  ordered; entered at registration + hours;
- ``repurchase``: the next purchase is due (the predicted next purchase date, else the last
  order plus the purchase cycle) and not overdue by more than a cycle; entered when it fell due.

The campaign's segment, if any, narrows the candidates (its audience in the latest build). A person
who entered before enters again only when ``reenter_days`` is set, that many days have passed
since the last entry, and the trigger fired again later (a new cart, a new due date).
Entries go to ``journey_entries`` and the persons to ``CampaignService.enroll``, which assigns
the arm (control included) and queues the sends. Runs after every profile build (``after_build``),
on demand (``portrait campaign journeys``, ``POST /v1/campaigns/journeys/run``), and, for
``cart_abandonment`` (the one trigger that reads fresh events, not tags), after every events
ingest batch commits (``after_ingest``; ``[campaigns] journeys_on_ingest = false`` turns that
off). The REST server runs those in a worker of their own (``IngestJourneys``), so that an
ingest response never waits for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from portrait.campaigns.definition import Campaign, CampaignDefinitionError, parse_campaign
from portrait.campaigns.results import Enrolment, JourneysRun, JourneyStep
from portrait.store import campaign_reports as store

if TYPE_CHECKING:
    from portrait.campaigns.service import CampaignService
    from portrait.store.loader import BatchResult
    from portrait.store.warehouse import Warehouse
    from portrait.tags.build import BuildResult
    from portrait.workspace import Workspace

log = logging.getLogger(__name__)

CART_LOOKBACK = timedelta(days=7)  # older abandoned carts are history, not a trigger
FIRST_ORDER_LOOKBACK = timedelta(days=30)  # registrants gone longer are a win-back matter
Entry = tuple[str, datetime]  # (person_id, triggered_at)
Enroll = Callable[..., Enrolment]  # CampaignService.enroll(name, persons, source=, at=)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def candidates(wh: Warehouse, campaign: Campaign, at: datetime) -> tuple[list[Entry], list[str]]:
    """Persons meeting the campaign's trigger at ``at``, with when it fired, and notes."""
    trigger = campaign.trigger
    assert trigger is not None
    hours = timedelta(hours=trigger.hours)
    if trigger.type == "cart_abandonment":
        rows = store.latest_carts(wh, at, at - hours, at - hours - CART_LOOKBACK)
        return [(p, _aware(t) + hours) for p, t in rows], []
    if trigger.type == "first_order":
        oldest = at - hours - FIRST_ORDER_LOOKBACK
        rows = store.never_ordered_registrants(wh, at, at - hours, oldest)
        return [(p, _aware(t) + hours) for p, t in rows], []
    builds = store.recent_builds(wh, at)
    if not builds or builds[0]["snapshot"] is None:
        return [], [f"{trigger.type} reads the profile: no build as of {at:%Y-%m-%d} yet"]
    latest = builds[0]
    if trigger.type == "win_back":
        if not store.snapshot_has(wh, latest["snapshot"], ["lifecycle_stage"]):
            return [], ["the latest build has no lifecycle_stage tag"]
        previous = builds[1]["snapshot"] if len(builds) > 1 else None
        rows = store.dormant_persons(wh, latest["snapshot"], previous)
        notes = [] if previous else ["no earlier build to compare with: every dormant person"]
        seen = min(latest["cutoff"], at)  # today's build has tomorrow's cut-off
        return [(p, seen) for p, _newly in rows], notes
    have = store.snapshot_has(
        wh, latest["snapshot"], ["purchase_cycle_days", "predicted_next_purchase_date"]
    )
    if "purchase_cycle_days" not in have:
        return [], ["the latest build has no purchase_cycle_days tag"]
    rows = store.repurchase_due(wh, latest["snapshot"], at, "predicted_next_purchase_date" in have)
    return [(p, _aware(t)) for p, t in rows], []


def eligible(
    found: list[Entry],
    history: dict[str, tuple[datetime, datetime]],
    reenter_days: float | None,
    at: datetime,
) -> list[Entry]:
    """The candidates who may enter now: never entered, or (with ``reenter_days``) entered
    long enough ago for a trigger that fired after the last one."""
    out = []
    for person, triggered in found:
        last = history.get(person)
        if last is None:
            out.append((person, triggered))
            continue
        if reenter_days is None:
            continue
        entered, last_triggered = _aware(last[0]), _aware(last[1])
        if entered <= at - timedelta(days=reenter_days) and triggered > last_triggered:
            out.append((person, triggered))
    return out


def run_campaign(
    campaigns: CampaignService,
    name: str,
    campaign: Campaign,
    at: datetime,
    dry_run: bool = False,
    enroll: Enroll | None = None,
) -> JourneyStep:
    """One campaign's journey step; see the module docstring."""
    trigger = campaign.trigger
    assert trigger is not None
    wh = campaigns.wh
    found, notes = candidates(wh, campaign, at)
    n_found, in_segment = len(found), None
    users: dict[str, str | None] = {}
    if campaign.segment and found:
        try:
            users = dict(campaigns.audience(campaign))
        except LookupError as e:
            notes.append(f"segment {campaign.segment!r} could not be read: {e}")
        found = [c for c in found if c[0] in users]
        in_segment = len(found)
    history = store.journey_history(wh, name)
    entering = eligible(found, history, trigger.reenter_days, at)
    enrolled, entered = None, 0
    if entering and not dry_run:
        enroll = enroll or campaigns.enroll
        persons = [(p, users.get(p)) for p, _ in entering]
        enrolled = enroll(name, persons, source=trigger.type, at=at)
        entered = store.record_entries(wh, name, trigger.type, entering, at)
    return JourneyStep(
        campaign=name,
        trigger=trigger.type,
        candidates=n_found,
        in_segment=in_segment,
        already_entered=len(found) - len(entering),
        entering=len(entering),
        persons=[p for p, _ in entering[:20]],
        enrolled=enrolled,
        entered=entered,
        notes=notes,
    )


def run_journeys(
    campaigns: CampaignService,
    at: datetime | None = None,
    dry_run: bool = False,
    enroll: Enroll | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> JourneysRun:
    """Evaluate every launched campaign's trigger as of ``at`` (default now) and enroll who
    newly meets it (``dry_run``: only say who would); ``rows``: only these campaigns (rows of
    ``triggered_campaigns``)."""
    at = _aware(at) if at else _now()
    tick = time.perf_counter()
    results = []
    if rows is None:
        rows = store.triggered_campaigns(campaigns.wh)
    for row in rows:
        try:
            campaign = parse_campaign(orjson.loads(row["definition"]))
        except CampaignDefinitionError as e:
            results.append(JourneyStep(campaign=row["name"], error=str(e)))
            continue
        results.append(run_campaign(campaigns, row["name"], campaign, at, dry_run, enroll))
    return JourneysRun(
        at=at.isoformat(),
        dry_run=dry_run,
        campaigns=results,
        entered=sum(r.entered for r in results),
        seconds=round(time.perf_counter() - tick, 3),
    )


def after_build(ws: Workspace, result: BuildResult) -> JourneysRun | None:
    """Run the journeys after a successful build of the latest date, as of the build's cut-off
    (or now, if earlier). A journey failure is a warning on the build, never its failure."""
    if not result.live:
        return None  # a build of an earlier date: journeys look at the present
    try:
        if not store.triggered_campaigns(ws.warehouse):
            return None
        builds = store.recent_builds(ws.warehouse, datetime.max.replace(tzinfo=UTC), limit=1)
        if not builds or builds[0]["build_id"] != result.build_id:
            return None  # a build of an earlier date: journeys look at the present
        summary = run_journeys(ws.campaigns, at=min(builds[0]["cutoff"], datetime.now(UTC)))
    except Exception as e:  # the build itself succeeded: say why, do not fail it
        result.warnings.append(f"journeys not run: {e}")
        return None
    result.timings["journeys"] = summary.seconds
    for r in summary.campaigns:
        if r.error:
            result.warnings.append(f"journey {r.campaign}: {r.error}")
    return summary


def after_ingest(
    ws: Workspace, result: BatchResult, at: datetime | None = None
) -> JourneysRun | None:
    """Run the launched ``cart_abandonment`` journeys as of now (or ``at``) after an events batch
    committed: a cart that has waited its ``hours`` enrolls the person without a build. With no
    such journey this is one query. A journey failure never fails the ingest: it is logged."""
    if result.kind != "events" or not ws.settings.campaigns.journeys_on_ingest:
        return None
    try:
        rows = store.triggered_campaigns(ws.warehouse, "cart_abandonment")
        if not rows:
            return None
        summary = run_journeys(ws.campaigns, at=at, rows=rows)
    except Exception:  # the batch itself is stored: say why, do not fail it
        log.warning("cart journeys not run after ingest batch %s", result.batch_id, exc_info=True)
        return None
    for r in summary.campaigns:
        if r.error:
            log.warning("journey %s after ingest batch %s: %s", r.campaign, result.batch_id,
                        r.error)  # fmt: skip
    return summary


class IngestJourneys:
    """Cart journeys after ingest, off the ingesting thread: ``kick`` after each events batch
    commits; one worker thread runs ``after_ingest`` as of when it wakes, so a burst of batches
    makes one run, not one each. ``close`` finishes a run that was asked for, then stops."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.runs = 0
        self._latest: BatchResult | None = None
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="portrait-journeys", daemon=True)
        self._thread.start()

    def kick(self, result: BatchResult) -> None:
        """An events batch committed: run the cart journeys soon."""
        with self._lock:
            self._latest = result
            self._idle.clear()
            self._wake.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every kick so far has been run; False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                self._wake.clear()
                result, self._latest = self._latest, None
            if result is not None:
                try:
                    after_ingest(self.ws, result)  # logs its own failures
                except Exception:  # never let the worker die
                    log.warning("cart journeys after ingest failed", exc_info=True)
                self.runs += 1
            with self._lock:
                if self._latest is None:
                    self._idle.set()
            if self._stopping and self._latest is None:
                return
