"""Money: checkout (order lines, coupon use, payment) and after-sales (refunds and reviews).

An order is one ``order`` event per cart line still in the cart, all sharing an order number,
then one ``payment`` for the amount paid. Discounts come from the mid-period promotion and from
coupons the buyer holds; price-sensitive buyers use the coupons they hold, and without a coupon
or a promotion they mostly leave the cart rather than pay full price.
"""

from __future__ import annotations

import numpy as np

from portrait.datasets.simulator.catalog import Catalog
from portrait.datasets.simulator.clock import US_PER_DAY, US_PER_SECOND, Period
from portrait.datasets.simulator.events import Events, T
from portrait.datasets.simulator.marketing import COUPON_PERCENT, COUPON_VALIDITY_US, CouponGrants
from portrait.datasets.simulator.population import CITY_IS_CN, People
from portrait.datasets.simulator.sessions import ANONYMOUS, Sessions
from portrait.datasets.simulator.vocab import PROP, text_codes

PROMOTION_PERCENT = 0.10
_KEY_SHIFT = 48


def checkout(
    rng: np.random.Generator,
    sessions: Sessions,
    ev: Events,
    end: np.ndarray,
    people: People,
    period: Period,
    grants: CouponGrants,
) -> tuple[Events, np.ndarray]:
    """Order, coupon_used and payment events of the sessions that buy; updated session ends.

    ``ev`` must be laid out (sorted by session and slot). Order numbers are block-local.
    """
    n = len(sessions)
    person, kind = sessions["person"], sessions["kind"]
    in_cart = (ev["etype"] == T["add_to_cart"]) & (ev["aux"] == 0)
    has_cart = np.bincount(ev["session"][in_cart], minlength=n) > 0
    can_buy = (kind != ANONYMOUS) & (person < people.n_users) & ~people.never_buys[person]
    promo = period.is_promo(end)
    p_order = (0.4 + 0.6 * people.buy_propensity[person]) * np.where(promo, 1.2, 1.0)
    p_order *= np.where(sessions["campaign"] >= 0, 1.3, 1.0)
    buying = np.flatnonzero(can_buy & has_cart & (rng.random(n) < np.minimum(p_order, 0.95)))
    checkout_ts = end[buying] + ((5.0 + rng.exponential(40.0, len(buying))) * US_PER_SECOND).astype(
        np.int64
    )
    checkout_ts -= checkout_ts % US_PER_SECOND
    coupon = _redeem(rng, person[buying], checkout_ts, people, period, grants)
    # bargain hunters mostly leave the cart for later when there is no deal to be had
    deal = (coupon >= 0) | period.is_promo(checkout_ts)
    full_price_ok = rng.random(len(buying)) >= 0.9 * people.deal_seeking(person[buying])
    keep = deal | full_price_ok
    buying, checkout_ts, coupon = buying[keep], checkout_ts[keep], coupon[keep]
    order_of = np.full(n, -1)
    order_of[buying] = np.arange(len(buying))
    buyer = person[buying]

    line = ev.take(in_cart & (order_of[ev["session"]] >= 0))
    order = order_of[line["session"]]
    first = np.ones(len(line), dtype=bool)
    first[1:] = order[1:] != order[:-1]
    pos = np.arange(len(line)) - np.maximum.accumulate(np.where(first, np.arange(len(line)), 0))
    n_lines = np.bincount(order, minlength=len(buying))

    coupon_pct = np.where(coupon >= 0, COUPON_PERCENT[np.maximum(coupon, 0)], 0.0)
    promo_pct = np.where(period.is_promo(checkout_ts), PROMOTION_PERCENT, 0.0)
    list_price = line["price"]
    discount = np.round(list_price * (promo_pct + coupon_pct)[order], 2)
    paid = np.round(list_price - discount, 2)
    qty = line["quantity"]
    amount = np.round(np.bincount(order, weights=qty * paid, minlength=len(buying)), 2)
    coupon_amount = np.bincount(
        order, weights=qty * np.round(list_price * coupon_pct[order], 2), minlength=len(buying)
    )

    common = {"has_user": True, "has_anon": True}
    lines = Events.new(
        len(line), ts=checkout_ts[order] + (pos + 1) * US_PER_SECOND, etype=T["order"],
        person=line["person"], product=line["product"], quantity=qty, price=paid,
        discount=discount, order=order, coupon=coupon[order], session=line["session"], **common,
    )  # fmt: skip
    used = np.flatnonzero(coupon >= 0)
    coupon_used = Events.new(
        len(used), ts=checkout_ts[used] + (n_lines[used] + 1) * US_PER_SECOND,
        etype=T["coupon_used"], person=buyer[used], order=used, coupon=coupon[used],
        discount=np.round(coupon_amount[used], 2), session=buying[used], **common,
    )  # fmt: skip
    pay_ts = checkout_ts + (
        (n_lines + 2 + rng.exponential(30.0, len(buying))) * US_PER_SECOND
    ).astype(np.int64)
    pay_ts -= pay_ts % US_PER_SECOND
    local = CITY_IS_CN[people.city[buyer]]
    method = np.where(
        local,
        rng.choice(3, len(buying), p=[0.5, 0.45, 0.05]),
        rng.choice(3, len(buying), p=[0.1, 0.1, 0.8]),
    )
    payments = Events.new(
        len(buying), ts=pay_ts, etype=T["payment"], person=buyer, price=amount,
        order=np.arange(len(buying)), props=PROP["payment"] + method, session=buying, **common,
    )  # fmt: skip
    out = Events.concat([lines, coupon_used, payments])
    s = out["session"]
    out["channel"][:] = people.session_channel[out["person"]]
    out["device"][:] = people.device[out["person"]]
    out["campaign"][:] = sessions["campaign"][s]
    new_end = end.copy()
    new_end[buying] = pay_ts
    return out, new_end


