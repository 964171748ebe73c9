"""`portrait init` says where the key is; `portrait privacy status|migrate|rotate-key`; the
WAL a CLI process writes is 0600."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from portrait.cli import app
from portrait.security.secrets import SECRET_ENV
from portrait.store.pii import user_pii
from portrait.workspace import Workspace

runner = CliRunner()


def test_init_says_where_the_key_is_and_what_losing_it_loses(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    r = runner.invoke(app, ["init", str(tmp_path / "ws")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"key in {tmp_path / 'ws' / 'secret.key'}" in text
    assert "Losing it loses the PII, and only the PII." in text


def test_privacy_commands(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    root = tmp_path / "ws"
    with Workspace.init(root) as ws:
        ws.ingest_records([{"user_id": "u1", "email": "a@qq.com"}], kind="users")
        key_id = ws.pii.key_id
    r = runner.invoke(app, ["privacy", "status", "-w", str(root), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["recorded_key_id"] == key_id
    assert json.loads(r.output)["clear_values"] == 0
    r = runner.invoke(app, ["privacy", "rotate-key", "-w", str(root), "--json"])
    assert r.exit_code == 0, r.output
    rotated = json.loads(r.output)
    assert rotated["old_key_id"] == key_id and rotated["users_resealed"] == 1
    r = runner.invoke(app, ["privacy", "migrate", "-w", str(root), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["sealed_now"] == 0
    with Workspace.open(root) as ws:
        assert ws.pii.key_id == rotated["new_key_id"]
        assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"]["email"] == "a@qq.com"


def test_a_wrong_key_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    Workspace.init(tmp_path / "ws").close()
    monkeypatch.setenv(SECRET_ENV, "A" * 43 + "=")
    r = runner.invoke(app, ["privacy", "status", "-w", str(tmp_path / "ws")])
    assert r.exit_code == 2
    assert "PII is encrypted with key" in " ".join(r.output.split())


def test_the_wal_of_a_cli_process_is_for_its_owner_only(tmp_path: Path) -> None:
    """DuckDB makes the WAL afresh after each checkpoint with the process umask: the
    ``portrait`` command sets 077, so it is 0600 (a library caller has the 0700 folder)."""
    root = tmp_path / "ws"
    Workspace.init(root).close()
    script = (
        "import os, stat, sys\n"
        "import portrait.cli as cli\n"
        "from portrait.workspace import Workspace\n"
        "cli.app = lambda: None\n"  # main() without a command: only its process setup
        "os.umask(0o022); cli.main()\n"
        "ws = Workspace.open(sys.argv[1])\n"
        "ws.ingest_records([{'user_id': 'u1', 'email': 'a@qq.com'}], kind='users')\n"
        "wal = ws.root / 'warehouse.duckdb.wal'\n"
        "print(oct(stat.S_IMODE(wal.stat().st_mode)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == oct(0o600)
    assert stat.S_IMODE((root / "warehouse.duckdb").stat().st_mode) == 0o600
