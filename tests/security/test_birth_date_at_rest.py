"""Birth dates at rest: stored sealed in users (text tokens), decrypted only into a build's
temporary table, so the age tags stay exact; a warehouse that stored them as DATEs in clear
is widened and sealed on open."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.security.secrets import SECRET_ENV
from portrait.store.pii import clear_value_count, user_pii
from portrait.workspace import Workspace
from security.test_pii_at_rest import found_in_files

BIRTH = "1990-04-02"  # 35 the day after the build date below


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def _ingest(ws: Workspace) -> None:
    ws.ingest_records(
        [{"user_id": "u1", "birth_date": BIRTH, "registered_at": "2024-01-01T00:00:00Z"},
         {"user_id": "u2", "birth_date": "1990-04-01", "registered_at": "2024-01-01T00:00:00Z"}],
        kind="users",
    )  # fmt: skip
    ws.ingest_records(
        [{"event_id": f"e{i}", "user_id": f"u{i}", "ts": "2025-03-01T10:00:00Z",
          "type": "page_view"} for i in (1, 2)]
    )  # fmt: skip


def _ages(ws: Workspace) -> dict[str, tuple]:
    ws.build(as_of="2025-04-01")
    rows = ws.warehouse.fetchall("SELECT person_id, age, age_band, birth_date FROM profile")
    return {r[0]: tuple(r[1:]) for r in rows}


def test_birth_dates_are_sealed_and_ages_stay_exact(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _ingest(ws)
    stored = ws.warehouse.fetchall("SELECT birth_date FROM users ORDER BY user_id")
    assert all(v.startswith("pii1:") for (v,) in stored)
    assert user_pii(ws.warehouse, ws.pii, ["u1"])["u1"]["birth_date"] == BIRTH
    ws.warehouse.execute("CHECKPOINT")
    assert found_in_files(ws.root, {"birth": BIRTH.encode()}) == {}
    ages = _ages(ws)  # completed years to the build date: the day is needed, and was read
    assert (ages["u1"][:2], ages["u2"][:2]) == ((34, "30-34"), (35, "35-39"))
    # the decrypted dates lived in the build's temporary table only
    temp = ws.warehouse.fetchall("SELECT table_name FROM duckdb_tables() WHERE temporary")
    assert not [t for (t,) in temp if "birth" in t]
    ws.close()


def test_an_older_warehouses_clear_dates_are_widened_and_sealed(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest.cipher = lambda: None  # stored in clear, then typed as an older version did
    _ingest(ws)
    ws.warehouse.execute("ALTER TABLE users ALTER birth_date SET DATA TYPE DATE")
    ws.close()
    with Workspace.open(tmp_path / "ws") as ws:
        assert clear_value_count(ws.warehouse) == 0
        (kind,) = ws.warehouse.fetchone(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = 'users' "
            "AND column_name = 'birth_date'"
        )
        assert kind == "VARCHAR"
        assert user_pii(ws.warehouse, ws.pii, ["u2"])["u2"]["birth_date"] == "1990-04-01"
        assert _ages(ws)["u2"][:2] == (35, "35-39")
