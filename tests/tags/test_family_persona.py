"""Persona tags (catalog/persona.yaml): rules over the preference shares, with evidence.

A persona is judged over the orders of the last 365 days and is empty with too few of them:
price-sensitive and trend-seeker need 3 orders, brand-loyal 4. Thresholds: discount_share >=
0.7 (price-sensitive), brand_concentration >= 0.65 (brand-loyal), new_arrival_share >= 0.5
(trend-seeker). main_persona takes the first that applies in the order potential customer,
brand-loyal, trend-seeker, price-sensitive, else regular.
"""

from __future__ import annotations

import pytest

PERSONAS = ("price_sensitive", "brand_loyal", "trend_seeker", "potential_customer", "main_persona")
# person: orders, each a list of lines (product, units, discounted) -> expected PERSONAS
CASES = {
    "thin": ([[("n", 2, True)], [("n", 1, True)]], (None, None, None, False, "regular")),
    "price": (
        [[("a", 1, True)], [("b", 1, True)], [("c", 1, True)], [("d", 1, False)]],
        (True, False, False, False, "price_sensitive"),  # discounts 3/4, top brand 1/4
    ),
    "price_below": (
        [[("a", 1, True)], [("b", 1, True)], [("c", 1, False)]],
        (False, None, False, False, "regular"),  # discounts 2/3; 3 orders: no brand verdict
    ),
    "loyal": (
        [[("a", 2, True)], [("a", 1, False)], [("a", 1, True)], [("b", 1, False)]],
        (False, True, False, False, "brand_loyal"),  # brand A 4/5, discounts 3/5
    ),
    "loyal_below": (
        [
            [("a", 1, False)],
            [("a", 1, False)],
            [("a", 1, False)],
            [("b", 1, False), ("c", 1, False)],
        ],
        (False, False, False, False, "regular"),  # brand A 3/5
    ),
    "trend": (
        [[("n", 1, False)], [("n", 1, False)], [("a", 2, False)]],
        (False, None, True, False, "trend_seeker"),  # new arrivals 2/4
    ),
    "trend_below": (
        [[("n", 1, False)], [("a", 1, False)], [("b", 1, False)]],
        (False, None, False, False, "regular"),  # new arrivals 1/3
    ),
    "all_three": (
        [[("n", 1, True)], [("n", 1, True)], [("n", 1, True)], [("n", 1, True)]],
        (True, True, True, False, "brand_loyal"),  # brand-loyal comes first
    ),
}


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    for pid, brand in (("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")):
        shop.product(pid, brand=brand, price=10.0, launched_at="2024-01-01T00:00:00Z")
    shop.product("n", brand="N", price=10.0, launched_at="2025-03-01T00:00:00Z")
    for person, (orders, _) in CASES.items():
        for k, lines in enumerate(orders):
            for product, units, discounted in lines:
                shop.order(
                    person,
                    f"2025-03-20T1{k}:00:00Z",  # product n is 19 days on sale: a new arrival
                    f"{person}-{k}",
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
