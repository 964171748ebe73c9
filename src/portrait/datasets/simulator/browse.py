"""What happens inside a visit: page views, searches, product views, likes, shares, carts.

Every event gets its session and a ``slot`` (stage << 20 | position) that fixes its order in
the session; ``layout`` then sorts by (session, slot) and spaces the events by random gaps from
the session start. No loop runs per event or per session.
"""

from __future__ import annotations

import numpy as np

from portrait.datasets.simulator.catalog import NEW_ARRIVAL_DAYS, Catalog
from portrait.datasets.simulator.clock import US_PER_DAY, US_PER_SECOND, Period
from portrait.datasets.simulator.events import Events, T
from portrait.datasets.simulator.marketing import CouponGrants
from portrait.datasets.simulator.population import People
from portrait.datasets.simulator.sessions import (
    ANONYMOUS,
    LOGGED_IN,
    LOGGED_OUT,
    REFERRAL,
    REGISTRATION,
    Sessions,
)
from portrait.datasets.simulator.vocab import COUPON_INDEX, PROP, text_codes

STAGE = 1 << 20
# stages, in session order
START, PAGES, LOGIN, SEARCH, CLAIM, PRODUCTS, FOLLOW, REMOVE = range(8)


def _within(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) for ``counts[i]`` items owned by each i."""
    owner = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - first[owner]


def _events(session: np.ndarray, etype: str, stage: int, pos: np.ndarray | int = 0, **kw) -> Events:
    return Events.new(len(session), etype=T[etype], session=session, slot=stage * STAGE + pos, **kw)


def browse(
    rng: np.random.Generator,
    sessions: Sessions,
    people: People,
    catalog: Catalog,
    period: Period,
    invited: np.ndarray,
) -> tuple[Events, np.ndarray, CouponGrants]:
    """Events of the sessions with their times, each session's last time, coupons claimed."""
    n = len(sessions)
    person, kind, start = sessions["person"], sessions["kind"], sessions["start"]
    known = kind != ANONYMOUS  # the visitor is (or becomes) logged in
    focus = people.sample_category(rng, person)
    parts: list[Events] = []

    reg = np.flatnonzero(kind == REGISTRATION)
    parts.append(
        _events(reg, "register", START, props=np.where(invited[person[reg]], PROP["invited"], -1))
    )
    relogin = np.flatnonzero(((kind == LOGGED_IN) & (rng.random(n) < 0.06)) | (kind == LOGGED_OUT))
    parts.append(_events(relogin, "login", np.where(kind[relogin] == LOGGED_OUT, LOGIN, START)))

    owner, pos = _within(1 + rng.poisson(1.0, n))
    parts.append(_events(owner, "page_view", PAGES, pos))
    parts.append(_searches(rng, sessions, people, catalog, focus))
    clicked = np.flatnonzero(rng.random(n) < 0.25)
    parts.append(
        _events(
            clicked, "click", SEARCH, 999, props=PROP["click"] + rng.integers(0, 3, len(clicked))
        )
    )

    # deal seekers pick up a coupon in the coupon centre on many of their visits
    claimers = np.flatnonzero(known & (rng.random(n) < 0.01 + 0.3 * people.deal_seeking(person)))
    coupon = COUPON_INDEX["CENTER05"]
    parts.append(_events(claimers, "coupon_received", CLAIM, coupon=coupon))
    parts.append(_product_views(rng, sessions, people, catalog, period, focus))
    parts.append(_follows(rng, sessions, people))

    ev = Events.concat(parts)
    session_of = ev["session"]
    who = person[session_of]
    ev["person"][:] = who
    ev["has_anon"][:] = True
    ev["channel"][:] = people.session_channel[who]
    ev["device"][:] = people.device[who]
    ev["campaign"][:] = sessions["campaign"][session_of]
    k = kind[session_of]
    ev["has_user"][:] = (k != ANONYMOUS) & ((k != LOGGED_OUT) | (ev["slot"] >= LOGIN * STAGE))
    ev, end = layout(rng, ev, start)
    claimed = ev.take(ev["etype"] == T["coupon_received"])
    grants = CouponGrants(claimed["person"], claimed["ts"], claimed["coupon"].astype(np.int64))
    return ev, end, grants


