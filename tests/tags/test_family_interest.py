"""Interest tags (catalog/interest.yaml): top-N categories and brands, with shares.

Build date 2025-04-01 (UTC): the 90-day window starts 2025-01-01, the 365-day one 2024-04-01.
A top-N weight is the key's share of all the person's rows (or units) with a known key;
equal weights are ordered by key.
"""

from __future__ import annotations

import pytest

PRODUCTS = {
    # id: (category_l1, category_l2, brand)
    "dress": ("Apparel", "Dresses", "Zeta"),
    "top": ("Apparel", "Tops", "Alpha"),
    "sneaker": ("Shoes", "Sneakers", "Alpha"),
    "cream": ("Beauty", "Skincare", "Beta"),
    "pan": ("Home", "Kitchen", "Gamma"),
}


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    for pid, (l1, l2, brand) in PRODUCTS.items():
        shop.product(pid, category_l1=l1, category_l2=l2, brand=brand, price=10.0)
    shop.product("unknown")  # no category, no brand

    # In the last 90 days
    for pid in ("dress", "dress", "sneaker", "cream", "pan", "unknown"):
        shop.event("i1", "product_view", "2025-03-10T10:00:00Z", product_id=pid)
    shop.event("i1", "add_to_cart", "2025-03-11T10:00:00Z", product_id="sneaker", quantity=1)
    shop.order("i1", "2025-03-12T10:00:00Z", "o1", "sneaker", quantity=3)
    shop.order("i1", "2025-03-12T10:00:00Z", "o1", "top", quantity=1)
    shop.event("i1", "like", "2025-03-13T10:00:00Z", product_id="cream")
    shop.event("i1", "share", "2025-03-14T10:00:00Z", product_id="pan")
    shop.event("i1", "search", "2025-03-14T10:00:00Z", query="pan")  # not an engagement
    # Before the 90-day window, in the 365-day one
    shop.event("i1", "product_view", "2024-12-31T23:59:59Z", product_id="cream")
    shop.event("i1", "like", "2024-06-01T10:00:00Z", product_id="dress")
    shop.order("i1", "2024-05-01T10:00:00Z", "o0", "pan", quantity=2)
    # Before the 365-day window, and on the build date
    shop.order("i1", "2024-03-31T23:59:59Z", "old", "cream", quantity=5)
    shop.order("i1", "2025-04-01T00:00:00Z", "new", "cream", quantity=9)
    shop.event("i1", "product_view", "2025-04-01T00:00:00Z", product_id="cream")

    shop.event("unknown_only", "product_view", "2025-03-10T10:00:00Z", product_id="unknown")
    shop.user("empty")
    return shop.build("interest")


def top(*pairs):
    return [{"key": k, "weight": w} for k, w in pairs]


def test_category_affinity_and_favourite(profiles) -> None:
    """Views, cart adds, order lines, likes and shares: Apparel 3 (2 views, 1 line), Shoes 3
    (view, cart, line), Beauty 2 (view, like), Home 2 (view, share) of 10 rows."""
    row = profiles["i1"]
    assert row["category_affinity"] == top(("Apparel", 0.3), ("Shoes", 0.3), ("Beauty", 0.2))
    assert row["favourite_category"] == "Apparel"  # ties with Shoes, first by name


def test_categories_viewed_bought_and_subcategories(profiles) -> None:
    row = profiles["i1"]
    # 5 views with a category: Apparel 2; Beauty, Home and Shoes 1 each
    assert row["top_categories_viewed"] == top(("Apparel", 0.4), ("Beauty", 0.2), ("Home", 0.2))
    # units in 365 days: Shoes 3, Home 2, Apparel 1
    assert row["top_categories_bought"] == top(
        ("Shoes", 0.5), ("Home", 0.333333), ("Apparel", 0.166667)
    )
    # views, cart adds and lines: Sneakers 3, Dresses 2, Kitchen, Skincare, Tops 1 (of 8)
    assert row["top_subcategories"] == top(
        ("Sneakers", 0.375), ("Dresses", 0.25), ("Kitchen", 0.125), ("Skincare", 0.125),
        ("Tops", 0.125),
    )  # fmt: skip
    assert row["category_breadth"] == 3  # Shoes, Apparel, Home; not the old Beauty order


def test_brands(profiles) -> None:
    row = profiles["i1"]
    assert row["top_brands_viewed"] == top(
        ("Zeta", 0.4), ("Alpha", 0.2), ("Beta", 0.2), ("Gamma", 0.2)
    )
    assert row["top_brands_bought"] == top(("Alpha", 0.666667), ("Gamma", 0.333333))
    assert row["favourite_brand"] == "Alpha"  # 4 units (3 sneakers, 1 top)


def test_liked_categories_over_a_year(profiles) -> None:
    assert profiles["i1"]["liked_categories"] == top(("Apparel", 0.5), ("Beauty", 0.5))


def test_no_known_key_and_no_events_are_empty(profiles) -> None:
    tags = (
        "category_affinity",
        "top_categories_viewed",
        "top_categories_bought",
        "top_subcategories",
        "favourite_category",
        "top_brands_viewed",
        "top_brands_bought",
        "favourite_brand",
        "liked_categories",
    )
    want = {**dict.fromkeys(tags), "category_breadth": 0}
    assert profiles.of("unknown_only", *want) == want
    assert profiles.of("empty", *want) == want