def _redeem(
    rng: np.random.Generator,
    buyer: np.ndarray,
    when: np.ndarray,
    people: People,
    period: Period,
    grants: CouponGrants,
) -> np.ndarray:
    """The coupon (code) each order redeems, or -1: the latest valid unused one, if wanted."""
    coupon = np.full(len(buyer), -1)
    if not len(grants.person) or not len(buyer):
        return coupon
    base = period.start_us - 365 * US_PER_DAY
    gkey = (grants.person.astype(np.int64) << _KEY_SHIFT) + (grants.ts - base)
    order = np.argsort(gkey, kind="stable")
    gkey = gkey[order]
    okey = (buyer.astype(np.int64) << _KEY_SHIFT) + (when - base)
    j = np.searchsorted(gkey, okey, side="right") - 1
    g = order[np.maximum(j, 0)]
    expires = grants.ts[g] + COUPON_VALIDITY_US[grants.coupon[g]]
    wants = rng.random(len(buyer)) < 0.05 + 0.95 * people.deal_seeking(buyer)
    valid = wants & (j >= 0) & (grants.person[g] == buyer) & (when < expires)
    candidates = np.flatnonzero(valid)
    by_time = candidates[np.argsort(when[candidates], kind="stable")]
    _, first_use = np.unique(j[by_time], return_index=True)  # each coupon is used once
    winners = by_time[first_use]
    coupon[winners] = grants.coupon[g[winners]]
    return coupon


def after_sales(
    rng: np.random.Generator, lines: Events, people: People, catalog: Catalog
) -> Events:
    """Refunds and reviews of order lines, days after the order."""
    n = len(lines)
    p = lines["person"]
    sat = people.satisfaction[p]
    quality = catalog.quality[lines["product"]]
    refunded = rng.random(n) < 0.02 + 0.18 * (1 - sat) ** 2 + 0.12 * (1 - quality) ** 2
    r = np.flatnonzero(refunded)
    refund_ts = lines["ts"][r] + ((1.0 + rng.exponential(4.0, len(r))) * US_PER_DAY).astype(
        np.int64
    )
    reason = np.where(quality[r] < 0.55, 0, 1 + rng.integers(0, 2, len(r)))
    refunds = Events.new(
        len(r), ts=refund_ts - refund_ts % US_PER_SECOND, etype=T["refund"], person=p[r],
        has_user=True, product=lines["product"][r], quantity=lines["quantity"][r],
        price=lines["price"][r], order=lines["order"][r], props=PROP["refund"] + reason,
        channel=lines["channel"][r],
    )  # fmt: skip
    p_review = 0.12 + 0.2 * np.abs(sat - 0.5) + 0.15 * refunded
    v = np.flatnonzero(rng.random(n) < p_review)
    score = 0.7 * sat[v] + 0.3 * quality[v]
    rating = np.rint(1 + 4 * score + rng.normal(0.0, 0.75, len(v)) - 1.2 * refunded[v])
    rating = np.clip(rating, 1, 5).astype(np.int8)
    sentiment = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))
    review_ts = lines["ts"][v] + ((2.0 + rng.exponential(3.0, len(v))) * US_PER_DAY).astype(
        np.int64
    )
    reviews = Events.new(
        len(v), ts=review_ts - review_ts % US_PER_SECOND, etype=T["review"], person=p[v],
        has_user=True, has_anon=True, product=lines["product"][v], order=lines["order"][v],
        rating=rating, channel=lines["channel"][v], device=lines["device"][v],
        text=text_codes("review", people.language[p[v]], rng.random(len(v)), sentiment),
    )  # fmt: skip
    return Events.concat([refunds, reviews])
