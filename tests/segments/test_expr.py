"""Segment expressions: what parses into what, and the errors for what does not fit."""

from __future__ import annotations

from functools import cache

import pytest

from portrait.segments.expr import SegmentExpressionError, conditions
from portrait.segments.parse import parse_segment
from portrait.tags.catalog import Catalog, load_catalog
from portrait.tags.model import TagDef


@cache
def catalog() -> Catalog:
    return load_catalog()


@cache
def tags() -> dict[str, TagDef]:
    """The catalog, and a date tag that is not personal data (birth_date is: sealed, refused)."""
    day = catalog().get("birth_date").model_copy(update={"id": "first_visit_day", "pii": False})
    return {**catalog().by_id, day.id: day}


def parse(text: str) -> str:
    return str(parse_segment(text, tags()))


def error(text: str) -> str:
    with pytest.raises(SegmentExpressionError) as e:
        parse_segment(text, tags())
    return str(e.value)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        (
            "gender = 'F' AND rfm_segment IN ('champions','loyal') AND days_since_last_order <= 30"
            " AND 'beauty' IN category_affinity",
            "gender = 'F' AND rfm_segment IN ('champions', 'loyal') AND "
            "days_since_last_order <= 30 AND 'beauty' IN category_affinity",
        ),
        ("NOT (orders_30d > 0)", "orders_30d <= 0"),
        ("NOT (gender = 'F' AND price_sensitive)", "gender != 'F' OR price_sensitive = FALSE"),
        ("orders_total NOT BETWEEN 1 AND 3", "orders_total < 1 OR orders_total > 3"),
        ("NOT orders_total BETWEEN 1 AND 3", "orders_total < 1 OR orders_total > 3"),
        ("30 >= days_since_last_order", "days_since_last_order <= 30"),
        ("Gender <> 'M'", "gender != 'M'"),
        ("'toys' NOT IN category_affinity", "'toys' NOT IN category_affinity"),
        ("NOT (city IS NULL)", "city IS NOT NULL"),
        ("brand_loyal IS NOT TRUE", "brand_loyal = FALSE OR brand_loyal IS NULL"),
        ("total_spend > -2.5e2", "total_spend > -250.0"),
        ("registered_at >= '2025-01-01'", "registered_at >= '2025-01-01T00:00:00+00:00'"),
        (
            "registered_at < '2025-01-01T08:00:00+08:00'",
            "registered_at < '2025-01-01T00:00:00+00:00'",
        ),
        ("first_visit_day < DATE '2000-01-01'", "first_visit_day < '2000-01-01'"),
        ("city NOT LIKE 'Sh%'", "city NOT LIKE 'Sh%'"),
        ("(((gender = 'F')))", "gender = 'F'"),
    ],
)
def test_parses_to(text: str, normalized: str) -> None:
    assert parse(text) == normalized
    assert parse(normalized) == normalized  # the normalized form reads back to itself


def test_and_or_flatten_and_not_pushes_down() -> None:
    node = parse_segment(
        "NOT (gender = 'F' OR (orders_30d > 1 AND orders_30d < 5))", catalog().by_id
    )
    assert [str(c) for c in conditions(node)] == [
        "gender != 'F'", "orders_30d <= 1", "orders_30d >= 5",
    ]  # fmt: skip
    assert str(node) == "gender != 'F' AND (orders_30d <= 1 OR orders_30d >= 5)"


def test_unknown_tag_names_it_and_the_closest() -> None:
    msg = error("gendr = 'F'")
    assert "unknown tag 'gendr'" in msg and "gender" in msg and "portrait tags list" in msg
    msg = error("'beauty' IN top_categories")
    assert "'top_categories'" in msg
    assert "top_categories_viewed" in msg and "top_categories_bought" in msg


def test_bad_enum_value_names_the_closest_and_the_values() -> None:
    msg = error("rfm_segment IN ('champion', 'loyal')")
    assert "rfm_segment has no value 'champion'" in msg
    assert "did you mean 'champions'" in msg and "at_risk" in msg
    msg = error("lifecycle_stage = 'zzz'")
    assert "no value 'zzz'." in msg and "prospect, new, won_back" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gender < 'F'", "< does not apply to gender (an enum tag"),
        ("city >= 'A'", ">= does not apply to city (a text tag"),
        ("category_affinity = 'beauty'", "'beauty' IN category_affinity"),
        ("category_affinity IN ('beauty')", "top-N list of keys"),
        ("'F' IN gender", "write gender = 'F'"),
        ("orders_total = 'three'", "orders_total is a number (int); compare it with a number"),
        ("price_sensitive = 1", "price_sensitive is a yes/no tag; compare it with TRUE or FALSE"),
        ("orders_total", "orders_total is an integer tag, not a yes/no one"),
        ('gender = "F"', "double quotes"),
        ("orders_total = NULL", "write orders_total IS NULL"),
        ("gender IN ('F', NULL)", "NULL in an IN list never matches"),
        ("orders_total > orders_30d", "compare a tag with a value, not with another tag"),
        ("gender = F", "F is not a tag; write text values in single quotes: gender = 'F'"),
        ("gender BETWEEN 'A' AND 'G'", "BETWEEN applies to numbers, dates and times"),
        ("total_spend LIKE '1%'", "LIKE matches text; total_spend is a number tag"),
        ("registered_at > 'yesterday'", "'yesterday' is not a date or time for registered_at"),
        ("first_visit_day > 5", "first_visit_day is a date; compare it with a quoted ISO date"),
        ("birth_date < DATE '2000-01-01'", "birth_date is personal data stored encrypted"),
        ("age > 30 OR birth_date IS NULL", "segment on age or age_band instead"),
        ("p.gender = 'F'", "write tag names alone"),
        ("gender = 'F' AND", "cannot read the segment expression"),
        ("gender = 'F' ORDER BY age", "cannot read the segment expression"),
        ("gender = 'F'; DROP TABLE users", "cannot read the segment expression"),
        ("gender = 'F", "is a quote not closed"),
        ("orders_total + 1 > 2", "expected a tag name"),
        ("gender = (SELECT 'F')", "takes text"),
        ("TRUE", "a segment needs a condition on a tag"),
        ("upper(city) = 'X'", "expected a tag name in"),
        ("upper(city)", "is not a condition this language has"),
        ("", "the segment expression is empty"),
    ],
)
def test_errors_say_what_to_write(text: str, expected: str) -> None:
    assert expected in error(text)
