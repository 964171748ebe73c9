"""Triggered journeys on tiny hand-built event sets whose answers are known."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from portrait.campaigns.definition import parse_campaign
from portrait.campaigns.journeys import eligible, run_journeys
from portrait.campaigns.results import Enrolment

AT = datetime(2026, 5, 10, 12, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
_ids = itertools.count()


def add_campaign(ws, name: str, trigger: dict, status: str = "launched", **kw) -> None:
    c = parse_campaign({
        "name": name, "trigger": trigger, "channel": "email", **kw,
        "variants": [{"name": "a", "message": {"body": {"en": "Hi"}}}],
    })  # fmt: skip
    ws.warehouse.execute(
        "INSERT INTO campaigns (name, definition, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [name, c.model_dump_json(), status, AT, AT],
    )


def event(ws, user: str | None, ts: datetime, type_: str, **kw) -> None:
    cols = {"event_id": f"e{next(_ids)}", "user_id": user, "ts": ts, "type": type_, **kw}
    ws.warehouse.execute(
        f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        list(cols.values()),
    )


class Recorder:
    """Stands in for ws.campaigns.enroll and remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, name, persons, source, at):
        self.calls.append((name, sorted(p for p, _ in persons), source, at))
        return Enrolment(
            campaign=name, source=source, persons=len(persons), entered=len(persons),
            already_in=0, reentered=0, arms={}, queued=0, suppressed={}, new_sends=0,
        )  # fmt: skip


def entries(ws, campaign: str) -> list[tuple]:
    return ws.warehouse.fetchall(
        "SELECT person_id, triggered_at FROM journey_entries WHERE campaign = ? ORDER BY 1",
        [campaign],
    )


@pytest.fixture
def carts(ws):
    add_campaign(ws, "cart", {"type": "cart_abandonment", "hours": 24})
    cart = {"product_id": "p1"}
    event(ws, "u1", AT - 30 * H, "add_to_cart", **cart)  # abandoned 30 h ago: enters
    event(ws, "u2", AT - 30 * H, "add_to_cart", **cart)  # followed by an order: no
    event(ws, "u2", AT - 20 * H, "order", order_id="o2", product_id="p1", quantity=1, price=9.0)
    event(ws, "u3", AT - 10 * H, "add_to_cart", **cart)  # within 24 h: not yet due
    event(ws, "u4", AT - 30 * H, "add_to_cart", **cart)  # a newer cart 5 h ago: still shopping
    event(ws, "u4", AT - 5 * H, "add_to_cart", **cart)
    event(ws, "u5", AT - 10 * D, "add_to_cart", **cart)  # too old to be a trigger
    event(ws, "u6", AT - 40 * H, "order", order_id="o6", product_id="p1", quantity=1, price=9.0)
    event(ws, "u6", AT - 30 * H, "add_to_cart", **cart)  # ordered before the cart: enters
    event(ws, "u7", AT - 30 * H, "add_to_cart", **cart)  # orders only after AT: enters
    event(ws, "u7", AT + 1 * H, "order", order_id="o7", product_id="p1", quantity=1, price=9.0)
    event(ws, None, AT - 30 * H, "add_to_cart", anonymous_id="a1", **cart)  # nobody to message
    add_campaign(ws, "draft-cart", {"type": "cart_abandonment"}, status="draft")
    return ws


def test_cart_abandonment(carts):
    enroll = Recorder()
    out = run_journeys(carts.campaigns, at=AT, enroll=enroll)
    (result,) = out.campaigns  # the draft campaign is not run
    assert result.candidates == 3 and result.entering == 3 and result.entered == 3
    assert enroll.calls == [("cart", ["u1", "u6", "u7"], "cart_abandonment", AT)]
    assert entries(carts, "cart") == [
        ("u1", AT - 6 * H), ("u6", AT - 6 * H), ("u7", AT - 6 * H),
    ]  # fmt: skip
    # an hour later nobody new: those three entered already, u3 is due in 13 h
    again = run_journeys(carts.campaigns, at=AT + H, enroll=enroll)
    assert again.campaigns[0].already_entered == 3 and again.entered == 0
    assert len(enroll.calls) == 1
    later = run_journeys(carts.campaigns, at=AT + 15 * H, enroll=enroll)
    assert enroll.calls[-1][1] == ["u3"] and later.entered == 1


