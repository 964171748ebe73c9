"""The people of one block: registered users with latent traits, and anonymous visitors.

Latent traits (price sensitivity, brand loyalty, ...) drive every behaviour the other modules
draw, and are written out as ground truth so that tags and personas can be scored against them.

Personas are latent classes, as marketing segments are. Each user is a member of a class or
not, with a prior probability that depends on who they are, and membership decides the range
the class's trait is drawn from: members from ``[PERSONA_THRESHOLD, 1]``, everyone else from
``[0, OTHERS_MAX]``. Price-sensitive is one class (more likely in smaller cities); how a person
chooses products is another: by brand (brand-loyal), by novelty (trend-seeker, more likely
under 30), or neither, so nobody is both brand-loyal and a trend-seeker. Membership is the
ground-truth persona (``truth_users.personas``); the continuous traits are ground truth too.

Behaviour follows a steep curve of each trait (``_keenness``), so it separates the classes:
the price-sensitive claim coupons, use the coupons they hold and mostly leave their cart when
there is no deal (browse, commerce); the brand-loyal put most of their interest into the
category of their main brand and view their favourite brands (population, browse); trend
seekers view new arrivals and buy them rather than older products (browse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portrait.datasets.simulator.catalog import Catalog
from portrait.datasets.simulator.categories import CATEGORIES, N_CATEGORIES
from portrait.datasets.simulator.clock import US_PER_DAY, US_PER_HOUR, Period
from portrait.datasets.simulator.vocab import (
    CITIES,
    REGISTRATION_CHANNEL_SHARES,
)

NEVER = np.iinfo(np.int64).max
COMMUNITY_SIZE = 50
# Persona classes: members' traits lie in [PERSONA_THRESHOLD, 1], the others' in [0, OTHERS_MAX].
PERSONA_THRESHOLD = 0.6
OTHERS_MAX = 0.45
# Prior class probabilities: price-sensitive by city tier (1 to 5); brand-loyal; trend-seeker
# under 30 and from 30 (the last two exclude each other).
PRICE_SENSITIVE_PRIOR = np.array([0.15, 0.2, 0.25, 0.3, 0.35])
BRAND_LOYAL_PRIOR = 0.2
TREND_SEEKER_PRIOR = (0.28, 0.12)
BRAND_FOCUS = 0.9  # share of a brand-loyal person's interest that goes to their main brand
VISITOR_SHARE = 0.25
# Category appetite by declared gender (F, M, unknown), same order as CATEGORIES.
_GENDER_TASTE = np.array(
    [
        [2.2, 2.0, 0.6, 1.0, 1.0, 0.8, 0.6, 1.3, 0.8, 0.8],
        [0.3, 1.0, 2.2, 0.8, 1.0, 0.9, 1.6, 0.6, 0.7, 1.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    ]
)
assert _GENDER_TASTE.shape[1] == len(CATEGORIES)
_CITY_SHARE = np.array([c[5] for c in CITIES]) / sum(c[5] for c in CITIES)
CITY_TIER = np.array([c[3] for c in CITIES])
CITY_OFFSET_HOURS = np.array([c[4] for c in CITIES])
CITY_IS_CN = np.array([c[2] == "CN" for c in CITIES])


@dataclass
class People:
    """Per-person arrays for one block; users first (``n_users``), then anonymous visitors."""

    n_users: int
    first_user: int  # global index of user 0 of this block
    first_visitor: int  # global index of visitor 0 of this block
    registered_at: np.ndarray  # NEVER for visitors
    cutoff: np.ndarray  # no activity at or after this time (churn or end of period)
    churned_at: np.ndarray  # NEVER if not churned
    city: np.ndarray
    utc_offset_us: np.ndarray
    language: np.ndarray  # 0 zh, 1 en
    gender: np.ndarray  # 0 F, 1 M, 2 unknown
    age: np.ndarray
    reg_channel: np.ndarray
    session_channel: np.ndarray  # code into EVENT_CHANNELS
    device: np.ndarray  # code into DEVICES
    price_sensitivity: np.ndarray
    brand_loyalty: np.ndarray
    trend_seeking: np.ndarray
    social_influence: np.ndarray
    satisfaction: np.ndarray
    buy_propensity: np.ndarray
    session_rate: np.ndarray  # sessions per day
    churn_hazard: np.ndarray  # daily probability
    never_buys: np.ndarray
    peak_hour: np.ndarray  # local hour of day
    affinity: np.ndarray  # (n, N_CATEGORIES), rows sum to 1
    affinity_cum: np.ndarray
    favourite_brand: np.ndarray  # (n, N_CATEGORIES) brand codes
    same_person_as: np.ndarray  # block-local user index, -1 if none
    browses_before_registering: np.ndarray
    period_start: int

    @property
    def n(self) -> int:
        return len(self.registered_at)

    @property
    def is_user(self) -> np.ndarray:
        return np.arange(self.n) < self.n_users

    @property
    def registered_in_period(self) -> np.ndarray:
        return self.is_user & (self.registered_at >= self.period_start)

    def deal_seeking(self, person: np.ndarray) -> np.ndarray:
        """How much each person insists on a deal (coupon or promotion), from 0 to 1."""
        return _keenness(self.price_sensitivity[person])

    def brand_keenness(self, person: np.ndarray) -> np.ndarray:
        """How much each person sticks to their favourite brand, from 0 to 1."""
        return _keenness(self.brand_loyalty[person])

    def novelty_seeking(self, person: np.ndarray) -> np.ndarray:
        """How much each person goes for new arrivals, from 0 to 1."""
        return _keenness(self.trend_seeking[person])

    def sample_category(self, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
        """A top category per entry, drawn from that person's affinities."""
        u = rng.random(len(person))[:, None]
        return np.minimum((self.affinity_cum[person] < u).sum(axis=1), N_CATEGORIES - 1)

    def community_member(self, rng: np.random.Generator, person: np.ndarray) -> np.ndarray:
        """Another registered user of the person's community (friends share a community)."""
        base = (person // COMMUNITY_SIZE) * COMMUNITY_SIZE
        size = np.clip(self.n_users - base, 1, COMMUNITY_SIZE)
        other = base + rng.integers(0, 1 << 30, len(person)) % size
        other = np.where(other == person, base + (other - base + 1) % size, other)
        return np.where(base < self.n_users, other, rng.integers(0, self.n_users, len(person)))


def draw_people(
    rng: np.random.Generator,
    n_users: int,
    first_user: int,
    first_visitor: int,
    period: Period,
    catalog: Catalog,
) -> People:
    """Draw ``n_users`` users and their share of anonymous visitors."""
    n_visitors = round(VISITOR_SHARE * n_users)
    n = n_users + n_visitors
    is_user = np.arange(n) < n_users
    city = rng.choice(len(CITIES), n, p=_CITY_SHARE)
    is_cn = CITY_IS_CN[city]
    language = np.where(rng.random(n) < np.where(is_cn, 0.07, 0.85), 1, 0)
    gender = rng.choice(3, n, p=[0.55, 0.38, 0.07])
    age = np.clip(17 + rng.gamma(3.0, 4.5, n), 16, 75)
    reg_channel = rng.choice(4, n, p=REGISTRATION_CHANNEL_SHARES)
    session_channel = np.array([0, 1, 2, 2])[reg_channel]
    desktop_share = np.array([0.0, 0.0, 0.65, 0.05])[reg_channel]
    u = rng.random(n)
    device = np.where(u < desktop_share, 1, np.where(u < desktop_share + 0.09, 2, 0))

    tier = CITY_TIER[city]
    # smaller cities hold more bargain hunters; the young more trend seekers
    price_sensitivity = _persona_trait(rng, rng.random(n) < PRICE_SENSITIVE_PRIOR[tier - 1])
    style = rng.random(n)  # how products are chosen: by brand, by novelty, or neither
    trend_prior = np.where(age < 30, TREND_SEEKER_PRIOR[0], TREND_SEEKER_PRIOR[1])
    brand_loyalty = _persona_trait(rng, style < BRAND_LOYAL_PRIOR)
    trend_seeking = _persona_trait(
        rng, (style >= BRAND_LOYAL_PRIOR) & (style < BRAND_LOYAL_PRIOR + trend_prior)
    )
    social_influence = rng.beta(1.0, 5.0, n)
    satisfaction = rng.beta(5.0, 2.0, n)
    buy_propensity = rng.beta(2.0, 4.0, n)
    session_rate = np.minimum(np.exp(rng.normal(np.log(0.14), 0.9, n)), 3.0)
    churn_hazard = np.minimum(np.exp(rng.normal(np.log(0.004), 0.8, n)) * (1.6 - satisfaction), 0.1)
    never_buys = is_user & (rng.random(n) < 0.12)
    peak_hour = _peak_hours(rng, n)
    taste = _GENDER_TASTE[gender] * 0.45
    affinity = rng.gamma(taste) + 1e-3
    affinity /= affinity.sum(axis=1, keepdims=True)
    # the brand-loyal shop for their main brand (their favourite in their top category), so
    # that category takes most of their interest
    top = np.argmax(affinity, axis=1)
    focus = BRAND_FOCUS * _keenness(brand_loyalty)[:, None]
    affinity = (1.0 - focus) * affinity + focus * (np.arange(N_CATEGORIES) == top[:, None])
    favourite_brand = catalog.favourite_brands(rng, n)

    registered_at, pre_period = _registration_times(rng, n, is_user, period)
    active_from = np.maximum(registered_at, period.start_us)
    days_to_churn = np.minimum(rng.exponential(1.0, n) / churn_hazard, 100 * 365.0)
    churned_at = np.where(
        is_user, active_from + (days_to_churn * US_PER_DAY).astype(np.int64), NEVER
    )
    dormant = pre_period & (rng.random(n) < 0.12)
    gone = (registered_at + (period.start_us - registered_at) * rng.uniform(0.2, 0.95, n)).astype(
        np.int64
    )
    churned_at = np.where(dormant, gone, churned_at)
    churned_at = np.where(churned_at < period.end_us, churned_at, NEVER)
    churned_at -= np.where(churned_at < NEVER, churned_at % 1_000_000, 0)
    cutoff = np.minimum(churned_at, period.end_us)

    same_person_as = np.full(n, -1)
    people = People(
        n_users=n_users,
        first_user=first_user,
        first_visitor=first_visitor,
        registered_at=registered_at,
        cutoff=cutoff,
        churned_at=churned_at,
        city=city,
        utc_offset_us=CITY_OFFSET_HOURS[city] * US_PER_HOUR,
        language=language,
        gender=gender,
        age=age,
        reg_channel=reg_channel,
        session_channel=session_channel,
        device=device,
        price_sensitivity=price_sensitivity,
        brand_loyalty=brand_loyalty,
        trend_seeking=trend_seeking,
        social_influence=social_influence,
        satisfaction=satisfaction,
        buy_propensity=buy_propensity,
        session_rate=session_rate,
        churn_hazard=churn_hazard,
        never_buys=never_buys,
        peak_hour=peak_hour,
        affinity=affinity,
        affinity_cum=np.cumsum(affinity, axis=1),
        favourite_brand=favourite_brand,
        same_person_as=same_person_as,
        browses_before_registering=rng.random(n) < 0.65,
        period_start=period.start_us,
    )
    _make_duplicates(rng, people)
    return people


def _keenness(trait: np.ndarray) -> np.ndarray:
    """A steep curve of a persona trait, centred between the two classes' ranges: below 0.2
    for non-members (near 0 for most) and above 0.8 for members."""
    centre = (OTHERS_MAX + PERSONA_THRESHOLD) / 2
    return 1.0 / (1.0 + np.exp(-(trait - centre) / 0.05))


def _persona_trait(rng: np.random.Generator, member: np.ndarray) -> np.ndarray:
    """A trait per person: class members draw it from ``[PERSONA_THRESHOLD, 1]``, the others
    from ``[0, OTHERS_MAX]``."""
    n = len(member)
    high = PERSONA_THRESHOLD + (1.0 - PERSONA_THRESHOLD) * rng.beta(2.0, 1.5, n)
    low = OTHERS_MAX * rng.beta(1.6, 2.4, n)
    return np.where(member, high, low)


def _peak_hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Local peak hours: mostly evenings, some lunch breaks, mornings and night owls."""
    centre = rng.choice(np.array([21.0, 12.5, 8.5, 0.5]), n, p=[0.55, 0.2, 0.15, 0.1])
    return np.mod(centre + rng.normal(0.0, 1.0, n), 24.0)


def _registration_times(
    rng: np.random.Generator, n: int, is_user: np.ndarray, period: Period
) -> tuple[np.ndarray, np.ndarray]:
    """72% registered in the two years before the period, the rest during it."""
    pre = is_user & (rng.random(n) < 0.72)
    before = period.start_us - rng.uniform(1.0 / 24, 720.0, n) * US_PER_DAY
    latest = period.end_us - 6 * US_PER_HOUR
    during = period.start_us + rng.random(n) * (latest - period.start_us)
    t = np.where(pre, before, during).astype(np.int64)
    t -= t % 1_000_000
    return np.where(is_user, t, NEVER), pre


def _make_duplicates(rng: np.random.Generator, people: People) -> None:
    """About 0.5% of users are a second account of another user (same phone, same tastes)."""
    k = min(int(rng.binomial(people.n_users, 0.005)), people.n_users // 2)
    if k == 0:
        return
    order = rng.permutation(people.n_users)
    dup, orig = order[:k], order[k : 2 * k]
    people.same_person_as[dup] = orig
    for name in (
        "city", "utc_offset_us", "language", "gender", "age", "price_sensitivity",
        "brand_loyalty", "trend_seeking", "social_influence", "satisfaction", "peak_hour",
        "affinity", "affinity_cum", "favourite_brand",
    ):  # fmt: skip
        values = getattr(people, name)
        values[dup] = values[orig]
