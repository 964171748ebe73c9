"""The canonical model: documented, event types complete, PII marked (the warehouse that holds
it is tested in tests/store/test_migrations.py)."""

from __future__ import annotations

from pathlib import Path

from portrait.schema import CANONICAL, EVENT_TYPES, REQUIRED_BY_TYPE, describe_markdown

DOC = Path(__file__).parents[2] / "docs" / "data-model.md"

REQUIRED_TYPES = {
    "page_view",
    "search",
    "product_view",
    "click",
    "add_to_cart",
    "remove_from_cart",
    "order",
    "payment",
    "refund",
    "review",
    "share",
    "like",
    "follow",
    "invite",
    "login",
    "register",
    "coupon_received",
    "coupon_used",
    "message_sent",
    "message_opened",
    "message_clicked",
    "survey_answer",
}


def test_docs_match_the_declared_model():
    assert DOC.read_text(encoding="utf-8") == describe_markdown(), (
        "docs/data-model.md is stale: regenerate it with "
        "python -c 'from portrait.schema import describe_markdown as d; "
        'open("docs/data-model.md", "w").write(d())\''
    )


def test_event_types_cover_the_product_spec():
    assert set(EVENT_TYPES) >= REQUIRED_TYPES
    assert set(REQUIRED_BY_TYPE) <= set(EVENT_TYPES)


def test_pii_columns_are_marked():
    assert set(CANONICAL["users"].pii_columns) == {"phone", "email", "name", "address"}
