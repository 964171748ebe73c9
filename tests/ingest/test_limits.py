"""Values beyond any sane range are quarantined with their reason, never stored."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from event_records import event
from portrait.ingest.reasons import REASONS
from portrait.workspace import Workspace

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (event(type="order", order_id="o1", price=1e308), "value_too_large"),
        (event(type="order", order_id="o1", price=-1e308), "value_too_large"),
        (event(type="order", order_id="o1", price=10, discount=1e300), "value_too_large"),
        (event(type="order", order_id="o1", quantity=10**12), "value_too_large"),
        (event(type="order", order_id="o1", quantity=-(10**12)), "value_too_large"),
        (event(ts="2025-03-01T10:00:00+25:00"), "bad_timestamp"),
        (event(ts="2025-03-01T10:00:00-15:00"), "bad_timestamp"),
        (event(ts="2025-03-01T10:00:00+08:75"), "bad_timestamp"),
        (event(ts="2025-03-01 10:00:00+99"), "bad_timestamp"),
        (event(ts=1e300), "bad_timestamp"),
        (event(type="search", product_id=None, query="q" * (5 * MB)), "value_too_long"),
        (event(user_id="u" * MB), "value_too_long"),
        (event(event_id="e" * 100_000), "value_too_long"),
        (event(anonymous_id="d" * 257, user_id=None), "value_too_long"),
        (event(type="review", rating=5, text="t" * 70_000), "value_too_long"),
        (event(properties={"blob": "x" * 70_000}), "value_too_long"),
        (event(extra_field="x" * 70_000), "value_too_long"),
        (event(user_id="u\x001"), "nul_character"),
        (event(event_id="e\x00"), "nul_character"),
        (event(product_id="p\x00"), "nul_character"),
        (event(type="search", product_id=None, query="lip\x00stick"), "nul_character"),
        (event(product_id=["p1", "p2"]), "wrong_type"),
        (event(product_id={"id": "p1"}), "wrong_type"),
        (event(user_id=["u1"]), "wrong_type"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_insane_event_values_are_quarantined(ws, record, code):
    r = ws.ingest_records([record, event(event_id="good")])
    assert (r.received, r.accepted, r.duplicates, r.quarantined) == (2, 1, 0, 1)
    assert [x.reason_code for x in r.rejections] == [code]
    stored = ws.warehouse.fetchall("SELECT event_id FROM events")
    assert stored == [("good",)]
    (q,) = ws.quarantine()
    assert q.reason_code == code and code in REASONS
    # What quarantine keeps is bounded, whatever the record's size.
    assert len(q.raw) < 4200 and len(q.detail or "") <= 500


def test_a_huge_price_cannot_make_total_spend_infinite(ws):
    r = ws.ingest_records(
        [
            event(event_id="o1", type="order", order_id="o1", price=1e308, quantity=2),
            event(event_id="o2", type="order", order_id="o2", price=1.7e308, quantity=1),
            event(event_id="o3", type="order", order_id="o3", price=99.5, quantity=2),
        ]
    )
    assert (r.accepted, r.quarantined) == (1, 2)
    total = ws.warehouse.fetchone("SELECT sum(price * quantity) FROM events")[0]
    assert math.isfinite(total) and total == 199.0


def test_prices_are_limited_in_the_workspace_currency(tmp_path):
    ws = Workspace.init(tmp_path / "ws", currency="CNY")
    ws.settings.ingest.currency_rates = {"USD": 7.0}
    try:
        r = ws.ingest_records(
            [
                event(event_id="a", type="order", order_id="o", price=20_000_000, currency="USD"),
                event(event_id="b", type="order", order_id="o", price=20_000_000, currency="CNY"),
            ]
        )
        assert [x.reason_code for x in r.rejections] == ["value_too_large"]
        assert r.rejections[0].index == 0
    finally:
        ws.close()


def test_limits_are_settings(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    ws.settings.ingest.max_id_length = 4
    ws.settings.ingest.max_quantity = 10
    ws.settings.ingest.max_price = 5.0
    try:
        r = ws.ingest_records(
            [
                event(event_id="e1234"),
                event(event_id="e2", type="order", order_id="o", quantity=11),
                event(event_id="e3", type="order", order_id="o", price=5.5),
                event(event_id="e4", type="order", order_id="o", quantity=10, price=5),
            ]
        )
        assert [x.reason_code for x in r.rejections] == ["value_too_long"] + ["value_too_large"] * 2
        assert r.accepted == 1
    finally:
        ws.close()


def test_the_limits_have_documented_defaults():
    from portrait.config import IngestSettings

    s = IngestSettings()
    assert (s.max_id_length, s.max_text_length, s.max_quantity) == (256, 4096, 1_000_000)
    doc = (REASONS["value_too_long"].fix + REASONS["value_too_large"].fix).lower()
    assert "portrait.toml" in doc


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"user_id": "u", "email": "NOT AN EMAIL"}, "invalid_email"),
        ({"user_id": "u", "email": "ann@"}, "invalid_email"),
        ({"user_id": "u", "phone": "call me"}, "invalid_phone"),
        ({"user_id": "u", "phone": "12"}, "invalid_phone"),
        ({"user_id": "u\x00"}, "nul_character"),
        ({"user_id": "u" * 300}, "value_too_long"),
        ({"user_id": "u", "city": "c" * 5000}, "value_too_long"),
        ({"user_id": ["u"]}, "wrong_type"),
    ],
)
def test_insane_user_values_are_quarantined(ws, record, code):
    r = ws.ingest_records([record, {"user_id": "ok", "email": "Ann@Example.com"}], kind="users")
    assert (r.accepted, r.quarantined) == (1, 1)
    assert r.rejections[0].reason_code == code
    assert ws.warehouse.fetchall("SELECT user_id FROM users") == [("ok",)]


def test_valid_phones_and_emails_still_pass(ws):
    r = ws.ingest_records(
        [
            {"user_id": "a", "phone": "+86 138-0013-8000", "email": "a.b+c@mail.example.cn"},
            {"user_id": "b", "phone": "(010) 6552 9988"},
            {"user_id": "c", "phone": "13800138000"},
        ],
        kind="users",
    )
    assert (r.accepted, r.quarantined) == (3, 0)


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"product_id": "p", "price": 1e308}, "value_too_large"),
        ({"product_id": "p" * 300}, "value_too_long"),
        ({"product_id": "p", "title": "t" * 5000}, "value_too_long"),
        ({"product_id": ["p"]}, "wrong_type"),
    ],
)
def test_insane_product_values_are_quarantined(ws, record, code):
    r = ws.ingest_records([record], kind="products")
    assert r.quarantined == 1 and r.rejections[0].reason_code == code


def test_valid_offsets_are_still_converted(ws):
    r = ws.ingest_records(
        [
            event(event_id="a", ts="2025-03-01T10:00:00+14:00"),
            event(event_id="b", ts="2025-03-01T10:00:00-12:00"),
            event(event_id="c", ts="2025-03-01 10:00:00+0530"),
            event(event_id="d", ts="2025-03-01T10:00:00.250+08"),
        ]
    )
    assert r.accepted == 4
    hours = dict(
        ws.warehouse.fetchall(
            "SELECT event_id, strftime(ts AT TIME ZONE 'UTC', '%d %H:%M') FROM events"
        )
    )
    assert hours == {"a": "28 20:00", "b": "01 22:00", "c": "01 04:30", "d": "01 02:00"}


def test_parquet_non_finite_and_huge_numbers_are_quarantined(ws, tmp_path):
    n = 6
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "user_id": ["u"] * n,
            "ts": pa.array([1.74e9, 1.74e9, 1.74e9, 1.74e9, 1e300, math.inf], pa.float64()),
            "type": ["add_to_cart"] * n,
            "product_id": ["p"] * n,
            "price": pa.array([9.5, math.nan, math.inf, 1e308, 1.0, 1.0], pa.float64()),
            "quantity": pa.array([1.0, 1.0, 1.0, 1.0, 1.0, 1e300], pa.float64()),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    r = ws.ingest_file(tmp_path / "e.parquet")
    assert (r.received, r.accepted, r.quarantined) == (6, 1, 5)
    codes = {x.record_index: x.reason_code for x in ws.quarantine()}
    assert codes == {
        1: "wrong_type",
        2: "wrong_type",
        3: "value_too_large",
        4: "bad_timestamp",
        5: "bad_timestamp",
    }


def test_parquet_list_ids_and_nul_ids_are_quarantined(ws, tmp_path):
    table = pa.table(
        {
            "event_id": ["a", "b\x00", "c"],
            "user_id": ["u", "u", "u"],
            "ts": ["2025-03-01T10:00:00Z"] * 3,
            "type": ["product_view"] * 3,
            "product_id": pa.array([["p"], ["p"], None], pa.list_(pa.string())),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    r = ws.ingest_file(tmp_path / "e.parquet")
    assert (r.accepted, r.quarantined) == (0, 3)
    codes = ws.warehouse.fetchall("SELECT reason_code FROM quarantine ORDER BY record_index")
    assert [c for (c,) in codes] == ["wrong_type", "nul_character", "missing_field"]


def test_csv_values_beyond_limits_are_quarantined_with_a_short_detail(ws, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,user_id,ts,type,query,price\n"
        f"e1,u1,2025-03-01T10:00:00Z,search,{'q' * 10_000},\n"
        "e2,u1,2025-03-01T10:00:00Z,search,lipstick,1e308\n"
        "e3,u1,2025-03-01T10:00:00Z,search,lipstick,12.5\n"
    )
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (3, 1, 2)
    rows = {q.record_index: q for q in ws.quarantine()}
    assert rows[0].reason_code == "value_too_long"
    assert rows[0].detail == "query is 10000 bytes (max 4,096)"
    assert rows[1].reason_code == "value_too_large"
    assert json.loads(rows[1].raw)["price"] == "1e308"


def test_python_records_orjson_refuses_are_quarantined_not_a_crash(ws):
    r = ws.ingest_records(
        [
            event(event_id="big", type="add_to_cart", quantity=2**70),
            event(event_id="sur", user_id="u\ud800"),
            event(event_id="ok"),
        ]
    )
    assert (r.received, r.accepted, r.quarantined) == (3, 1, 2)
    assert [x.reason_code for x in r.rejections] == ["wrong_type", "not_an_object"]


def test_every_reason_and_limit_is_documented():
    from pathlib import Path

    from portrait.config import IngestSettings

    doc = (Path(__file__).parents[2] / "docs" / "ingest.md").read_text(encoding="utf-8")
    assert [code for code in REASONS if f"`{code}`" not in doc] == []
    limits = [name for name in IngestSettings.model_fields if name.startswith("max_")]
    assert [name for name in limits if f"`{name}`" not in doc] == []
