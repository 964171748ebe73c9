"""The users table (canonical, with fake PII) and the ground-truth table of one block."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from portrait.datasets.base import source_schema
from portrait.datasets.simulator.categories import CATEGORIES
from portrait.datasets.simulator.clock import US_PER_DAY, US_PER_HOUR, Period
from portrait.datasets.simulator.ids import hex_ids, permute, prefixed, scramble48
from portrait.datasets.simulator.population import (
    CITY_IS_CN,
    CITY_TIER,
    COMMUNITY_SIZE,
    NEVER,
    PERSONA_THRESHOLD,
    People,
)
from portrait.datasets.simulator.vocab import (
    CALLING_CODES,
    CITIES,
    EMAIL_DOMAINS_CN,
    EMAIL_DOMAINS_INTL,
    EMAIL_WORDS,
    EN_FIRST,
    EN_LAST,
    REGISTRATION_CHANNELS,
    USER_ATTRIBUTES,
    ZH_GIVEN,
    ZH_SURNAMES,
)

UTC_US = pa.timestamp("us", tz="UTC")
PERSONAS = ("price_sensitive", "brand_loyal", "trend_seeker", "potential")
_VISITOR_SPACE = 1 << 40
_CITY_COUNTRY = np.array(
    [c[2] for c in CITIES]
)  # device numbers of visitors never meet those of users


def user_ids(people: People) -> pa.Array:
    """``u0000001``-style ids of the block's users."""
    return prefixed("u", people.first_user + np.arange(people.n_users) + 1, 7)


def anonymous_ids(people: People, seed: int) -> pa.Array:
    """A device id per person: users first, then visitors; unique across the whole shop."""
    users = people.first_user + np.arange(people.n_users)
    visitors = _VISITOR_SPACE + people.first_visitor + np.arange(people.n - people.n_users)
    return hex_ids("d", scramble48(np.concatenate([users, visitors]), seed))


def _pick(strings: tuple[str, ...] | list[str], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(strings), pa.array(np.asarray(codes, dtype=np.int64)))


def _nulls_where(values: pa.Array, missing: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(missing), pa.scalar(None, values.type), values)