def layout(rng: np.random.Generator, ev: Events, start: np.ndarray) -> tuple[Events, np.ndarray]:
    """Order events within sessions and give them times; returns each session's last time."""
    ev = ev.take(np.lexsort((ev["slot"], ev["session"])))
    session = ev["session"]
    first = np.ones(len(ev), dtype=bool)
    first[1:] = session[1:] != session[:-1]
    gaps = np.where(first, 0, (3.0 + rng.exponential(25.0, len(ev))) * US_PER_SECOND).astype(
        np.int64
    )
    elapsed = np.cumsum(gaps)
    head = np.maximum.accumulate(np.where(first, np.arange(len(ev)), 0))
    ev["ts"][:] = start[session] + elapsed - elapsed[head]
    ev["ts"][:] -= ev["ts"] % US_PER_SECOND
    last = np.ones(len(ev), dtype=bool)
    last[:-1] = session[1:] != session[:-1]
    end = start.copy()
    end[session[last]] = ev["ts"][last]
    return ev, end


def _searches(
    rng: np.random.Generator,
    sessions: Sessions,
    people: People,
    catalog: Catalog,
    focus: np.ndarray,
) -> Events:
    owner, pos = _within(rng.poisson(0.45, len(sessions)))
    p = sessions["person"][owner]
    m = len(owner)
    cat = np.where(rng.random(m) < 0.7, focus[owner], people.sample_category(rng, p))
    loyal = people.brand_loyalty[p]
    lo, hi = catalog.cat_brand_bounds[cat], catalog.cat_brand_bounds[cat + 1]
    any_brand = lo + (rng.random(m) * (hi - lo)).astype(np.int64)
    brand = np.where(rng.random(m) < loyal, people.favourite_brand[p, cat], any_brand)
    language = np.where(rng.random(m) < 0.85, people.language[p], 1 - people.language[p])
    word = catalog.query_code(cat, language, rng.random(m))
    query = np.where(rng.random(m) < 0.25 + 0.35 * loyal, catalog.query_brand0 + brand, word)
    return _events(owner, "search", SEARCH, pos, query=query)


