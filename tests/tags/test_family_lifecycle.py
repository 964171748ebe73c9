"""Lifecycle tags (catalog/lifecycle.yaml): the stage, its quiet-spell counts, new users.

Build date 2025-04-01 (UTC). An event written ``shop.before(days=d, hours=12)`` is d whole
days old; ``shop.before(days=d)`` is d days old and sits exactly on the d-day window edge.
The stage is the first case that applies: prospect, new (first order <= 30 days ago),
won_back, loyal (5+ orders in 365 days, last <= 60 days ago), growing (2+ orders in 90 days,
last <= 30 days ago), active (order <= 60 or visit <= 30 days ago), dormant (seen <= 120 days
ago), churned.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()

    def orders(person: str, *days_ago: float) -> None:
        for i, days in enumerate(days_ago):
            shop.order(person, shop.before(days=days, hours=12), f"{person}-{i}", "p1")

    def visit(person: str, days: float, hours: float = 12) -> None:
        shop.event(person, "product_view", shop.before(days=days, hours=hours), product_id="p1")

    shop.user("prospect", registered_at="2025-03-02T00:00:00Z")  # exactly 30 days
    visit("prospect", 100)
    visit("prospect_edge", 120, hours=0)  # 120 days to the second
    visit("gone_without_buying", 121)
    shop.user("new", registered_at="2025-01-01T00:00:00Z")
    shop.order("new", shop.before(days=30), "new-0", "p1")  # exactly 30 days
    orders("new", 5)
    orders("not_new", 31)
    orders("won_back", 200, 10)
    orders("quiet_spell_order", 200, 100, 10)
    orders("loyal", 60, 100, 150, 200, 250)
    orders("growing", 80, 30)
    orders("active_by_visit", 100)
    visit("active_by_visit", 30)
    orders("dormant", 100)
    orders("churned", 121)
    shop.user("registered_long_ago", registered_at="2025-03-01T00:00:00Z")  # 31 days
    visit("registered_long_ago", 1)
    return shop.build("lifecycle")


@pytest.mark.parametrize(
    ("person", "stage"),
    [
        ("prospect", "prospect"),
        ("prospect_edge", "prospect"),
        ("gone_without_buying", "churned"),
        ("new", "new"),
        ("not_new", "active"),  # last order 31 days ago
        ("won_back", "won_back"),
        ("quiet_spell_order", "active"),  # an order 100 days ago: no quiet spell
        ("loyal", "loyal"),  # 5 orders, the last 60 days ago
        ("growing", "growing"),  # 2 orders in 90 days, the last 30 days ago
        ("active_by_visit", "active"),  # last order 100 days ago, visit 30 days ago
        ("dormant", "dormant"),
        ("churned", "churned"),
    ],
)
def test_lifecycle_stage(profiles, person: str, stage: str) -> None:
    assert profiles[person]["lifecycle_stage"] == stage


def test_quiet_spell_counts(profiles) -> None:
    keys = ("orders_before_quiet_spell", "orders_in_quiet_spell", "orders_30d")
    assert profiles.of("won_back", *keys) == dict(zip(keys, (1, 0, 1), strict=True))
    assert profiles.of("quiet_spell_order", *keys) == dict(zip(keys, (1, 1, 1), strict=True))
    # the order 30.5 days ago is outside 30 days, inside 120
    assert profiles.of("growing", *keys) == dict(zip(keys, (0, 2, 0), strict=True))


def test_first_order_and_new_user(profiles) -> None:
    want = {"days_since_first_order": 30, "days_to_first_order": 60, "is_new_user": False}
    assert profiles.of("new", *want) == want
    want = {"days_since_first_order": None, "days_to_first_order": None, "is_new_user": True}
    assert profiles.of("prospect", *want) == want  # registered exactly 30 days ago
    assert profiles["registered_long_ago"]["is_new_user"] is False  # 31 days
    assert profiles["not_new"]["is_new_user"] is False  # no user record
    assert profiles["loyal"]["days_since_first_order"] == 250


def test_registered_user_without_events_is_a_prospect(new_shop) -> None:
    """The description: 'prospect (registered, never bought)'."""
    shop = new_shop()
    shop.user("fresh", registered_at="2025-03-22T00:00:00Z")
    assert shop.build("lifecycle")["fresh"]["lifecycle_stage"] == "prospect"
