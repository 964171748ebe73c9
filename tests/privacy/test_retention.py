"""Retention ([retention] of portrait.toml): per class what goes and what stays, a dry run that
changes nothing, a warehouse that still builds afterwards, snapshots pruned through the build
log (never the live one), the audit log pruned behind its anchor, the CLI, REST and the
server's daily schedule."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.audit.context import AuditCaller
from portrait.cli import app as cli_app
from portrait.config import ConfigError, load_settings, write_settings
from portrait.errors import ConflictError
from portrait.privacy import retention
from portrait.privacy.schedule import RetentionSchedule
from portrait.privacy.settings import RetentionSettings
from portrait.workspace import Workspace
from shops import copy_workspace

CALLER = AuditCaller("test", "admin", "python", "python")
DATES = ("2025-01-20", "2025-01-30")  # past builds; the live one is of 2025-02-10
CUT = datetime(2025, 1, 25, tzinfo=UTC)  # the demo shop's events run 2025-01-01 .. 02-09


def days_to(moment: datetime) -> int:
    """``events_days`` whose cutoff today is ``moment``."""
    return (datetime.now(UTC) - moment).days


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, demo_shop) -> Path:
    root = demo_shop.copy(tmp_path_factory.mktemp("retention") / "ws")
    with Workspace.open(root) as ws:
        for day in DATES:
            ws.build(as_of=day)
        ws.build()
        ws.segments.show(ws.segments.list()[0].name)  # memberships of the live build too
    return root


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    return copy_workspace(built, tmp_path / "ws")


@pytest.fixture
def ws(root: Path) -> Iterator[Workspace]:
    ws = Workspace.open(root)
    yield ws
    ws.close()


def count(ws: Workspace, sql: str) -> int:
    return ws.warehouse.fetchone(sql)[0]


def test_unset_keeps_everything_and_bad_settings_are_named(ws: Workspace, root: Path) -> None:
    report = ws.privacy.retain()
    assert (report.classes, report.rows) == ([], 0)
    (root / "portrait.toml").write_text("[retention]\nevent_days = 30\n")
    with pytest.raises(ConfigError, match=r"unknown retention setting 'event_days'.*events_days"):
        load_settings(root)
    (root / "portrait.toml").write_text("[retention]\naudit_days = 0\n")
    with pytest.raises(ConfigError, match=r"retention\.audit_days: .*greater than or equal to 1"):
        load_settings(root)


def test_a_dry_run_says_what_would_go_and_changes_nothing(ws: Workspace) -> None:
    events = count(ws, "SELECT count(*) FROM events")
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT), snapshots_keep=1)
    dry = ws.privacy.retain(dry_run=True)
    assert dry.dry_run and [c.name for c in dry.classes] == ["events", "snapshots"]
    ev, snaps = dry.classes
    old = count(ws, f"SELECT count(*) FROM events WHERE ts < '{ev.cutoff.isoformat()}'")
    assert 0 < ev.rows == old < events and ev.oldest_kept >= CUT.date() - timedelta(days=1)
    assert snaps.detail.startswith("2 snapshot(s)") and snaps.oldest_kept == date(2025, 2, 10)
    assert count(ws, "SELECT count(*) FROM events") == events
    # a dry run is not recorded: it changes nothing
    assert ws.audit.entries(action="privacy.retain") == []
    assert len({b.as_of for b in ws.profile_builds()}) == 3


def test_old_events_go_and_the_next_build_is_full_and_works(ws: Workspace) -> None:
    events = count(ws, "SELECT count(*) FROM events")
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT))
    report = ws.privacy.retain()
    (ev,) = report.classes
    assert ev.rows > 0 and report.rows == ev.rows
    assert count(ws, "SELECT count(*) FROM events") == events - ev.rows
    assert count(ws, f"SELECT count(*) FROM events WHERE ts < '{ev.cutoff.isoformat()}'") == 0
    rebuilt = ws.build()
    assert rebuilt.mode == "full" and rebuilt.persons > 0
    uid = min(ws.table("users").column("user_id").to_pylist())
    assert ws.profile(uid).person_id
    (entry,) = ws.audit.entries(action="privacy.retain")
    assert (entry.rows, entry.params, entry.role) == (ev.rows, {"events": ev.rows}, "admin")
    assert ws.privacy.retain().rows == 0  # nothing older is left


def test_snapshots_go_through_the_build_log_never_the_live_one(ws: Workspace) -> None:
    live = ws.profiles.live_build()
    old_builds = {b.build_id for b in ws.profile_builds() if str(b.as_of) in DATES}
    ws.segments.show(ws.segments.list()[0].name, as_of=DATES[0])  # a membership of an old build
    ws.settings.retention = RetentionSettings(snapshots_days=1, snapshots_keep=1)
    (snaps,) = ws.privacy.retain().classes
    assert snaps.rows > 0 and "2025-01-30, 2025-01-20" in snaps.detail
    assert "segment membership" in snaps.detail
    assert ws.profiles.live_build().build_id == live.build_id  # the live one stays
    with pytest.raises(LookupError):
        ws.profile_table(as_of=DATES[0])
    members = ws.warehouse.fetchall("SELECT DISTINCT build_id FROM segment_members")
    assert not old_builds & {r[0] for r in members}
    index = ws.warehouse.fetchall("SELECT build_id FROM segment_index_builds")
    assert not old_builds & {r[0] for r in index}
    assert ws.profile_table().num_rows == live.persons
    assert ws.build(as_of=DATES[1]).persons > 0  # an old date can be built again


def test_quarantine_sends_and_audit_by_their_own_dates(ws: Workspace) -> None:
    ws.ingest_records([{"event_id": "x", "type": "nonsense"}], kind="events")
    quarantined = count(ws, "SELECT count(*) FROM quarantine")
    now = datetime.now(UTC)
    insert = (
        "INSERT INTO campaign_sends (send_key, campaign, person_id, variant, channel, status, "
        "attempts, sent_at, updated_at) VALUES (?, 'c', ?, 'a', 'email', ?, 1, ?, ?)"
    )
    for key, status, at in [("old-sent", "sent", now - timedelta(days=40)),
                            ("old-queued", "queued", now - timedelta(days=40)),
                            ("new-sent", "sent", now - timedelta(days=1))]:  # fmt: skip
        ws.warehouse.execute(insert, [key, key, status, at, at])
    uid = min(ws.table("users").column("user_id").to_pylist())
    ws.profile(uid)
    later = now + timedelta(days=2)  # everything quarantined and audited so far is 2 days old
    settings = RetentionSettings(quarantine_days=1, sends_days=30, audit_days=1)
    report = retention.retain(ws.warehouse, settings, ws.audit, CALLER, now=later)
    by = {c.name: c for c in report.classes}
    assert by["quarantine"].rows == quarantined > 0
    assert count(ws, "SELECT count(*) FROM quarantine") == 0
    assert by["sends"].rows == 1
    keys = {r[0] for r in ws.warehouse.fetchall("SELECT send_key FROM campaign_sends")}
    assert keys == {"old-queued", "new-sent"}  # a queued send stays whatever its age
    assert by["audit"].rows == 2  # the profile read, and the settings the log was opened with
    check = ws.audit.verify()
    assert check.ok and check.anchor_seq == 2
    assert [e.action for e in ws.audit.entries()] == ["privacy.retain", "audit.prune"]
    assert ws.audit.entries(person=uid) == []


def test_a_running_build_postpones_retention(ws: Workspace) -> None:
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT))
    held, done = threading.Event(), threading.Event()

    def build() -> None:  # what a build on another thread (a REST job) holds while it runs
        with ws.warehouse.build_lock:
            held.set()
            done.wait(30)

    worker = threading.Thread(target=build)
    worker.start()
    held.wait(30)
    try:
        with pytest.raises(ConflictError, match="build is running"):
            ws.privacy.retain()
        assert ws.privacy.retain(dry_run=True).rows > 0  # a dry run deletes nothing: no lock
    finally:
        done.set()
        worker.join()
    assert ws.privacy.retain().rows > 0


def test_the_cli_applies_and_dry_runs(root: Path) -> None:
    settings = load_settings(root)
    settings.retention = RetentionSettings(events_days=days_to(CUT))
    write_settings(root, settings)
    run = CliRunner().invoke
    dry = run(cli_app, ["privacy", "retain", "--dry-run", "--json", "-w", str(root)])
    assert dry.exit_code == 0, dry.output
    body = orjson.loads(dry.stdout)
    assert body["dry_run"] and body["classes"][0]["name"] == "events" and body["rows"] > 0
    table = run(cli_app, ["privacy", "retain", "-w", str(root)], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "rows removed" in table.stdout
    (root / "portrait.toml").write_text(
        (root / "portrait.toml").read_text() + "\n[oops]\n"
    )  # an unknown section: a clear error, not a traceback
    bad = run(cli_app, ["privacy", "retain", "-w", str(root)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_rest_retain_is_for_privacy_managers(ws: Workspace) -> None:
    # schedule off: the server would otherwise apply it as it starts
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT), schedule="off")
    admin, analyst = ws.create_key("admin", "ops"), ws.create_key("analyst", "bi")
    with TestClient(create_app(ws)) as client:
        r = client.post("/v1/privacy/retain?dry_run=true",
                        headers={"Authorization": f"Bearer {admin.token}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["dry_run"] and r.json()["rows"] > 0
        denied = client.post("/v1/privacy/retain",
                             headers={"Authorization": f"Bearer {analyst.token}"})  # fmt: skip
        assert denied.status_code == 403
        done = client.post("/v1/privacy/retain", headers={"Authorization": f"Bearer {admin.token}"})
        assert done.status_code == 200 and not done.json()["dry_run"]
    entry = ws.audit.entries(action="privacy.retain")[0]
    assert (entry.via, entry.role, entry.command) == ("rest", "admin", "POST /v1/privacy/retain")


def test_the_schedule_runs_daily_when_a_limit_is_set(ws: Workspace) -> None:
    schedule = RetentionSchedule(ws)
    assert schedule.tick() is None  # no limit: nothing to do
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT), schedule="off")
    assert schedule.tick() is None
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT))
    first = schedule.tick()
    assert first is not None and first.rows > 0
    assert schedule.tick() is None  # ran less than a day ago
    again = schedule.tick(datetime.now(UTC) + timedelta(days=1, minutes=1))
    assert again is not None and schedule.runs == 2
    entry = ws.audit.entries(action="privacy.retain")[0]
    assert (entry.actor, entry.via, entry.role) == ("server:schedule", "schedule", "admin")


def test_the_server_starts_and_stops_the_schedule(ws: Workspace) -> None:
    ws.settings.retention = RetentionSettings(events_days=days_to(CUT))
    with TestClient(create_app(ws)) as client:
        schedule = client.app.state.retention
        for _ in range(200):  # the first check runs at start, in the worker thread
            if schedule.runs:
                break
            time.sleep(0.05)
        assert schedule.runs == 1
    assert schedule._thread is None
