"""Property tests: random and malformed records never get lost and counts always add up.

The same garbage goes through every way in: the Python API (``ingest_records``), the CLI on a
JSON-lines file (plain or gzipped, with broken lines mixed in) and HTTP with an ingest key. Each
record is stored, recognised as a duplicate or quarantined; what was stored is what the batch log
says was accepted; nothing stored breaks a rule or a limit.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from event_records import event
from portrait.cli import app
from portrait.ingest.readers import record_json
from portrait.ingest.reasons import REASONS
from portrait.schema import EVENT_TYPES
from portrait.workspace import Workspace

# Values beyond any sane range (issue 15 §3): huge text, NULs, bad offsets, huge numbers.
insane = st.one_of(
    st.sampled_from([257, 5_000, 70_000]).map(lambda n: "x" * n),
    st.sampled_from(["u\x00", "\x00", "e\x001", "口\x00红"]),
    st.sampled_from(
        [
            "2025-03-01T10:00:00+25:00",
            "2025-03-01T10:00:00-15:00",
            "2025-03-01T10:00:00+08:75",
            "2025-03-01T10:00:00+99",
        ]
    ),
    st.sampled_from([1e308, -1e308, 1.7e308, 10**15, -(10**15), 2**63 - 1, 2**70, -(2**70)]),
    st.sampled_from(["NOT AN EMAIL", "call me", "ann@example.com", "+86 138-0013-8000"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    insane,
    st.sampled_from(
        [
            "",
            " ",
            "2025-03-01T10:00:00Z",
            "2025-03-01 10:00",
            "1740816000",
            "not-a-time",
            "-1",
            "0",
            "3.5",
            "{}",
            "[1]",
            "u1",
            "d1",
        ]
    ),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)
event_like = st.fixed_dictionaries(
    {
        "ts": st.one_of(st.just("2025-03-01T10:00:00Z"), values),
        "type": st.one_of(st.sampled_from(sorted(EVENT_TYPES)), values),
    },
    optional={
        "event_id": st.one_of(st.sampled_from(["e1", "e2", "e3"]), values),
        "user_id": st.one_of(st.sampled_from(["u1", "u2"]), values),
        "anonymous_id": st.one_of(st.sampled_from(["d1", "d2"]), values),
        "product_id": values,
        "quantity": values,
        "price": values,
        "discount": values,
        "order_id": values,
        "query": values,
        "rating": values,
        "properties": values,
        "currency": values,
        "extra_field": values,
    },
)
records = st.lists(st.one_of(event_like, values), min_size=1, max_size=25)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=records)
def test_random_batches_lose_nothing_and_counts_add_up(tmp_path: Path, batch: list) -> None:
    with Workspace.open(Workspace.init(tmp_path / "ws").root, in_memory=True) as ws:
        r = ws.ingest_records(batch)
        assert r.received == len(batch)
        assert r.accepted + r.duplicates + r.quarantined == r.received
        events, quarantined = ws.warehouse.fetchone(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine)"
        )
        assert (events, quarantined) == (r.accepted, r.quarantined)
        assert len(r.rejections) == r.quarantined
        # Whatever was stored satisfies the canonical rules.
        assert_stored_rows_are_sane(ws)
        again = ws.ingest_records(batch)
        assert again.accepted == 0
        assert again.duplicates == r.accepted + r.duplicates


def assert_stored_rows_are_sane(ws: Workspace) -> None:
    """Whatever was stored satisfies the canonical rules and the limits; whatever was
    quarantined has a known reason and a bounded raw payload."""
    limits = ws.settings.ingest
    ids = ("event_id", "user_id", "anonymous_id", "product_id", "order_id")
    bad = ws.warehouse.fetchone(
        "SELECT count(*) FROM events WHERE ts IS NULL OR type IS NULL "
        "OR (user_id IS NULL AND anonymous_id IS NULL) OR price < 0 OR quantity = 0 "
        "OR rating NOT BETWEEN 1 AND 5 OR event_id IS NULL "
        "OR (properties IS NOT NULL AND json_type(properties) <> 'OBJECT') "
        f"OR NOT isfinite(price) OR price > {limits.max_price} "
        f"OR abs(quantity) > {limits.max_quantity} OR strlen(query) > {limits.max_text_length} "
        + "".join(f"OR strlen({c}) > {limits.max_id_length} OR contains({c}, chr(0)) " for c in ids)
        + "OR starts_with(product_id, '[') "
        "OR ts < TIMESTAMPTZ '1990-01-01' OR ts > now() + INTERVAL 2 DAY"
    )[0]
    assert bad == 0
    types = {t for (t,) in ws.warehouse.fetchall("SELECT DISTINCT type FROM events")}
    assert types <= set(EVENT_TYPES)
    # the payloads are sealed at rest: their bounds are checked on what they hold
    stored = ws.warehouse.fetchone("SELECT count(*) FROM quarantine")[0]
    records = ws.quarantine(limit=stored + 1)
    assert len(records) == stored
    assert all(r.raw is not None and r.reason_code for r in records)
    assert all(
        len(r.raw or "") <= limits.max_raw_length + 60 and len(r.detail or "") <= 500
        for r in records
    )
    codes = {c for (c,) in ws.warehouse.fetchall("SELECT DISTINCT reason_code FROM quarantine")}
    assert codes <= set(REASONS)


def assert_log_matches_store(ws: Workspace, before: tuple[int, int]) -> dict:
    """The last batch's logged counts add up and match what it stored and quarantined."""
    row = ws.warehouse.fetchone(
        "SELECT batch_id, received, accepted, duplicates, quarantined FROM ingest_batches "
        "ORDER BY started_at DESC LIMIT 1"
    )
    batch_id, received, accepted, duplicates, quarantined = row
    assert accepted + duplicates + quarantined == received
    events, in_quarantine = ws.warehouse.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine)"
    )
    assert (events - before[0], in_quarantine - before[1]) == (accepted, quarantined)
    assert (
        ws.warehouse.fetchone("SELECT count(*) FROM events WHERE batch_id = ?", [batch_id])[0]
        == accepted
    )
    return {
        "received": received,
        "accepted": accepted,
        "duplicates": duplicates,
        "quarantined": quarantined,
    }