def test_dry_run_records_nothing(carts):
    enroll = Recorder()
    out = run_journeys(carts.campaigns, at=AT, dry_run=True, enroll=enroll)
    assert out.campaigns[0].persons == ["u1", "u6", "u7"]
    assert enroll.calls == [] and entries(carts, "cart") == []


def test_first_order(ws):
    add_campaign(ws, "first", {"type": "first_order", "hours": 72})
    users = [("r1", AT - 100 * H), ("r2", AT - 100 * H), ("r3", AT - 10 * H), ("r4", AT - 60 * D)]
    for user, registered in users:
        ws.warehouse.execute("INSERT INTO users (user_id, registered_at) VALUES (?, ?)",
                             [user, registered])  # fmt: skip
    event(ws, "r2", AT - 50 * H, "order", order_id="o", product_id="p1", quantity=1, price=5.0)
    enroll = Recorder()
    run_journeys(ws.campaigns, at=AT, enroll=enroll)
    assert enroll.calls[0][1] == ["r1"]  # r3 registered 10 h ago, r4 too long ago
    assert entries(ws, "first") == [("r1", AT - 28 * H)]


def add_build(
    ws, as_of: str, rows: list[tuple], columns: str, finished: datetime | None = None
) -> None:
    """A hand-made profile build: a tag_builds row and its snapshot table."""
    day = datetime.fromisoformat(as_of).replace(tzinfo=UTC)
    snapshot = f"snapshots.profile_{as_of.replace('-', '')}"
    ws.warehouse.execute("CREATE SCHEMA IF NOT EXISTS snapshots")
    ws.warehouse.execute(f"CREATE TABLE {snapshot} ({columns})")
    for r in rows:
        ws.warehouse.execute(f"INSERT INTO {snapshot} VALUES ({', '.join('?' * len(r))})", list(r))
    ws.warehouse.execute(
        "INSERT INTO tag_builds VALUES (?, ?, ?, 'UTC', 'duckdb', 'full', 'fp', ?, ?, ?, 0, "
        "NULL, NULL, ?, ?, 0.1, NULL)",
        [
            f"b{as_of}",
            day.date(),
            int(day.timestamp()),
            snapshot,
            len(rows),
            len(rows),
            finished or day,
            finished or day,
        ],
    )


def test_win_back_newly_dormant_and_never_entered(ws):
    add_campaign(ws, "winback", {"type": "win_back", "reenter_days": 30})
    cols = "person_id VARCHAR, lifecycle_stage VARCHAR"
    add_build(ws, "2026-05-01", [("d1", "active"), ("d2", "dormant"), ("d3", "active")], cols)
    add_build(ws, "2026-05-08", [("d1", "dormant"), ("d2", "dormant"), ("d3", "active")], cols)
    enroll = Recorder()
    run_journeys(ws.campaigns, at=AT, enroll=enroll)
    # d1 became dormant in the latest build; d2 has been dormant and never entered
    assert enroll.calls[0][1] == ["d1", "d2"]
    cutoff = datetime(2026, 5, 8, tzinfo=UTC)
    assert entries(ws, "winback") == [("d1", cutoff), ("d2", cutoff)]
    out = run_journeys(ws.campaigns, at=AT + D, enroll=enroll)  # within reenter_days: no one again
    assert out.entered == 0 and len(enroll.calls) == 1


def test_repurchase_due_from_cycle_or_prediction(ws):
    add_campaign(ws, "again", {"type": "repurchase"})
    cols = "person_id VARCHAR, purchase_cycle_days DOUBLE, predicted_next_purchase_date DATE"
    rows = [
        ("b1", 10.0, None),  # last order 12 days ago, cycle 10: due 2 days ago
        ("b2", 30.0, None),  # last order 12 days ago, cycle 30: not yet
        ("b3", 30.0, datetime(2026, 5, 9).date()),  # predicted yesterday: due
        ("b4", 5.0, None),  # last order 12 days ago, cycle 5: overdue by more than a cycle
    ]
    add_build(ws, "2026-05-10", rows, cols)
    for p in ("b1", "b2", "b3", "b4"):
        event(ws, p, AT - 12 * D, "order", order_id=f"o{p}", product_id="x", quantity=1, price=1.0)
    enroll = Recorder()
    run_journeys(ws.campaigns, at=AT, enroll=enroll)
    assert enroll.calls[0][1] == ["b1", "b3"]
    assert dict(entries(ws, "again")) == {
        "b1": AT - 2 * D, "b3": datetime(2026, 5, 9, tzinfo=UTC),
    }  # fmt: skip


