"""One block of users simulated end to end: the unit of randomness and of work.

A block always holds ``BLOCK_USERS`` users (the last one fewer) and draws from a generator
seeded with (seed, block index), so the shop does not depend on how blocks are grouped into
chunks for writing. Everything social (friends, invitations) stays inside a block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from portrait.datasets.simulator.browse import browse
from portrait.datasets.simulator.catalog import Catalog
from portrait.datasets.simulator.clock import Period
from portrait.datasets.simulator.commerce import after_sales, checkout
from portrait.datasets.simulator.events import Events, T, Vocabulary, to_arrow
from portrait.datasets.simulator.marketing import CouponGrants, campaign_messages, survey_answers
from portrait.datasets.simulator.population import VISITOR_SHARE, People, draw_people
from portrait.datasets.simulator.profiles import anonymous_ids, truth_table, user_ids, users_table
from portrait.datasets.simulator.sessions import ANONYMOUS, Sessions, plan_sessions
from portrait.datasets.simulator.social import answers, invitations, referral_sessions
from portrait.datasets.simulator.vocab import (
    CAMPAIGNS,
    COUPONS,
    DEVICES,
    EVENT_CHANNELS,
    PROPERTIES,
    TEXTS,
)

BLOCK_USERS = 2_000
BLOCK_VISITORS = round(VISITOR_SHARE * BLOCK_USERS)


@dataclass
class BlockResult:
    """A simulated block: its events (codes, sorted by time) and its user tables."""

    events: Events
    users: pa.Table
    truth: pa.Table
    vocabulary: Vocabulary
    n_orders: int


def simulate_block(
    seed: int, index: int, n_users: int, period: Period, catalog: Catalog
) -> BlockResult:
    """Simulate block ``index`` (``n_users`` users) of the shop."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, index]))
    people = draw_people(rng, n_users, index * BLOCK_USERS, index * BLOCK_VISITORS, period, catalog)
    invites, invited_by = invitations(rng, people, period)
    messages, grants, clicks = campaign_messages(rng, people, period)
    sessions = plan_sessions(rng, people, period, clicks)
    invited = invited_by >= 0
    ev, end, claimed = browse(rng, sessions, people, catalog, period, invited)

    shares = ev.take((ev["etype"] == T["share"]) & (ev["target"] >= 0))
    referred = referral_sessions(rng, shares, people)
    ev2, end2, claimed2 = browse(rng, referred, people, catalog, period, invited)
    ev2["session"][:] += len(sessions)
    sessions = Sessions.concat([sessions, referred])
    ev, end = Events.concat([ev, ev2]), np.concatenate([end, end2])
    grants = CouponGrants.concat([grants, claimed, claimed2])

    orders, end = checkout(rng, sessions, ev, end, people, period, grants)
    kept = _kept_sessions(sessions, end, people, period)
    ev = Events.concat([ev, orders])
    ev = ev.take(kept[ev["session"]])
    n_orders = _renumber_orders(ev)

    post = after_sales(rng, ev.take(ev["etype"] == T["order"]), people, catalog)
    replies = answers(rng, ev.take(ev["etype"] == T["question"]), people)
    survey = survey_answers(rng, people, period)
    ev = Events.concat([ev, post, replies, messages, invites, survey])
    ev = ev.take(_in_activity(ev, people, period))
    ev = ev.take(np.argsort(ev["ts"], kind="stable"))

    vocabulary = Vocabulary(
        user_ids=user_ids(people),
        anonymous_ids=anonymous_ids(people, seed),
        product_ids=catalog.product_ids,
        queries=pa.array(catalog.queries),
        texts=pa.array(TEXTS),
        channels=pa.array(EVENT_CHANNELS),
        devices=pa.array(DEVICES),
        campaigns=pa.array([c[0] for c in CAMPAIGNS]),
        coupons=pa.array([c[0] for c in COUPONS]),
        properties=pa.array(PROPERTIES),
    )
    return BlockResult(
        events=ev,
        users=users_table(rng, people, period, seed),
        truth=truth_table(people, invited_by[: people.n_users], catalog.brand_names),
        vocabulary=vocabulary,
        n_orders=n_orders,
    )


def block_table(result: BlockResult, first_event: int, first_order: int, seed: int) -> pa.Table:
    """The block's canonical events table, with shop-wide event and order numbers."""
    return to_arrow(result.events, result.vocabulary, first_event, first_order, seed)


def _kept_sessions(
    sessions: Sessions, end: np.ndarray, people: People, period: Period
) -> np.ndarray:
    """Sessions wholly inside the person's active time (before churn, before registering)."""
    person = sessions["person"]
    cutoff = people.cutoff[person]
    before_registering = (sessions["kind"] == ANONYMOUS) & (person < people.n_users)
    cutoff = np.where(before_registering, np.minimum(cutoff, people.registered_at[person]), cutoff)
    kept = (end < cutoff) & (sessions["start"] >= period.start_us)
    parent = sessions["parent"]
    referred = parent >= 0
    kept[referred] &= kept[parent[referred]]
    return kept


def _renumber_orders(ev: Events) -> int:
    """Number the surviving orders 0..n-1 by the time they were placed; returns n."""
    has = ev["order"] >= 0
    kept, dense = np.unique(ev["order"][has], return_inverse=True)
    placed = np.full(len(kept), np.iinfo(np.int64).max)
    np.minimum.at(placed, dense, ev["ts"][has])
    rank = np.empty(len(kept), dtype=np.int64)
    rank[np.lexsort((np.arange(len(kept)), placed))] = np.arange(len(kept))
    ev["order"][has] = rank[dense]
    return len(kept)


def _in_activity(ev: Events, people: People, period: Period) -> np.ndarray:
    """Events inside the period and before their person's churn."""
    ts = ev["ts"]
    return (ts >= period.start_us) & (ts < period.end_us) & (ts < people.cutoff[ev["person"]])
