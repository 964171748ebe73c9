"""The audit log's integrity beyond the chain: a cut tail is caught by the keyed head, a prune
leaves a keyed anchor the chain verifies from, and the pseudonyms (the audit key) survive a
workspace key rotation and an upgrade from a log made before the audit key existed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.audit.chain import GENESIS, seal
from portrait.audit.context import AuditCaller
from portrait.cli import app as cli_app
from portrait.security.pii import PiiCipher
from portrait.security.secrets import load_secret
from portrait.store.audit import AUDIT_FILE, FIELDS, _from_row, _to_row
from portrait.workspace import Workspace
from shops import copy_workspace

CALLER = AuditCaller("test", "admin", "python", "python")


@pytest.fixture
def root(audit_shop: Path, tmp_path: Path) -> Path:
    return copy_workspace(audit_shop, tmp_path / "ws")


@pytest.fixture
def shop(root: Path) -> Iterator[Workspace]:
    ws = Workspace.open(root)
    yield ws
    ws.close()


def users(ws: Workspace, n: int = 4) -> list[str]:
    return sorted(ws.table("users").column("user_id").to_pylist())[:n]


def raw(root: Path) -> sqlite3.Connection:
    """The file as someone with access to it (and sqlite3) opens it."""
    con = sqlite3.connect(root / AUDIT_FILE, isolation_level=None)
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    return con


def test_a_cut_tail_is_reported_as_truncation(root: Path) -> None:
    with Workspace.open(root) as ws:
        for uid in users(ws):
            ws.profile(uid)
        # entry 1 is the settings the log was first opened with (settings.change)
        assert ws.audit.verify().ok and ws.audit.verify().head_seq == 5
    con = raw(root)
    con.execute("DELETE FROM audit_log WHERE seq > 2")
    con.close()
    with Workspace.open(root) as ws:
        result = ws.audit.verify()
    assert (result.ok, result.truncated, result.verified, result.broken_at) == (
        False, True, 2, None,
    )  # fmt: skip
    assert result.head_seq == 5 and "ends at entry 2 but entry 5 was written" in result.problem
    r = CliRunner().invoke(cli_app, ["audit", "verify", "-w", str(root)])
    assert r.exit_code == 1 and "cut from its end" in r.stdout


def test_a_head_moved_back_without_the_key_does_not_hold(root: Path) -> None:
    with Workspace.open(root) as ws:
        for uid in users(ws, 3):
            ws.profile(uid)
        second = ws.audit.entries()[1]
    con = raw(root)
    con.execute("DELETE FROM audit_log WHERE seq > 2")
    con.execute("UPDATE audit_head SET seq = 2, hash = ?", [second.hash])
    con.close()
    with Workspace.open(root) as ws:
        result = ws.audit.verify()
    assert not result.ok and "keyed head" in result.problem


def test_a_forged_entry_after_the_head_is_reported(shop: Workspace) -> None:
    shop.profile(users(shop)[0])
    last = shop.audit.entries()[0]
    forged = {"seq": last.seq + 1, "action": "forged"}
    body = {**last.model_dump(mode="json", exclude={"hash"}), **forged}
    row = _to_row(body)  # chained as the store would, but the head cannot follow without the key
    shop.audit.log._con.execute(
        f"INSERT INTO audit_log VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
        [*row, seal(last.hash, _from_row(row))],
    )
    result = shop.audit.verify()
    assert (result.ok, result.truncated, result.broken_at) == (False, False, None)
    assert "added without the audit key" in result.problem


def test_a_prune_leaves_an_anchor_the_chain_verifies_from(shop: Workspace) -> None:
    a, b, c, _ = users(shop)
    shop.profile(a)
    shop.profile(b)
    cut = datetime.now(UTC)
    shop.profile(c)
    # 3: the log's first entry (the settings it was opened with: settings.change) and a, b
    assert shop.audit.prunable(cut)[0] == 3
    done = shop.audit.prune(cut, CALLER)
    assert (done.pruned, done.anchor_seq) == (3, 3)
    entries = shop.audit.entries()
    assert [e.seq for e in entries] == [5, 4]
    prune = entries[0]
    assert (prune.action, prune.rows, prune.params["anchor_seq"]) == ("audit.prune", 3, 3)
    assert prune.params["anchor_hash"] == done.anchor_hash
    result = shop.audit.verify()
    assert (result.ok, result.anchor_seq, result.verified, result.head_seq) == (True, 3, 2, 5)
    assert shop.audit.entries(person=a) == [] and len(shop.audit.entries(person=c)) == 1
    # a second prune moves the anchor on; appends go on chaining
    assert shop.audit.prune(datetime.now(UTC) + timedelta(seconds=1), CALLER).pruned == 2
    shop.profile(a)
    assert shop.audit.verify().ok and shop.audit.verify().anchor_seq == 5
    assert shop.audit.prune(datetime(2000, 1, 1, tzinfo=UTC), CALLER).pruned == 0


def test_an_altered_anchor_does_not_hold(shop: Workspace) -> None:
    for uid in users(shop, 2):
        shop.profile(uid)
    shop.audit.prune(datetime.now(UTC) + timedelta(seconds=1), CALLER)
    shop.audit.log._con.execute("UPDATE audit_anchor SET seq = 1")
    result = shop.audit.verify()
    assert not result.ok and "anchor" in result.problem


def test_pseudonyms_and_the_head_survive_a_key_rotation(root: Path) -> None:
    with Workspace.open(root) as ws:
        uid = users(ws)[0]
        ws.profile(uid)
        before = ws.audit.pseudonym(uid)
        rotation = ws.rotate_key()
        assert ws.audit.pseudonym(uid) == before
        assert set(ws.audit.log.sealed_keys()) == {rotation.new_key_id}
    with Workspace.open(root) as ws:  # a new process: the new key file opens the audit key
        assert load_secret(root).key_id == rotation.new_key_id
        assert ws.audit.pseudonym(uid) == before
        assert [e.action for e in ws.audit.entries(person=uid)] == ["profile.read"]
        assert ws.audit.verify().ok
    listed = CliRunner().invoke(cli_app, ["audit", "--person", uid, "--json", "-w", str(root)])
    assert listed.exit_code == 0 and '"profile.read"' in listed.stdout


def test_the_audit_file_alone_does_not_give_the_audit_key(root: Path) -> None:
    with Workspace.open(root) as ws:
        ws.profile(users(ws)[0])
        key = ws.audit._key
    data = b"".join(p.read_bytes() for p in root.glob(f"{AUDIT_FILE}*"))
    assert key not in data


def test_a_log_from_before_audit_keys_keeps_its_pseudonyms(root: Path) -> None:
    """A version-1 log (entries only; pseudonyms under the workspace secret's pseudonym key),
    as the previous version wrote it: opened now, its entries are found by person, the chain
    holds and gets a keyed head."""
    secret = load_secret(root, create=True)
    old = PiiCipher(secret)
    con = sqlite3.connect(root / AUDIT_FILE, isolation_level=None)
    con.execute(
        "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT "
        "NULL, role TEXT, via TEXT NOT NULL, origin TEXT NOT NULL, action TEXT NOT NULL, "
        "command TEXT NOT NULL, params TEXT NOT NULL, persons TEXT NOT NULL, segment TEXT, "
        "rows INTEGER, hash TEXT NOT NULL)"
    )
    previous = GENESIS
    for seq, uid in enumerate(["u0000001", "u0000002"], start=1):
        body = {"seq": seq, "at": f"2025-01-0{seq}T00:00:00.000000+00:00", "actor": "local:x",
                "role": None, "via": "python", "origin": "python", "action": "profile.read",
                "command": "ws.profile", "params": {}, "persons": [old.pseudonym("person", uid)],
                "segment": None, "rows": 1}  # fmt: skip
        previous = seal(previous, body)
        row = [body[f] for f in FIELDS]
        row[FIELDS.index("params")] = "{}"
        row[FIELDS.index("persons")] = f'["{body["persons"][0]}"]'
        con.execute(f"INSERT INTO audit_log VALUES ({', '.join('?' * 13)})", [*row, previous])
    con.execute("PRAGMA user_version = 1")
    con.close()
    with Workspace.open(root) as ws:
        assert [e.seq for e in ws.audit.entries(person="u0000002")] == [2]
        ws.profile("u0000001")  # entry 3 is the settings.change its opening recorded
        assert [e.seq for e in ws.audit.entries(person="u0000001")] == [4, 1]
        result = ws.audit.verify()
        assert (result.ok, result.entries, result.head_seq) == (True, 4, 4)
