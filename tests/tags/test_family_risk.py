"""Risk tags (catalog/risk.yaml): refunds, low ratings, overdue repurchases.

Build date 2025-04-01 (UTC); the 365-day window starts 2024-04-01. Refund risk bands the
refund rate at 0.1 and 0.3 (an edge belongs to the band above); a repurchase is overdue when
the days since the last order reach twice the person's purchase cycle.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()

    def refund(person: str, ts: str, units: int) -> None:
        shop.event(person, "refund", ts, product_id="p1", quantity=units, price=10.0)

    def review(person: str, ts: str, rating: int) -> None:
        shop.event(person, "review", ts, product_id="p1", rating=rating)

    # k1: 10 units, 1 refunded; orders a month apart, the last 58.5 days ago
    shop.order("k1", "2025-01-01T12:00:00Z", "k1-1", "p1", quantity=5)
    shop.order("k1", "2025-02-01T12:00:00Z", "k1-2", "p1", quantity=5)
    refund("k1", "2025-02-10T10:00:00Z", 1)
    review("k1", "2025-03-01T10:00:00Z", 1)
    review("k1", "2025-03-02T10:00:00Z", 2)
    review("k1", "2025-03-03T10:00:00Z", 3)
    review("k1", "2024-03-31T23:59:59Z", 1)  # before the year
    review("k1", "2025-04-01T00:00:00Z", 1)  # the build date

    # k2: 20 units, 4 refunded this year and 2 the year before
    shop.order("k2", "2024-01-01T00:00:00Z", "k2-0", "p1", quantity=10)
    shop.order("k2", "2024-12-01T00:00:00Z", "k2-1", "p1", quantity=5)
    shop.order("k2", "2024-12-11T00:00:00Z", "k2-2", "p1", quantity=5)
    refund("k2", "2025-01-05T10:00:00Z", 4)
    refund("k2", "2024-03-31T23:59:59Z", 2)
    review("k2", "2025-03-01T10:00:00Z", 3)

    # k3: orders 10 days apart, the last 80 days ago
    shop.order("k3", "2025-01-01T00:00:00Z", "k3-1", "p1")
    shop.order("k3", "2025-01-11T00:00:00Z", "k3-2", "p1")
    # k4: orders 10 days apart, the last 20 days ago: exactly twice the cycle
    shop.order("k4", shop.before(days=30), "k4-1", "p1")
    shop.order("k4", shop.before(days=20), "k4-2", "p1")

    shop.order("one_order", "2025-03-01T10:00:00Z", "k5-1", "p1")
    refund("refund_only", "2025-03-01T10:00:00Z", 1)
    shop.user("empty")
    return shop.build("risk")


def test_refunds_and_complaints(profiles) -> None:
    want = {
        "refunds_365d": 1,
        "refunded_items_total": 1,
        "refund_rate": 0.1,
        "refund_risk": "medium",  # 0.1 is the edge
        "low_ratings_365d": 2,  # ratings 1 and 2 of this year
        "complaint_flag": True,
        "cycle_ratio": 1.870968,  # 58 days / 31-day cycle
        "repurchase_overdue": False,
        "churn_propensity": None,  # a model tag
    }
    assert profiles.of("k1", *want) == want


def test_refund_rate_counts_all_time_and_the_high_edge(profiles) -> None:
    want = {
        "refunds_365d": 1,
        "refunded_items_total": 6,
        "refund_rate": 0.3,  # 6 / 20
        "refund_risk": "high",
        "low_ratings_365d": 0,
        "complaint_flag": False,
        # a 172.5-day cycle (345 days over 2 gaps), the last order 111 days ago
        "cycle_ratio": 0.643478,
        "repurchase_overdue": False,
    }
    assert profiles.of("k2", *want) == want


@pytest.mark.parametrize(
    ("person", "ratio", "overdue"),
    [("k3", 8.0, True), ("k4", 2.0, True), ("one_order", None, None)],
)
def test_repurchase_overdue(profiles, person: str, ratio: float | None, overdue) -> None:
    want = {"cycle_ratio": ratio, "repurchase_overdue": overdue}
    assert profiles.of(person, *want) == want


def test_refund_rate_needs_units_bought(profiles) -> None:
    want = {"refund_rate": 0.0, "refund_risk": "low"}
    assert profiles.of("one_order", *want) == want
    want = {"refunds_365d": 1, "refunded_items_total": 1, "refund_rate": None, "refund_risk": None}
    assert profiles.of("refund_only", *want) == want


def test_nothing_to_go_on(profiles) -> None:
    want = {
        "refunds_365d": 0,
        "refunded_items_total": 0,
        "refund_rate": None,
        "refund_risk": None,
        "low_ratings_365d": 0,
        "complaint_flag": False,
        "cycle_ratio": None,
        "repurchase_overdue": None,
    }
    assert profiles.of("empty", *want) == want