def _product_views(
    rng: np.random.Generator,
    sessions: Sessions,
    people: People,
    catalog: Catalog,
    period: Period,
    focus: np.ndarray,
) -> Events:
    kind, start = sessions["kind"], sessions["start"]
    referral = kind == REFERRAL
    n_views = 1 + rng.poisson(np.where(referral, 0.8, 2.3))
    owner, pos = _within(n_views)
    p = sessions["person"][owner]
    m = len(owner)
    when = start[owner]
    cat = np.where(rng.random(m) < 0.6, focus[owner], people.sample_category(rng, p))
    product = catalog.pick_by_price(rng, cat, people.price_sensitivity[p])
    u = rng.random(m)
    # a view goes to a new arrival, or else to the favourite brand, or else by price
    p_new = 0.04 + 0.6 * people.novelty_seeking(p)
    brand_taste = 0.15 * people.brand_loyalty[p] + 0.83 * people.brand_keenness(p)
    p_brand = p_new + (1.0 - p_new) * brand_taste
    by_brand = np.flatnonzero((u >= p_new) & (u < p_brand))
    favourite = people.favourite_brand[p[by_brand], cat[by_brand]]
    product[by_brand] = catalog.pick_in_brand(rng, favourite, when[by_brand])
    novel = np.flatnonzero(u < p_new)
    fresh, found = catalog.pick_new(rng, cat[novel], when[novel])
    product[novel[found]] = fresh[found]
    product = catalog.guard_launched(product, catalog.l1[product], when)
    landed = referral[owner] & (pos == 0) & (sessions["product"][owner] >= 0)
    product = np.where(landed, sessions["product"][owner], product)
    views = _events(
        owner, "product_view", PRODUCTS, pos * 8, product=product,
        props=np.where(landed, PROP["via_share"], -1),
        target=np.where(landed, sessions["referrer"][owner], -1),
    )  # fmt: skip
    known = kind[owner] != ANONYMOUS
    social = people.social_influence[p]
    parts = [views]

    liked = np.flatnonzero(known & (rng.random(m) < 0.02 + 0.06 * social))
    parts.append(
        _events(owner[liked], "like", PRODUCTS, pos[liked] * 8 + 1, product=product[liked])
    )

    shared = np.flatnonzero(known & (rng.random(m) < 0.003 + 0.05 * social**2))
    friend = people.community_member(rng, p[shared])
    ok = (rng.random(len(shared)) < 0.6) & (people.registered_at[friend] < when[shared])
    ok &= friend != p[shared]
    platform = rng.choice(3, len(shared), p=[0.6, 0.15, 0.25])
    parts.append(
        _events(
            owner[shared], "share", PRODUCTS, pos[shared] * 8 + 2, product=product[shared],
            target=np.where(ok, friend, -1), props=PROP["share"] + platform,
        )
    )  # fmt: skip

    asked = np.flatnonzero(known & (rng.random(m) < 0.004))
    parts.append(
        _events(
            owner[asked], "question", PRODUCTS, pos[asked] * 8 + 4, product=product[asked],
            text=text_codes("question", people.language[p[asked]], rng.random(len(asked))),
        )
    )  # fmt: skip

    boost = np.where(period.is_promo(when), 1.3, 1.0) * np.where(kind[owner] >= 4, 1.5, 1.0)
    # bargain hunters put cheap-for-its-kind products in the cart, the others dear ones
    price_taste = catalog.relative_price[product] ** (-2.0 * (people.price_sensitivity[p] - 0.4))
    p_cart = (0.07 + 0.28 * people.buy_propensity[p]) * boost * np.where(known, 1.0, 0.6)
    p_cart *= np.clip(price_taste, 0.3, 3.0)
    # trend seekers buy what is new, and pass over what is not
    is_new = catalog.launch_us[product] >= when - NEW_ARRIVAL_DAYS * US_PER_DAY
    p_cart *= 1.0 + people.novelty_seeking(p) * np.where(is_new, 0.8, -0.5)
    carted = np.flatnonzero(rng.random(m) < p_cart)
    removed = rng.random(len(carted)) < 0.22
    quantity = 1 + rng.poisson(0.2, len(carted))
    parts.append(
        _events(
            owner[carted], "add_to_cart", PRODUCTS, pos[carted] * 8 + 3, product=product[carted],
            quantity=quantity, price=catalog.price[product[carted]], aux=removed.astype(np.int32),
        )
    )  # fmt: skip
    gone = carted[removed]
    parts.append(
        _events(
            owner[gone], "remove_from_cart", REMOVE, pos[gone], product=product[gone],
            quantity=quantity[removed], price=catalog.price[product[gone]],
        )
    )  # fmt: skip
    return Events.concat(parts)


def _follows(rng: np.random.Generator, sessions: Sessions, people: People) -> Events:
    """Logged-in visitors follow the most influential of a few community members."""
    person, start = sessions["person"], sessions["start"]
    p_follow = 0.012 + 0.04 * people.social_influence[person]
    who = np.flatnonzero((sessions["kind"] != ANONYMOUS) & (rng.random(len(sessions)) < p_follow))
    seen = np.stack([people.community_member(rng, person[who]) for _ in range(4)], axis=1)
    best = np.argmax(people.social_influence[seen], axis=1)
    target = seen[np.arange(len(who)), best]
    ok = (people.registered_at[target] < start[who]) & (target != person[who])
    return _events(who[ok], "follow", FOLLOW, target=target[ok])