def test_reentry_rules():
    t = AT - 40 * D
    history = {"p1": (t, t), "p2": (AT - 2 * D, AT - 2 * D)}
    found = [("p0", AT), ("p1", AT), ("p2", AT), ("p3", AT)]
    assert eligible(found, history, None, AT) == [("p0", AT), ("p3", AT)]
    # p1 entered 40 days ago and the trigger fired again since: back in; p2 too recently
    assert eligible(found, history, 30, AT) == [("p0", AT), ("p1", AT), ("p3", AT)]
    assert eligible([("p1", t)], history, 30, AT) == []  # the same firing never twice


def test_no_build_for_profile_triggers(ws):
    add_campaign(ws, "winback", {"type": "win_back"})
    out = run_journeys(ws.campaigns, at=AT, enroll=Recorder())
    assert out.campaigns[0].candidates == 0
    assert "no build" in out.campaigns[0].notes[0]


def test_build_runs_journeys_with_segment_and_real_enrolment(ws):
    """A build of the latest date runs the journeys as of its cut-off; the segment narrows."""
    day = datetime(2026, 5, 9, tzinfo=UTC)
    records = [
        {"event_id": "1", "user_id": "u1", "ts": (day + 8 * H).isoformat(), "type": "add_to_cart",
         "product_id": "p1", "quantity": 1},
        {"event_id": "2", "user_id": "u2", "ts": (day + 1 * H).isoformat(), "type": "order",
         "order_id": "o2", "product_id": "p1", "quantity": 1, "price": 10.0},
        {"event_id": "3", "user_id": "u2", "ts": (day + 8 * H).isoformat(), "type": "add_to_cart",
         "product_id": "p1", "quantity": 1},
        {"event_id": "4", "user_id": "u3", "ts": (day + 22 * H).isoformat(), "type": "add_to_cart",
         "product_id": "p1", "quantity": 1},
    ]  # fmt: skip
    assert ws.ingest_records(records).accepted == 4
    ws.campaigns.create({
        "name": "cart-new", "trigger": {"type": "cart_abandonment", "hours": 4},
        "segment": "orders_total = 0", "channel": "in_app", "control_share": 0.0,
        "variants": [{"name": "a", "message": {"body": {"en": "Your cart misses you"}}}],
    })  # fmt: skip
    # launched (a launch with a segment would enrol the segment at once; the journey alone here)
    ws.warehouse.execute("UPDATE campaigns SET status = 'running' WHERE name = 'cart-new'")
    result = ws.build()
    assert "journeys" in result.timings, result.warnings
    # u1 abandoned a cart 16 h before the cut-off; u2 has ordered (outside the segment);
    # u3's cart is 2 h old
    assert [r[0] for r in entries(ws, "cart-new")] == ["u1"]
    assigned = ws.warehouse.fetchall(
        "SELECT person_id, arm, source, assigned_at FROM campaign_assignments "
        "WHERE campaign = 'cart-new'"
    )
    assert assigned == [("u1", "a", "cart_abandonment", day + D)]
    # a second build of the same date finds nobody new
    ws.build()
    assert len(entries(ws, "cart-new")) == 1


def test_todays_build_is_used_before_its_cutoff(ws):
    """A build of today (cut-off tomorrow at midnight) finished before ``at`` is the latest."""
    add_campaign(ws, "winback", {"type": "win_back"})
    cols = "person_id VARCHAR, lifecycle_stage VARCHAR"
    add_build(ws, "2026-05-11", [("d1", "dormant")], cols, finished=AT - H)
    add_build(ws, "2026-05-12", [("d2", "dormant")], cols, finished=AT + H)  # after AT: unseen
    enroll = Recorder()
    run_journeys(ws.campaigns, at=AT, enroll=enroll)
    assert enroll.calls[0][1] == ["d1"] and entries(ws, "winback") == [("d1", AT)]


