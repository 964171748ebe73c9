"""Migration 14 on a warehouse made before it: the send ledger's addresses and rendered
messages are cleared (the rest of each row kept), the quarantine gets its pseudonym columns."""

from __future__ import annotations

from pathlib import Path

from portrait.store.warehouse import Warehouse


def test_migration_14_clears_the_ledgers_addresses_and_messages(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    wh = Warehouse(path)
    wh.execute(
        "INSERT INTO campaign_sends (send_key, campaign, person_id, user_id, variant, channel, "
        "status, attempts, address, language, subject, body, cost, updated_at) VALUES "
        "('c/p1/email', 'c', 'p1', 'u1', 'a', 'email', 'sent', 1, 'p1@example.cn', 'en', "
        "'Hi Alice', 'Dear Alice, ...', 0.01, now())"
    )
    wh.execute("DELETE FROM schema_migrations WHERE version = 14")  # as before migration 14
    wh.close()
    wh = Warehouse(path)
    try:
        assert wh.fetchall(
            "SELECT send_key, person_id, status, language, cost, address, subject, body "
            "FROM campaign_sends"
        ) == [("c/p1/email", "p1", "sent", "en", 0.01, None, None, None)]
        cols = {r[0] for r in wh.fetchall("DESCRIBE quarantine")}
        assert {"user_hmac", "anonymous_hmac", "target_hmac", "phone_hmac", "email_hmac"} <= cols
    finally:
        wh.close()
