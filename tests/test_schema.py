"""The canonical model: documented, consistent with the warehouse, event types complete."""

from __future__ import annotations

from pathlib import Path

from portrait.schema import CANONICAL, EVENT_TYPES, REQUIRED_BY_TYPE, describe_markdown

DOC = Path(__file__).parents[1] / "docs" / "data-model.md"

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
    assert set(CANONICAL["users"].pii_columns) == {"phone", "email", "name"}


def test_warehouse_tables_have_the_canonical_columns(ws):
    for name, table in CANONICAL.items():
        cols = [r[0] for r in ws.warehouse.fetchall(f"DESCRIBE {name}")]
        assert cols == table.column_names


def test_orders_are_derivable_from_events(ws):
    ws.ingest_records(
        [
            {
                "event_id": f"l{i}",
                "user_id": "u1",
                "ts": "2025-03-01T10:00:00Z",
                "type": "order",
                "order_id": "o1",
                "product_id": f"p{i}",
                "quantity": q,
                "price": p,
            }
            for i, (q, p) in enumerate([(2, 10.0), (1, 5.5)])
        ]
    )
    (order,) = ws.warehouse.fetchall("SELECT order_id, user_id, lines, items, revenue FROM orders")
    assert order == ("o1", "u1", 2, 3, 25.5)
    assert ws.warehouse.fetchall("SELECT count(*) FROM order_lines")[0][0] == 2
