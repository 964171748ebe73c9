"""PII at rest: a phone and an e-mail written through ingest are in no file of the workspace
(warehouse, WAL, key files...), yet readable with the key; rotation, the wrong key, and an
older warehouse's clear values sealed on open."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from portrait.security.secrets import SECRET_ENV, SecretKeyError, new_secret
from portrait.store.pii import clear_value_count, user_pii
from portrait.workspace import Workspace

PHONE = "13912345678"
EMAIL = "zhang.wei.private@example.cn"
NAME = "张伟私密"
ADDRESS = "朝阳区秘密路88号"
BIRTH_DATE = "1987-06-29"
RECORD = {
    "user_id": "u1",
    "phone": f"+86 {PHONE}",
    "email": EMAIL,
    "name": NAME,
    "address": ADDRESS,
    "birth_date": BIRTH_DATE,
    "city": "Zzyzx",  # not PII: stays in clear (the search's own check)
}
NEEDLES = {"phone": PHONE.encode(), "email": EMAIL.encode(), "name": NAME.encode(),
           "address": ADDRESS.encode(), "birth_date": BIRTH_DATE.encode()}  # fmt: skip


def found_in_files(root: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which needles occur in the raw bytes of which files under ``root``."""
    hits: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for what, needle in needles.items():
            if needle in data:
                hits.setdefault(what, []).append(path.name)
    return hits


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def test_ingested_pii_is_in_no_file_of_the_workspace(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_records([RECORD, {"user_id": "u2", "phone": PHONE}], kind="users")
    assert ws.warehouse.path is not None
    assert (tmp_path / "ws" / "warehouse.duckdb.wal").exists()  # the batch is in the WAL now
    assert found_in_files(ws.root, NEEDLES) == {}
    ws.warehouse.execute("CHECKPOINT")
    ws.close()
    assert found_in_files(tmp_path / "ws", NEEDLES) == {}
    assert found_in_files(tmp_path / "ws", {"city": b"Zzyzx"}) == {"city": ["warehouse.duckdb"]}
    with Workspace.open(tmp_path / "ws") as ws:
        assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"] == {
            "phone": f"+86 {PHONE}", "email": EMAIL, "name": NAME, "address": ADDRESS,
            "birth_date": BIRTH_DATE,
        }  # fmt: skip
        # the two users still match by phone (keyed HMAC), one person
        persons = ws.warehouse.fetchall("SELECT DISTINCT person_id FROM identity_map")
        assert persons == [("u1",)]


def test_the_search_finds_pii_stored_in_clear(tmp_path: Path) -> None:
    """The raw-bytes search above can fail: with encryption off (the benchmark's internal
    switch) the same batch is found in the WAL and, after a checkpoint, in the warehouse."""
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest.cipher = lambda: None
    ws.ingest_records([RECORD], kind="users")
    assert set(found_in_files(ws.root, NEEDLES)) == set(NEEDLES)
    ws.warehouse.execute("CHECKPOINT")
    ws.close()
    assert set(found_in_files(tmp_path / "ws", NEEDLES)) == set(NEEDLES)


def test_files_are_for_their_owner_only(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.close()
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "ws").iterdir()}
    assert mode["secret.key"] == mode["warehouse.duckdb"] == 0o600
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700


def test_rotation_keeps_values_readable_under_a_new_key(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_records([RECORD, {"user_id": "u2", "phone": PHONE}], kind="users")
    old_key = (tmp_path / "ws" / "secret.key").read_text()
    old_hash = ws.warehouse.fetchone("SELECT phone_hash FROM users WHERE user_id = 'u1'")[0]
    result = ws.rotate_key()
    assert result.users_resealed == 2 and result.old_key_id != result.new_key_id
    assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"]["email"] == EMAIL
    new_hash = ws.warehouse.fetchone("SELECT phone_hash FROM users WHERE user_id = 'u1'")[0]
    assert new_hash != old_hash
    assert ws.warehouse.fetchall("SELECT evidence FROM identity_links") == [(new_hash,)]
    ws.close()
    root = tmp_path / "ws"
    assert (root / "secret.key").read_text() != old_key
    assert not (root / "secret.key.old").exists() and not (root / "secret.key.new").exists()
    with Workspace.open(root) as ws:  # the new key file opens it
        assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"]["phone"] == f"+86 {PHONE}"
        ws.ingest_records([{"user_id": "u3", "phone": PHONE}], kind="users")
        assert ws.warehouse.fetchone("SELECT count(DISTINCT person_id) FROM identity_map")[0] == 1


def test_a_wrong_key_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    Workspace.init(tmp_path / "ws").close()
    monkeypatch.setenv(SECRET_ENV, base64.b64encode(new_secret().master).decode())
    with pytest.raises(SecretKeyError, match=r"PII is encrypted with key \w+: restore"):
        Workspace.open(tmp_path / "ws").warehouse  # noqa: B018


def test_a_lost_key_file_is_not_replaced_silently(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    (tmp_path / "ws" / "secret.key").unlink()
    with pytest.raises(SecretKeyError, match="restore the key file"):
        Workspace.open(tmp_path / "ws").warehouse  # noqa: B018


def test_an_interrupted_rotation_is_finished_on_open(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = Workspace.init(root)
    ws.ingest_records([RECORD], kind="users")
    key = (root / "secret.key").read_text()
    ws.rotate_key()
    ws.close()
    # as if the crash came after the commit, before the new key file took its place
    (root / "secret.key").rename(root / "secret.key.new")
    (root / "secret.key.old").write_text(key)
    with Workspace.open(root) as ws:
        assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"]["name"] == NAME


def test_an_older_warehouse_in_clear_is_sealed_on_open(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = Workspace.init(root)
    ws.ingest.cipher = lambda: None  # what an older version stored: clear, unsalted hash
    ws.ingest_records([RECORD, {"user_id": "u2", "phone": PHONE}], kind="users")
    ws.warehouse.execute("DELETE FROM pii_key")  # and no key recorded
    assert clear_value_count(ws.warehouse) == 2
    ws.close()
    with Workspace.open(root) as ws:
        assert clear_value_count(ws.warehouse) == 0
        assert ws.pii_status().recorded_key_id == ws.pii.key_id
        assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"]["address"] == ADDRESS
        keyed = ws.pii.phone_hmac(PHONE)
        assert ws.warehouse.fetchall("SELECT DISTINCT phone_hash FROM users") == [(keyed,)]
        assert ws.warehouse.fetchall("SELECT evidence FROM identity_links") == [(keyed,)]
