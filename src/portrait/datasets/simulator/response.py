"""Campaign response: how the simulator's users answer a coupon, with the true effect known.

For a user offered a coupon for a window of ``W`` days (docs/simulator.md, "Campaign response"):

* ``p_control``, the chance of an order in the window without the offer ("would buy anyway"):
  ``1 - exp(-lambda * W_active)`` with the daily order rate
  ``lambda = BASE_RATE * sessions_per_day * (0.4 + 0.6 buy_propensity) * (1 - 0.3 k_price)``
  (the simulator's own order mechanics, fitted on its shops; bargain hunters wait for a deal)
  and ``W_active`` the expected active days of the window under the churn hazard. Churned users
  and registered users who never buy have 0.
* The message reaches the user's attention with ``awareness = REACH[channel] * (0.6 +
  buy_propensity) * (0.7 + 0.6 price_sensitivity)`` (the simulator's campaign open model).
* Converted: an aware user who would not have bought orders because of the coupon with
  ``1 - exp(-RESPONSE_SCALE * discount * (0.25 + 0.75 k_price) * (1 - 0.7 k_brand))``, times
  how often they visit (``0.5 + 0.5 (1 - exp(-sessions_per_day W))``); a quarter of that for
  registered users who never bought (a first-order nudge). So the lift grows with price
  sensitivity x discount, is small for brand-loyal full-price buyers and 0 for churned users.
* Put off: every user has a latent ``message_fatigue`` (a persona-like class, about 15% of users,
  more among the dissatisfied, drawn deterministically from the user number and ``seed``); a
  message makes such users drop part of the orders they would have placed, more so when they got
  many messages lately (``recent_messages``). This is the negative part of the effect, and the
  only part left when the discount is 0.
* ``p_treated = p_anyway + p_converted`` with ``p_anyway = p_control * (1 - loss)``.

Costs: a treated user who would have bought anyway redeems the coupon with
``redeem_anyway = awareness * (0.5 + 0.5 k_price)``; a converted user always redeems. The
discount is paid on every redeemed order, which is why targeting people who buy anyway wastes
budget. ``k_*`` is the simulator's steep keenness curve of a persona trait (``population``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from portrait.datasets.simulator.population import NEVER, OTHERS_MAX, PERSONA_THRESHOLD, People

BASE_RATE = 0.37  # orders per (session per day), fitted: predicted 14-day order rate = observed
PRICE_BASE_DAMPING = 0.3  # bargain hunters buy less without a deal
REACH = {"email": 0.5, "sms": 0.6, "push": 0.4, "in_app": 0.5}
RESPONSE_SCALE = 5.0
BRAND_DAMPING = 0.7
BASE_RESPONSE = 0.25  # how much a discount moves someone who is not price-sensitive
FIRST_ORDER_FACTOR = 0.25
FATIGUE_PRIOR = (0.08, 0.25)  # prior = 0.08 + 0.25 * (1 - satisfaction): about 15% of users
FATIGUE_LOSS = 0.12  # share of would-be orders a fatigued user drops on one more message
FATIGUE_PER_MESSAGE = 0.5  # ... times (1 + 0.5 * recent messages)
NOISE_PER_MESSAGE = 0.005  # everyone: 0.5% of would-be orders per recent message
MAX_LOSS = 0.6
DEFAULT_BASKET = 450.0  # typical order value when a user has none (the shop's median order)
THRESHOLD_REACH = 0.6  # a 满减 offer tempts baskets from 60% of its threshold (they top up)
_SALT = 0x5EED_FA71


@dataclass(frozen=True)
class Offer:
    """A coupon: ``percent`` off (0.15; optionally from ``min_spend``, capped at
    ``max_discount``) or 满减 ``amount`` off orders from ``threshold``."""

    kind: Literal["percent", "threshold"] = "percent"
    percent: float = 0.15
    threshold: float = 0.0
    amount: float = 0.0
    channel: str = "email"
    min_spend: float = 0.0
    max_discount: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("percent", "threshold"):
            raise ValueError(f"unknown offer kind {self.kind!r}; use percent or threshold")
        if self.kind == "percent" and not 0 <= self.percent < 1:
            raise ValueError(f"percent must be in [0, 1), got {self.percent}")
        if self.kind == "threshold" and not 0 <= self.amount < self.threshold:
            raise ValueError("a threshold offer needs 0 <= amount < threshold")
        if self.min_spend < 0 or (self.max_discount is not None and self.max_discount <= 0):
            raise ValueError("min_spend must be >= 0 and max_discount > 0")
        if self.channel not in REACH:
            raise ValueError(f"unknown channel {self.channel!r}; use one of {', '.join(REACH)}")

    def discount_rate(self, basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(share of the order paid by the coupon, how much of the pull reaches the user)."""
        basket = np.asarray(basket, dtype=np.float64)
        floor = self.min_spend if self.kind == "percent" else self.threshold
        order = np.maximum(basket, floor)  # a basket below the floor is topped up to it
        if self.kind == "percent":
            amount = self.percent * order
            if self.max_discount is not None:
                amount = np.minimum(amount, self.max_discount)
        else:
            amount = np.full(len(basket), self.amount)
        if floor <= 0:
            return amount / np.maximum(order, 1e-9), np.ones(len(basket))
        reachable = basket >= THRESHOLD_REACH * floor
        rate = np.where(reachable, amount / order, 0.0)
        pull = np.where(reachable, np.minimum(basket / floor, 1.0), 0.0)
        return rate, pull


