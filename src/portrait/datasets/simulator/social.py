"""The social graph: invitations before registration, visits referred by shares, Q&A answers.

Friends live in the same community (a group of 50 users), so shares, follows and invitations
form a graph with real communities; influential people share, invite and get followed more.
"""

from __future__ import annotations

import numpy as np

from portrait.datasets.simulator.clock import US_PER_HOUR, US_PER_SECOND, Period
from portrait.datasets.simulator.events import Events, T
from portrait.datasets.simulator.population import People
from portrait.datasets.simulator.sessions import REFERRAL, Sessions
from portrait.datasets.simulator.vocab import text_codes

_CANDIDATES = 6


def invitations(
    rng: np.random.Generator, people: People, period: Period
) -> tuple[Events, np.ndarray]:
    """``invite`` events (target = the invitee, who registers later) and each user's inviter."""
    invited_by = np.full(people.n, -1)
    users = np.arange(people.n_users)
    invitee = users[
        people.registered_in_period[users]
        & (people.same_person_as[users] < 0)
        & (rng.random(people.n_users) < 0.3)
    ]
    reg = people.registered_at[invitee]
    sent = reg - ((2.0 + rng.exponential(24.0, len(invitee))) * US_PER_HOUR).astype(np.int64)
    early = sent < period.start_us  # invited before the period: send it during it instead
    sent = np.where(
        early, period.start_us + (rng.random(len(sent)) * (reg - period.start_us)), sent
    )
    sent = sent.astype(np.int64)
    sent -= sent % US_PER_SECOND
    cand = np.stack([people.community_member(rng, invitee) for _ in range(_CANDIDATES)], axis=1)
    usable = (
        (people.registered_at[cand] < sent[:, None])
        & (people.cutoff[cand] > sent[:, None])
        & (cand != invitee[:, None])
    )
    score = np.where(usable, people.social_influence[cand] * rng.random(cand.shape), -1.0)
    best = np.argmax(score, axis=1)
    inviter = cand[np.arange(len(invitee)), best]
    ok = (score.max(axis=1, initial=-1.0) >= 0) & (sent < reg)
    invitee, inviter, sent = invitee[ok], inviter[ok], sent[ok]
    invited_by[invitee] = inviter
    events = Events.new(
        len(invitee), ts=sent, etype=T["invite"], person=inviter, has_user=True, has_anon=True,
        target=invitee, channel=people.session_channel[inviter], device=people.device[inviter],
    )  # fmt: skip
    return events, invited_by


def referral_sessions(rng: np.random.Generator, shares: Events, people: People) -> Sessions:
    """Some friends a product was shared with open it a few hours later."""
    opened = np.flatnonzero(rng.random(len(shares)) < 0.35)
    delay = ((60.0 + rng.exponential(3.0 * 3600, len(opened))) * US_PER_SECOND).astype(np.int64)
    start = shares["ts"][opened] + delay
    return Sessions.new(
        len(opened),
        person=shares["target"][opened],
        start=start - start % US_PER_SECOND,
        kind=REFERRAL,
        product=shares["product"][opened],
        referrer=shares["person"][opened],
        parent=shares["session"][opened],
    )


def answers(rng: np.random.Generator, questions: Events, people: People) -> Events:
    """About half the product questions get an answer from another shopper within days."""
    asked = np.flatnonzero(rng.random(len(questions)) < 0.5)
    asker = questions["person"][asked]
    helper = people.community_member(rng, asker)
    when = questions["ts"][asked] + (
        (2.0 + rng.exponential(20.0, len(asked))) * US_PER_HOUR
    ).astype(np.int64)
    ok = (helper != asker) & (people.registered_at[helper] < when)
    asked, asker, helper, when = asked[ok], asker[ok], helper[ok], when[ok]
    return Events.new(
        len(asked), ts=when - when % US_PER_SECOND, etype=T["answer"], person=helper,
        has_user=True, has_anon=True, target=asker, product=questions["product"][asked],
        text=text_codes("answer", people.language[helper], rng.random(len(asked))),
        channel=people.session_channel[helper], device=people.device[helper],
    )  # fmt: skip
