"""The audit log through REST and the CLI: each surface names its caller once (the request's
key, role, address and route; the command line's user and command), the facade records."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.cli import app as cli_app
from portrait.workspace import Workspace
from shops import copy_workspace

runner = CliRunner()


@pytest.fixture
def root(audit_shop: Path, tmp_path: Path) -> Path:
    return copy_workspace(audit_shop, tmp_path / "ws")


@pytest.fixture
def served(root: Path) -> Iterator[tuple[Workspace, TestClient]]:
    ws = Workspace.open(root)
    with TestClient(create_app(ws)) as client:
        yield ws, client
    ws.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def first_user(ws: Workspace) -> str:
    return min(ws.table("users").column("user_id").to_pylist())


def test_a_rest_profile_read_names_the_key_role_address_and_route(served) -> None:
    ws, client = served
    uid = first_user(ws)
    admin = ws.create_key("admin", "ops")
    r = client.get(f"/v1/users/{uid}/profile", headers=bearer(admin.token))
    assert r.status_code == 200
    entry = ws.audit.entries(action="profile.read")[0]
    assert (entry.actor, entry.role, entry.via, entry.origin, entry.command) == (
        f"key:{admin.key_id}", "admin", "rest", "testclient", "GET /v1/users/{user_id}/profile",
    )  # fmt: skip
    assert entry.persons and uid not in entry.persons
    # the request's caller stays with the request: a call here is this process's own
    ws.identity(uid)
    assert ws.audit.entries(limit=1)[0].via == "python"


def test_rest_consent_and_key_changes_are_recorded(served) -> None:
    ws, client = served
    uid = first_user(ws)
    admin = ws.create_key("admin", "ops")
    put = client.put(
        f"/v1/users/{uid}/consent/email",
        json={"granted": False, "source": "support"},
        headers=bearer(admin.token),
    )
    assert put.status_code == 200, put.text
    made = client.post("/v1/keys", json={"role": "ingest"}, headers=bearer(admin.token)).json()
    assert client.delete(f"/v1/keys/{made['key_id']}", headers=bearer(admin.token)).is_success
    actions = [(e.action, e.command) for e in reversed(ws.audit.entries(limit=3))]
    assert actions == [
        ("consent.change", "PUT /v1/users/{user_id}/consent/{channel}"),
        ("key.create", "POST /v1/keys"),
        ("key.revoke", "DELETE /v1/keys/{key_id}"),
    ]


def test_get_audit_is_for_admins_and_filters(served) -> None:
    ws, client = served
    uid = first_user(ws)
    admin = ws.create_key("admin", "ops")
    ingest = ws.create_key("ingest", "feed")
    client.get(f"/v1/users/{uid}/profile", headers=bearer(admin.token))
    assert client.get("/v1/audit", headers=bearer(ingest.token)).status_code == 403
    assert client.get("/v1/audit").status_code == 401
    about = client.get("/v1/audit", params={"person": uid}, headers=bearer(admin.token))
    assert [e["action"] for e in about.json()] == ["profile.read"]
    everything = client.get("/v1/audit", headers=bearer(admin.token)).json()
    assert [e["action"] for e in everything] == [
        "profile.read", "key.create", "key.create", "settings.change",
    ]  # fmt: skip
    assert "token" not in orjson.dumps(everything).decode()
    verify = client.get("/v1/audit/verify", headers=bearer(admin.token)).json()
    assert verify["ok"] and verify["entries"] == 4


def invoke(*args: str | Path):
    return runner.invoke(cli_app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_the_cli_records_its_command_and_lists_and_verifies(root: Path) -> None:
    with Workspace.open(root) as ws:
        uid = first_user(ws)
    r = invoke("profile", uid, "-w", root)
    assert r.exit_code == 0, r.output
    listed = invoke("audit", "--person", uid, "--json", "-w", root)
    assert listed.exit_code == 0, listed.output
    (entry,) = orjson.loads(listed.stdout)
    assert (entry["action"], entry["via"], entry["origin"], entry["command"]) == (
        "profile.read", "cli", "cli", "portrait profile",
    )  # fmt: skip
    assert entry["actor"].startswith("cli:") and uid not in listed.stdout
    assert entry["role"] == "admin"  # the local owner
    table = invoke("audit", "--since", "2000-01-01", "-w", root)
    assert table.exit_code == 0 and "profile.read" in table.stdout
    ok = invoke("audit", "verify", "-w", root)
    assert ok.exit_code == 0 and "audit log ok: 2 entries" in ok.stdout  # settings, profile


def test_audit_verify_exits_1_naming_the_first_broken_entry(root: Path) -> None:
    with Workspace.open(root) as ws:
        for _ in range(3):
            ws.identity(first_user(ws))
        con = ws.audit.log._con  # tampering as someone with the file would
        con.execute("DROP TRIGGER audit_log_no_update")
        con.execute("UPDATE audit_log SET origin = 'elsewhere' WHERE seq = 2")
    r = invoke("audit", "verify", "-w", root)
    assert r.exit_code == 1
    assert "broken at entry 2" in r.stdout
    as_json = orjson.loads(invoke("audit", "verify", "--json", "-w", root).stdout)
    assert (as_json["ok"], as_json["broken_at"], as_json["verified"]) == (False, 2, 1)
