"""Value tags (catalog/value.yaml): spend per window, refunds, RFM scores and segments.

Build date 2025-04-01 (UTC). RFM scores rank the buyers the build sees: a score is
``min(floor(percent_rank * 5) + 1, 5)``, and tied buyers share the lower rank. With the ten
buyers below, ranks 1-2 score 1, 3-4 score 2, 5-6 score 3, 7-8 score 4, 9-10 score 5.
"""

from __future__ import annotations

import pytest

# person: (days since the last order, orders, total spend)
BUYERS = {
    "champion": (0, 6, 500.0),
    "potential": (0, 3, 60.0),
    "loyal": (20, 4, 50.0),
    "new_customer": (15, 1, 30.0),
    "promising": (50, 2, 40.0),
    "need_attention": (45, 3, 80.0),
    "cant_lose": (200, 5, 400.0),
    "hibernating": (150, 2, 20.0),
    "at_risk": (300, 4, 60.0),
    "lost": (250, 1, 10.0),
}
# person: (R, F, M, segment, value tier)
EXPECTED = {
    "champion": (5, 5, 5, "champions", "high"),
    # M: spends 60 like at_risk, so both take rank 6 and score 3 (rank 7 would score 4)
    "potential": (5, 3, 3, "potential_loyalist", "medium"),
    "loyal": (4, 4, 3, "loyal", "medium"),
    "new_customer": (4, 1, 2, "new_customer", "medium"),
    "promising": (3, 2, 2, "promising", "medium"),
    "need_attention": (3, 3, 4, "need_attention", "high"),
    "cant_lose": (2, 5, 5, "cant_lose", "high"),
    "hibernating": (2, 2, 1, "hibernating", "low"),
    "at_risk": (1, 4, 3, "at_risk", "medium"),
    "lost": (1, 1, 1, "lost", "low"),
}


@pytest.fixture(scope="module")
def rfm(new_shop):
    """Ten buyers, one of each RFM segment, and a visitor who never bought."""
    shop = new_shop()
    for person, (days, orders, spend) in BUYERS.items():
        prices = [10.0] * (orders - 1) + [spend - 10.0 * (orders - 1)]
        for i, price in enumerate(prices):
            # the latest order half a day into its day: days_since_last_order == days
            when = shop.before(days=days + 10 * i, hours=12)
            shop.order(person, when, f"{person}-{i}", "p1", price=price)
    shop.event("browser", "product_view", shop.before(days=3), product_id="p1")
    return shop.build("value")


@pytest.mark.parametrize("person", sorted(EXPECTED))
def test_rfm_scores_segment_and_value_tier(rfm, person: str) -> None:
    days, orders, spend = BUYERS[person]
    r, f, m, segment, tier = EXPECTED[person]
    want = {
        "days_since_last_order": days,
        "orders_total": orders,
        "total_spend": spend,
        "r_score": r,
        "f_score": f,
        "m_score": m,
        "rfm_segment": segment,
        "value_tier": tier,
    }
    assert rfm.of(person, *want) == want


def test_every_segment_is_reached(rfm) -> None:
    segments = {rfm[p]["rfm_segment"] for p in BUYERS}
    assert len(segments) == 10


def test_non_buyers_have_no_scores(rfm) -> None:
    want = {
        "r_score": None,
        "f_score": None,
        "m_score": None,
        "rfm_segment": None,
        "value_tier": None,
        "total_spend": 0.0,
        "net_spend": 0.0,
        "items_total": 0,
        "avg_order_value": None,
        "predicted_clv": None,  # model tags stay empty until a model writes scores
        "expected_purchases_90d": None,
    }
    assert rfm.of("browser", *want) == want


def test_spend_windows_and_refunds(new_shop) -> None:
    shop = new_shop()
    lines = [
        ("2025-03-02T00:00:00Z", "o1", 2, 10.5),  # the first second of 30 days: 21
        ("2025-03-02T00:00:00Z", "o1", 1, 100.0),  # 100
        ("2025-03-01T23:59:59Z", "o2", 3, 20.0),  # in 90 days: 60
        ("2025-01-01T00:00:00Z", "o3", 1, 7.0),  # the first second of 90 days
        ("2024-12-15T10:00:00Z", "o4", 1, 200.0),  # in 365 days
        ("2024-04-01T00:00:00Z", "o5", 1, 3.0),  # the first second of 365 days
        ("2024-01-01T10:00:00Z", "o6", 1, 1000.0),  # all time only
        ("2025-04-01T00:00:00Z", "o7", 1, 5000.0),  # the build date: never
    ]
    for ts, order_id, quantity, price in lines:
        shop.order("spender", ts, order_id, "p1", quantity=quantity, price=price)
    shop.event(
        "spender", "refund", "2025-03-10T10:00:00Z", product_id="p1", quantity=1, price=100.0
    )
    shop.event(
        "spender", "refund", "2025-04-01T00:00:00Z", product_id="p1", quantity=1, price=999.0
    )
    got = shop.build("value")["spender"]
    want = {
        "total_spend": 1391.0,
        "spend_30d": 121.0,
        "spend_90d": 188.0,
        "spend_365d": 391.0,
        "refunded_amount": 100.0,
        "net_spend": 1291.0,
        "items_total": 10,
        "avg_order_value": 231.833333,  # 1391 / 6 orders
    }
    assert {k: got[k] for k in want} == want
