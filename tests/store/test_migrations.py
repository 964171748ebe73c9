"""The warehouse's schema: the canonical tables and views a fresh warehouse gets, and the
migrations that bring a warehouse of an earlier release to the same schema, data kept."""

from __future__ import annotations

from pathlib import Path

import duckdb

from portrait.schema import CANONICAL
from portrait.store.ddl import MIGRATIONS
from portrait.store.warehouse import Warehouse


def test_warehouse_tables_have_the_canonical_columns(ws):
    for name, table in CANONICAL.items():
        cols = [r[0] for r in ws.warehouse.fetchall(f"DESCRIBE {name}")]
        assert cols == table.column_names


def test_orders_are_derivable_from_events(ws):
    ws.ingest_records(
        [
            {
                "event_id": f"l{i}",
                "user_id": "u1",
                "ts": "2025-03-01T10:00:00Z",
                "type": "order",
                "order_id": "o1",
                "product_id": f"p{i}",
                "quantity": q,
                "price": p,
            }
            for i, (q, p) in enumerate([(2, 10.0), (1, 5.5)])
        ]
    )
    (order,) = ws.warehouse.fetchall("SELECT order_id, user_id, lines, items, revenue FROM orders")
    assert order == ("o1", "u1", 2, 3, 25.5)
    assert ws.warehouse.fetchall("SELECT count(*) FROM order_lines")[0][0] == 2


def _schema(wh: Warehouse) -> set[tuple[str, str, str, str]]:
    tables = wh.fetchall(
        "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE NOT internal"
    )
    views = wh.fetchall(
        "SELECT schema_name, view_name, '', '' FROM duckdb_views() WHERE NOT internal"
    )
    return set(tables) | set(views)


def test_a_warehouse_of_the_first_release_migrates_to_todays_schema(tmp_path: Path):
    """Opening a workspace made by the first release (migration 1 only, with data in it)
    applies every later migration, keeps the data, and ends with a fresh warehouse's schema."""
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ)"
    )
    for stmt in MIGRATIONS[0][1]:
        con.execute(stmt)
    con.execute("INSERT INTO schema_migrations VALUES (1, now())")
    con.execute(
        "INSERT INTO users (user_id, phone_hash, ingested_at, batch_id) "
        "VALUES ('u1', 'h1', now(), 'b0')"
    )
    con.close()
    migrated = Warehouse(old)
    fresh = Warehouse(None)
    try:
        versions = [
            r[0] for r in migrated.fetchall("SELECT version FROM schema_migrations ORDER BY 1")
        ]
        assert versions == [v for v, _ in MIGRATIONS]
        assert _schema(migrated) == _schema(fresh)
        assert migrated.fetchall("SELECT user_id, phone_hash FROM users") == [("u1", "h1")]
        # migration 7: the phones stored so far had linked persons already: kept as trusted
        assert migrated.fetchall("SELECT user_id, phone_hash FROM identity_phones") == [
            ("u1", "h1")
        ]
    finally:
        migrated.close()
        fresh.close()
