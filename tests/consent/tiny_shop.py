"""A tiny hand-made shop for the consent tests: ten users with e-mails who each bought three of
six products over a month, u8 merged into u9 (one person, two user ids), built and with the
recommender trained; one saved segment of everyone and one e-mail campaign draft over it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from portrait.workspace import Workspace

USERS = [f"u{i}" for i in range(10)]
PRODUCTS = [f"p{i}" for i in range(1, 7)]
AS_OF = "2025-02-01"
SEGMENT = "everyone"


def records() -> tuple[list[dict], list[dict], list[dict]]:
    users = [{"user_id": u, "email": f"{u}@example.com", "language": "en", "name": u.upper()}
             for u in USERS]  # fmt: skip
    products = [{"product_id": p, "title": f"Product {p}", "category_l1": f"c{i % 3}"}
                for i, p in enumerate(PRODUCTS)]  # fmt: skip
    start = date(2025, 1, 1)
    events = []
    for i, u in enumerate(USERS):
        for n in range(3):
            day = start + timedelta(days=(i * 3 + n * 7) % 28)
            order = f"o{i}-{n}"
            events.append(
                {"event_id": order, "user_id": u, "type": "order", "order_id": order,
                 "ts": f"{day.isoformat()}T12:00:00Z", "product_id": PRODUCTS[(i + n * 2) % 6],
                 "quantity": 1, "price": 10.0 + n}
            )  # fmt: skip
    return users, products, events


def make_shop(root: Path) -> Path:
    """The shop at ``root`` (closed); returns ``root``."""
    users, products, events = records()
    with Workspace.init(root) as ws:
        ws.ingest_records(users, kind="users")
        ws.ingest_records(products, kind="products")
        ws.ingest_records(events, timezone="UTC")
        ws.merge_users("u8", "u9", "the same customer")
        ws.build(as_of=AS_OF)
        ws.recs.train()
        ws.segments.create(SEGMENT, "total_spend > 0")
    return root


def campaign(name: str) -> dict:
    return {
        "name": name, "segment": SEGMENT, "channel": "email", "control_share": 0.0,
        "caps": {"max_messages": 100, "per_days": 1},
        "schedule": {"quiet_hours": {"start": 0, "end": 0}},
        "variants": [{"name": "a", "message": {"subject": {"en": "hi"},
                                               "body": {"en": "hi {{ name }}"}}}],
    }  # fmt: skip
