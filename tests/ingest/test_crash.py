"""Kill an ingest part-way, reopen, re-ingest: every event is stored exactly once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.workspace import Workspace

N = 600_000
BAD_EVERY = 1000  # every 1000th event has no identity and goes to quarantine


def write_events(path: Path) -> None:
    ids = np.arange(N)
    start = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    users = pa.array([None if i % BAD_EVERY == 0 else f"u{i % 5000}" for i in ids])
    pq.write_table(
        pa.table(
            {
                "event_id": pa.array([f"e{i}" for i in ids]),
                "user_id": users,
                "ts": pa.array(start + ids * 1_000_000, pa.timestamp("us", tz="UTC")),
                "type": pa.array(["page_view"] * N),
            }
        ),
        path,
    )


CHILD = textwrap.dedent("""
    import os, signal, sys
    from portrait.workspace import Workspace
    ws = Workspace.open(sys.argv[1])
    mode = sys.argv[3]
    hook = (lambda: os.kill(os.getpid(), signal.SIGKILL)) if mode == "at-commit" else None
    print("started", flush=True)
    ws.ingest_file(sys.argv[2], before_commit=hook)
    print("finished", flush=True)
""")


def run_child(ws_dir: Path, data: Path, mode: str, kill_after: float | None) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ws_dir), str(data), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    if kill_after is not None:
        time.sleep(kill_after)
        proc.kill()
    proc.wait(timeout=120)
    return proc.stdout.read()


def state(ws_dir: Path) -> tuple[int, int, int]:
    with Workspace.open(ws_dir) as ws:
        return ws.warehouse.fetchone(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine), "
            "(SELECT count(*) FROM ingest_batches)"
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "kill_after"), [("at-commit", None), ("timed", 0.3), ("timed", 1.0)]
)
def test_killed_ingest_is_all_or_nothing_and_reingest_is_exactly_once(tmp_path, mode, kill_after):
    data = tmp_path / "events.parquet"
    write_events(data)
    ws_dir = tmp_path / "ws"
    Workspace.init(ws_dir).close()
    run_child(ws_dir, data, mode, kill_after)
    accepted, bad = N - N // BAD_EVERY, N // BAD_EVERY
    after_crash = state(ws_dir)
    assert after_crash in ((0, 0, 0), (accepted, bad, 1)), after_crash
    if mode == "at-commit":
        assert after_crash == (0, 0, 0)  # killed just before COMMIT: nothing landed
    with Workspace.open(ws_dir) as ws:
        r = ws.ingest_file(data)
        assert r.received == N
    events, quarantined, batches = state(ws_dir)
    assert events == accepted
    # The quarantine holds the bad records of each batch that committed.
    assert quarantined == bad * batches
