"""What decrypts PII is audited on every surface (issue 17): quarantine reads, the profile
table, campaign dispatch runs (one entry per run) and launch previews; and settings changes
are noticed when the log is next opened (names, never values)."""

from __future__ import annotations

import getpass
import threading
import tomllib
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest
import tomli_w
from typer.testing import CliRunner

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.cli import app as cli_app
from portrait.store.audit import AUDIT_FILE
from portrait.workspace import Workspace
from shops import copy_workspace

runner = CliRunner()
QUARANTINED_USER = "u-quarantined-1"
CAMPAIGN: dict[str, Any] = {
    "name": "hello", "segment": "orders_total > 0", "channel": "in_app",
    "control_share": 0.0, "schedule": {"quiet_hours": {"start": 0, "end": 0}},
    "variants": [{"name": "a", "offer": {"type": "none"},
                  "message": {"subject": {"en": "Hi"},
                              "body": {"en": "Hello {{ name }}", "zh": "{{ name }}，你好"}}}],
}  # fmt: skip


@pytest.fixture
def root(audit_shop: Path, tmp_path: Path) -> Path:
    """The built demo shop with one quarantined record naming a user."""
    root = copy_workspace(audit_shop, tmp_path / "ws")
    with Workspace.open(root) as ws:
        bad = {"event_id": "bad-1", "type": "nonsense", "user_id": QUARANTINED_USER}
        ws.ingest_records([bad], kind="events")
    return root


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def latest(ws: Workspace, action: str) -> Any:
    found = ws.audit.entries(action=action, limit=1)
    assert found, f"no {action} entry"
    return found[0]


def launch_and_make_due(ws: Workspace) -> None:
    ws.campaigns.create(CAMPAIGN)
    ws.campaigns.launch("hello")
    ws.warehouse.execute(  # time passes: every send comes due
        "UPDATE campaign_sends SET scheduled_at = now() - INTERVAL 1 HOUR WHERE campaign = 'hello'"
    )


def test_python_surfaces_record_what_they_decrypt(root: Path) -> None:
    with Workspace.open(root) as ws:
        records = ws.quarantine()
        entry = latest(ws, "quarantine.read")
        assert entry.rows == len(records) >= 1 and entry.params["limit"] == 50
        assert ws.audit.pseudonym(QUARANTINED_USER) in entry.persons
        assert (entry.via, entry.command) == ("python", "ws.quarantine")

        table = ws.profile_table()
        entry = latest(ws, "profile.table")
        assert entry.rows == table.num_rows > 0 and entry.params == {"as_of": None, "tags": None}

        ws.campaigns.create(CAMPAIGN)
        dry = ws.campaigns.launch("hello", dry_run=True)
        shown = [s for s in dry.samples if s.user_id]
        assert shown and all("pii1:" not in s.body for s in shown)  # names, not sealed tokens
        assert all(s.body.strip() not in ("Hello", "，你好") for s in shown)
        entry = latest(ws, "campaign.preview")
        assert entry.rows == len({s.user_id for s in shown})
        assert entry.persons == sorted({ws.audit.pseudonym(s.user_id) for s in shown})
        assert entry.params == {"name": "hello", "show_pii": True}

        ws.campaigns.launch("hello")
        ws.warehouse.execute(
            "UPDATE campaign_sends SET scheduled_at = now() - INTERVAL 1 HOUR "
            "WHERE campaign = 'hello'"
        )
        done = ws.campaigns.dispatch()
        assert done.sent > 0
        entry = latest(ws, "campaign.dispatch")
        assert entry.rows == done.sent and entry.persons == []  # one entry, not one per person
        assert entry.params["campaigns"] == {"hello": done.sent}
        assert entry.params["channels"] == {"in_app": done.sent}
        assert entry.params["contacts_decrypted"] >= done.sent
        assert ws.campaigns.dispatch().processed == 0  # nothing due: nothing decrypted
        assert len(ws.audit.entries(action="campaign.dispatch")) == 1
        assert ws.audit.verify().ok


def test_a_dispatch_that_fails_midway_is_still_recorded(root: Path) -> None:
    with Workspace.open(root) as ws:
        launch_and_make_due(ws)

        class Broken:
            idempotent = True

            def __init__(self) -> None:
                self.calls = 0

            def send(self, message: Any) -> str:
                self.calls += 1
                if self.calls == 2:
                    raise RuntimeError("the provider's client crashed")
                return "ok"

        ws.campaigns.channels["in_app"] = Broken()  # type: ignore[assignment]
        with pytest.raises(RuntimeError, match="crashed"):
            ws.campaigns.dispatch()
        entry = latest(ws, "campaign.dispatch")
        assert entry.rows == 2 and entry.params["sent"] == 1  # both handed over, one sent


