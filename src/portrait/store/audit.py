"""The audit log's file: ``audit.sqlite`` in the workspace (mode 0600), append-only.

Not a warehouse table: DuckDB commits an insert in milliseconds (several times what an audited
profile read costs), every warehouse write takes the write lock a build holds while it saves,
and DuckDB lets one process write the file, so a CLI command beside ``portrait serve`` (``keys
create``, ``keys revoke``) could not record itself there. SQLite in WAL mode appends in tens of
microseconds from any number of processes (as the key file ``keys.sqlite`` does).

Append-only: no function here changes an entry, and triggers refuse UPDATE and DELETE on the
table. The chain (see :mod:`portrait.audit.chain`) is extended inside one ``BEGIN IMMEDIATE``
transaction (read the last hash, insert the next entry, move the keyed head), so two writers,
even in two processes, never chain to the same entry.

Beside the entries (schema version 2): ``audit_head``, the last entry's seq and hash with a
MAC under the audit key (a cut tail leaves the head pointing past the last entry, and a head
moved back needs the key); ``audit_anchor``, where the chain starts once old entries are
pruned (``prune``: the only delete, retention's, which lifts the trigger inside its own
transaction, records the anchor and appends the entry saying so); ``audit_keys``, the audit
key sealed under each workspace key (see :mod:`portrait.audit.keys`).
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
SCHEMA_VERSION = 2

# the hashed fields of an entry, in the table's column order (``hash`` follows them)
FIELDS = (
    "seq", "at", "actor", "role", "via", "origin", "action", "command", "params", "persons",
    "segment", "rows",
)  # fmt: skip

NO_DELETE = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
)
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
    NO_DELETE,
)
# version 2: the keyed head, the prune anchor, the sealed audit key
_SCHEMA_2 = (
    "CREATE TABLE IF NOT EXISTS audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), "
    "seq INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT)",
    "CREATE TABLE IF NOT EXISTS audit_anchor (one INTEGER PRIMARY KEY CHECK (one = 1), "
    "seq INTEGER NOT NULL, hash TEXT NOT NULL, pruned INTEGER NOT NULL, at TEXT NOT NULL, "
    "mac TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_keys (key_id TEXT PRIMARY KEY, sealed BLOB NOT NULL, "
    "sealed_at TEXT NOT NULL)",
)

# (previous hash, body) -> the body's hash
Seal = Callable[[str, Mapping[str, Any]], str]
# (seq, hash) -> the head's MAC under the audit key
Mark = Callable[[int, str], str]


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
        # whether this open made the head (of a new log, or of one from before heads were
        # kept): the only time an unkeyed head is signed rather than reported (``sign_head``)
        self.new_head = False
        with self._write() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                for stmt in (*_SCHEMA, *_SCHEMA_2):
                    con.execute(stmt)
                seq, last = _last(con)
                con.execute("INSERT OR IGNORE INTO audit_head VALUES (1, ?, ?, NULL)", [seq, last])
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self.new_head = True

    def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return immediate(self._con, self._lock)

    def append(self, entry: Mapping[str, Any], seal: Seal, mark: Mark) -> dict[str, Any]:
        """Chain ``entry`` (every field of ``FIELDS`` but ``seq`` and ``at``, which are given
        here) after the last one and move the head to it (``mark`` keys it); returns the
        stored entry with its ``hash``."""
        with self._write() as con:
            return _append(con, entry, seal, mark)

    def append_unless(
        self,
        action: str,
        entry_for: Callable[[dict[str, Any] | None], Mapping[str, Any] | None],
        seal: Seal,
        mark: Mark,
    ) -> dict[str, Any] | None:
        """Append the entry ``entry_for`` makes of the params of the latest entry of
        ``action`` (None when there is none), unless it makes none; read, decided and
        appended in one transaction, so two processes deciding at once append once. Returns
        the stored entry, or None."""
        with self._write() as con:
            row = con.execute(
                "SELECT params FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 1",
                [action],
            ).fetchone()
            entry = entry_for(None if row is None else orjson.loads(row[0]))
            return None if entry is None else _append(con, entry, seal, mark)

    def prune(
        self, before: datetime, entry: Mapping[str, Any], seal: Seal, mark: Mark, anchor: Mark
    ) -> dict[str, Any] | None:
        """Delete the entries written before ``before``, in one transaction: the last of them
        becomes the anchor the chain is verified from (its seq and hash, keyed by
        ``anchor``), then ``entry`` is appended with the anchor in its ``params``. None when
        no entry is that old."""
        with self._write() as con:
            row = con.execute(
                "SELECT seq, hash FROM audit_log WHERE at < ? ORDER BY seq DESC LIMIT 1",
                [_iso(before)],
            ).fetchone()
            if row is None:
                return None
            seq, digest = row
            con.execute("DROP TRIGGER audit_log_no_delete")
            pruned = con.execute("DELETE FROM audit_log WHERE seq <= ?", [seq]).rowcount
            con.execute(NO_DELETE)
            previous = con.execute("SELECT pruned FROM audit_anchor").fetchone()
            total = pruned + (previous[0] if previous else 0)
            con.execute(
                "INSERT OR REPLACE INTO audit_anchor VALUES (1, ?, ?, ?, ?, ?)",
                [seq, digest, total, _iso(datetime.now(UTC)), anchor(seq, digest)],
            )
            params = {**entry.get("params", {}), "anchor_seq": seq, "anchor_hash": digest}
            return _append(con, {**entry, "params": params, "rows": pruned}, seal, mark)

    # --- the head, the anchor and the sealed key ------------------------------------------
    def head(self) -> tuple[int, str, str | None] | None:
        """The keyed head: (seq, hash, MAC), None when missing."""
        with self._lock:
            return self._con.execute("SELECT seq, hash, mac FROM audit_head").fetchone()

    def sign_head(self, mark: Mark) -> None:
        """Key a head this open made (``new_head``) where it stands."""
        with self._write() as con:
            seq, digest = con.execute("SELECT seq, hash FROM audit_head").fetchone()
            con.execute("UPDATE audit_head SET mac = ? WHERE mac IS NULL", [mark(seq, digest)])
        self.new_head = False

    def anchor(self) -> tuple[int, str, int, str] | None:
        """Where the chain starts after a prune: (seq, hash, entries pruned, MAC)."""
        with self._lock:
            return self._con.execute("SELECT seq, hash, pruned, mac FROM audit_anchor").fetchone()

    def sealed_keys(self) -> dict[str, bytes]:
        """Workspace key id -> the audit key sealed under it."""
        with self._lock:
            return dict(self._con.execute("SELECT key_id, sealed FROM audit_keys").fetchall())

    def add_sealed_key(self, key_id: str, sealed: bytes, only_if_none: bool = False) -> None:
        """Keep the audit key sealed under another workspace key; ``only_if_none``: only if
        no key is stored yet (two processes making a new log's key: the first one wins)."""
        with self._write() as con:
            if only_if_none and con.execute("SELECT count(*) FROM audit_keys").fetchone()[0]:
                return
            con.execute(
                "INSERT OR REPLACE INTO audit_keys VALUES (?, ?, ?)",
                [key_id, sealed, _iso(datetime.now(UTC))],
            )

    def drop_sealed_keys(self, keep: str) -> int:
        """Forget the seals under every workspace key but ``keep`` (after a rotation)."""
        with self._write() as con:
            return con.execute("DELETE FROM audit_keys WHERE key_id <> ?", [keep]).rowcount

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

    def older_than(self, before: datetime) -> tuple[int, datetime | None]:
        """Entries written before ``before``, and when the oldest of the others was written."""
        with self._lock:
            n = self._con.execute(
                "SELECT count(*) FROM audit_log WHERE at < ?", [_iso(before)]
            ).fetchone()[0]
            kept = self._con.execute(
                "SELECT min(at) FROM audit_log WHERE at >= ?", [_iso(before)]
            ).fetchone()[0]
        return n, None if kept is None else datetime.fromisoformat(kept)

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM audit_log").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _last(con: sqlite3.Connection) -> tuple[int, str]:
    """The last entry's (seq, hash); after a prune of every entry, the anchor's."""
    row = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None and _has_table(con, "audit_anchor"):
        row = con.execute("SELECT seq, hash FROM audit_anchor").fetchone()
    return row or (0, GENESIS)


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
    return found.fetchone() is not None


def _append(
    con: sqlite3.Connection, entry: Mapping[str, Any], seal: Seal, mark: Mark
) -> dict[str, Any]:
    seq, previous = _last(con)
    body = {**entry, "seq": seq + 1, "at": _iso(datetime.now(UTC))}
    body = {f: body.get(f) for f in FIELDS}
    row = _to_row(body)
    digest = seal(previous, _from_row(row))
    con.execute(
        f"INSERT INTO audit_log VALUES ({', '.join('?' * (len(FIELDS) + 1))})", [*row, digest]
    )
    con.execute(
        "INSERT OR REPLACE INTO audit_head VALUES (1, ?, ?, ?)",
        [seq + 1, digest, mark(seq + 1, digest)],
    )
    return {**_from_row(row), "hash": digest}


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
