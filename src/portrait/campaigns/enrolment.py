"""Persons entering a campaign: their arm (control, a variant by weight, or the bandit's pick)
and one queued send per treated person at their send time.

A person already in a campaign keeps their arm and gets no second send, except in a journey
with ``reenter_days``: a treated person whose last entry is at least that old gets one more
send, keyed by this entry's time, so calling again for the same entry queues nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from portrait.campaigns import assign, timing
from portrait.campaigns.definition import Campaign
from portrait.campaigns.results import BanditState, Enrolment
from portrait.experiments.results import BanditCounts
from portrait.store import campaign_state
from portrait.store import campaigns as store

if TYPE_CHECKING:
    from portrait.campaigns.audience import Person
    from portrait.campaigns.service import CampaignService

Progress = Callable[[int, int], None]


def enroll(
    service: CampaignService,
    c: Campaign,
    persons: list[Person],
    source: str,
    at: datetime,
    progress: Progress | None = None,
) -> Enrolment:
    """Assign the persons entering ``c`` and queue a send for each treated one (see the
    module docstring); ``persons``: (person_id, user_id) pairs, user_id None: looked up."""
    wh = service.wh
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    users = dict(persons)
    pids = list(users)
    already = store.assigned(wh, c.name, pids) if pids else set()
    new = [p for p in pids if p not in already]
    missing = [p for p in new if not users[p]]
    if missing:
        contacts = store.contacts(wh, missing)
        users.update({p: (contacts.get(p) or {}).get("user_id") or p for p in missing})
    arms = arms_for(service, c, new)
    spend = store.pre_spend(wh, new, at) if new else {}
    tags = service.personaliser.tags([p for p in new if arms[p] != assign.CONTROL])
    assignments, sends, suppressed = [], [], {}
    for i, p in enumerate(new):
        assignments.append(
            {"assign_key": f"{c.name}/{p}", "campaign": c.name, "person_id": p,
             "user_id": users[p], "arm": arms[p], "assigned_at": at, "source": source,
             "pre_spend": spend.get(p, 0.0)}
        )  # fmt: skip
        if arms[p] == assign.CONTROL:
            continue
        row = _scheduled_send(service, c, p, users[p], arms[p], tags.get(p), at)
        if row["reason"]:
            suppressed[row["reason"]] = suppressed.get(row["reason"], 0) + 1
        sends.append(row)
        if progress and i % 500 == 0:
            progress(i, len(new))
    reentered = _reentries(service, c, sorted(already), at)
    sends.extend(reentered)
    n_assigned, n_sends = store.record_enrolment(wh, assignments, sends)
    if progress:
        progress(len(new), len(new))
    return Enrolment(
        campaign=c.name,
        source=source,
        persons=len(pids),
        entered=n_assigned,
        already_in=len(already),
        reentered=len(reentered),
        arms=assign.arm_counts(arms[p] for p in new),
        queued=sum(1 for s in sends if s["status"] == "queued"),
        suppressed=suppressed,
        new_sends=n_sends,
    )


def _scheduled_send(
    service: CampaignService, c: Campaign, pid: str, uid: str | None, arm: str,
    tags: dict[str, Any] | None, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """A ledger row queued at the person's send time (suppressed when that is after the
    campaign's end)."""
    when = timing.schedule_for(c, at, tags, service.tz, service.settings.default_send_hour)
    ended = timing.after_end(c, when, service.tz)
    status, reason = ("suppressed", "after_schedule_end") if ended else ("queued", None)
    return send_row(c, pid, uid, arm, status, reason, when, at)


def _reentries(
    service: CampaignService, c: Campaign, pids: list[str], at: datetime
) -> list[dict[str, Any]]:
    """Sends for treated persons re-entering a journey ``reenter_days`` after their last
    entry (same arm; the send key carries the entry time)."""
    days = c.trigger.reenter_days if c.trigger is not None else None
    if not days or not pids:
        return []
    due = {
        p: (arm, uid)
        for p, (arm, uid, last) in store.last_entries(service.wh, c.name, pids).items()
        if arm != assign.CONTROL and at - last >= timedelta(days=days)
    }
    tags = service.personaliser.tags(list(due))
    out = []
    for p, (arm, uid) in due.items():
        row = _scheduled_send(service, c, p, uid, arm, tags.get(p), at)
        row["send_key"] += f"/{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        out.append(row)
    return out


def arms_for(
    service: CampaignService, c: Campaign, pids: list[str], save: bool = True
) -> dict[str, str]:
    """Control or variant per person (bandit campaigns: by the sampler, else weights)."""
    arms = {p: assign.CONTROL for p in pids if assign.is_control(c, p)}
    treated = [p for p in pids if p not in arms]
    if c.bandit and treated:
        state = bandit_state(service, c, save=save).variants
        counts = {v: (s.sends, s.successes) for v, s in state.items()}
        seed = int(assign.bucket(c.name, str(sum(s.sends for s in state.values())), "bandit")
                   * 2**32)  # fmt: skip
        arms.update(assign.bandit_arms(c, treated, counts, seed=seed))
        return arms
    arms.update({p: assign.weighted_variant(c, p) for p in treated})
    return arms


def bandit_state(service: CampaignService, c: Campaign, save: bool = True) -> BanditState:
    """A bandit campaign's (sends, conversions) per variant from the ledger and the orders
    within the attribution window; stored in ``campaign_bandit`` unless ``save`` is off."""
    found = campaign_state.bandit_outcomes(service.wh, c.name, c.goal.attribution_days)
    state = {v.name: found.get(v.name, (0, 0)) for v in c.variants}
    if save and store.writable(service.wh):
        campaign_state.put_bandit_state(service.wh, c.name, state, datetime.now(UTC))
    return BanditState(
        variants={v: BanditCounts(sends=n, successes=k) for v, (n, k) in state.items()}
    )


def send_row(
    c: Campaign, pid: str, uid: str | None, arm: str, status: str, reason: str | None,
    when: datetime, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """A new row of the send ledger (``store.campaigns.SEND_COLUMNS``)."""
    row: dict[str, Any] = dict.fromkeys(store.SEND_COLUMNS)
    row.update(
        send_key=f"{c.name}/{pid}/{c.channel}", campaign=c.name, person_id=pid, user_id=uid,
        variant=arm, channel=c.channel, status=status, reason=reason, attempts=0,
        scheduled_at=when, updated_at=at, entered_at=at,
    )  # fmt: skip
    return row


__all__ = ["arms_for", "bandit_state", "enroll", "send_row"]
