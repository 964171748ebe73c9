"""Behaviour tags (catalog/behaviour.yaml): rows in, tag values out, computed by hand.

Build date 2025-04-01 (a Tuesday), so in UTC the 7-day window starts 2025-03-25T00:00, the
30-day window 2025-03-02T00:00, the 90-day window 2025-01-01T00:00, the 120-day window
2024-12-02T00:00 and the 365-day window 2024-04-01T00:00; nothing at or after 2025-04-01T00:00
counts. Visits are events of any type but message_sent and coupon_received.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

VISITS = ("visits_7d", "visits_30d", "visits_90d", "visits_365d")


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    shop.user("empty", registered_at="2024-01-01T00:00:00Z")

    # Product views on both sides of every window edge, and after the build date.
    for ts in (
        "2024-03-31T23:59:59Z",  # a second before the 365-day window
        "2024-04-01T00:00:00Z",  # the first second of the 365-day window
        "2024-12-31T23:59:59Z",
        "2025-01-01T00:00:00Z",  # 90-day window
        "2025-03-01T23:59:59Z",
        "2025-03-02T00:00:00Z",  # 30-day window
        "2025-03-24T23:59:59Z",
        "2025-03-25T00:00:00Z",  # 7-day window
        "2025-03-31T23:59:59Z",  # the last second before the build date
        "2025-04-01T00:00:00Z",  # the build date itself: never counts
        "2025-04-03T10:00:00Z",  # after it
    ):
        shop.event("views", "product_view", ts, product_id="p1")
    shop.event("views", "message_sent", "2025-03-30T10:00:00Z", channel="email")
    shop.event("views", "coupon_received", "2025-03-30T11:00:00Z", coupon_id="c1")

    # Orders at each window edge; o1 has two lines.
    shop.order("orders", "2023-06-01T12:00:00Z", "o1", "pA")
    shop.order("orders", "2023-06-01T12:00:00Z", "o1", "pB")
    shop.order("orders", "2024-04-01T00:00:00Z", "o2", "pA")
    shop.order("orders", "2024-12-01T23:59:59Z", "o3", "pA")
    shop.order("orders", "2024-12-02T00:00:00Z", "o4", "pA")
    shop.order("orders", "2025-01-01T00:00:00Z", "o5", "pA")
    shop.order("orders", "2025-03-02T00:00:00Z", "o6", "pB")
    shop.order("orders", "2025-03-25T00:00:00Z", "o7", "pA")
    shop.order("orders", "2025-04-01T00:00:00Z", "o8", "pC")  # the build date: never

    # Carted pA twice, pB (twice, once before the 30-day window), pC, pD before 90 days.
    for ts, product in (
        ("2024-12-31T23:59:59Z", "pD"),
        ("2025-03-01T23:59:59Z", "pB"),
        ("2025-03-10T10:00:00Z", "pA"),
        ("2025-03-11T10:00:00Z", "pA"),
        ("2025-03-12T10:00:00Z", "pB"),
        ("2025-03-12T11:00:00Z", "pC"),
    ):
        shop.event("carts", "add_to_cart", ts, product_id=product, quantity=1)
    shop.order("carts", "2025-03-13T10:00:00Z", "c1", "pA")

    # Ordered two products but carted one: 1 - 2/1 is below 0.
    shop.event("over", "add_to_cart", "2025-03-10T10:00:00Z", product_id="pA", quantity=1)
    shop.order("over", "2025-03-11T10:00:00Z", "v1", "pA")
    shop.order("over", "2025-03-11T10:00:00Z", "v1", "pB")
    for day in (1, 2, 3, 4):
        shop.event("over", "product_view", f"2025-03-0{day}T10:00:00Z", product_id="pA")

    # Search queries: 3 dress, 2 shoes, 2 bag, then four queries seen once.
    for day, query in enumerate(
        ["dress", "dress", "dress", "shoes", "shoes", "bag", "bag", "hat", "coat", "scarf"], 10
    ):
        shop.event("searcher", "search", f"2025-03-{day}T10:00:00Z", query=query)
    shop.event("searcher", "search", "2025-01-01T00:00:00Z", query="edge")
    shop.event("searcher", "search", "2024-12-31T23:59:59Z", query="old")
    shop.event("searcher", "search", "2025-04-01T00:00:00Z", query="future")

    # Habits: Sat 20:10, Sat 20:30, Sun 08:00, Mon 20:00, Fri 08:30 (and older web visits).
    app, web = {"device": "mobile", "channel": "app"}, {"device": "desktop", "channel": "web"}
    shop.event("habits", "product_view", "2025-03-29T20:10:00Z", product_id="p1", **app)
    shop.event("habits", "page_view", "2025-03-29T20:30:00Z", **app)
    shop.event("habits", "search", "2025-03-30T08:00:00Z", query="x", **web)
    shop.event("habits", "add_to_cart", "2025-03-31T20:00:00Z", product_id="p1", **app)
    shop.event("habits", "page_view", "2025-03-28T08:30:00Z", **web)
    shop.event("habits", "message_sent", "2025-03-29T21:00:00Z", channel="email")
    shop.event("habits", "page_view", "2024-12-31T08:00:00Z", **web)  # outside 90 days
    shop.event("habits", "page_view", "2024-12-30T08:00:00Z", **web)

    for hour in (5, 6, 12, 17, 18):
        shop.event(f"at_{hour:02d}", "page_view", f"2025-03-20T{hour:02d}:00:00Z")

    for ts in ("2025-03-20T09:00:00Z", "2025-03-21T09:00:00Z"):
        shop.event("hour_tie", "page_view", ts)
    for ts in ("2025-03-20T10:00:00Z", "2025-03-21T10:00:00Z"):
        shop.event("hour_tie", "page_view", ts)

    shop.event("messages_only", "message_sent", "2025-03-20T10:00:00Z", channel="sms")
    shop.event("messages_only", "coupon_received", "2025-03-21T10:00:00Z", coupon_id="c1")
    return shop.build("behaviour")


def test_window_edges_and_no_leakage(profiles) -> None:
    """An event at a window's first second counts, one a second earlier does not; events at
    or after the build date never count. Messages and coupons sent to the user are not visits."""
    want = {
        "visits_7d": 2,  # Mar 25, Mar 31
        "visits_30d": 4,  # + Mar 2, Mar 24
        "visits_90d": 6,  # + Jan 1, Mar 1
        "visits_365d": 8,  # + 2024-04-01, 2024-12-31
        "product_views_30d": 4,
        "product_views_90d": 6,
        "first_visit_at": datetime(2024, 3, 31, 23, 59, 59, tzinfo=UTC),
        "last_visit_at": datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC),
        "days_since_last_visit": 0,
        "searches_30d": 0,
        "cart_adds_30d": 0,
        "orders_total": 0,
        "view_to_order_rate_90d": 0.0,  # 0 orders / 6 views
    }
    assert profiles.of("views", *want) == want


def test_orders_per_window(profiles) -> None:
    want = {
        "orders_7d": 1,  # o7
        "orders_30d": 2,  # o6, o7
        "orders_90d": 3,  # o5
        "orders_120d": 4,  # o4 (o3 is a second early)
        "orders_365d": 6,  # o2, o3
        "orders_total": 7,  # o1 (two lines, one order); never o8
        "first_order_at": datetime(2023, 6, 1, 12, 0, tzinfo=UTC),
        "last_order_at": datetime(2025, 3, 25, 0, 0, tzinfo=UTC),
        "days_since_last_order": 7,
        # 662.5 days from first to last order, counted as 662 whole days, over 6 gaps
        "purchase_cycle_days": 110.333333,
        "ordered_products_90d": 2,  # pA, pB
        "view_to_order_rate_90d": None,  # no product views
    }
    assert profiles.of("orders", *want) == want


def test_cart_counts_and_abandonment(profiles) -> None:
    want = {
        "cart_adds_30d": 4,  # the pB add a second before the window does not count
        "carted_products_90d": 3,  # pA, pB, pC (pD is before the window)
        "ordered_products_90d": 1,
        "cart_abandonment_rate": 0.666667,  # 1 - 1/3
        "orders_30d": 1,
    }
    assert profiles.of("carts", *want) == want


def test_abandonment_is_at_least_zero_and_conversion_rate(profiles) -> None:
    want = {
        "carted_products_90d": 1,
        "ordered_products_90d": 2,
        "cart_abandonment_rate": 0.0,  # 1 - 2/1 is cut at 0
        "product_views_90d": 4,
        "orders_90d": 1,
        "view_to_order_rate_90d": 0.25,
    }
    assert profiles.of("over", *want) == want


def test_search_keywords_top_five_with_shares_and_ties_by_key(profiles) -> None:
    """11 searches in 90 days; equal counts are ordered by query; five are kept."""
    assert profiles["searcher"]["searches_30d"] == 10
    assert profiles["searcher"]["search_keywords"] == [
        {"key": "dress", "weight": 0.272727},  # 3/11
        {"key": "bag", "weight": 0.181818},  # 2/11, before shoes
        {"key": "shoes", "weight": 0.181818},
        {"key": "coat", "weight": 0.090909},  # 1/11: coat, edge, hat, scarf by key
        {"key": "edge", "weight": 0.090909},
    ]


def test_habits_mode_share_and_window(profiles) -> None:
    want = {
        "active_hour": 20,  # 20h three times, 8h twice
        "active_daypart": "evening",
        "active_weekday": 5,  # Saturday twice
        "weekend_share": 0.6,  # Sat, Sat, Sun of 5 visits (the message is not a visit)
        "main_device": "mobile",
        # page and product views only; the two web views of December are outside 90 days
        "main_channel": "app",
    }
    assert profiles.of("habits", *want) == want


@pytest.mark.parametrize(
    ("hour", "daypart"),
    [(5, "night"), (6, "morning"), (12, "afternoon"), (17, "afternoon"), (18, "evening")],
)
def test_daypart_band_edges(profiles, hour: int, daypart: str) -> None:
    """A band's edge belongs to the band above it."""
    want = {"active_hour": hour, "active_daypart": daypart}
    assert profiles.of(f"at_{hour:02d}", *want) == want


