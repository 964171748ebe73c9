"""Known-answer tests for each cleaning rule (see the list in portrait/ingest/plan.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from event_records import event
from portrait.config import load_settings, write_settings
from portrait.workspace import Workspace


def stored(ws: Workspace, sql: str) -> list[tuple]:
    return ws.warehouse.fetchall(sql)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_offsets_naive_times_and_epochs_become_utc(tmp_path):
    ws = Workspace.init(tmp_path / "ws", timezone="Asia/Shanghai")
    r = ws.ingest_records(
        [
            event(event_id="naive", ts="2025-03-01 08:00:00"),
            event(event_id="offset", ts="2025-03-01T08:00:00-05:00"),
            event(event_id="zulu", ts="2025-03-01T08:00:00Z"),
            event(event_id="epoch_s", ts=1740816000),
            event(event_id="epoch_ms", ts="1740816000000"),
            event(event_id="date_only", ts="2025-03-01"),
        ]
    )
    assert r.accepted == 6
    got = dict(stored(ws, "SELECT event_id, ts FROM events"))
    assert got["naive"] == utc(2025, 3, 1, 0, 0)  # 08:00 in Shanghai
    assert got["offset"] == utc(2025, 3, 1, 13, 0)
    assert got["zulu"] == utc(2025, 3, 1, 8, 0)
    assert got["epoch_s"] == utc(2025, 3, 1, 8, 0)
    assert got["epoch_ms"] == utc(2025, 3, 1, 8, 0)
    assert got["date_only"] == utc(2025, 2, 28, 16, 0)


def test_timezone_argument_overrides_the_workspace_default(ws, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,user_id,ts,type,product_id\ne1,u1,2025-03-01 08:00:00,product_view,p1\n"
    )
    ws.ingest_file(path, timezone="Europe/London")
    assert stored(ws, "SELECT ts FROM events")[0][0] == utc(2025, 3, 1, 8, 0)
    path2 = tmp_path / "events2.csv"
    path2.write_text(
        "event_id,user_id,ts,type,product_id\ne2,u1,2025-07-01 08:00:00,product_view,p1\n"
    )
    ws.ingest_file(path2, timezone="Europe/London")  # British Summer Time, UTC+1
    assert stored(ws, "SELECT ts FROM events WHERE event_id = 'e2'")[0][0] == utc(2025, 7, 1, 7, 0)


def test_text_is_trimmed_and_empty_strings_are_null(ws):
    ws.ingest_records(
        [event(event_id=" e1 ", user_id="  u1 ", anonymous_id="", type=" Product_View ")]
    )
    assert stored(ws, "SELECT event_id, user_id, anonymous_id, type FROM events") == [
        ("e1", "u1", None, "product_view")
    ]


def test_prices_are_converted_to_the_workspace_currency(tmp_path):
    Workspace.init(tmp_path / "ws", currency="CNY").close()
    settings = load_settings(tmp_path / "ws")
    settings.ingest.currency_rates = {"USD": 7.0}
    write_settings(tmp_path / "ws", settings)
    ws = Workspace.open(tmp_path / "ws")
    order = dict(type="order", order_id="o1", quantity=1)
    r = ws.ingest_records(
        [
            event(event_id="usd", price=10, discount=1, currency="usd", **order),
            event(event_id="cny", price=10, currency="CNY", **order),
            event(event_id="none", price=10, **order),
            event(event_id="jpy", price=10, currency="JPY", **order),
        ]
    )
    assert (r.accepted, r.quarantined) == (3, 1)
    assert dict(stored(ws, "SELECT event_id, price FROM events")) == {
        "usd": 70.0,
        "cny": 10.0,
        "none": 10.0,
    }
    assert stored(ws, "SELECT discount FROM events WHERE event_id = 'usd'")[0][0] == 7.0
    assert ws.quarantine()[0].reason_code == "unknown_currency"


def test_an_order_line_with_negative_quantity_becomes_a_refund(ws):
    ws.ingest_records([event(type="order", order_id="o1", quantity=-2, price=5.0)])
    ((etype, qty, props),) = stored(ws, "SELECT type, quantity, properties FROM events")
    assert (etype, qty) == ("refund", 2)
    assert json.loads(props) == {"cleaned": "negative_quantity_order"}


def test_duplicates_in_a_batch_and_across_batches_are_stored_once(ws):
    batch = [event(event_id="a"), event(event_id="a"), event(event_id="b")]
    r1 = ws.ingest_records(batch)
    r2 = ws.ingest_records(batch)
    assert (r1.accepted, r1.duplicates) == (2, 1)
    assert (r2.accepted, r2.duplicates) == (0, 3)
    assert stored(ws, "SELECT count(*) FROM events")[0][0] == 2


def test_first_occurrence_of_a_repeated_event_id_wins(ws):
    ws.ingest_records(
        [event(event_id="a", product_id="first"), event(event_id="a", product_id="second")]
    )
    assert stored(ws, "SELECT product_id FROM events") == [("first",)]


def test_events_without_id_get_a_deterministic_content_id(ws):
    a = event(event_id=..., ts="2025-03-01T10:00:00Z")
    b = event(event_id=..., ts="2025-03-01T10:00:01Z")
    r1 = ws.ingest_records([a, a, b])
    r2 = ws.ingest_records([b, a])
    assert (r1.accepted, r1.duplicates, r2.accepted) == (2, 1, 0)
    ids = [r[0] for r in stored(ws, "SELECT event_id FROM events")]
    assert all(i.startswith("h:") for i in ids) and len(set(ids)) == 2


def test_unknown_fields_are_kept_in_properties(ws, tmp_path):
    ws.ingest_records([event(properties={"colour": "red"}, utm_source="newsletter", size=42)])
    props = json.loads(stored(ws, "SELECT properties FROM events")[0][0])
    assert props == {"colour": "red", "utm_source": "newsletter", "size": 42}
    table = pa.table(
        {
            "event_id": ["x"],
            "user_id": ["u"],
            "ts": ["2025-01-01T00:00:00Z"],
            "type": ["page_view"],
            "page": ["/home"],
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    ws.ingest_file(tmp_path / "e.parquet")
    assert json.loads(stored(ws, "SELECT properties FROM events WHERE event_id = 'x'")[0][0]) == {
        "page": "/home"
    }


def test_out_of_order_timestamps_are_fine(ws):
    r = ws.ingest_records(
        [
            event(event_id="late", ts="2025-03-05T00:00:00Z"),
            event(event_id="early", ts="2025-03-01T00:00:00Z"),
        ]
    )
    assert r.accepted == 2


def test_users_are_normalised_and_upserted(ws):
    users = [
        {
            "user_id": "u1",
            "gender": "女",
            "email": " Ann@Example.COM ",
            "phone": "+86 138-0013-8000",
            "birth_date": "1990-05-01",
            "registered_at": "2025-01-01T00:00:00Z",
            "city": "上海",
            "language": "zh-CN",
        },
        {"user_id": "u2", "gender": "Male"},
        {"user_id": "u3", "gender": "nonbinary"},
    ]
    r = ws.ingest_records(users, kind="users")
    assert r.accepted == 3
    rows = {
        r[0]: r[1:]
        for r in stored(
            ws, "SELECT user_id, gender, email, phone_hash, language, attributes FROM users"
        )
    }
    email = ws.pii.decrypt("email", "u1", rows["u1"][1])  # stored encrypted (tests/security)
    assert rows["u1"][0] == "F" and email == "ann@example.com"
    assert rows["u1"][2] is not None and rows["u1"][3] == "zh"
    assert rows["u2"][0] == "M"
    assert rows["u3"][0] == "U" and json.loads(rows["u3"][4]) == {"gender_raw": "nonbinary"}
    # The same phone written differently hashes the same.
    ws.ingest_records([{"user_id": "u4", "phone": "13800138000"}], kind="users")
    hashes = dict(stored(ws, "SELECT user_id, phone_hash FROM users WHERE phone IS NOT NULL"))
    assert hashes["u1"] == hashes["u4"]


def test_user_upsert_counts_identical_rows_as_duplicates_and_keeps_absent_columns(ws):
    ws.ingest_records([{"user_id": "u1", "city": "北京", "gender": "F"}], kind="users")
    same = ws.ingest_records([{"user_id": "u1", "city": "北京", "gender": "F"}], kind="users")
    assert (same.accepted, same.duplicates) == (0, 1)
    moved = ws.ingest_records([{"user_id": "u1", "city": "上海"}], kind="users")
    assert moved.accepted == 1
    assert stored(ws, "SELECT city, gender FROM users") == [("上海", "F")]


def test_last_row_of_a_batch_wins_for_the_same_user(ws):
    batch = [{"user_id": "u1", "city": "A"}, {"user_id": " u1", "city": "B"}]
    r = ws.ingest_records(batch, kind="users")
    assert (r.accepted, r.duplicates) == (1, 1)
    assert stored(ws, "SELECT city FROM users") == [("B",)]
    again = ws.ingest_records(batch, kind="users")
    assert (again.accepted, again.duplicates) == (0, 2)
    assert stored(ws, "SELECT city FROM users") == [("B",)]


def test_products_upsert_and_reject_negative_prices(ws):
    r = ws.ingest_records(
        [
            {"product_id": "p1", "title": "保湿面霜", "category_l1": "beauty", "price": "199.0"},
            {"product_id": "p2", "price": -3},
            {"title": "no id"},
        ],
        kind="products",
    )
    assert (r.accepted, r.quarantined) == (1, 2)
    codes = sorted(q.reason_code for q in ws.quarantine())
    assert codes == ["missing_product_id", "negative_price"]
    assert stored(ws, "SELECT product_id, price FROM products") == [("p1", 199.0)]
