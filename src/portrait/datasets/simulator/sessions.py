"""When people visit: session start times over the period, by kind of visit.

Session times follow each person's rate, their local peak hour, the weekly rhythm and the
promotion spike (price-sensitive people respond to it more). They are drawn by thinning: draw
uniform candidates at the highest rate, keep each with probability rate(t) / highest rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portrait.datasets.simulator.clock import (
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_SECOND,
    WEEKLY,
    Period,
    sample_hours,
)
from portrait.datasets.simulator.population import People

LOGGED_IN, ANONYMOUS, LOGGED_OUT, REGISTRATION, CAMPAIGN, REFERRAL = range(6)
PRE_REGISTRATION_DAYS = 10

_SESSION_FIELDS: dict[str, tuple[type, int]] = {
    "person": (np.int32, -1),
    "start": (np.int64, 0),
    "kind": (np.int8, LOGGED_IN),
    "campaign": (np.int8, -1),
    "product": (np.int32, -1),  # product the visit lands on (referral sessions)
    "referrer": (np.int32, -1),  # who shared it
    "parent": (np.int32, -1),  # the session the share was made in
}


@dataclass
class Sessions:
    """Columns describing visits, one row per session."""

    cols: dict[str, np.ndarray]

    @classmethod
    def new(cls, n: int, **values: np.ndarray | int) -> Sessions:
        cols = {}
        for name, (dtype, fill) in _SESSION_FIELDS.items():
            v = values.get(name, fill)
            cols[name] = np.full(n, v, dtype=dtype) if np.ndim(v) == 0 else v.astype(dtype)
        return cls(cols)

    @classmethod
    def concat(cls, parts: list[Sessions]) -> Sessions:
        return cls({k: np.concatenate([p.cols[k] for p in parts]) for k in _SESSION_FIELDS})

    def __len__(self) -> int:
        return len(self.cols["start"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]


def window_starts(
    rng: np.random.Generator,
    period: Period,
    people: People,
    person: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    rate: np.ndarray,
    promo_boost: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Session starts of each ``person`` in ``[lo, hi)`` at ``rate`` sessions per day."""
    top = WEEKLY.max() * promo_boost
    expected = rate * np.maximum(hi - lo, 0) / US_PER_DAY * top
    count = rng.poisson(expected)
    who = np.repeat(person, count)
    lo_r, hi_r = np.repeat(lo, count), np.repeat(hi, count)
    t = lo_r + (rng.random(len(who)) * (hi_r - lo_r)).astype(np.int64)
    offset = people.utc_offset_us[who]
    local_day = np.floor_divide(t + offset, US_PER_DAY)
    hour = sample_hours(rng, people.peak_hour[who])
    t = local_day * US_PER_DAY + (hour * US_PER_HOUR).astype(np.int64) - offset
    t -= t % US_PER_SECOND
    day = period.day_of(t)
    boost = np.repeat(promo_boost, count)
    factor = period.weekly_factor(day) * np.where(period.promo_day_mask(day), boost, 1.0)
    keep = (rng.random(len(who)) * np.repeat(top, count) < factor) & (t >= lo_r) & (t < hi_r)
    return who[keep], t[keep]


def plan_sessions(
    rng: np.random.Generator,
    people: People,
    period: Period,
    clicks: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> Sessions:
    """All visits of the block except share referrals (those come from shares, later)."""
    users = np.arange(people.n_users)
    visitors = np.arange(people.n_users, people.n)
    reg = people.registered_at
    new = people.registered_in_period
    boost = 1.0 + 2.5 * people.price_sensitivity

    lo = np.maximum(reg[users], period.start_us) + np.where(new[users], 30 * 60 * US_PER_SECOND, 0)
    who, start = window_starts(
        rng, period, people, users, lo, people.cutoff[users], people.session_rate[users],
        boost[users],
    )  # fmt: skip
    kind = np.where(rng.random(len(who)) < 0.08, LOGGED_OUT, LOGGED_IN)
    main = Sessions.new(len(who), person=who, start=start, kind=kind)

    vis_who, vis_start = window_starts(
        rng, period, people, visitors,
        np.full(len(visitors), period.start_us), np.full(len(visitors), period.end_us),
        people.session_rate[visitors] * 0.15, np.full(len(visitors), 1.5),
    )  # fmt: skip
    anon = Sessions.new(len(vis_who), person=vis_who, start=vis_start, kind=ANONYMOUS)

    early = users[new[users] & people.browses_before_registering[users]]
    pre_lo = np.maximum(reg[early] - PRE_REGISTRATION_DAYS * US_PER_DAY, period.start_us)
    pre_who, pre_start = window_starts(
        rng, period, people, early, pre_lo, reg[early] - 10 * 60 * US_PER_SECOND,
        0.25 + people.session_rate[early], boost[early],
    )  # fmt: skip
    pre = Sessions.new(len(pre_who), person=pre_who, start=pre_start, kind=ANONYMOUS)

    joiners = users[new[users]]
    registration = Sessions.new(len(joiners), person=joiners, start=reg[joiners], kind=REGISTRATION)

    click_person, click_ts, click_campaign = clicks
    campaign = Sessions.new(
        len(click_person),
        person=click_person,
        start=click_ts + rng.integers(5, 60, len(click_ts)) * US_PER_SECOND,
        kind=CAMPAIGN,
        campaign=click_campaign,
    )
    return Sessions.concat([main, anon, pre, registration, campaign])
