"""Quarantined records at rest: the payload and detail of a rejected record are sealed (no file
of the workspace holds its phone or e-mail), read back in clear by the owner and masked for a
role without pii:read; erasure finds a person's records by keyed pseudonyms; a rotation
re-seals them; an older warehouse's clear rows are sealed on open."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portrait.security.policy import mask_quarantined
from portrait.security.secrets import SECRET_ENV
from portrait.store import quarantine
from portrait.workspace import Workspace
from security.test_pii_at_rest import found_in_files

PHONE = "13987654321"
EMAIL = "li.na.secret@example.cn"
BAD_EMAIL = "li.na.secret-at-example"  # rejected: the detail quotes it
NAME = "李娜隐私"
NEEDLES = {"phone": PHONE.encode(), "email": EMAIL.encode(), "bad_email": BAD_EMAIL.encode(),
           "name": NAME.encode()}  # fmt: skip
REJECTED = [
    # an invalid e-mail: the whole record goes to quarantine, phone and name included
    {"user_id": "u1", "phone": PHONE, "email": BAD_EMAIL, "name": NAME},
    # an invalid birth date, the e-mail valid
    {"user_id": "u2", "email": EMAIL, "birth_date": "1990-13-45"},
]


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def _quarantine_some(root: Path) -> Workspace:
    ws = Workspace.init(root)
    users = ws.ingest_records(REJECTED, kind="users")
    events = ws.ingest_records(
        [{"event_id": "e1", "user_id": "u1", "anonymous_id": "dev-9", "type": "view",
          "ts": "not a time"}],
        kind="events",
    )  # fmt: skip
    assert (users.quarantined, events.quarantined) == (2, 1)
    return ws


def test_a_quarantined_records_pii_is_in_no_file(tmp_path: Path) -> None:
    ws = _quarantine_some(tmp_path / "ws")
    assert found_in_files(ws.root, NEEDLES) == {}  # the WAL
    ws.warehouse.execute("CHECKPOINT")
    ws.close()
    assert found_in_files(tmp_path / "ws", NEEDLES) == {}
    with Workspace.open(tmp_path / "ws") as ws:  # the owner reads them in clear
        records = {(r.kind, r.record_index): r for r in ws.quarantine()}
        assert json.loads(records["users", 0].raw) == REJECTED[0]
        assert records["users", 0].detail == f"email = {BAD_EMAIL}"
        assert BAD_EMAIL in records["users", 0].explanation
        assert json.loads(records["users", 1].raw) == REJECTED[1]
        assert json.loads(records["events", 0].raw)["anonymous_id"] == "dev-9"
        assert ws.pii_status().clear_quarantine == 0


def test_the_search_finds_a_payload_stored_in_clear(tmp_path: Path) -> None:
    """The search above can fail: with encryption off the same records are found."""
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest.cipher = lambda: None
    ws.ingest_records(REJECTED, kind="users")
    ws.warehouse.execute("CHECKPOINT")
    ws.close()
    assert set(found_in_files(tmp_path / "ws", NEEDLES)) == set(NEEDLES)


def test_a_role_without_pii_read_sees_the_payload_masked(tmp_path: Path) -> None:
    ws = _quarantine_some(tmp_path / "ws")
    record = next(r for r in ws.quarantine() if r.kind == "users" and r.record_index == 0)
    masked = mask_quarantined(record)
    assert json.loads(masked.raw) == {
        "user_id": "u1", "phone": "139****4321", "email": "l***", "name": "李***"
    }  # fmt: skip
    assert masked.detail == "email = l***" and BAD_EMAIL not in masked.explanation
    unreadable = record.model_copy(update={"raw": f"{PHONE},{EMAIL}", "detail": PHONE})
    assert PHONE not in str(mask_quarantined(unreadable).model_dump())
    # the REST route and the facade of a role view go through the same policy
    analyst = ws.as_role("analyst", check_operations=False)
    assert all(PHONE not in (r.raw or "") for r in analyst.quarantine())
    ws.close()


def test_erasure_finds_a_persons_records_by_pseudonym(tmp_path: Path) -> None:
    ws = _quarantine_some(tmp_path / "ws")
    wh, cipher = ws.warehouse, ws.pii
    assert quarantine.count_mentions(wh, cipher, ["u1"]) == 2  # a users and an events record
    assert quarantine.count_mentions(wh, cipher, ["dev-9"]) == 1
    assert quarantine.count_mentions(wh, cipher, [f"+86 {PHONE}"]) == 1  # matched by digits
    assert quarantine.count_mentions(wh, cipher, [EMAIL.upper()]) == 1  # e-mails: any case
    assert quarantine.count_mentions(wh, cipher, ["u3", "nobody@example.cn", ""]) == 0
    assert quarantine.erase_mentions(wh, cipher, ["u1", "dev-9"]) == 2
    assert [(r.kind, r.record_index) for r in ws.quarantine()] == [("users", 1)]
    assert quarantine.erase_mentions(wh, cipher, [EMAIL]) == 1
    assert ws.quarantine() == []
    ws.close()


def test_rotation_reseals_the_quarantine(tmp_path: Path) -> None:
    ws = _quarantine_some(tmp_path / "ws")
    before = ws.warehouse.fetchall("SELECT raw, user_hmac FROM quarantine ORDER BY kind")
    ws.privacy.rotate_key()
    after = ws.warehouse.fetchall("SELECT raw, user_hmac FROM quarantine ORDER BY kind")
    assert all(a[0] != b[0] and a[1] != b[1] for a, b in zip(after, before, strict=True))
    assert json.loads(ws.quarantine(kind="users", limit=1)[0].raw)["user_id"] in ("u1", "u2")
    assert quarantine.count_mentions(ws.warehouse, ws.pii, ["u1"]) == 2
    ws.close()


def test_an_older_warehouses_clear_records_are_sealed_on_open(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest.cipher = lambda: None  # as an older version stored them
    ws.ingest_records(REJECTED, kind="users")
    assert ws.pii_status().clear_quarantine == 2
    ws.close()
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.pii_status().clear_quarantine == 0
        assert quarantine.count_mentions(ws.warehouse, ws.pii, [PHONE, "u2"]) == 2
        assert json.loads(ws.quarantine(limit=5)[-1].raw)["user_id"] in ("u1", "u2")
        ws.warehouse.execute("CHECKPOINT")
    # the rows were rewritten; freed blocks may keep old bytes until compaction (docs)
