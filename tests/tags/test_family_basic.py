"""Basic attributes (catalog/basic.yaml): the user record, age, city tier and tenure.

Build date 2025-04-01 (UTC). Age is in completed years (a birthday on the build date counts);
tenure is whole days from registration to the build date; a band's edge belongs to the band
above it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    shop.user(
        "b1",
        gender="female",
        birth_date="1990-04-01",  # 35th birthday on the build date
        city="北京",
        region="北京",
        country="CN",
        channel="app",
        language="zh",
        phone="+86 138 0013 8000",
        email="A@Example.com",
        registered_at="2025-03-02T00:00:00Z",  # exactly 30 days
    )
    shop.user(
        "b2",
        gender="M",
        birth_date="1990-04-02",  # 35 tomorrow
        city="杭州",
        language="EN-us",
        # no phone: one too short to be a number ("123") is quarantined with the record
        registered_at="2025-03-02T00:00:01Z",  # a second short of 30 days
    )
    shop.user(
        "b3",
        gender="x",
        birth_date="2007-04-01",
        city="厦门",
        registered_at="2024-04-01T00:00:00Z",
    )
    shop.user("b4", birth_date="2007-04-02", city="洛阳", registered_at="2023-04-02T00:00:00Z")
    shop.user("b5", birth_date="1965-03-31", city="曲靖", registered_at="2024-12-31T12:00:00Z")
    shop.user("b6", birth_date="1975-04-01", city="Springfield")
    shop.user("b10", birth_date="2000-02-29", city="New York", registered_at="2020-01-01")
    shop.user("b11", birth_date="1985-04-01")
    shop.user("b12", birth_date="2000-04-02")
    shop.user("visitor_only_later", registered_at="2025-04-01T00:00:00Z")
    shop.user("registers_later", gender="F", registered_at="2025-04-02T00:00:00Z")
    shop.event("registers_later", "page_view", "2025-03-30T10:00:00Z")
    shop.event("no_record", "page_view", "2025-03-30T10:00:00Z")
    return shop.build("basic")


def test_user_record_fields(profiles) -> None:
    want = {
        "gender": "F",
        "birth_date": date(1990, 4, 1),
        "city": "北京",
        "region": "北京",
        "country": "CN",
        "registration_channel": "app",
        "language": "zh",
        "registered_at": datetime(2025, 3, 2, tzinfo=UTC),
        "has_phone": True,
        "has_email": True,
        "is_registered": True,
        "gender_inferred": None,  # a model tag, empty until the model writes scores
    }
    assert profiles.of("b1", *want) == want
    want = {"gender": "M", "language": "en", "has_phone": False, "has_email": False}
    assert profiles.of("b2", *want) == want
    assert profiles["b3"]["gender"] == "U"


@pytest.mark.parametrize(
    ("person", "age", "band"),
    [
        ("b1", 35, "35-39"),  # birthday on the build date
        ("b2", 34, "30-34"),  # birthday the day after
        ("b3", 18, "18-24"),
        ("b4", 17, "under_18"),
        ("b12", 24, "18-24"),
        ("b10", 25, "25-29"),  # born on Feb 29
        ("b11", 40, "40-49"),
        ("b6", 50, "50-59"),
        ("b5", 60, "60_plus"),
    ],
)
def test_age_and_age_band(profiles, person: str, age: int, band: str) -> None:
    assert profiles.of(person, "age", "age_band") == {"age": age, "age_band": band}


@pytest.mark.parametrize(
    ("person", "tier"),
    [
        ("b1", "tier1"),
        ("b10", "tier1"),  # New York
        ("b2", "tier2"),
        ("b3", "tier3"),
        ("b4", "tier4"),
        ("b5", "tier5"),
        ("b6", None),  # a city on no list
        ("b11", None),  # no city
    ],
)
def test_city_tier(profiles, person: str, tier: str | None) -> None:
    assert profiles[person]["city_tier"] == tier


@pytest.mark.parametrize(
    ("person", "days", "band"),
    [
        ("b2", 29, "under_30d"),
        ("b1", 30, "1_3_months"),
        ("b5", 90, "3_12_months"),  # 90.5 days
        ("b3", 365, "1_2_years"),
        ("b4", 730, "over_2_years"),
        ("b6", None, None),  # no registration time
    ],
)
def test_tenure_and_band(profiles, person: str, days: int | None, band: str | None) -> None:
    assert profiles.of(person, "tenure_days", "tenure_band") == {
        "tenure_days": days,
        "tenure_band": band,
    }


def test_records_registered_after_the_build_date_are_not_seen(profiles) -> None:
    """A user registered at or after the build date is not in the profile; one with earlier
    events is, as a person without a user record."""
    assert "visitor_only_later" not in profiles
    empty = {
        "gender": None,
        "registered_at": None,
        "is_registered": False,
        "tenure_days": None,
        "age": None,
        "age_band": None,
        "city_tier": None,
        "has_phone": None,
    }
    assert profiles.of("registers_later", *empty) == empty
    assert profiles.of("no_record", *empty) == empty


def test_enum_fact_outside_its_values_is_empty(new_shop) -> None:
    shop = new_shop()
    shop.user("fr", language="fr")
    assert shop.build("basic")["fr"]["language"] is None
