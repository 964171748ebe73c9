"""The ``portrait`` command end to end, through Typer's CliRunner (and one real process).

Each test works in its own workspace under ``tmp_path``. ``--json`` output is parsed; error
messages are compared with all whitespace removed, because rich wraps long lines.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.workspace import Workspace

runner = CliRunner()

EVENTS_CSV = """event_id,user_id,anonymous_id,ts,type,product_id,price,colour
c1,u1,,2025-03-01 10:00:00,product_view,p1,,red
c2,,,2025-03-01 10:01:00,page_view,,,
c3,u1,,2025-03-01 10:02:00,add_to_cart,p1,not-a-number,
c4,u2,,2025-03-01 10:03:00,page_view,,,blue
c1,u1,,2025-03-01 10:00:00,product_view,p1,,red
"""


def invoke(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def ok(*args: str | Path, env: dict[str, str] | None = None):
    result = invoke(*args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def ok_json(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return json.loads(ok(*args, "--json", env=env).stdout)


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def fails(*args: str | Path, env: dict[str, str] | None = None, code: int = 2):
    result = invoke(*args, env=env)
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


def assert_adds_up(batch: dict[str, Any]) -> None:
    total = batch["accepted"] + batch["duplicates"] + batch["quarantined"]
    assert total == batch["received"], batch


def query(ws_dir: Path, sql: str, params: list | None = None) -> list[tuple]:
    with Workspace.open(ws_dir) as ws:
        return ws.warehouse.fetchall(sql, params)


@pytest.fixture
def wsdir(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    ok("init", d)
    return d


def write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": event_id,
        "user_id": "u1",
        "ts": "2025-03-01T10:00:00Z",
        "type": "page_view",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


# --- init and the workspace option ------------------------------------------------------------


def test_init_creates_a_workspace_and_reopens_an_existing_one(tmp_path: Path):
    d = tmp_path / "shop"
    result = ok("init", d, "--name", "my shop", "--timezone", "Asia/Shanghai")
    assert (d / "portrait.toml").exists()
    assert (d / "warehouse.duckdb").exists()
    assert "Workspace ready" in result.stdout
    toml = (d / "portrait.toml").read_text()
    assert 'name = "my shop"' in toml and 'timezone = "Asia/Shanghai"' in toml
    ok("init", d)  # opening again keeps the settings
    assert (d / "portrait.toml").read_text() == toml


def test_init_with_unknown_timezone_fails_cleanly(tmp_path: Path):
    result = fails("init", tmp_path / "x", "--timezone", "Mars/Base")
    assert "Mars/Base" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["summary"],
        ["quarantine"],
        ["ingest", "events.csv"],
        ["identity", "show", "u1"],
        ["keys", "list"],
        ["keys", "create", "--role", "ingest"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_folder_that_is_not_a_workspace_says_to_run_init(tmp_path: Path, args: list[str]):
    (tmp_path / "events.csv").write_text(EVENTS_CSV)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = fails(*[tmp_path / a if a == "events.csv" else a for a in args], "-w", empty)
    assert "portraitinit" in flat(result.stderr)
    assert "not a Portrait workspace" in " ".join(result.stderr.split())
    assert not (empty / "portrait.toml").exists()


def test_env_var_names_the_workspace_when_w_is_absent(wsdir: Path, tmp_path: Path):
    env = {"PORTRAIT_WORKSPACE": str(wsdir)}
    path = write_jsonl(tmp_path / "e.jsonl", [ev("env-1"), ev("env-2")])
    [batch] = ok_json("ingest", path, env=env)
    assert batch["accepted"] == 2
    assert ok_json("summary", env=env)["events"] == 2
    # -w wins over the variable.
    other = tmp_path / "other"
    ok("init", other)
    assert ok_json("summary", "-w", other, env=env)["events"] == 0
    # A variable naming a non-workspace gives the same clear error.
    result = fails("summary", env={"PORTRAIT_WORKSPACE": str(tmp_path)})
    assert "portraitinit" in flat(result.stderr)


def test_current_folder_is_the_default_workspace(wsdir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(wsdir)
    monkeypatch.delenv("PORTRAIT_WORKSPACE", raising=False)
    assert ok_json("summary")["workspace"] == str(wsdir.resolve())


COMMANDS = [
    ["init"],
    ["ingest"],
    ["quarantine"],
    ["summary"],
    ["simulate"],
    ["load-dataset"],
    ["serve"],
    ["demo"],
    ["identity", "show"],
    ["identity", "merge"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_takes_the_workspace_option(command: list[str]):
    # The issue: "Every command takes -w/--workspace DIR (default $PORTRAIT_WORKSPACE, else
    # current folder)". `schema` prints the built-in model and reads no workspace.
    result = ok(*command, "--help")
    assert "--workspace" in result.stdout and "-w" in result.stdout


def test_init_without_a_folder_uses_the_workspace_option(tmp_path: Path):
    d = tmp_path / "by-option"
    ok("init", "-w", d)
    assert (d / "portrait.toml").exists()


# --- ingest -----------------------------------------------------------------------------------


def test_ingest_csv_json_output_counts_add_up(wsdir: Path, tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    [batch] = ok_json("ingest", path, "-w", wsdir)
    assert batch["kind"] == "events"
    assert batch["source"] == str(path.resolve())
    assert (batch["received"], batch["accepted"], batch["duplicates"], batch["quarantined"]) == (
        5,
        2,
        1,
        2,
    )
    assert_adds_up(batch)
    reasons = dict(
        query(
            wsdir,
            "SELECT record_index, reason_code FROM quarantine WHERE batch_id = ?",
            [batch["batch_id"]],
        )
    )
    assert reasons == {1: "missing_identity", 2: "wrong_type"}
    props = dict(query(wsdir, "SELECT event_id, properties FROM events"))
    assert json.loads(props["c1"]) == {"colour": "red"}
    assert json.loads(props["c4"]) == {"colour": "blue"}


def test_ingest_plain_output_is_a_table(wsdir: Path, tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    result = ok("ingest", path, "-w", wsdir)
    assert "events.csv" in result.stdout
    assert "quarantined" in result.stdout
    assert "portrait quarantine" in result.stdout


def test_ingest_json_lines_with_malformed_lines(wsdir: Path, tmp_path: Path):
    path = write_jsonl(
        tmp_path / "feed.jsonl",
        [
            ev("j1"),
            "{not json at all",
            ev("j2", ts="31/02/2025 25:61"),
            "[1, 2, 3]",
            "42",
            ev("j3", type="order", order_id="o1", product_id="p1", quantity=2, price=9.5),
            ev("j4", source="ad", campaign="spring"),
        ],
    )
    [batch] = ok_json("ingest", path, "-w", wsdir)
    assert_adds_up(batch)
    assert (batch["received"], batch["accepted"], batch["quarantined"]) == (7, 3, 4)
    with Workspace.open(wsdir) as ws:  # payloads sealed at rest: read back decrypted
        records = ws.quarantine(batch_id=batch["batch_id"], limit=100)
    rows = sorted((q.record_index, q.reason_code, q.raw) for q in records)
    assert [(r[0], r[1]) for r in rows] == [
        (1, "not_an_object"),
        (2, "bad_timestamp"),
        (3, "not_an_object"),
        (4, "not_an_object"),
    ]
    assert rows[0][2] == "{not json at all"
    props = query(wsdir, "SELECT properties FROM events WHERE event_id = 'j4'")[0][0]
    assert json.loads(props) == {"source": "ad", "campaign": "spring"}


def test_ingest_parquet_with_a_bad_row(wsdir: Path, tmp_path: Path):
    path = tmp_path / "clicks.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["q1", "q2", "q3", "q4"],
                "user_id": ["u1", "u1", None, "u2"],
                "ts": pa.array(
                    [datetime(2025, 3, 1, 10, tzinfo=UTC)] * 4, pa.timestamp("us", tz="UTC")
                ),
                "type": ["order", "order", "page_view", "page_view"],
                "order_id": ["o1", "o2", None, None],
                "quantity": pa.array([1, 1, None, None], pa.int64()),
                "price": [10.0, -3.0, None, None],
            }
        ),
        path,
    )
    [batch] = ok_json("ingest", path, "-w", wsdir)
    assert_adds_up(batch)
    assert (batch["received"], batch["accepted"], batch["quarantined"]) == (4, 2, 2)
    reasons = dict(query(wsdir, "SELECT record_index, reason_code FROM quarantine"))
    assert reasons == {1: "negative_price", 2: "missing_identity"}


def test_ingest_several_files_one_batch_each(wsdir: Path, tmp_path: Path):
    a = write_jsonl(tmp_path / "a.jsonl", [ev("m1"), ev("m2")])
    b = write_jsonl(tmp_path / "b.jsonl", [ev("m2"), ev("m3"), "oops"])
    batches = ok_json("ingest", a, b, "-w", wsdir)
    assert [(x["accepted"], x["duplicates"], x["quarantined"]) for x in batches] == [
        (2, 0, 0),
        (1, 1, 1),
    ]
    assert len({x["batch_id"] for x in batches}) == 2
    summary = ok_json("summary", "-w", wsdir)
    assert (summary["received"], summary["events"], summary["batches"]) == (5, 3, 2)


def test_kind_is_guessed_from_the_file_name(wsdir: Path, tmp_path: Path):
    users = tmp_path / "users_2025.csv"
    users.write_text("user_id,gender,city\nu1,female,Beijing\nu2,男,Shanghai\n,F,Nowhere\n")
    products = tmp_path / "Products-spring.parquet"
    pq.write_table(
        pa.table({"product_id": ["p1", "p2"], "title": ["Tea", "Cup"], "price": [10.0, 5.5]}),
        products,
    )
    [ub] = ok_json("ingest", users, "-w", wsdir)
    [pb] = ok_json("ingest", products, "-w", wsdir)
    assert (ub["kind"], ub["accepted"], ub["quarantined"]) == ("users", 2, 1)
    assert (pb["kind"], pb["accepted"]) == ("products", 2)
    assert dict(query(wsdir, "SELECT user_id, gender FROM users")) == {"u1": "F", "u2": "M"}
    assert query(wsdir, "SELECT count(*) FROM products")[0][0] == 2
    assert query(wsdir, "SELECT count(*) FROM events")[0][0] == 0


def test_kind_option_overrides_the_guess(wsdir: Path, tmp_path: Path):
    people = tmp_path / "people.csv"
    people.write_text("user_id,city\nu7,Chengdu\n")
    [batch] = ok_json("ingest", people, "--kind", "users", "-w", wsdir)
    assert (batch["kind"], batch["accepted"]) == ("users", 1)
    # Without --kind the same file is read as events and lacks their columns.
    result = fails("ingest", people, "-w", wsdir)
    assert "ts" in result.stderr


@pytest.mark.parametrize("name", ["e.csv", "e.jsonl", "e.parquet"])
def test_unknown_kind_is_exit_2_with_a_clear_message(wsdir: Path, tmp_path: Path, name: str):
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table({"event_id": ["k1"], "ts": ["2025-03-01"]}), path)
    elif name.endswith(".csv"):
        path.write_text("event_id,user_id,ts,type\nk1,u1,2025-03-01 10:00:00,page_view\n")
    else:
        write_jsonl(path, [ev("k1")])
    result = fails("ingest", path, "--kind", "orders", "-w", wsdir)
    msg = " ".join(result.stderr.split())
    assert "unknown kind 'orders'" in msg and "events, users, products" in msg


def test_timezone_option_reads_naive_times_in_that_zone(wsdir: Path, tmp_path: Path):
    path = tmp_path / "local.csv"
    path.write_text(
        "event_id,user_id,ts,type\n"
        "tz1,u1,2025-03-01 10:00:00,page_view\n"
        "tz2,u1,2025-03-01T10:00:00+00:00,page_view\n"
    )
    ok_json("ingest", path, "--timezone", "Asia/Shanghai", "-w", wsdir)
    ts = dict(query(wsdir, "SELECT event_id, ts FROM events"))
    assert ts["tz1"] == datetime(2025, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai is 02:00 UTC
    assert ts["tz2"] == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)  # an explicit offset wins
    # Without the option, the workspace's time zone (UTC) applies.
    other = write_jsonl(tmp_path / "utc.jsonl", [ev("tz3", ts="2025-03-01 10:00:00")])
    ok_json("ingest", other, "-w", wsdir)
    assert query(wsdir, "SELECT ts FROM events WHERE event_id = 'tz3'")[0][0] == datetime(
        2025, 3, 1, 10, 0, tzinfo=UTC
    )


def test_timezone_option_applies_to_parquet_and_json_lines(wsdir: Path, tmp_path: Path):
    pq_path = tmp_path / "naive.parquet"
    pq.write_table(
        pa.table(
            {
                "event_id": ["pz"],
                "user_id": ["u1"],
                "ts": pa.array([datetime(2025, 3, 1, 10, 0)], pa.timestamp("us")),
                "type": ["page_view"],
            }
        ),
        pq_path,
    )
    jl = write_jsonl(tmp_path / "naive.jsonl", [ev("jz", ts="2025-03-01T10:00:00")])
    ok_json("ingest", pq_path, jl, "--timezone", "Asia/Shanghai", "-w", wsdir)
    ts = dict(query(wsdir, "SELECT event_id, ts FROM events"))
    assert ts == {
        "pz": datetime(2025, 3, 1, 2, 0, tzinfo=UTC),
        "jz": datetime(2025, 3, 1, 2, 0, tzinfo=UTC),
    }


def test_unknown_timezone_option_is_a_clear_error(wsdir: Path, tmp_path: Path):
    path = write_jsonl(tmp_path / "e.jsonl", [ev("z1")])
    result = fails("ingest", path, "--timezone", "Mars/Base", "-w", wsdir)
    assert "Mars/Base" in result.stderr


def test_missing_file_is_exit_2_and_named(wsdir: Path, tmp_path: Path):
    result = fails("ingest", tmp_path / "nope.csv", "-w", wsdir)
    assert "nope.csv" in result.stderr and "no such file" in result.stderr
    assert query(wsdir, "SELECT count(*) FROM ingest_batches")[0][0] == 0


def test_error_lines_never_wrap_however_long_the_path(wsdir: Path, tmp_path: Path):
    # Rich wraps at 80 columns when stderr is not a terminal; an error line must stay whole
    # (a script greps it, a user copies the path out of it).
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 8))
    deep.mkdir(parents=True)
    missing = deep / "events-with-a-long-name.csv"
    result = fails("ingest", missing, "-w", wsdir)
    assert f"error: {missing}: no such file\n" in result.stderr
    assert len(str(missing)) > 200


def test_error_messages_keep_square_brackets(wsdir: Path, tmp_path: Path):
    # Error text is printed through rich; a file name like this must not be eaten as markup.
    result = fails("ingest", tmp_path / "events[v2].csv", "-w", wsdir)
    assert "events[v2].csv" in flat(result.stderr)


def _truncated_gzip(path: Path) -> None:
    data = gzip.compress("".join(json.dumps(ev(f"t{i}")) + "\n" for i in range(3000)).encode())
    path.write_bytes(data[: len(data) // 2])


UNREADABLE_FILES = {
    "events.jsonl.gz": (_truncated_gzip, "truncated"),
    "plain.jsonl.gz": (lambda p: p.write_text(json.dumps(ev("x")) + "\n"), "not gzip"),
    "events.parquet": (lambda p: p.write_bytes(b""), "empty"),
    "cut.parquet": (lambda p: p.write_bytes(b"PAR1" + b"\x00" * 200), "truncated"),
    "wide.csv": (
        lambda p: p.write_bytes("event_id,ts\ne1,2025\n".encode("utf-16-le")),
        "UTF-16",
    ),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE_FILES))
def test_a_file_that_cannot_be_read_is_exit_2_with_one_line(wsdir: Path, tmp_path: Path, name):
    make, says = UNREADABLE_FILES[name]
    path = tmp_path / name
    make(path)
    result = fails("ingest", path, "-w", wsdir)
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: {path}: ") and says in line and len(line) < 400
    assert "Traceback" not in result.stderr and len(result.stderr) < 1000
    assert query(wsdir, "SELECT count(*) FROM ingest_batches")[0][0] == 0


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_bad_lines_are_quarantined_and_nothing_is_echoed(wsdir: Path, tmp_path: Path, suffix):
    path = tmp_path / f"events.{suffix}"
    if suffix == "csv":
        head = b"event_id,user_id,ts,type,query\n"
        row = lambda i, q=b"": b"%s,u1,2025-03-01T10:00:00Z,search,%s\n" % (i, q or b"lip")  # noqa: E731
    else:
        head = b""
        row = lambda i, q=b"": (  # noqa: E731
            b'{"event_id":"%s","user_id":"u1","ts":"2025-03-01T10:00:00Z","type":"search",'
            b'"query":"%s"}\n' % (i, q or b"lip")
        )
    path.write_bytes(
        head + row(b"a") + row(b"b", b"q" * 2_200_000) + row(b"c", b"\xff\xfe") + row(b"d")
    )
    result = invoke("ingest", path, "-w", wsdir, "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.stderr) < 1000 and "qqqq" not in result.stderr
    (batch,) = json.loads(result.stdout)
    assert (batch["received"], batch["accepted"], batch["quarantined"]) == (4, 2, 2)
    reasons = query(wsdir, "SELECT reason_code FROM quarantine ORDER BY record_index")
    assert reasons == [("line_too_long",), ("invalid_utf8",)]


@pytest.mark.parametrize("name", ["events.xlsx", "events", "events.csv.bz2"])
def test_unsupported_extension_is_exit_2(wsdir: Path, tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text("whatever")
    result = fails("ingest", path, "-w", wsdir)
    assert "cannot tell the format" in " ".join(result.stderr.split())


def test_csv_without_ts_column_names_the_column(wsdir: Path, tmp_path: Path):
    path = tmp_path / "no_ts.csv"
    path.write_text("event_id,user_id,type,when\ne1,u1,page_view,2025-03-01\n")
    result = fails("ingest", path, "-w", wsdir)
    msg = " ".join(result.stderr.split())
    assert "lacks ts" in msg
    assert "portrait schema" in msg
    assert query(wsdir, "SELECT count(*) FROM ingest_batches")[0][0] == 0


def test_csv_columns_starting_with_underscore_are_kept(wsdir: Path, tmp_path: Path):
    # "source columns that are not canonical are kept inside the JSON properties" (plan.py);
    # the JSON path keeps such keys, so the CSV path must too.
    path = tmp_path / "under.csv"
    path.write_text("event_id,user_id,ts,type,_note\nus1,u1,2025-03-01 10:00:00,page_view,vip\n")
    [batch] = ok_json("ingest", path, "-w", wsdir)
    assert batch["accepted"] == 1
    props = query(wsdir, "SELECT properties FROM events")[0][0]
    assert props is not None and json.loads(props) == {"_note": "vip"}


# --- quarantine and summary -------------------------------------------------------------------


def test_quarantine_json_and_plain(wsdir: Path, tmp_path: Path):
    empty = ok("quarantine", "-w", wsdir)
    assert "Quarantine is empty" in empty.stdout
    assert ok_json("quarantine", "-w", wsdir) == {"counts": [], "records": []}

    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    ok("ingest", path, "-w", wsdir)
    data = ok_json("quarantine", "-w", wsdir)
    assert {(c["kind"], c["reason_code"], c["count"]) for c in data["counts"]} == {
        ("events", "missing_identity", 1),
        ("events", "wrong_type", 1),
    }
    assert all(c["explanation"] for c in data["counts"])
    by_reason = {r["reason_code"]: r for r in data["records"]}
    wrong = by_reason["wrong_type"]
    assert wrong["detail"] == "price = not-a-number"
    assert "not-a-number" in wrong["explanation"] and "fix:" in wrong["explanation"]
    raw = json.loads(wrong["raw"])
    assert raw["event_id"] == "c3" and raw["price"] == "not-a-number"
    assert wrong["source"] == str(path.resolve())
    assert wrong["record_index"] == 2

    only = ok_json("quarantine", "--reason", "missing_identity", "-w", wsdir)
    assert [r["record_index"] for r in only["records"]] == [1]
    assert len(ok_json("quarantine", "--limit", "1", "-w", wsdir)["records"]) == 1

    plain = ok("quarantine", "-w", wsdir).stdout
    assert "missing_identity" in plain and "wrong_type" in plain
    assert "not-a-number" in plain


def test_summary_json_counts_add_up(wsdir: Path, tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    ok("ingest", path, "-w", wsdir)
    ok("ingest", path, "-w", wsdir)  # all over again: duplicates and quarantine again
    s = ok_json("summary", "-w", wsdir)
    assert s["batches"] == 2
    assert s["received"] == 10
    assert s["accepted"] + s["duplicates"] + s["quarantined"] == s["received"]
    assert (s["events"], s["accepted"], s["duplicates"], s["quarantined"]) == (2, 2, 4, 4)
    assert s["events_by_type"] == {"product_view": 1, "page_view": 1}
    assert s["quarantine_by_reason"] == {"events: missing_identity": 2, "events: wrong_type": 2}
    plain = ok("summary", "-w", wsdir).stdout
    assert "records received" in plain and "quarantined" in plain


# --- identity ---------------------------------------------------------------------------------


def test_identity_show_and_merge(wsdir: Path, tmp_path: Path):
    feed = write_jsonl(
        tmp_path / "visits.jsonl",
        [
            ev("v1", user_id=..., anonymous_id="dev-1", ts="2025-03-01T09:00:00Z"),
            ev("v2", user_id="alice", anonymous_id="dev-1", type="login"),
            ev("v3", user_id="bob"),
            ev("v4", user_id=..., anonymous_id="dev-2"),
        ],
    )
    ok("ingest", feed, "-w", wsdir)
    rep = ok_json("identity", "show", "dev-1", "-w", wsdir)
    assert rep["person_id"] == "alice"
    assert {(i["identifier"], i["kind"]) for i in rep["identifiers"]} == {
        ("alice", "user"),
        ("dev-1", "anonymous"),
    }
    assert [(x["rule"], x["evidence"]) for x in rep["links"]] == [("seen_together", "v2")]
    plain = ok("identity", "show", "dev-1", "-w", wsdir).stdout
    assert "belongs to person alice" in plain and "Links" in plain
    lonely = ok("identity", "show", "dev-2", "-w", wsdir).stdout
    assert "anonymous" in lonely and "never linked" in lonely

    merged = ok("identity", "merge", "alice", "bob", "--reason", "same phone", "-w", wsdir)
    assert "Merged" in merged.stdout
    a = ok_json("identity", "show", "alice", "-w", wsdir)
    b = ok_json("identity", "show", "bob", "-w", wsdir)
    assert a["person_id"] == b["person_id"]
    assert {"alice", "bob", "dev-1"} <= {i["identifier"] for i in b["identifiers"]}
    assert any(x["rule"] == "explicit_merge" and x["evidence"] == "same phone" for x in b["links"])


def test_identity_errors_are_exit_2(wsdir: Path, tmp_path: Path):
    ok("ingest", write_jsonl(tmp_path / "e.jsonl", [ev("x1")]), "-w", wsdir)
    result = fails("identity", "show", "ghost", "-w", wsdir)
    assert "ghost" in result.stderr
    assert "ghost" in fails("identity", "merge", "u1", "ghost", "-w", wsdir).stderr
    assert "itself" in fails("identity", "merge", "u1", "u1", "-w", wsdir).stderr


# --- API keys ---------------------------------------------------------------------------------


def test_keys_create_list_revoke(wsdir: Path):
    made = ok_json("keys", "create", "--role", "ingest", "--note", "shop feed", "-w", wsdir)
    assert made["role"] == "ingest"
    token = made["token"]
    assert token.startswith(f"pt_{made['key_id']}_")
    secret = token.split("_", 2)[2]
    admin = ok_json("keys", "create", "--role", "admin", "-w", wsdir)

    listed = ok("keys", "list", "-w", wsdir, "--json")
    assert secret not in listed.stdout and token not in listed.stdout
    rows = {r["key_id"]: r for r in json.loads(listed.stdout)}
    assert rows[made["key_id"]]["role"] == "ingest"
    assert rows[made["key_id"]]["note"] == "shop feed"
    assert rows[made["key_id"]]["revoked_at"] is None
    assert rows[admin["key_id"]]["role"] == "admin"
    plain = ok("keys", "list", "-w", wsdir).stdout
    assert made["key_id"] in plain and secret not in plain

    stored = query(wsdir, "SELECT * FROM api_keys")
    assert secret not in str(stored)
    with Workspace.open(wsdir) as ws:
        assert ws.verify_key(token) == "ingest"

    result = ok("keys", "revoke", made["key_id"], "-w", wsdir)
    assert "revoked" in result.stdout
    rows = {r["key_id"]: r for r in ok_json("keys", "list", "-w", wsdir)}
    assert rows[made["key_id"]]["revoked_at"] is not None
    assert rows[admin["key_id"]]["revoked_at"] is None
    with Workspace.open(wsdir) as ws:
        assert ws.verify_key(token) is None
        assert ws.verify_key(admin["token"]) == "admin"
    again = fails("keys", "revoke", made["key_id"], "-w", wsdir)
    assert "portrait keys list" in " ".join(again.stderr.split())


def test_keys_create_plain_prints_the_token_once(wsdir: Path):
    result = ok("keys", "create", "--role", "admin", "-w", wsdir)
    tokens = re.findall(r"pt_[0-9a-f]+_\S+", result.stdout)
    assert len(tokens) == 1
    with Workspace.open(wsdir) as ws:
        assert ws.verify_key(tokens[0]) == "admin"


def test_keys_create_with_a_bad_role_is_exit_2(wsdir: Path):
    result = fails("keys", "create", "--role", "root", "-w", wsdir)
    msg = " ".join(result.stderr.split())
    assert "unknown role 'root'" in msg and "ingest" in msg and "admin" in msg
    assert ok_json("keys", "list", "-w", wsdir) == []


# --- schema and the installed command ---------------------------------------------------------


def test_schema_prints_the_tables():
    out = ok("schema").stdout
    for table in ("users", "products", "events"):
        assert f"## `{table}`" in out
    assert "Event types" in out
    assert "`event_id`" in out and "`anonymous_id`" in out and "`properties`" in out


def test_the_installed_command_runs():
    exe = shutil.which("portrait", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "portrait.cli"]
    proc = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    for command in ("ingest", "quarantine", "serve", "keys", "identity"):
        assert command in proc.stdout


def test_batches_lists_the_ingest_log(wsdir: Path, tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    [ingested] = ok_json("ingest", path, "-w", wsdir)
    [logged] = ok_json("batches", "-w", wsdir)
    assert logged["batch_id"] == ingested["batch_id"]
    assert logged["received"] == logged["accepted"] + logged["duplicates"] + logged["quarantined"]
    table = ok("batches", "-w", wsdir).stdout
    assert "Ingest batches (newest 1)" in table and "events" in table


def test_demo_runs_the_main_job_end_to_end(tmp_path: Path):
    """`make demo`'s command on a small shop: simulate, ingest (with a dirty feed), build every
    tag and score the personas against the simulator's truth."""
    d = tmp_path / "demo"
    result = ok("demo", d, "--users", "400", "--days", "30")
    text = flat(result.stdout)
    assert re.search(r"Built\d+tagsfor[\d,]+personsasof", text), result.stdout
    assert "simulatorgroundtruth" in text and "price_sensitive" in text
    assert "portraitprofile" in text  # the next step it suggests
    assert "Campaignstheplaybooksuggests" in text and "pb-" in text
    from portrait import Workspace

    with Workspace.open(d) as ws:
        assert ws.profile_builds()[0].persons > 300


def test_workspace_may_come_before_the_command(tmp_path: Path, monkeypatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    Workspace.init(a).close()
    Workspace.init(b).close()
    monkeypatch.chdir(tmp_path)  # not a workspace: a command that names none fails here
    r = runner.invoke(app, ["-w", str(a), "summary", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["workspace"] == str(a.resolve())
    r = runner.invoke(app, ["-w", str(a), "summary", "--json", "-w", str(b)])
    assert json.loads(r.stdout)["workspace"] == str(b.resolve())  # the command's own wins
    r = runner.invoke(app, ["summary", "--json"])  # the next command line starts afresh
    assert r.exit_code == 2 and "portrait.toml" in r.output
