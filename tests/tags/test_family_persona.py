"""Persona tags (catalog/persona.yaml): rules over the preference shares, with evidence.

A persona needs at least 3 units bought in the last 365 days (fewer: empty). Thresholds:
discount_share >= 0.5 (price-sensitive), brand_concentration >= 0.5 (brand-loyal),
new_arrival_share >= 0.3 (trend-seeker). main_persona takes the first that applies in the order
potential customer, brand-loyal, trend-seeker, price-sensitive, else regular.
"""

from __future__ import annotations

import pytest

PERSONAS = ("price_sensitive", "brand_loyal", "trend_seeker", "potential_customer", "main_persona")
# person: order lines (product, units, discounted) -> expected values of PERSONAS
CASES = {
    "thin": ([("n", 2, True)], (None, None, None, False, "regular")),
    "price": (
        [("a", 1, True), ("b", 1, True), ("c", 1, False), ("d", 1, False)],
        (True, False, False, False, "price_sensitive"),  # discounts 2/4, top brand 1/4
    ),
    "loyal": (
        [("a", 2, True), ("b", 1, True), ("c", 1, True)],
        (True, True, False, False, "brand_loyal"),  # brand A 2/4; brand-loyal comes first
    ),
    "trend": (
        [("n", 3, False), ("a", 4, False), ("b", 3, False)],
        (False, False, True, False, "trend_seeker"),  # new 3/10, top brand 4/10
    ),
    "trend_below": (
        [("n", 2, False), ("a", 4, False), ("b", 4, False)],
        (False, False, False, False, "regular"),  # new 2/10
    ),
    "three_units": ([("a", 3, False)], (False, True, False, False, "brand_loyal")),
    "regular": (
        [("a", 1, False), ("b", 1, False), ("c", 1, False)],
        (False, False, False, False, "regular"),  # top brand 1/3
    ),
}


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    for pid, brand in (("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")):
        shop.product(pid, brand=brand, price=10.0, launched_at="2024-01-01T00:00:00Z")
    shop.product("n", brand="N", price=10.0, launched_at="2025-03-01T00:00:00Z")
    for person, (lines, _) in CASES.items():
        for product, units, discounted in lines:
            shop.order(
                person,
                "2025-03-20T10:00:00Z",  # product n is 19 days on sale: a new arrival
                f"{person}-1",
                product,
                quantity=units,
                price=10.0,
                discount=2.0 if discounted else None,
            )
    shop.user("registered", registered_at="2025-01-01T00:00:00Z")
    shop.event("registered", "product_view", "2025-03-20T10:00:00Z", product_id="a")
    shop.event("visitor", "product_view", "2025-03-20T10:00:00Z", product_id="a")
    return shop.build("persona")


@pytest.mark.parametrize("person", list(CASES))
def test_personas_of_buyers(profiles, person: str) -> None:
    want = dict(zip(PERSONAS, CASES[person][1], strict=True))
    assert profiles.of(person, *PERSONAS) == want


def test_potential_customer_is_registered_and_never_bought(profiles) -> None:
    want = dict(zip(PERSONAS, (None, None, None, True, "potential_customer"), strict=True))
    assert profiles.of("registered", *PERSONAS) == want
    want = dict(zip(PERSONAS, (None, None, None, False, "regular"), strict=True))
    assert profiles.of("visitor", *PERSONAS) == want  # no user record: not registered
