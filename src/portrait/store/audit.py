"""The audit log's file: ``audit.sqlite`` in the workspace (mode 0600), append-only.

Not a warehouse table: DuckDB commits an insert in milliseconds (several times what an audited
profile read costs), every warehouse write takes the write lock a build holds while it saves,
and DuckDB lets one process write the file, so a CLI command beside ``portrait serve`` (``keys
create``, ``keys revoke``) could not record itself there. SQLite in WAL mode appends in tens of
microseconds from any number of processes (as the key file ``keys.sqlite`` does).

Append-only: this module has no function that changes or deletes an entry, and triggers refuse
UPDATE and DELETE on the table. The chain (see :mod:`portrait.audit.chain`) is extended inside
one ``BEGIN IMMEDIATE`` transaction (read the last hash, insert the next entry), so two writers,
even in two processes, never chain to the same entry.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from portrait.audit.chain import GENESIS
from portrait.store.sqlite_files import immediate, open_private

AUDIT_FILE = "audit.sqlite"
SCHEMA_VERSION = 1

# the hashed fields of an entry, in the table's column order (``hash`` follows them)
FIELDS = (
    "seq", "at", "actor", "role", "via", "origin", "action", "command", "params", "persons",
    "segment", "rows",
)  # fmt: skip

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,  -- 1, 2, ... in chain order
  at TEXT NOT NULL,         -- ISO 8601, UTC, microseconds
  actor TEXT NOT NULL,
  role TEXT,
  via TEXT NOT NULL,
  origin TEXT NOT NULL,
  action TEXT NOT NULL,
  command TEXT NOT NULL,
  params TEXT NOT NULL,     -- JSON object
  persons TEXT NOT NULL,    -- JSON array of keyed pseudonyms
  segment TEXT,
  rows INTEGER,
  hash TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)

# (previous hash, body) -> the body's hash
Seal = Callable[[str, Mapping[str, Any]], str]


class AuditLog:
    """The append-only entries of one workspace."""

    def __init__(self, path: Path | None) -> None:
        """Open (creating if needed) the file at ``path``; ``None`` keeps the log in memory."""
        self.path = path
        self._con = open_private(path)
        self._lock = threading.Lock()
        if path is not None:
            # durable once the process has written it; a power cut may lose the last few
            # entries, never break the chain (each append is one transaction)
            self._con.execute("PRAGMA synchronous = NORMAL")
        with self._write() as con:
            if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for stmt in _SCHEMA:
                    con.execute(stmt)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._con, self._lock)

    def append(self, entry: Mapping[str, Any], seal: Seal) -> dict[str, Any]:
        """Chain ``entry`` (every field of ``FIELDS`` but ``seq`` and ``at``, which are given
        here) after the last one; returns the stored entry with its ``hash``."""
        with self._write() as con:
            last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            seq, previous = last.fetchone() or (0, GENESIS)
            body = {**entry, "seq": seq + 1, "at": _iso(datetime.now(UTC))}
            body = {f: body.get(f) for f in FIELDS}
            row = _to_row(body)
            digest = seal(previous, _from_row(row))
            con.execute(
                f"INSERT INTO audit_log VALUES ({', '.join('?' * (len(FIELDS) + 1))})",
                [*row, digest],
            )
        return {**_from_row(row), "hash": digest}

    def entries(
        self,
        since: datetime | None = None,
        person: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored entries, newest first: from ``since`` on, naming the pseudonym ``person``,
        of ``action``; at most ``limit``."""
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("at >= ?")
            params.append(_iso(since))
        if person is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(persons) WHERE value = ?)")
            params.append(person)
        if action is not None:
            where.append("action = ?")
            params.append(action)
        sql = f"SELECT * FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._con.execute(sql, params).fetchall()
        return [{**_from_row(r[:-1]), "hash": r[-1]} for r in rows]

    def walk(self, batch: int = 10_000) -> Iterator[tuple[dict[str, Any], str]]:
        """Every entry in chain order as (hashed body, stored hash), read in batches."""
        after = 0
        while True:
            with self._lock:
                rows = self._con.execute(
                    "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", [after, batch]
                ).fetchall()
            if not rows:
                return
            for r in rows:
                yield _from_row(r[:-1]), r[-1]
            after = rows[-1][0]

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM audit_log").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _to_row(body: Mapping[str, Any]) -> list[Any]:
    return [
        orjson.dumps(body[f], option=orjson.OPT_SORT_KEYS).decode()
        if f in ("params", "persons")
        else body[f]
        for f in FIELDS
    ]


def _from_row(row: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    """The entry as it was hashed: the JSON columns parsed back (canonical JSON is stable)."""
    body = dict(zip(FIELDS, row, strict=True))
    body["params"] = orjson.loads(body["params"])
    body["persons"] = orjson.loads(body["persons"])
    return body


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