def users_table(rng: np.random.Generator, people: People, period: Period, seed: int) -> pa.Table:
    """The canonical users rows of the block (visitors are not users)."""
    n = people.n_users
    g = people.first_user + np.arange(n)
    city = people.city[:n]
    cn = CITY_IS_CN[city]
    dup = people.same_person_as[:n]
    has_dup = dup >= 0
    source = np.where(has_dup, dup, np.arange(n))  # whose name and phone the account carries

    zh_name = pc.binary_join_element_wise(
        _pick(ZH_SURNAMES, rng.integers(0, len(ZH_SURNAMES), n)),
        _pick(ZH_GIVEN, rng.integers(0, len(ZH_GIVEN), n)),
        "",
    )
    en_name = pc.binary_join_element_wise(
        _pick(EN_FIRST, rng.integers(0, len(EN_FIRST), n)),
        _pick(EN_LAST, rng.integers(0, len(EN_LAST), n)),
        " ",
    )
    name = pc.take(pc.if_else(pa.array(cn), zh_name, en_name), pa.array(source))

    second = np.array([3, 5, 7, 8, 9])[permute(g, 5, seed)]
    cn_phone = pc.cast(pa.array(10**10 + second * 10**9 + permute(g, 10**9, seed)), pa.string())
    intl_phone = cn_phone
    for country, (code, digits) in CALLING_CODES.items():
        national = 9 * 10 ** (digits - 1) + permute(g, 10 ** (digits - 1), seed + len(code))
        numbers = pc.cast(pa.array(national), pa.string())
        here = _CITY_COUNTRY[city] == country
        intl_phone = pc.if_else(
            pa.array(here), pc.binary_join_element_wise(code, numbers, " "), intl_phone
        )
    own_phone = pc.if_else(pa.array(cn), cn_phone, intl_phone)
    phone = pc.take(own_phone, pa.array(source))
    dashed = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(phone, 0, 3),
        pc.utf8_slice_codeunits(phone, 3, 7),
        pc.utf8_slice_codeunits(phone, 7, 11),
        "-",
    )
    reformat = has_dup & cn[source] & (rng.random(n) < 0.4)
    phone = pc.if_else(pa.array(reformat), dashed, phone)

    handle = permute(g, 10**7, seed + 11)
    word_email = pc.binary_join_element_wise(
        _pick(EMAIL_WORDS, rng.integers(0, len(EMAIL_WORDS), n)),
        pc.cast(pa.array(handle), pa.string()),
        "@",
        pc.if_else(
            pa.array(cn),
            _pick(EMAIL_DOMAINS_CN, rng.integers(0, len(EMAIL_DOMAINS_CN), n)),
            _pick(EMAIL_DOMAINS_INTL, rng.integers(0, len(EMAIL_DOMAINS_INTL), n)),
        ),
        "",
    )
    qq = pc.binary_join_element_wise(
        pc.cast(pa.array(10**7 + permute(g, 10**9, seed + 13)), pa.string()), "@qq.com", ""
    )
    email = pc.if_else(pa.array(cn & (rng.random(n) < 0.4)), qq, word_email)
    email = _nulls_where(email, rng.random(n) < np.where(has_dup, 0.5, 0.25))

    birth_days = (
        period.start_us // US_PER_DAY
        - (people.age[:n] * 365.25).astype(np.int64)
        - rng.integers(0, 365, n)
    )
    birth = pa.array(birth_days.astype(np.int32), mask=rng.random(n) < 0.18).cast(pa.date32())
    attrs = rng.integers(0, len(USER_ATTRIBUTES), n)
    columns = {
        "user_id": user_ids(people),
        "registered_at": pa.array(people.registered_at[:n]).cast(UTC_US),
        "gender": _pick(("F", "M", "U"), people.gender[:n]),
        "birth_date": birth,
        "city": _pick([c[0] for c in CITIES], city),
        "region": _pick([c[1] for c in CITIES], city),
        "country": _pick([c[2] for c in CITIES], city),
        "channel": _pick(REGISTRATION_CHANNELS, people.reg_channel[:n]),
        "language": _pick(("zh", "en"), people.language[:n]),
        "phone": phone,
        "email": email,
        "name": name,
        "address": pa.nulls(n, pa.string()),  # the simulated shop keeps no postal address
        "attributes": _nulls_where(_pick(USER_ATTRIBUTES, attrs), rng.random(n) < 0.8),
    }
    columns["gender"] = _nulls_where(columns["gender"], people.gender[:n] == 2)
    schema = source_schema("users")
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def truth_table(people: People, invited_by: np.ndarray, brand_names: pa.Array) -> pa.Table:
    """Ground truth per user: the latent traits and labels the data was generated from."""
    n = people.n_users
    ids = user_ids(people)
    aff = people.affinity[:n]
    top = np.argsort(-aff, axis=1, kind="stable")[:, :3]
    slugs = [c.slug for c in CATEGORIES]
    parts: list = ["{"]
    for k in range(3):
        weight = np.round(aff[np.arange(n), top[:, k]], 3)
        sep = ", " if k else ""
        parts += [f'{sep}"', _pick(slugs, top[:, k]), '": ', pc.cast(pa.array(weight), pa.string())]
    parts.append("}")
    affinity_json = pc.binary_join_element_wise(*parts, "")
    # members of a persona class have their trait at or above the threshold, the others well
    # below it, so this is class membership
    flags = np.column_stack(
        [
            people.price_sensitivity[:n] >= PERSONA_THRESHOLD,
            people.brand_loyalty[:n] >= PERSONA_THRESHOLD,
            people.trend_seeking[:n] >= PERSONA_THRESHOLD,
            people.never_buys[:n],
        ]
    )
    rows, which = np.nonzero(flags)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    personas = pa.ListArray.from_arrays(pa.array(offsets), _pick(PERSONAS, which))
    peak = people.peak_hour[:n]
    peak_utc = np.mod(peak - people.utc_offset_us[:n] / US_PER_HOUR, 24.0)
    churned = people.churned_at[:n]
    dup = people.same_person_as[:n]
    return pa.table(
        {
            "user_id": ids,
            "price_sensitivity": np.round(people.price_sensitivity[:n], 4),
            "brand_loyalty": np.round(people.brand_loyalty[:n], 4),
            "trend_seeking": np.round(people.trend_seeking[:n], 4),
            "social_influence": np.round(people.social_influence[:n], 4),
            "satisfaction": np.round(people.satisfaction[:n], 4),
            "buy_propensity": np.round(people.buy_propensity[:n], 4),
            "sessions_per_day": np.round(people.session_rate[:n], 4),
            "category_affinity": affinity_json,
            "top_category": _pick(slugs, top[:, 0]),
            "favourite_brand": pc.take(
                brand_names, people.favourite_brand[np.arange(n), top[:, 0]]
            ),
            "peak_hour_local": np.round(peak).astype(np.int64) % 24,
            "peak_hour_utc": np.round(peak_utc).astype(np.int64) % 24,
            "city_tier": CITY_TIER[people.city[:n]].astype(np.int64),
            "churn_hazard": np.round(people.churn_hazard[:n], 5),
            "churned_at": pa.array(churned, mask=churned == NEVER).cast(UTC_US),
            "registered_without_purchase": people.never_buys[:n],
            "personas": personas,
            "community": (people.first_user + np.arange(n)) // COMMUNITY_SIZE,
            "same_person_as": pc.take(ids, pa.array(dup, mask=dup < 0)),
            "invited_by": pc.take(ids, pa.array(invited_by, mask=invited_by < 0)),
        }
    )