class Effects(NamedTuple):
    """The true response per user to an offer (arrays of one value per user)."""

    p_control: np.ndarray  # P(order in the window | not treated)
    p_treated: np.ndarray  # P(order in the window | treated)
    order_value: np.ndarray  # typical order value (list prices)
    p_anyway: np.ndarray  # treated and ordering though they would have anyway
    redeem_anyway: np.ndarray  # P(coupon used | treated, would have bought anyway)
    discount_rate: np.ndarray  # share of a redeemed order paid by the coupon
    awareness: np.ndarray  # P(the message gets the user's attention): opens

    @property
    def uplift(self) -> np.ndarray:
        """True incremental order probability per user."""
        return self.p_treated - self.p_control


class Outcomes(NamedTuple):
    """One draw of a campaign's outcome per user."""

    ordered: np.ndarray  # bool
    redeemed: np.ndarray  # bool: ordered with the coupon
    revenue: np.ndarray  # order value at list prices (0 without an order)
    discount: np.ndarray  # what the coupon paid


def keenness(trait: np.ndarray) -> np.ndarray:
    """The simulator's steep curve of a persona trait (near 0 off the class, near 1 in it)."""
    centre = (OTHERS_MAX + PERSONA_THRESHOLD) / 2
    return 1.0 / (1.0 + np.exp(-(np.asarray(trait, dtype=np.float64) - centre) / 0.05))