CART_JOURNEY = {
    "name": "cart-live", "trigger": {"type": "cart_abandonment", "hours": 2},
    "channel": "in_app", "control_share": 0.0,
    "variants": [{"name": "a", "message": {"body": {"en": "Your cart misses you"}}}],
}  # fmt: skip


def cart_event(user: str, ts: datetime) -> dict:
    return {"user_id": user, "ts": ts.isoformat(), "type": "add_to_cart", "product_id": "p1",
            "quantity": 1, "price": 9.0}  # fmt: skip


def test_ingest_runs_cart_journeys_without_a_build(ws, monkeypatch):
    """An events batch that commits runs the launched cart journeys as of now: no build."""
    from portrait.campaigns import journeys

    now = datetime.now(UTC)
    ws.campaigns.create(CART_JOURNEY)
    ws.campaigns.launch("cart-live")  # nothing in the shop yet: nobody enters
    batch = [
        cart_event("u1", now - 3 * H),  # waited longer than 2 hours: enters on this ingest
        cart_event("u2", now - 1 * H),  # not yet
        cart_event("u3", now - 3 * H),  # ordered after the cart: no
        {"user_id": "u3", "ts": (now - 2.5 * H).isoformat(), "type": "order", "order_id": "o3",
         "product_id": "p1", "quantity": 1, "price": 9.0},
    ]  # fmt: skip
    assert ws.ingest_records(batch).accepted == 4
    assert [r[0] for r in entries(ws, "cart-live")] == ["u1"]
    # two hours on, the next batch (a page view of someone else) lets u2 in, and u1 not again
    monkeypatch.setattr(journeys, "_now", lambda: now + 2 * H)
    page = {"user_id": "u9", "ts": now.isoformat(), "type": "page_view"}
    ws.ingest_records([page])
    assert [r[0] for r in entries(ws, "cart-live")] == ["u1", "u2"]
    sends = ws.campaigns.sends("cart-live")
    assert sorted(s.person_id for s in sends) == ["u1", "u2"]
    assert {s.status for s in sends} == {"queued"}
    assert not ws.warehouse.fetchall("SELECT 1 FROM tag_builds")  # no build ran


def test_ingest_journeys_cost_one_query_when_none_is_launched(ws, monkeypatch):
    from portrait.campaigns import journeys

    ws.campaigns.create(CART_JOURNEY)  # a draft: not launched
    add_campaign(ws, "winback", {"type": "win_back"})  # launched, but reads builds
    queries: list[str] = []
    real = ws.warehouse.fetchall
    monkeypatch.setattr(ws.warehouse, "fetchall", lambda sql, *a: queries.append(sql) or real(
        sql, *a))  # fmt: skip
    ran = []
    monkeypatch.setattr(journeys, "run_journeys", lambda *a, **k: ran.append(a))
    result = ws.ingest_records([cart_event("u1", AT - 30 * H)])
    assert result.accepted == 1 and not ran
    assert len([q for q in queries if "FROM campaigns" in q]) == 1
    assert journeys.after_ingest(ws, result) is None


def test_ingest_journeys_can_be_turned_off_and_never_fail_the_ingest(ws, monkeypatch, caplog):
    from portrait.campaigns import journeys

    now = datetime.now(UTC)
    ws.campaigns.create(CART_JOURNEY)
    ws.campaigns.launch("cart-live")
    ws.settings.campaigns.journeys_on_ingest = False
    assert ws.ingest_records([cart_event("u1", now - 3 * H)]).accepted == 1
    assert entries(ws, "cart-live") == []  # off: the next build or `campaign journeys` does it
    ws.settings.campaigns.journeys_on_ingest = True

    def broken(*args, **kwargs):
        raise RuntimeError("journey bug")

    monkeypatch.setattr(journeys, "run_journeys", broken)
    assert ws.ingest_records([cart_event("u2", now - 3 * H)]).accepted == 1  # stored anyway
    assert "cart journeys not run after ingest batch" in caplog.text
    assert ws.warehouse.fetchone("SELECT count(*) FROM events")[0] == 2
