"""Preference tags (catalog/preference.yaml): price level, product attributes, promotions.

Build date 2025-04-01 (UTC); every preference window is 365 days (from 2024-04-01). The price
index of a product is its list price over the mean list price of its level-2 category.
"""

from __future__ import annotations

import pytest

PRODUCTS = {
    # id: (category_l2, list price, colour, style, material, brand, launched)
    "d1": ("Dresses", 100.0, "red", "casual", "cotton", "Alpha", "2025-03-01"),  # index 0.5
    "d2": ("Dresses", 300.0, "blue", "formal", "silk", "Beta", "2024-01-01"),  # 1.5
    "t1": ("Tops", 50.0, "red", "casual", "linen", "Alpha", "2025-02-18"),  # 0.5
    "t2": ("Tops", 150.0, "black", "formal", "cotton", "Alpha", "2024-09-01"),  # 1.5
    "b1": ("Bags", 80.0, None, None, None, "Gamma", "2024-01-01"),  # 0.8
    "b2": ("Bags", 125.0, None, None, None, "Gamma", "2024-01-01"),  # 1.25
    "b3": ("Bags", 95.0, None, None, None, "Gamma", "2024-01-01"),  # 0.95
    "plain": ("Misc", 10.0, None, None, None, None, "2024-01-01"),  # no brand
    "u1": (None, 10.0, None, None, None, "Delta", "2024-01-01"),  # no level-2 category
    "u2": (None, 30.0, None, None, None, "Delta", "2024-01-01"),
}


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    for pid, (l2, price, colour, style, material, brand, launched) in PRODUCTS.items():
        shop.product(
            pid,
            category_l1="Fashion",
            category_l2=l2,
            price=price,
            colour=colour,
            style=style,
            material=material,
            brand=brand,
            launched_at=launched,
        )
    # r1: four order lines and 5 units in the year
    shop.order("r1", "2025-03-10T00:00:00Z", "o1", "d1", quantity=2, price=80.0, discount=20.0)
    shop.order("r1", "2025-03-20T00:00:00Z", "o2", "t1", price=50.0, coupon_id="C1")
    shop.order("r1", "2024-12-01T00:00:00Z", "o3", "d2", price=300.0)
    shop.order("r1", "2024-11-01T00:00:00Z", "o4", "t2", price=150.0)
    shop.order("r1", "2024-03-31T23:59:59Z", "old", "t2", quantity=10, price=150.0)
    shop.order("r1", "2025-04-01T00:00:00Z", "new", "d2", quantity=7, price=300.0)
    shop.event("r1", "add_to_cart", "2025-03-09T10:00:00Z", product_id="d1", quantity=1)
    shop.event("r1", "product_view", "2025-03-05T10:00:00Z", product_id="d2")
    shop.event("r1", "product_view", "2025-03-06T10:00:00Z", product_id="d2")
    shop.event("r1", "product_view", "2024-03-31T23:59:59Z", product_id="t2")

    shop.order("budget", "2025-03-15T00:00:00Z", "o5", "d1", price=100.0)
    shop.order("mid_edge", "2025-03-15T00:00:00Z", "o6", "b1", price=80.0)
    shop.order("premium_edge", "2025-03-15T00:00:00Z", "o7", "b2", price=125.0)
    shop.order("uncategorised", "2025-03-15T00:00:00Z", "o8", "u1", price=10.0)
    shop.order("unbranded", "2025-03-15T00:00:00Z", "o9", "d1", price=100.0)
    shop.order("unbranded", "2025-03-15T00:00:00Z", "o9", "plain", quantity=3, price=10.0)
    shop.user("empty")
    return shop.build("preference")


def top(*pairs):
    return [{"key": k, "weight": w} for k, w in pairs]


def test_price_and_promotion_shares(profiles) -> None:
    want = {
        "avg_item_price": 145.0,  # (80 + 50 + 300 + 150) / 4 lines
        "avg_price_index": 1.0,  # (0.5 + 0.5 + 1.5 + 1.5) / 4
        "price_band": "mid",
        "items_bought_365d": 5,
        "discount_share": 0.6,  # 2 discounted units + 1 with a coupon, of 5
        "coupon_order_share": 0.25,  # 1 line of 4
        # d1 was 9 days on sale, t1 exactly 30 days (still new): 3 units of 5
        "new_arrival_share": 0.6,
        "brand_concentration": 0.8,  # Alpha: 2 + 1 + 1 units of 5
    }
    assert profiles.of("r1", *want) == want


def test_attribute_preferences(profiles) -> None:
    """Views, cart adds and order lines of the year: red 3 (2 lines, 1 cart add), blue 3
    (2 views, 1 line), black 1; a view a second before the year does not count."""
    row = profiles["r1"]
    assert row["top_colours"] == top(("blue", 0.428571), ("red", 0.428571), ("black", 0.142857))
    assert row["top_styles"] == top(("formal", 0.571429), ("casual", 0.428571))
    assert row["top_materials"] == top(
        ("cotton", 0.428571), ("silk", 0.428571), ("linen", 0.142857)
    )
    assert row["favourite_colour"] == "red"  # cart adds and lines only: red 3, blue 1, black 1


@pytest.mark.parametrize(
    ("person", "index", "band"),
    [("budget", 0.5, "budget"), ("mid_edge", 0.8, "mid"), ("premium_edge", 1.25, "premium")],
)
def test_price_band_edges(profiles, person: str, index: float, band: str) -> None:
    assert profiles.of(person, "avg_price_index", "price_band") == {
        "avg_price_index": index,
        "price_band": band,
    }


def test_single_full_price_line(profiles) -> None:
    want = {
        "discount_share": 0.0,
        "coupon_order_share": 0.0,
        "new_arrival_share": 1.0,  # d1, 14 days on sale
        "brand_concentration": 1.0,
        "items_bought_365d": 1,
    }
    assert profiles.of("budget", *want) == want


def test_no_orders_is_empty(profiles) -> None:
    want = {
        "avg_item_price": None,
        "avg_price_index": None,
        "price_band": None,
        "discount_share": None,
        "coupon_order_share": None,
        "new_arrival_share": None,
        "brand_concentration": None,
        "items_bought_365d": 0,
        "top_colours": None,
        "top_styles": None,
        "top_materials": None,
        "favourite_colour": None,
    }
    assert profiles.of("empty", *want) == want


def test_no_price_index_without_a_category(profiles) -> None:
    want = {"avg_price_index": None, "price_band": None}
    assert profiles.of("uncategorised", *want) == want


def test_brand_concentration_counts_every_unit(profiles) -> None:
    """'Share of the units bought ... that went to the most bought brand': 1 of 4."""
    assert profiles["unbranded"]["brand_concentration"] == 0.25