def _uniform(numbers: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic uniform in [0, 1) per (user number, seed): splitmix64."""
    x = np.asarray(numbers, dtype=np.uint64) + np.uint64((seed * 0x9E3779B9 + _SALT) % 2**64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def message_fatigue(user_number: np.ndarray, satisfaction: np.ndarray, seed: int) -> np.ndarray:
    """The latent fatigue trait: a class (prior ``0.08 + 0.25 (1 - satisfaction)``) whose
    members lie in [0.6, 1], the others in [0, 0.45], as the simulator's personas."""
    u = _uniform(user_number, seed)
    v = _uniform(np.asarray(user_number, dtype=np.uint64) + np.uint64(1 << 40), seed)
    member = u < FATIGUE_PRIOR[0] + FATIGUE_PRIOR[1] * (1.0 - np.asarray(satisfaction))
    return np.where(member, PERSONA_THRESHOLD + (1 - PERSONA_THRESHOLD) * v, OTHERS_MAX * v)


def _frame(people_or_truth: Any) -> pd.DataFrame:
    """The per-user columns the model reads, from ``People`` or a truth table/frame."""
    if isinstance(people_or_truth, People):
        p, n = people_or_truth, people_or_truth.n_users
        return pd.DataFrame(
            {
                "user_number": p.first_user + np.arange(n) + 1,
                "price_sensitivity": p.price_sensitivity[:n],
                "brand_loyalty": p.brand_loyalty[:n],
                "buy_propensity": p.buy_propensity[:n],
                "sessions_per_day": p.session_rate[:n],
                "churn_hazard": p.churn_hazard[:n],
                "satisfaction": p.satisfaction[:n],
                "registered_without_purchase": p.never_buys[:n],
                "active": p.churned_at[:n] == NEVER,  # not churned in the period
            }
        )
    frame = (
        people_or_truth.to_pandas()
        if isinstance(people_or_truth, pa.Table)
        else pd.DataFrame(people_or_truth)
    )
    frame = frame.reset_index(drop=True)
    if "user_number" not in frame:
        frame["user_number"] = frame["user_id"].str.lstrip("u").astype(np.int64)
    if "active" not in frame:
        frame["active"] = frame["churned_at"].isna()
    return frame


def shop_population(shop_dir: str | Path, recent_days: int = 30) -> pd.DataFrame:
    """``truth_users`` of a simulated shop folder with each user's history added: ``basket``
    (mean order value at list prices; for users without orders the median of buyers of the same
    price-sensitivity class), ``orders`` and ``recent_messages`` (messages sent in the last
    ``recent_days`` days before the end of the events)."""
    import duckdb

    shop = Path(shop_dir)
    events = f"read_parquet('{shop / 'events.parquet'}')"
    truth = pq.read_table(shop / "truth_users.parquet").to_pandas()
    con = duckdb.connect()
    try:
        history = con.sql(
            f"""
            WITH e AS (SELECT * FROM {events} WHERE user_id IS NOT NULL),
            lines AS (
                SELECT user_id, order_id, sum(quantity * (price + coalesce(discount, 0))) AS v
                FROM e WHERE type = 'order' GROUP BY 1, 2),
            baskets AS (SELECT user_id, avg(v) AS basket, count(*) AS orders
                FROM lines GROUP BY 1),
            msgs AS (SELECT user_id, count(*) AS recent_messages FROM e
                WHERE type = 'message_sent'
                  AND ts >= (SELECT max(ts) FROM {events}) - INTERVAL {int(recent_days)} DAY
                GROUP BY 1)
            SELECT u.user_id, b.basket, coalesce(b.orders, 0) AS orders,
                   coalesce(m.recent_messages, 0) AS recent_messages
            FROM (SELECT DISTINCT user_id FROM e) u
            LEFT JOIN baskets b USING (user_id) LEFT JOIN msgs m USING (user_id)
            """
        ).df()
    finally:
        con.close()
    frame = truth.merge(history, on="user_id", how="left")
    frame["orders"] = frame["orders"].fillna(0).astype(np.int64)
    frame["recent_messages"] = frame["recent_messages"].fillna(0).astype(np.int64)
    member = frame["price_sensitivity"] >= PERSONA_THRESHOLD
    for flag in (True, False):
        typical = frame.loc[member == flag, "basket"].median()
        fill = DEFAULT_BASKET if pd.isna(typical) else float(typical)
        frame.loc[(member == flag) & frame["basket"].isna(), "basket"] = fill
    return frame


def _column(frame: pd.DataFrame, name: str, default: Any) -> np.ndarray:
    if name in frame:
        return frame[name].fillna(default).to_numpy(dtype=np.float64)
    return np.full(len(frame), float(default))


def true_effects(
    people_or_truth: People | pa.Table | pd.DataFrame | Mapping[str, Any],
    offer: Offer,
    window_days: float = 14.0,
    seed: int = 42,
) -> Effects:
    """The true response of every user to ``offer`` over ``window_days`` (module docstring).

    ``people_or_truth``: the simulator's ``People`` (its users) or ``truth_users`` rows (Arrow or
    pandas) with the latent traits; optional columns ``basket`` (typical order value at list
    prices, default ``DEFAULT_BASKET``), ``recent_messages`` (messages in the last 30 days,
    default 0) and ``active`` (default: not churned). ``seed`` is the shop's seed (fatigue).
    """
    if window_days <= 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    f = _frame(people_or_truth)
    ps, bl = f["price_sensitivity"].to_numpy(float), f["brand_loyalty"].to_numpy(float)
    bp, rate = f["buy_propensity"].to_numpy(float), f["sessions_per_day"].to_numpy(float)
    hazard = f["churn_hazard"].to_numpy(float)
    never = f["registered_without_purchase"].to_numpy(bool)
    active = f["active"].to_numpy(bool)
    basket = _column(f, "basket", DEFAULT_BASKET)
    recent = _column(f, "recent_messages", 0.0)
    k_price, k_brand = keenness(ps), keenness(bl)

    active_days = np.where(
        hazard > 0, -np.expm1(-hazard * window_days) / np.maximum(hazard, 1e-12), window_days
    )
    daily = BASE_RATE * rate * (0.4 + 0.6 * bp) * (1.0 - PRICE_BASE_DAMPING * k_price)
    p0 = np.where(active & ~never, -np.expm1(-daily * active_days), 0.0)

    discount, pull = offer.discount_rate(basket)
    awareness = np.clip(REACH[offer.channel] * (0.6 + bp) * (0.7 + 0.6 * ps), 0.0, 1.0)
    responsive = BASE_RESPONSE + (1 - BASE_RESPONSE) * k_price
    responsive = responsive * (1.0 - BRAND_DAMPING * k_brand) * pull
    convert = -np.expm1(-RESPONSE_SCALE * discount * responsive)
    visits = 0.5 + 0.5 * -np.expm1(-rate * window_days)
    convert = convert * visits * np.where(never, FIRST_ORDER_FACTOR, 1.0)
    p_converted = np.where(active, awareness * convert * (1.0 - p0), 0.0)

    fatigue = keenness(message_fatigue(f["user_number"].to_numpy(), f["satisfaction"], seed))
    loss = np.minimum(
        FATIGUE_LOSS * fatigue * (1.0 + FATIGUE_PER_MESSAGE * recent) + NOISE_PER_MESSAGE * recent,
        MAX_LOSS,
    )
    p_anyway = p0 * (1.0 - loss)
    redeem = np.where(discount > 0, awareness * (0.5 + 0.5 * k_price), 0.0)
    return Effects(p0, p_anyway + p_converted, basket, p_anyway, redeem, discount, awareness)


def draw_responses(
    rng: np.random.Generator, effects: Effects, treated_mask: np.ndarray
) -> Outcomes:
    """One draw of every user's outcome when ``treated_mask`` users get the offer.

    The same ``rng`` state gives coupled potential outcomes: a user who orders untreated also
    orders treated unless put off, so two draws from equal seeds with different masks differ only
    by the campaign's effect. Order values vary around the typical basket (log-normal, sd 0.5).
    """
    treated = np.asarray(treated_mask, dtype=bool)
    n = len(effects.p_control)
    if treated.shape != (n,):
        raise ValueError(f"treated_mask must have one entry per user ({n}), got {treated.shape}")
    u, v, z = rng.random(n), rng.random(n), rng.standard_normal(n)
    ordered = u < np.where(treated, effects.p_treated, effects.p_control)
    anyway = u < effects.p_anyway
    redeemed = treated & ordered & (~anyway | (v < effects.redeem_anyway))
    redeemed &= effects.discount_rate > 0
    value = effects.order_value * np.exp(0.5 * z - 0.125)
    revenue = np.where(ordered, value, 0.0)
    discount = np.where(redeemed, value * effects.discount_rate, 0.0)
    return Outcomes(ordered, redeemed, revenue, discount)


@dataclass(frozen=True)
class Economics:
    """Money assumptions: gross ``margin`` on list-price revenue and ``send_cost`` a message."""

    margin: float = 0.4
    send_cost: float = 0.001


def expected_value(effects: Effects, treated_mask: np.ndarray, econ: Economics) -> dict[str, float]:
    """Expected incremental orders, revenue, coupon cost, profit and ROI of treating a set.

    Incremental profit = margin x incremental revenue - discount paid on all redeemed orders of
    the treated - send cost; ROI = incremental profit / (discount + send cost).
    """
    t = np.asarray(treated_mask, dtype=bool)
    e = effects
    inc = (e.p_treated - e.p_control)[t]
    value = e.order_value[t]
    redeemed = (e.p_anyway * e.redeem_anyway + (e.p_treated - e.p_anyway))[t]
    redeemed = np.where(e.discount_rate[t] > 0, redeemed, 0.0)
    return _summary(
        int(t.sum()),
        float(inc.sum()),
        float((inc * value).sum()),
        float((redeemed * value * e.discount_rate[t]).sum()),
        float(redeemed.sum()),
        econ,
    )


def realised_value(
    treated: Outcomes, untreated: Outcomes, treated_mask: np.ndarray, econ: Economics
) -> dict[str, float]:
    """The same figures from one coupled draw: the policy's outcomes against nobody treated."""
    t = np.asarray(treated_mask, dtype=bool)
    return _summary(
        int(t.sum()),
        float(treated.ordered.sum() - untreated.ordered.sum()),
        float(treated.revenue.sum() - untreated.revenue.sum()),
        float(treated.discount.sum()),
        float(treated.redeemed.sum()),
        econ,
    )


def _summary(
    sends: int, orders: float, revenue: float, discount: float, redeemed: float, econ: Economics
) -> dict[str, float]:
    send = sends * econ.send_cost
    profit = econ.margin * revenue - discount - send
    spend = discount + send
    return {
        "sends": sends,
        "incremental_orders": orders,
        "incremental_revenue": revenue,
        "redeemed_orders": redeemed,
        "discount_cost": discount,
        "send_cost": send,
        "incremental_profit": profit,
        "roi": profit / spend if spend > 0 else float("nan"),
    }


__all__ = [
    "Economics",
    "Effects",
    "Offer",
    "Outcomes",
    "draw_responses",
    "expected_value",
    "keenness",
    "message_fatigue",
    "realised_value",
    "shop_population",
    "true_effects",
]
