"""Every quarantine reason, on every input path; nothing is lost; a batch is all or nothing."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from event_records import event
from portrait.ingest.plan import SourceSchemaError
from portrait.ingest.readers import UnsupportedSourceError
from portrait.ingest.reasons import REASONS, explain

FUTURE = (datetime.now(UTC) + timedelta(days=3)).isoformat()

EVENT_CASES = [
    (event(user_id=None), "missing_identity"),
    (event(type=None), "missing_type"),
    (event(type="teleport"), "unknown_event_type"),
    (event(ts=None), "missing_timestamp"),
    (event(ts="yesterday-ish"), "bad_timestamp"),
    (event(ts="1970-01-02T00:00:00Z"), "implausible_timestamp"),
    (event(ts=FUTURE), "implausible_timestamp"),
    (event(price="cheap"), "wrong_type"),
    (event(quantity=1.5), "wrong_type"),
    (event(type="order", order_id="o", price=-1), "negative_price"),
    (event(price=10, discount=11), "bad_discount"),
    (event(type="add_to_cart", quantity=0), "bad_quantity"),
    (event(type="add_to_cart", quantity=-1), "bad_quantity"),
    (event(type="review", rating=6), "bad_rating"),
    (event(type="search", product_id=None), "missing_field"),
    (event(type="order", order_id=None), "missing_field"),
    (event(product_id=None), "missing_field"),
    (event(properties="[1, 2]"), "bad_json"),
    (event(properties="{not json"), "bad_json"),
    (event(price=1, currency="XXX"), "unknown_currency"),
    (42, "not_an_object"),
    ("just text", "not_an_object"),
    ([event()], "not_an_object"),
]


@pytest.mark.parametrize(("record", "code"), EVENT_CASES)
def test_each_bad_event_is_quarantined_with_its_reason(ws, record, code):
    r = ws.ingest_records([record, event(event_id="good")])
    assert (r.received, r.accepted, r.quarantined) == (2, 1, 1)
    assert [x.reason_code for x in r.rejections] == [code]
    assert r.rejections[0].index == 0
    (q,) = ws.quarantine()
    assert q.reason_code == code
    assert q.raw is not None and json.loads(q.raw) == record
    assert REASONS[code].fix in q.explanation


@pytest.mark.parametrize(
    ("record", "code"),
    [
        ({"gender": "F"}, "missing_user_id"),
        ({"user_id": "u", "registered_at": "not a date"}, "bad_timestamp"),
        ({"user_id": "u", "registered_at": FUTURE}, "implausible_timestamp"),
        ({"user_id": "u", "birth_date": "31/31/1990"}, "wrong_type"),
        ({"user_id": "u", "birth_date": "2090-01-01"}, "implausible_birth_date"),
        ({"user_id": "u", "birth_date": "1800-01-01"}, "implausible_birth_date"),
        ({"user_id": "u", "attributes": "oops"}, "bad_json"),
    ],
)
def test_each_bad_user_is_quarantined_with_its_reason(ws, record, code):
    r = ws.ingest_records([record], kind="users")
    assert r.quarantined == 1
    assert r.rejections[0].reason_code == code


def test_reasons_all_have_explanations_and_fixes():
    for code, reason in REASONS.items():
        assert reason.explanation and reason.fix, code
        assert "fix:" in explain(code, "x = 1")


def test_csv_values_of_the_wrong_type_are_quarantined_with_the_value(ws, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "event_id,user_id,ts,type,product_id,quantity,price,order_id\n"
        "e1,u1,2025-03-01T10:00:00Z,order,p1,2,9.90,o1\n"
        "e2,u1,2025-03-01T10:00:00Z,order,p1,two,9.90,o1\n"
        "e3,u1,not-a-time,order,p1,1,9.90,o1\n"
        "e4,u1,2025-03-01T10:00:00Z,order,p1,1,-9.90,o1\n"
    )
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (4, 1, 3)
    rows = {q.record_index: q for q in ws.quarantine()}
    assert rows[1].reason_code == "wrong_type" and rows[1].detail == "quantity = two"
    assert rows[2].reason_code == "bad_timestamp" and rows[2].detail == "ts = not-a-time"
    assert rows[3].reason_code == "negative_price"
    assert json.loads(rows[1].raw)["quantity"] == "two"


def test_json_lines_with_malformed_lines_lose_nothing(ws, tmp_path):
    path = tmp_path / "events.jsonl.gz"
    good = json.dumps(event(event_id="ok"))
    with gzip.open(path, "wt") as f:
        f.write(good + "\n{broken json\n[1, 2]\n" + json.dumps(event(event_id="ok2")) + "\n")
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (4, 2, 2)
    raws = sorted(q.raw for q in ws.quarantine())
    assert raws == ["[1, 2]", "{broken json"]


def test_parquet_rows_are_numbered_for_quarantine(ws, tmp_path):
    table = pa.table(
        {
            "event_id": ["a", "b", "c"],
            "user_id": ["u", None, "u"],
            "ts": pa.array([datetime(2025, 1, 1, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")),
            "type": ["page_view", "page_view", "page_view"],
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    r = ws.ingest_file(tmp_path / "e.parquet")
    assert r.quarantined == 1
    assert ws.quarantine()[0].record_index == 1


def test_a_source_without_required_columns_is_refused_clearly(ws, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_id,user_id,type\ne1,u1,page_view\n")
    with pytest.raises(SourceSchemaError, match="lacks ts"):
        ws.ingest_file(path)
    path = tmp_path / "users.csv"
    path.write_text("id,city\n1,x\n")
    with pytest.raises(SourceSchemaError, match="'user_id'"):
        ws.ingest_file(path)
    (tmp_path / "x.xlsx").touch()
    with pytest.raises(UnsupportedSourceError, match="format"):
        ws.ingest_file(tmp_path / "x.xlsx")
    with pytest.raises(FileNotFoundError):
        ws.ingest_file(tmp_path / "missing.csv")


def test_a_failing_batch_leaves_nothing_behind(ws, tmp_path):
    ws.ingest_records([event(event_id="before")])
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r) for r in [event(event_id="lost"), event(user_id=None, event_id="bad")]
        )
    )

    def boom() -> None:
        raise RuntimeError("crash just before commit")

    with pytest.raises(RuntimeError, match="crash"):
        ws.ingest_file(path, before_commit=boom)
    counts = ws.warehouse.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine), "
        "(SELECT count(*) FROM ingest_batches)"
    )
    assert counts == (1, 0, 1)
    r = ws.ingest_file(path)
    assert (r.accepted, r.quarantined) == (1, 1)