def test_rest_records_the_key_for_each_decrypting_route(root: Path) -> None:
    ws = Workspace.open(root)
    try:
        admin = ws.create_key("admin", "ops").token
        marketer = ws.create_key("marketer", "crm").token
        with TestClient(create_app(ws)) as client:
            r = client.get("/v1/quarantine", headers=bearer(admin))
            assert r.status_code == 200, r.text
            entry = latest(ws, "quarantine.read")
            assert (entry.via, entry.role, entry.command) == ("rest", "admin", "GET /v1/quarantine")
            assert entry.rows == len(r.json()) >= 1

            assert client.post("/v1/campaigns", json=CAMPAIGN, headers=bearer(admin)).is_success
            launch = "/v1/campaigns/hello/launch"
            preview = client.post(launch, params={"dry_run": True}, headers=bearer(marketer))
            assert preview.status_code == 200, preview.text
            entry = latest(ws, "campaign.preview")
            assert (entry.role, entry.command) == ("marketer", "POST /v1/campaigns/{name}/launch")
            assert entry.params == {"name": "hello", "show_pii": False}  # masked for a marketer

            assert client.post(launch, headers=bearer(admin)).is_success
            ws.warehouse.execute(
                "UPDATE campaign_sends SET scheduled_at = now() - INTERVAL 1 HOUR "
                "WHERE campaign = 'hello'"
            )
            sent = client.post("/v1/campaigns/dispatch", headers=bearer(marketer))
            assert sent.status_code == 200, sent.text
            entry = latest(ws, "campaign.dispatch")
            assert (entry.role, entry.command) == ("marketer", "POST /v1/campaigns/dispatch")
            assert entry.rows == sent.json()["sent"] > 0
    finally:
        ws.close()


def invoke(*args: str | Path):
    return runner.invoke(cli_app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_the_cli_records_quarantine_reads_and_dispatch_runs(root: Path) -> None:
    with Workspace.open(root) as ws:
        launch_and_make_due(ws)
    r = invoke("quarantine", "-w", root)
    assert r.exit_code == 0, r.output
    r = invoke("campaign", "dispatch", "--json", "-w", root)
    assert r.exit_code == 0, r.output
    sent = orjson.loads(r.stdout)["sent"]
    with Workspace.open(root) as ws:
        read = latest(ws, "quarantine.read")
        assert (read.via, read.command, read.rows) == ("cli", "portrait quarantine", 1)
        run = latest(ws, "campaign.dispatch")
        assert (run.via, run.command, run.rows) == ("cli", "portrait campaign dispatch", sent)
    ok = invoke("audit", "verify", "-w", root)
    assert ok.exit_code == 0 and "audit log ok" in ok.stdout


# --- settings changes ------------------------------------------------------------------------
def edit_settings(root: Path, **sections: dict[str, Any]) -> None:
    """Edit portrait.toml as someone would by hand: ``consent={"default": "denied"}``, a
    nested section as ``campaigns__smtp={...}``."""
    toml = root / "portrait.toml"
    settings = tomllib.loads(toml.read_text())
    for name, values in sections.items():
        table = settings
        for part in name.split("__"):
            table = table.setdefault(part, {})
        table.update(values)
    toml.write_text(tomli_w.dumps(settings))


def settings_entries(root: Path) -> list[Any]:
    with Workspace.open(root) as ws:
        return ws.audit.entries(action="settings.change")


def test_a_settings_change_is_named_when_the_log_is_next_opened(root: Path) -> None:
    (first,) = settings_entries(root)  # the first open: the settings as they are
    assert first.params["initial"] is True and first.params["changed"] == []
    assert first.actor == f"os:{getpass.getuser()}" and first.via == "settings"
    assert settings_entries(root) == [first]  # opened again, nothing changed: nothing new

    secret_user = "mailer-7731-zq"
    edit_settings(
        root, consent={"default": "denied"}, retention={"events_days": 400},
        campaigns__smtp={"host": "smtp.example.org", "username": secret_user},
    )  # fmt: skip
    changed, again = settings_entries(root)
    assert again == first
    assert changed.params["initial"] is False
    assert changed.params["changed"] == [
        "campaigns.smtp.host", "campaigns.smtp.username", "consent.default",
        "retention.events_days",
    ]  # fmt: skip
    assert changed.params["file"] == "portrait.toml" and changed.params["file_mtime"]
    assert changed.params["file_owner"]
    text = changed.model_dump_json()
    assert secret_user not in text and "smtp.example.org" not in text  # names, not values
    raw = b"".join(p.read_bytes() for p in root.glob(f"{AUDIT_FILE}*"))
    assert secret_user.encode() not in raw

    # a value changed back is a change too; a reformatted file with the same values is not
    edit_settings(root, retention={"events_days": 730})
    assert settings_entries(root)[0].params["changed"] == ["retention.events_days"]
    toml = root / "portrait.toml"
    toml.write_text("# edited\n" + toml.read_text().replace(" = ", "="))
    assert len(settings_entries(root)) == 3

    listed = invoke("audit", "--action", "settings.change", "-w", root)
    assert listed.exit_code == 0 and "retention.events_days" in listed.stdout
    with Workspace.open(root) as ws:
        assert ws.audit.verify().ok


def test_two_processes_opening_at_once_record_a_change_once(root: Path) -> None:
    settings_entries(root)
    edit_settings(root, retention={"audit_days": 800})
    start = threading.Barrier(4)
    opened: list[Workspace] = []

    def open_log() -> None:
        ws = Workspace.open(root)
        opened.append(ws)
        start.wait()
        ws.audit  # noqa: B018 - opening it is what records

    threads = [threading.Thread(target=open_log) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ws in opened:
        ws.close()
    entries = settings_entries(root)
    assert [e.params["changed"] for e in entries] == [["retention.audit_days"], []]