def test_mode_tie_takes_the_smaller_hour(profiles) -> None:
    """Two visits at 9h and two at 10h: the tie goes to the smaller key, 9."""
    assert profiles["hour_tie"]["active_hour"] == 9


def test_person_without_visits(profiles) -> None:
    """Counts are 0 and everything else empty, for a registered user with no events and for
    a person who only received messages and coupons."""
    want = {
        **dict.fromkeys(VISITS, 0),
        "orders_7d": 0,
        "orders_30d": 0,
        "orders_90d": 0,
        "orders_120d": 0,
        "orders_365d": 0,
        "orders_total": 0,
        "product_views_30d": 0,
        "product_views_90d": 0,
        "searches_30d": 0,
        "cart_adds_30d": 0,
        "carted_products_90d": 0,
        "ordered_products_90d": 0,
        "first_visit_at": None,
        "last_visit_at": None,
        "days_since_last_visit": None,
        "first_order_at": None,
        "last_order_at": None,
        "days_since_last_order": None,
        "purchase_cycle_days": None,
        "view_to_order_rate_90d": None,
        "search_keywords": None,
        "active_hour": None,
        "active_weekday": None,
        "active_daypart": None,
        "weekend_share": None,
        "main_device": None,
        "main_channel": None,
    }
    assert profiles.of("empty", *want) == want
    assert profiles.of("messages_only", *want) == want


