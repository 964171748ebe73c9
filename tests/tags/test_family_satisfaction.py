"""Satisfaction tags (catalog/satisfaction.yaml): reviews and ratings, all before the build date.

Build date 2025-04-01 (UTC). The level bands the average rating at 3 and 4 (an edge belongs
to the band above): unhappy below 3, neutral below 4, happy from 4.
"""

from __future__ import annotations

import pytest

RATINGS = {
    "mixed": [5, 4, 4, 3],
    "neutral_edge": [3],
    "happy_edge": [5, 3],
    "unhappy": [2, 3, 2],
}


@pytest.fixture(scope="module")
def profiles(new_shop):
    shop = new_shop()
    for person, ratings in RATINGS.items():
        for day, rating in enumerate(ratings, 1):
            ts = f"2025-03-{day:02d}T10:00:00Z"
            shop.event(person, "review", ts, product_id="p1", rating=rating, text="ok")
    shop.event("mixed", "review", "2023-05-01T10:00:00Z", product_id="p1", rating=1)  # counts
    shop.event("mixed", "review", "2025-04-01T00:00:00Z", product_id="p1", rating=1)  # never
    shop.user("empty")
    return shop.build("satisfaction")


def test_all_reviews_before_the_build_date_count(profiles) -> None:
    want = {
        "reviews_total": 5,  # 5, 4, 4, 3 and the 1 from 2023
        "avg_rating": 3.4,
        "low_rating_share": 0.2,
        "satisfaction_level": "neutral",
        "review_sentiment": None,  # a model tag
    }
    assert profiles.of("mixed", *want) == want


@pytest.mark.parametrize(
    ("person", "avg", "low", "level"),
    [
        ("neutral_edge", 3.0, 0.0, "neutral"),
        ("happy_edge", 4.0, 0.0, "happy"),
        ("unhappy", 2.333333, 0.666667, "unhappy"),
    ],
)
def test_satisfaction_level_edges(profiles, person: str, avg: float, low: float, level: str):
    want = {"avg_rating": avg, "low_rating_share": low, "satisfaction_level": level}
    assert profiles.of(person, *want) == want


def test_no_reviews(profiles) -> None:
    want = {
        "reviews_total": 0,
        "avg_rating": None,
        "low_rating_share": None,
        "satisfaction_level": None,
    }
    assert profiles.of("empty", *want) == want
