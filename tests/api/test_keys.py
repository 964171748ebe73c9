"""API keys live in keys.sqlite: managed while a server holds the warehouse, revoked at once.

DuckDB lets one process open the warehouse, so these tests run the CLI in a second process
(``python -m portrait.cli``) while this one serves the workspace through a TestClient.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.security import keys
from portrait.store.keys import KEYS_FILE
from portrait.workspace import Workspace

EVENT = {"event_id": "e1", "user_id": "u1", "ts": "2025-03-01T10:00:00Z", "type": "page_view"}


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``portrait ARGS`` in a process of its own (its own DuckDB lock, like a shell)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "portrait.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Workspace, TestClient]]:
    ws = Workspace.init(tmp_path / "ws")
    with TestClient(create_app(ws)) as client:
        yield ws, client
    ws.close()


def test_cli_revokes_a_key_while_the_server_holds_the_warehouse(served):
    ws, client = served
    ingest = ws.create_key("ingest", "feed")
    assert client.post("/v1/events", json=[EVENT], headers=bearer(ingest.token)).status_code == 200
    # the server's process holds the warehouse: a second process cannot open it
    locked = cli("summary", "-w", ws.root)
    assert locked.returncode == 2 and "in use by another process" in " ".join(locked.stderr.split())

    done = cli("keys", "revoke", ingest.key_id, "-w", ws.root)
    assert done.returncode == 0, done.stderr
    assert "revoked" in done.stdout
    r = client.post("/v1/events", json=[EVENT], headers=bearer(ingest.token))
    assert r.status_code == 401, r.text
    assert "revoked" in r.json()["detail"]


def test_cli_creates_and_lists_keys_while_the_server_runs(served):
    ws, client = served
    made = cli("keys", "create", "--role", "admin", "--note", "ops", "--json", "-w", ws.root)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    # the server knows the new key at once
    r = client.get("/v1/keys", headers=bearer(key["token"]))
    assert r.status_code == 200, r.text
    assert [k["note"] for k in r.json() if k["key_id"] == key["key_id"]] == ["ops"]
    listed = cli("keys", "list", "--json", "-w", ws.root)
    assert listed.returncode == 0, listed.stderr
    assert key["key_id"] in {k["key_id"] for k in json.loads(listed.stdout)}
    assert key["token"].split("_", 2)[2] not in listed.stdout


def test_rest_key_routes_create_list_and_revoke(served):
    ws, client = served
    admin = ws.create_key("admin", "root").token
    r = client.post("/v1/keys", json={"role": "ingest", "note": "shop feed"}, headers=bearer(admin))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["role"] == "ingest" and made["token"].startswith(f"pt_{made['key_id']}_")
    token = made["token"]
    assert client.post("/v1/events", json=[EVENT], headers=bearer(token)).status_code == 200

    listed = client.get("/v1/keys", headers=bearer(admin))
    assert listed.status_code == 200
    assert token.split("_", 2)[2] not in listed.text
    row = {k["key_id"]: k for k in listed.json()}[made["key_id"]]
    assert (row["role"], row["note"], row["revoked_at"]) == ("ingest", "shop feed", None)
    # an ingest key may not manage keys
    assert client.get("/v1/keys", headers=bearer(token)).status_code == 403
    assert client.delete(f"/v1/keys/{made['key_id']}", headers=bearer(token)).status_code == 403

    r = client.delete(f"/v1/keys/{made['key_id']}", headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert client.post("/v1/events", json=[EVENT], headers=bearer(token)).status_code == 401
    assert client.delete(f"/v1/keys/{made['key_id']}", headers=bearer(admin)).status_code == 404
    bad = client.post("/v1/keys", json={"role": "root"}, headers=bearer(admin))
    assert bad.status_code == 422 and "unknown role" in bad.json()["detail"]


def test_key_file_is_private_and_holds_no_secret(tmp_path: Path):
    with Workspace.init(tmp_path / "ws") as ws:
        k = ws.create_key("admin")
        ws.list_keys()
        secret = k.token.split("_", 2)[2]
        files = [p for p in ws.root.iterdir() if p.name.startswith(KEYS_FILE)]
        assert ws.root / KEYS_FILE in files
        for p in files:  # keys.sqlite and its -wal/-shm files
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
            assert secret.encode() not in p.read_bytes()


def test_keys_of_an_older_workspace_move_from_the_warehouse(tmp_path: Path):
    root = tmp_path / "ws"
    old = [keys.new_key("ingest"), keys.new_key("admin")]
    with Workspace.init(root) as ws:
        created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        for i, k in enumerate(old):
            ws.warehouse.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
                [k.key_id, k.secret_hash, k.role, "old", created, created if i == 1 else None],
            )
    for p in root.iterdir():  # as if made by a version that kept keys in the warehouse
        if p.name.startswith(KEYS_FILE):
            p.unlink()
    with Workspace.open(root) as ws:
        assert ws.verify_key(old[0].token) == "ingest"
        assert ws.verify_key(old[1].token) is None  # it was revoked, and stays revoked
        rows = {r.key_id: r for r in ws.list_keys()}
        assert rows[old[0].key_id].created_at == created
        assert rows[old[1].key_id].revoked_at == created
        assert ws.create_key("admin").role == "admin"
    with Workspace.open(root) as ws:  # copied once: a second opening adds nothing
        assert len(ws.list_keys()) == 3


def test_in_memory_workspace_keeps_keys_in_memory(tmp_path: Path):
    root = Workspace.init(tmp_path / "ws").root
    for p in root.iterdir():
        if p.name.startswith(KEYS_FILE):
            p.unlink()
    with Workspace.open(root, in_memory=True) as ws:
        token = ws.create_key("admin").token
        assert ws.verify_key(token) == "admin"
    assert not (root / KEYS_FILE).exists()