def store_counts(ws: Workspace) -> tuple[int, int]:
    return ws.warehouse.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine)"
    )


# Lines a broken exporter writes: random bytes (not UTF-8, NULs, lone carriage returns, \x01),
# truncated JSON, over-long lines. At most two per file, so that the file stays mostly JSON.
garbage_line = st.one_of(
    # (NULs kept rare: a file of mostly NUL bytes is refused as UTF-16 or binary, rightly.)
    st.binary(min_size=1, max_size=40).map(lambda b: b[:1] + b[1:].replace(b"\x00", b"\x02")),
    st.sampled_from(
        [
            b'{"event_id": "t1", "user_id": "u1", "ts": "2025-03-01T1',
            b'{"event_id": "x\xff\xfe", "user_id": "u1"}',
            b'{"event_id": "x\ry"}',
            b"\xef\xbb\xbf{}",
            b"q" * 1_100_000,
        ]
    ),
).map(lambda b: b.replace(b"\n", b" ").rstrip(b"\r") or b"?")
file_lines = st.tuples(
    records,
    st.lists(st.tuples(st.integers(0, 30), garbage_line), max_size=2),
)


def jsonl_bytes(batch: list, garbage: list[tuple[int, bytes]]) -> tuple[bytes, int]:
    """The file, and how many records it holds (its non-blank lines)."""
    lines = [record_json(r).encode() for r in batch]
    for at, line in garbage:
        lines.insert(min(at, len(lines)), line)
    # The first line is a record, so no garbage byte-order mark opens the file.
    lines.insert(0, record_json(event(event_id="first")).encode())
    data = b"\n".join(lines) + b"\n"
    return data, sum(1 for ln in lines if ln.strip(b" "))


