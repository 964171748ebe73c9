"""The campaign tables come from numbered migrations: an old workspace opens migrated, and a
read-only opening of a new one finds them without creating anything."""

from __future__ import annotations

from pathlib import Path

import duckdb

from portrait.store.ddl import MIGRATIONS
from portrait.workspace import Workspace

ADDED_TABLES = ("inapp_messages", "journey_entries", "campaign_bandit")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def test_migration_9_is_the_campaign_tables() -> None:
    assert 9 in dict(MIGRATIONS)


def test_an_old_workspace_without_the_later_campaign_tables_opens_migrated(tmp_path: Path) -> None:
    root = tmp_path / "old"
    Workspace.init(root).close()
    path = root / "warehouse.duckdb"
    con = duckdb.connect(str(path))  # as a version before migration 9 left it
    for table in ADDED_TABLES:
        con.execute(f"DROP TABLE {table}")
    for column in ("next_attempt_at", "claimed_at", "offer_cost", "entered_at"):
        con.execute(f"ALTER TABLE campaign_sends DROP COLUMN {column}")
    con.execute("DELETE FROM schema_migrations WHERE version >= 9")
    assert not set(ADDED_TABLES) & _tables(con)
    con.close()

    with Workspace.open(root) as ws:
        assert ws.campaigns.list() == []
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert set(ADDED_TABLES) <= _tables(con)
        assert {"next_attempt_at", "claimed_at", "offer_cost", "entered_at"} <= _columns(
            con, "campaign_sends"
        )
        assert con.execute("SELECT count(*) FROM schema_migrations WHERE version = 9").fetchone()
    finally:
        con.close()


def test_a_read_only_workspace_reads_campaigns_without_creating_tables(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    with Workspace.open(root, read_only=True) as ws:
        assert ws.campaigns.list() == []
        assert ws.campaigns.inbox("nobody") == []
