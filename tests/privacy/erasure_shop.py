"""A small hand-made shop where one person, Alice, is everywhere erasure must reach: two user
ids merged into one person plus a device id, profile snapshots of two builds, segment
memberships, model scores, a campaign (assigned, sent, converted), the recommender's saved
state and a quarantined record (tests export a segment outside the workspace themselves).
Made once per test module under ``base`` and copied per test (a copy takes milliseconds)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from portrait.campaigns.channels import OutgoingMessage
from portrait.store.models import replace_scores
from portrait.workspace import Workspace

ALICE = "alice-7f3a9c01"  # her first user id (the person's canonical id)
ALICE_WORK = "alice-work-55e1b2"  # a second account, merged into hers
ALICE_DEVICE = "dev-alice-91b2c3"  # the browser she used before logging in
ALICE_PHONE = "+86 139-0271-6654"
ALICE_IDS = (ALICE, ALICE_WORK, ALICE_DEVICE)
OTHERS = [f"u{i:03d}" for i in range(40)]
T0 = datetime(2025, 3, 20, 9, tzinfo=UTC)  # the campaign's enrolment
AS_OF = datetime(2025, 4, 20, tzinfo=UTC)  # reports are read as of this moment


class InApp:
    """An in-app channel that accepts every message (no server needed)."""

    name, idempotent = "in_app", True

    def send(self, message: OutgoingMessage) -> str:
        return message.key_hash


def _events() -> list[dict]:
    rows: list[dict] = []
    day = datetime(2025, 3, 1, 10, tzinfo=UTC)
    for i, user in enumerate(OTHERS):
        for k in range(3):
            at = day + timedelta(days=(i + 5 * k) % 30, hours=k)
            product = f"p{(i + k) % 8}"
            rows.append({"event_id": f"v-{user}-{k}", "user_id": user, "type": "product_view",
                         "product_id": product, "ts": at.isoformat()})  # fmt: skip
            paid = (at + timedelta(minutes=5)).isoformat()
            rows.append({"event_id": f"o-{user}-{k}", "user_id": user, "type": "order",
                         "order_id": f"ord-{user}-{k}", "product_id": product, "quantity": 1,
                         "price": 20.0 + k, "ts": paid})  # fmt: skip
    alice = [
        (ALICE_DEVICE, None, "product_view", "p1", day),
        (ALICE_DEVICE, ALICE, "login", None, day + timedelta(minutes=3)),
        (None, ALICE, "order", "p1", day + timedelta(minutes=9)),
        (None, ALICE_WORK, "order", "p2", day + timedelta(days=4)),
        (None, ALICE, "order", "p3", T0 + timedelta(days=3)),  # converts after the send
        (ALICE_DEVICE, None, "product_view", "p4", T0 + timedelta(days=5)),
    ]
    for n, (device, user, kind, product, at) in enumerate(alice):
        row = {"event_id": f"alice-event-{n}", "type": kind, "ts": at.isoformat()}
        row |= {"anonymous_id": device} if device else {}
        row |= {"user_id": user} if user else {}
        if kind == "order":
            row |= {"order_id": f"alice-order-{n}", "product_id": product, "quantity": 1,
                    "price": 88.0}  # fmt: skip
        elif product:
            row["product_id"] = product
        rows.append(row)
    return rows


def build_shop(root: Path) -> None:
    ws = Workspace.init(root)
    try:
        users = [{"user_id": u, "registered_at": "2025-01-05"} for u in OTHERS]
        users += [
            {"user_id": ALICE, "phone": ALICE_PHONE, "email": "alice.erase@example.com",
             "name": "Alice Erasure", "registered_at": "2025-01-02"},
            {"user_id": ALICE_WORK, "email": "alice.work@example.com",
             "registered_at": "2025-02-02"},
        ]  # fmt: skip
        ws.ingest_records(users, kind="users")
        ws.ingest_records(_events())
        # a record of hers rejected (no type): quarantined, sealed, found by pseudonym
        ws.ingest_records([{"event_id": "alice-bad", "user_id": ALICE, "ts": "2025-03-02"}])
        ws.merge_users(ALICE, ALICE_WORK, reason="same person, two accounts")
        ws.build(as_of="2025-03-15")
        ws.build(as_of="2025-04-15")
        ws.segments.create("buyers", "total_spend > 0")
        persons = [ALICE, *OTHERS]
        replace_scores(ws.warehouse, "churn", pa.array(persons),
                       {"churn_probability": ["0.5"] * len(persons)}, AS_OF)  # fmt: skip
        ws.campaigns.channels["in_app"] = InApp()
        ws.campaigns.create({
            "name": "spring", "trigger": {"type": "win_back"}, "channel": "in_app",
            "control_share": 0.25, "goal": {"attribution_days": 14},
            "schedule": {"quiet_hours": {"start": 0, "end": 0}},
            "variants": [{"name": "offer", "message": {"body": {"en": "10% off"}}}],
        })  # fmt: skip
        ws.campaigns.launch("spring", now=T0)
        ws.campaigns.enroll("spring", [(p, None) for p in persons], "test", T0)
        ws.campaigns.dispatch(now=T0 + timedelta(hours=2))
        ws.recs.train()
    finally:
        ws.close()


_made: dict[Path, Path] = {}


def erasure_shop(base: Path, dest: Path) -> Path:
    """A private copy of the shop at ``dest`` (the shop is made once under ``base``)."""
    if base not in _made:
        build_shop(base / "shop")
        _made[base] = base / "shop"
    shutil.copytree(_made[base], dest)
    return dest
