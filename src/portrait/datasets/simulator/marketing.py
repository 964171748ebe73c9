"""Marketing touches: campaign messages, coupon grants and survey answers.

Messages go out on a campaign's day at a sensible local hour; opens and clicks depend on the
channel and on how engaged (and, for coupon campaigns, how price-sensitive) the person is. A
click starts a visit, so campaigns really do drive sessions and orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portrait.datasets.simulator.clock import US_PER_DAY, US_PER_HOUR, US_PER_SECOND, Period
from portrait.datasets.simulator.events import Events, T
from portrait.datasets.simulator.population import People
from portrait.datasets.simulator.vocab import (
    CAMPAIGNS,
    COUPON_INDEX,
    COUPONS,
    EVENT_CHANNELS,
    PROP,
)

# channel -> (local send hour, open rate, click rate once opened or, for sms, once sent)
_CHANNEL_BEHAVIOUR = {
    "email": (10.0, 0.22, 0.30),
    "sms": (11.5, 0.0, 0.06),
    "push": (-1, 0.12, 0.45),
}
COUPON_VALIDITY_US = np.array([c[2] for c in COUPONS]) * US_PER_DAY
COUPON_PERCENT = np.array([c[1] for c in COUPONS])


@dataclass
class CouponGrants:
    """Coupons granted to people: who, when, which coupon (code into COUPONS)."""

    person: np.ndarray
    ts: np.ndarray
    coupon: np.ndarray

    @classmethod
    def concat(cls, parts: list[CouponGrants]) -> CouponGrants:
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("person", "ts", "coupon"))
        )

    def events(self, campaign: np.ndarray | None = None) -> Events:
        """``coupon_received`` events for these grants."""
        n = len(self.person)
        return Events.new(
            n,
            ts=self.ts,
            etype=T["coupon_received"],
            person=self.person,
            has_user=True,
            coupon=self.coupon,
            campaign=-1 if campaign is None else campaign,
        )


def campaign_messages(
    rng: np.random.Generator, people: People, period: Period
) -> tuple[Events, CouponGrants, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Messages of every campaign, the coupons they grant, and the clicks (person, ts, campaign)."""
    parts: list[Events] = []
    grants: list[CouponGrants] = []
    clicks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    users = np.arange(people.n_users)
    for c, (_, channel, fraction, share, coupon) in enumerate(CAMPAIGNS):
        hour, open_rate, click_rate = _CHANNEL_BEHAVIOUR[channel]
        day_start = period.start_us + period.day_fraction(fraction) * US_PER_DAY
        local = people.peak_hour[users] if hour < 0 else np.full(len(users), hour)
        sent = (
            day_start
            + ((local + rng.uniform(0, 1.5, len(users))) * US_PER_HOUR).astype(np.int64)
            - people.utc_offset_us[users]
        )
        sent -= sent % US_PER_SECOND
        chosen = (
            (rng.random(len(users)) < share)
            & (people.registered_at[users] < sent)
            & (sent < people.cutoff[users])
            & (sent >= period.start_us)
        )
        who, sent = users[chosen], sent[chosen]
        engaged = 0.6 + people.buy_propensity[who]
        if coupon:
            engaged = engaged * (0.7 + 0.6 * people.price_sensitivity[who])
        ch = EVENT_CHANNELS.index(channel)
        parts.append(_message(who, sent, "message_sent", c, ch))
        if open_rate > 0:
            opened = rng.random(len(who)) < open_rate * engaged
            open_ts = sent[opened] + (rng.exponential(2.0, opened.sum()) * US_PER_HOUR).astype(
                np.int64
            )
            parts.append(_message(who[opened], open_ts, "message_opened", c, ch))
            clicked = rng.random(len(open_ts)) < click_rate * engaged[opened]
            click_who = who[opened][clicked]
            click_ts = open_ts[clicked] + rng.integers(5, 600, clicked.sum()) * US_PER_SECOND
        else:
            clicked = rng.random(len(who)) < click_rate * engaged
            click_who = who[clicked]
            click_ts = sent[clicked] + (rng.exponential(1.0, clicked.sum()) * US_PER_HOUR).astype(
                np.int64
            )
        click_ts -= click_ts % US_PER_SECOND
        parts.append(_message(click_who, click_ts, "message_clicked", c, ch))
        clicks.append((click_who, click_ts, np.full(len(click_who), c)))
        if coupon:
            grant = CouponGrants(who, sent + US_PER_SECOND, np.full(len(who), COUPON_INDEX[coupon]))
            grants.append(grant)
            parts.append(grant.events(campaign=np.full(len(who), c)))
    joiners = users[people.registered_in_period[users]]
    welcome = CouponGrants(
        joiners,
        people.registered_at[joiners] + 3 * US_PER_SECOND,
        np.full(len(joiners), COUPON_INDEX["NEW10"]),
    )
    grants.append(welcome)
    parts.append(welcome.events())
    click_arrays = tuple(np.concatenate([c[k] for c in clicks]) for k in range(3))
    return Events.concat(parts), CouponGrants.concat(grants), click_arrays  # type: ignore[return-value]


def _message(who: np.ndarray, ts: np.ndarray, kind: str, campaign: int, channel: int) -> Events:
    return Events.new(
        len(who),
        ts=ts,
        etype=T[kind],
        person=who,
        has_user=True,
        campaign=campaign,
        channel=channel,
    )


def survey_answers(rng: np.random.Generator, people: People, period: Period) -> Events:
    """A monthly-budget questionnaire answered by about 6% of users (declared price band)."""
    users = np.arange(people.n_users)
    lo = np.maximum(people.registered_at[users], period.start_us)
    hi = people.cutoff[users]
    who = users[(rng.random(len(users)) < 0.06) & (hi > lo)]
    ts = lo[who] + (rng.random(len(who)) * (hi[who] - lo[who])).astype(np.int64)
    ts -= ts % US_PER_SECOND
    ps = people.price_sensitivity[who]
    declared = np.where(ps > 0.6, 0, np.where(ps > 0.3, 1, 2))
    honest = rng.random(len(who)) < 0.8  # declared and inferred values do not always agree
    band = np.where(honest, declared, rng.integers(0, 3, len(who)))
    return Events.new(
        len(who),
        ts=ts,
        etype=T["survey_answer"],
        person=who,
        has_user=True,
        has_anon=True,
        channel=people.session_channel[who],
        device=people.device[who],
        props=PROP["survey"] + band,
    )
