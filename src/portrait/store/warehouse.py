"""The warehouse: the one owner of the database connection.

Everything else in Portrait builds Ibis expressions or SQL text and hands it here. DuckDB is the
default (embedded) backend; the connection is an Ibis backend so that the same expressions can
later run on Spark.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa

from portrait.store.ddl import MIGRATIONS


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse open for writing."""


class Warehouse:
    """An embedded DuckDB warehouse reached through Ibis."""

    def __init__(self, path: Path | None, read_only: bool = False) -> None:
        """Open (creating if needed) the warehouse at ``path``; ``None`` keeps it in memory."""
        self.path = path
        try:
            self.ibis = ibis.duckdb.connect(str(path) if path else ":memory:", read_only=read_only)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise WarehouseLockedError(
                    f"{path} is in use by another process (is `portrait serve` running on this "
                    "workspace?); stop it or send data through its HTTP API instead"
                ) from e
            raise
        self.con: duckdb.DuckDBPyConnection = self.ibis.con
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET enable_progress_bar = false")  # the CLI shows its own
        self.lock = threading.RLock()
        # Bumped by every statement that may write (execute, a transaction): a cache of
        # something read from the warehouse holds while this has not moved. DuckDB lets one
        # process write a database file at a time, and a process holding it open read-only
        # keeps writers out, so this process's own writes are the only ones there are.
        self.generation = 0
        if not read_only:
            self.migrate()

    # --- schema -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the migrations this warehouse has not seen yet, each in one transaction."""
        with self.lock:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
            )
            done = {
                r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()
            }
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                with self.transaction():
                    for stmt in statements:
                        self.con.execute(stmt)
                    self.con.execute(
                        "INSERT INTO schema_migrations (version) VALUES (?)", [version]
                    )

    # --- execution ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All statements inside are committed together or not at all."""
        with self.lock:
            self.generation += 1
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield self.con
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            finally:
                self.generation += 1
            self.con.execute("COMMIT")

    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        with self.lock:
            self.generation += 1
            return self.con.execute(sql, params or [])

    def fetchall(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[tuple]:
        with self.lock:
            return self.con.execute(sql, params or []).fetchall()

    def fetchone(self, sql: str, params: list[Any] | None = None) -> tuple | None:
        with self.lock:
            # Fetch everything: DuckDB refuses new work while a result is half-read.
            rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        with self.lock:  # a relation straight to Arrow: no extra copy of the rows
            return self.con.sql(sql, params=params or None).to_arrow_table()

    def register(self, name: str, data: pa.Table) -> None:
        """Expose an Arrow table to SQL as ``name`` (until ``unregister``)."""
        with self.lock:
            self.con.register(name, data)

    def unregister(self, name: str) -> None:
        with self.lock:
            self.con.unregister(name)

    def columns_of(self, relation_sql: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) of the columns a SELECT or table function yields."""
        with self.lock:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
        return [(r[0], r[1]) for r in rows]

    # --- Ibis ---------------------------------------------------------------------------
    def table(self, name: str) -> ibis.Table:
        """An Ibis expression over a warehouse table or view."""
        return self.ibis.table(name)

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        with self.lock:
            return self.ibis.to_pyarrow(expr)

    def scalar(self, expr: ibis.Expr) -> Any:
        with self.lock:
            return self.ibis.execute(expr)

    def close(self) -> None:
        with self.lock:
            self.ibis.disconnect()
