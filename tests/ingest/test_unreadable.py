"""Files with lines that cannot be read, and files that cannot be read at all.

A bad line (not UTF-8, a NUL byte, longer than ``max_line_bytes``) is quarantined with its
reason and its first bytes, escaped; the lines around it are stored. A file that cannot be read
at all is refused with one line naming it, what is wrong and the fix; nothing is stored.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from event_records import event
from portrait.ingest.readers import SourceReadError, file_relation

CSV_HEADER = b"event_id,user_id,ts,type\n"


def csv_row(event_id: str | bytes) -> bytes:
    eid = event_id if isinstance(event_id, bytes) else event_id.encode()
    return eid + b",u1,2025-03-01T10:00:00Z,page_view\n"


def jsonl_row(event_id: str) -> bytes:
    return json.dumps(event(event_id=event_id)).encode() + b"\n"


def counts(ws) -> tuple[int, int, int]:
    return ws.warehouse.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine), "
        "(SELECT count(*) FROM ingest_batches)"
    )


def stored_ids(ws) -> list[str]:
    return [r[0] for r in ws.warehouse.fetchall("SELECT event_id FROM events ORDER BY 1")]


# --- bad lines are quarantined ------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_a_jsonl_line_that_is_not_utf8_is_quarantined_with_its_bytes(ws, tmp_path, gz):
    bad = b'{"event_id": "x\xff\xfe", "user_id": "u1"}\n'
    data = jsonl_row("a") + bad + b"\n" + jsonl_row("b")
    path = tmp_path / ("e.jsonl.gz" if gz else "e.jsonl")
    path.write_bytes(gzip.compress(data) if gz else data)
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (3, 2, 1)
    assert stored_ids(ws) == ["a", "b"]
    (q,) = ws.quarantine()
    assert (q.reason_code, q.record_index) == ("invalid_utf8", 1)
    assert q.raw == '{"event_id": "x\\xff\\xfe", "user_id": "u1"}'
    assert q.detail == "byte 0xff at byte 16 is not UTF-8"


def test_a_csv_line_that_is_not_utf8_is_quarantined_in_its_place(ws, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(CSV_HEADER + csv_row("a") + csv_row(b"b\xe9") + csv_row("c"))
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (3, 2, 1)
    assert stored_ids(ws) == ["a", "c"]
    (q,) = ws.quarantine()
    assert (q.reason_code, q.record_index) == ("invalid_utf8", 1)
    assert q.raw.startswith("b\\xe9,u1,")
    # the stage's own checks still apply to the rows around it
    rows = ws.warehouse.fetchall("SELECT user_id, type FROM events")
    assert rows == [("u1", "page_view")] * 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_line_over_the_limit_is_quarantined_and_the_next_one_stored(ws, tmp_path, fmt):
    # The case: a 2.5 MB line (the default limit is 1 MiB); stderr stays quiet.
    big = b"x" * 2_500_000
    if fmt == "csv":
        data = CSV_HEADER + csv_row("a") + b"big,u1,2025-03-01T10:00:00Z," + big + b"\n"
        data += csv_row("b")
    else:
        data = jsonl_row("a") + b'{"event_id": "big", "query": "' + big + b'"}\n' + jsonl_row("b")
    path = tmp_path / f"e.{fmt}"
    path.write_bytes(data)
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (3, 2, 1)
    assert stored_ids(ws) == ["a", "b"]
    (q,) = ws.quarantine()
    assert (q.reason_code, q.record_index) == ("line_too_long", 1)
    assert q.detail.startswith("the line is 2,500,0") and "(max 1,048,576)" in q.detail
    assert len(q.raw) <= 4096 and q.raw.endswith("bytes]")


def test_the_line_limit_is_a_setting_and_lines_are_bounded_in_memory(ws, tmp_path):
    ws.settings.ingest.max_line_bytes = 2048
    path = tmp_path / "e.jsonl"
    lines = [jsonl_row("a"), b"{" + b'"q": "' + b"y" * 20_000_000 + b'"}\n', jsonl_row("b")]
    path.write_bytes(b"".join(lines) + b"z" * 3000)  # a last long line without a break
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (4, 2, 2)
    details = [q.detail for q in sorted(ws.quarantine(), key=lambda q: q.record_index)]
    assert details == [
        "the line is 20,000,009 bytes (max 2,048)",
        "the line is 3,000 bytes (max 2,048)",
    ]


def test_a_line_with_a_nul_byte_is_quarantined(ws, tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(CSV_HEADER + csv_row(b"a\x00") + csv_row("b"))
    r = ws.ingest_file(path)
    assert (r.accepted, r.quarantined) == (1, 1)
    (q,) = ws.quarantine()
    assert q.reason_code == "nul_character" and q.raw.startswith("a\\x00,u1")


def test_a_csv_field_over_several_lines_next_to_a_short_row(ws, tmp_path):
    # DuckDB's parallel reader cannot pad short rows when a quoted field spans lines.
    path = tmp_path / "e.csv"
    path.write_text(
        "event_id,user_id,ts,type,query\n"
        'a,u1,2025-03-01T10:00:00Z,search,"red\nlipstick"\n'
        "b,u1,2025-03-01T10:00:00Z,page_view\n"
    )
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (2, 2, 0)
    assert ws.warehouse.fetchone("SELECT query FROM events WHERE event_id = 'a'")[0] == (
        "red\nlipstick"
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_files_with_a_bom_are_transcoded(ws, tmp_path, encoding):
    text = "\ufeffevent_id,user_id,ts,type,query\na,u1,2025-03-01T10:00:00Z,search,口红\n"
    path = tmp_path / "e.csv"
    path.write_bytes(text.encode(encoding) if encoding != "utf-16" else text[1:].encode(encoding))
    r = ws.ingest_file(path)
    assert (r.received, r.accepted) == (1, 1)
    assert ws.warehouse.fetchone("SELECT event_id, query FROM events") == ("a", "口红")


def test_the_temporary_copy_is_removed(ws, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / "e.csv"
    path.write_bytes(CSV_HEADER + csv_row(b"\xff") + csv_row("b"))
    rel = file_relation(path, "events")
    assert rel.copy is not None and list((tmp_path / "tmp").iterdir())
    del rel
    assert not list((tmp_path / "tmp").iterdir())
    ws.ingest_file(path)
    assert not list((tmp_path / "tmp").iterdir())


def test_a_clean_file_is_read_in_place(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(CSV_HEADER + csv_row("a"))
    rel = file_relation(path, "events")
    assert rel.copy is None and str(path) in rel.sql


# --- files that cannot be read at all -----------------------------------------------------


def truncated_gzip(path: Path) -> None:
    data = gzip.compress(b"".join(jsonl_row(f"e{i}") for i in range(5000)))
    path.write_bytes(data[: len(data) // 2])


def parquet_bytes() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"event_id": ["a"], "user_id": ["u"]}), sink)
    return sink.getvalue().to_pybytes()


UNREADABLE = {
    "truncated.jsonl.gz": (truncated_gzip, "truncated"),
    "tiny.jsonl.gz": (lambda p: p.write_bytes(gzip.compress(jsonl_row("a"))[:12]), "truncated"),
    "fake.jsonl.gz": (lambda p: p.write_bytes(jsonl_row("a")), "not gzip-compressed"),
    "fake.csv.gz": (lambda p: p.write_bytes(CSV_HEADER), "not gzip-compressed"),
    "empty.parquet": (lambda p: p.write_bytes(b""), "is empty"),
    "truncated.parquet": (lambda p: p.write_bytes(parquet_bytes()[:300]), "truncated"),
    "text.parquet": (lambda p: p.write_bytes(CSV_HEADER), "not Parquet"),
    "nobom16.csv": (
        lambda p: p.write_bytes((CSV_HEADER + csv_row("a")).decode().encode("utf-16-le")),
        "UTF-16",
    ),
    "gbk.csv": (
        lambda p: p.write_bytes(
            CSV_HEADER
            + b"".join(
                f"e{i},u1,2025-03-01T10:00:00Z,search,口红{i}\n".encode("gbk") for i in range(20)
            )
        ),
        "GB18030",
    ),
    "empty.csv": (lambda p: p.write_bytes(b""), "is empty"),
    "badheader.csv": (lambda p: p.write_bytes(b"event_id,\xffuser\n" + csv_row("a")), "header"),
    "gzipped.csv": (lambda p: p.write_bytes(gzip.compress(CSV_HEADER)), "gzip-compressed data"),
    "sheet.csv": (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 100), "ZIP"),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_file_that_cannot_be_read_is_refused_in_one_line(ws, tmp_path, name):
    make, says = UNREADABLE[name]
    path = tmp_path / name
    make(path)
    ws.ingest_records([event(event_id="before")])
    with pytest.raises(SourceReadError) as err:
        ws.ingest_file(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and says in msg
    assert "\n" not in msg and len(msg) < 400
    assert counts(ws) == (1, 0, 1)  # nothing stored, no batch logged


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (b'{"event_id": "x\ry", "user_id": "u1"}\n', "control_character"),
        (b'{"event_id": "x\x01y", "user_id": "u1"}\n', "control_character"),
    ],
    ids=["lone-cr", "x01"],
)
def test_a_json_line_the_line_reader_cannot_take_is_quarantined(ws, tmp_path, bad, code):
    # DuckDB's line reader stopped the whole file at these ("invalid state").
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl_row("a") + bad + jsonl_row("b"))
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (3, 2, 1)
    (q,) = ws.quarantine()
    assert (q.reason_code, q.record_index) == (code, 1)
    assert "\\x0" in q.raw


@pytest.mark.parametrize("first", [b"\n", b"\r\n"], ids=["lf-first", "crlf-first"])
def test_json_lines_with_mixed_line_endings_are_read(ws, tmp_path, first):
    path = tmp_path / "e.jsonl"
    other = b"\r\n" if first == b"\n" else b"\n"
    rows = [jsonl_row(x).rstrip(b"\n") for x in "abcd"]
    path.write_bytes(rows[0] + first + rows[1] + other + b"\r\n" + rows[2] + first + rows[3])
    r = ws.ingest_file(path)
    assert (r.received, r.accepted, r.quarantined) == (4, 4, 0)


def test_crlf_json_lines_are_read_in_place(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(jsonl_row("a").replace(b"\n", b"\r\n") * 3)
    assert file_relation(path, "events").copy is None


def test_a_json_line_with_backslash_x01_text_is_read(ws, tmp_path):
    # The line reader's delimiter was the four characters \x01, not the byte: such text (a
    # Windows path) split the line and failed the whole file.
    path = tmp_path / "e.jsonl"
    path.write_bytes(json.dumps(event(event_id="a", query="C:\\x01\\data")).encode() + b"\n")
    r = ws.ingest_file(path)
    assert (r.received, r.accepted) == (1, 1)
    assert ws.warehouse.fetchone("SELECT query FROM events")[0] == "C:\\x01\\data"
