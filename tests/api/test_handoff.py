"""`portrait build` beside a running `portrait serve`: the server builds, the CLI follows.

Before, the CLI could not open the warehouse the server held and exited with "in use by
another process".
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from portrait.api.handoff import SERVER_FILE, running_server
from portrait.cli import app
from portrait.workspace import Workspace


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path, demo_shop_copy: Path):
    """A server on a copy of the demo shop (not built), with an admin key."""
    root = demo_shop_copy
    with Workspace.open(root) as ws:
        token = ws.create_key("admin").token
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "portrait.cli", "serve", "-w", str(root), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "serve.log").read_text())
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield root, base, {"Authorization": f"Bearer {token}"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert not (root / SERVER_FILE).exists()  # the server removes its note when it stops


def test_cli_build_is_handed_to_the_server(served) -> None:
    root, base, admin = served
    info = running_server(root)
    assert info is not None and info.url == base
    assert oct((root / SERVER_FILE).stat().st_mode & 0o777) == "0o600"
    keys_before = len(httpx.get(f"{base}/v1/keys", headers=admin).json())
    r = CliRunner().invoke(app, ["build", "--json", "-w", str(root)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["mode"] == "full" and result["persons"] > 200
    assert "holds the workspace: the build runs there" in " ".join(r.stderr.split())
    builds = httpx.get(f"{base}/v1/builds", headers=admin).json()
    assert [b["build_id"] for b in builds] == [result["build_id"]]
    keys = httpx.get(f"{base}/v1/keys", headers=admin).json()
    assert len(keys) == keys_before + 1  # the hand-off key, revoked
    assert all(k["revoked_at"] for k in keys if k["note"] == "portrait build (CLI hand-off)")
    bad = CliRunner().invoke(app, ["build", "--as-of", "soon", "-w", str(root)])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_a_stale_server_file_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / SERVER_FILE).write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid}))
    assert running_server(root) is None
    (root / SERVER_FILE).write_text("not json")
    assert running_server(root) is None
    assert os.getpid() > 0


def test_cli_training_is_handed_to_the_server(served) -> None:
    root, base, admin = served
    r = CliRunner().invoke(
        app, ["models", "train", "churn", "--horizon-days", "90", "-w", str(root)]
    )
    assert r.exit_code == 2, r.output  # the job ran on the server and failed there, clearly
    said = " ".join(r.output.split())
    assert "the training of churn runs there" in said and "needs at least" in said
    jobs = httpx.get(f"{base}/v1/jobs", headers=admin).json()
    assert jobs[0]["kind"] == "train" and jobs[0]["state"] == "failed"
    keys = httpx.get(f"{base}/v1/keys", headers=admin).json()
    assert all(k["revoked_at"] for k in keys if "hand-off" in (k["note"] or ""))
    unknown = CliRunner().invoke(app, ["models", "train", "chrn", "-w", str(root)])
    assert unknown.exit_code == 2 and "choose one of" in unknown.output