def test_abandonment_is_empty_without_cart_adds(profiles) -> None:
    """The description: 'empty without cart adds'."""
    assert profiles["orders"]["carted_products_90d"] == 0
    assert profiles["orders"]["cart_abandonment_rate"] is None
    assert profiles["empty"]["cart_abandonment_rate"] is None


def test_local_time_in_the_shop_time_zone(new_shop) -> None:
    """In Asia/Shanghai (UTC+8) the build date starts at 2025-03-31T16:00Z, hours and weekdays
    are local, and the 7-day window starts at local midnight of Mar 25 (2025-03-24T16:00Z)."""
    shop = new_shop(timezone="Asia/Shanghai")
    for ts in (
        "2025-03-30T17:00:00Z",  # Mon Mar 31, 01:00 local
        "2025-03-30T17:30:00Z",  # Mon Mar 31, 01:30
        "2025-03-29T10:00:00Z",  # Sat Mar 29, 18:00
        "2025-03-24T16:00:00Z",  # Tue Mar 25, 00:00: the first second of the 7-day window
        "2025-03-24T15:59:59Z",  # Mon Mar 24, 23:59:59
        "2025-03-31T16:00:00Z",  # Tue Apr 1, 00:00: the build date, never counts
    ):
        shop.event("sh", "page_view", ts)
    got = shop.build("behaviour")["sh"]
    want = {
        "visits_7d": 3,  # Mar 25, 29, 31 (local days)
        "visits_30d": 4,
        "active_hour": 1,
        "active_daypart": "night",
        "active_weekday": 0,  # Monday three times
        "weekend_share": 0.2,
        "first_visit_at": datetime(2025, 3, 24, 15, 59, 59, tzinfo=UTC),
        "last_visit_at": datetime(2025, 3, 30, 17, 30, tzinfo=UTC),
        "days_since_last_visit": 0,  # 22.5 hours before local midnight
    }
    assert {k: got[k] for k in want} == want


def test_window_starts_at_local_midnight_across_a_dst_change(new_shop) -> None:
    """Europe/London moves from UTC+0 to UTC+1 on 2025-03-30: the build date starts at
    2025-03-31T23:00Z and the 30-day window at local midnight of Mar 2 (2025-03-02T00:00Z)."""
    shop = new_shop(timezone="Europe/London")
    for ts in (
        "2025-03-01T23:30:00Z",  # Mar 1, 23:30 local: 31 days before, outside
        "2025-03-02T00:00:00Z",  # Mar 2, 00:00 local: the first second of the window
        "2025-03-31T22:59:59Z",  # Mar 31, 23:59:59 local (BST)
        "2025-03-31T23:00:00Z",  # Apr 1, 00:00 local: the build date
    ):
        shop.event("london", "product_view", ts, product_id="p1")
    got = shop.build("behaviour")["london"]
    assert {"product_views_30d": got["product_views_30d"], "visits_30d": got["visits_30d"]} == {
        "product_views_30d": 2,
        "visits_30d": 2,
    }