@pytest.fixture(scope="module")
def cli_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "ws"
    Workspace.init(root).close()
    return root


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=file_lines, gz=st.booleans())
def test_cli_files_with_garbage_lose_nothing(cli_ws: Path, content, gz: bool) -> None:
    batch, garbage = content
    data, expected = jsonl_bytes(batch, garbage)
    folder = Path(tempfile.mkdtemp(dir=cli_ws.parent))
    path = folder / ("events.jsonl.gz" if gz else "events.jsonl")
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    with Workspace.open(cli_ws) as ws:
        before = store_counts(ws)
    result = CliRunner().invoke(app, ["ingest", str(path), "-w", str(cli_ws), "--json"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "Traceback" not in result.stderr and len(result.stderr) < 2000
    (answer,) = json.loads(result.stdout)
    assert answer["received"] == expected
    with Workspace.open(cli_ws) as ws:
        logged = assert_log_matches_store(ws, before)
        assert logged == {k: answer[k] for k in logged}
        assert_stored_rows_are_sane(ws)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory):
    from fastapi.testclient import TestClient

    from portrait.api.app import create_app

    ws = Workspace.init(tmp_path_factory.mktemp("http") / "ws")
    token = ws.create_key("ingest").token
    with TestClient(create_app(ws)) as client:
        yield ws, client, {"Authorization": f"Bearer {token}"}
    ws.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=records)
def test_http_batches_with_garbage_lose_nothing(http, batch: list) -> None:
    ws, client, headers = http
    body = b"[" + b",".join(record_json(r).encode() for r in batch) + b"]"
    before = store_counts(ws)
    r = client.post(
        "/v1/events", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["received"] == len(batch)
    # An ingest key is told duplicates as accepted; the log keeps the breakdown.
    assert answer["accepted"] + answer["duplicates"] + answer["quarantined"] == len(batch)
    assert len(answer["rejected"]) == answer["quarantined"]
    assert all(x["reason_code"] in REASONS for x in answer["rejected"])
    logged = assert_log_matches_store(ws, before)
    assert (logged["received"], logged["quarantined"]) == (len(batch), answer["quarantined"])
    assert logged["accepted"] + logged["duplicates"] == answer["accepted"] + answer["duplicates"]
    assert_stored_rows_are_sane(ws)


user_like = st.fixed_dictionaries(
    {"user_id": st.one_of(st.sampled_from(["u1", "u2", "u3"]), values)},
    optional={
        "email": values,
        "phone": values,
        "gender": values,
        "birth_date": values,
        "registered_at": values,
        "city": values,
        "attributes": values,
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(st.one_of(user_like, values), min_size=1, max_size=20))
def test_random_user_batches_lose_nothing(tmp_path: Path, batch: list) -> None:
    with Workspace.open(Workspace.init(tmp_path / "ws").root, in_memory=True) as ws:
        r = ws.ingest_records(batch, kind="users")
        assert (r.received, len(r.rejections)) == (len(batch), r.quarantined)
        assert r.accepted + r.duplicates + r.quarantined == r.received
        keys = ws.warehouse.fetchone("SELECT count(*) FROM users")[0]
        assert keys == r.accepted  # a fresh store: every accepted row is a new key
        bad = ws.warehouse.fetchone(
            "SELECT count(*) FROM users WHERE strlen(user_id) > 256 OR contains(user_id, chr(0)) "
            "OR (email IS NOT NULL AND NOT contains(email, '@')) "
            "OR (phone IS NOT NULL AND regexp_matches(phone, '[A-Za-z]'))"
        )[0]
        assert bad == 0
        again = ws.ingest_records(batch, kind="users")
        assert again.accepted == 0
