"""API keys, kept in a small SQLite file in the workspace (``keys.sqlite``, mode 0600).

The warehouse is DuckDB, which lets one process open its file: while ``portrait serve`` holds
it, no other process could create or revoke a key there, and a revoked key kept working. SQLite
is opened by any number of processes at once, so the CLI and the server share this file: in WAL
mode the server reads while the CLI writes, and the server looks a key up on every request (a
primary-key read, a few microseconds), so a revoke from any process counts from the next
request. Only the SHA-256 of each secret is stored (see :mod:`portrait.security.keys`).

This module is the only one that touches the file. Keys made before it existed lived in the
warehouse table ``api_keys``; they are copied here once, when the file is first made (that
table is then left as it is, unused).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from portrait.security import keys
from portrait.store.sqlite_files import immediate, open_private
from portrait.store.warehouse import Warehouse

KEYS_FILE = "keys.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,  -- SHA-256 of the secret; the secret itself is never stored
  role TEXT NOT NULL,
  note TEXT,
  created_at TEXT NOT NULL,   -- ISO 8601, UTC
  revoked_at TEXT
)"""

# Rows of the warehouse's old api_keys table: (key_id, secret_hash, role, note, created_at,
# revoked_at), the times as datetimes or ISO text.
LegacyRows = Callable[[], Sequence[tuple[Any, ...]]]


class KeyPublic(BaseModel):
    """An API key as listed: never its secret."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    role: str
    note: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ApiKey:
    """A valid key: who is calling."""

    key_id: str
    role: str


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    return str(value)


class KeyStore:
    """The API keys of one workspace."""

    def __init__(self, path: Path | None, legacy: LegacyRows | None = None) -> None:
        """Open (creating if needed) the key file at ``path``; ``None`` keeps keys in memory.
        ``legacy`` gives the rows to copy in when the file is new."""
        self.path = path
        self._con = open_private(path)
        self._lock = threading.Lock()
        self._migrate(legacy)

    # --- schema -------------------------------------------------------------------------
    def _migrate(self, legacy: LegacyRows | None) -> None:
        if self._version() >= SCHEMA_VERSION:
            return
        # Read the old rows before taking the write lock: that may open the warehouse.
        rows = [tuple(r) for r in legacy()] if legacy is not None else []
        with self._write() as con:
            if con.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return  # another process made it meanwhile
            con.execute(_SCHEMA)
            con.executemany(
                "INSERT OR IGNORE INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
                [(r[0], r[1], r[2], r[3], _iso(r[4]), _iso(r[5])) for r in rows],
            )
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _version(self) -> int:
        with self._lock:
            return self._con.execute("PRAGMA user_version").fetchone()[0]

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._con, self._lock)

    # --- keys ---------------------------------------------------------------------------
    def create(self, role: str, note: str | None = None) -> keys.NewKey:
        """Make a key; its token is returned once and only its hash is stored."""
        k = keys.new_key(role)
        with self._write() as con:
            con.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
                [k.key_id, k.secret_hash, k.role, note, datetime.now(UTC).isoformat()],
            )
        return k

    def verify(self, token: str) -> ApiKey | None:
        """The key of a valid, unrevoked token; None otherwise. Reads the file each time, so
        a key revoked by any process fails from then on."""
        parsed = keys.parse_token(token)
        if parsed is None:
            return None
        with self._lock:
            row = self._con.execute(
                "SELECT secret_hash, role FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
                [parsed[0]],
            ).fetchone()
        if row is None or not keys.secret_matches(parsed[1], row[0]):
            return None
        return ApiKey(parsed[0], row[1])

    def list(self) -> list[KeyPublic]:
        """Every key, oldest first (never a secret)."""
        with self._lock:
            rows = self._con.execute(
                "SELECT key_id, role, note, created_at, revoked_at FROM api_keys "
                "ORDER BY created_at, key_id"
            ).fetchall()
        cols = ("key_id", "role", "note", "created_at", "revoked_at")
        return [KeyPublic(**dict(zip(cols, r, strict=True))) for r in rows]

    def revoke(self, key_id: str) -> str:
        """Revoke an active key; returns when. KeyError when there is no such active key."""
        now = datetime.now(UTC).isoformat()
        with self._write() as con:
            n = con.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                [now, key_id],
            ).rowcount
        if not n:
            raise KeyError(f"no active key with id {key_id!r}; see `portrait keys list`")
        return now

    def close(self) -> None:
        with self._lock:
            self._con.close()


def warehouse_keys(wh: Warehouse) -> list[tuple[Any, ...]]:
    """The rows of the warehouse's old ``api_keys`` table, to copy into a new key file."""
    return wh.fetchall(
        "SELECT key_id, secret_hash, role, note, created_at, revoked_at FROM api_keys"
    )
