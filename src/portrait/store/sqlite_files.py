"""The workspace's small SQLite files beside the warehouse (``keys.sqlite``, ``audit.sqlite``):
opened the same way, so that the CLI and a running server can both use them at once."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path


def open_private(path: Path | None) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` (``None``: in memory), made readable and
    writable by its owner only before SQLite opens it, in autocommit (writers take
    ``BEGIN IMMEDIATE`` themselves), shared by a process's threads under the caller's lock,
    in WAL mode (readers never wait for a writer; other processes may write too)."""
    if path is not None:
        _create_private(path)
    con = sqlite3.connect(
        ":memory:" if path is None else str(path),
        timeout=10.0,  # a writer in another process holds the file for microseconds
        isolation_level=None,
        check_same_thread=False,
    )
    if path is not None:
        con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA busy_timeout = 10000")
    return con


@contextlib.contextmanager
def immediate(con: sqlite3.Connection, lock: threading.Lock) -> Iterator[sqlite3.Connection]:
    """A write transaction that holds the file's write lock from its start (``BEGIN
    IMMEDIATE``: no other writer slips in between a read and the write it decides), rolled
    back on any error; ``lock`` keeps this process's threads apart on the one connection."""
    with lock:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def _create_private(path: Path) -> None:
    """Make the file readable and writable by its owner only (before SQLite opens it, so it
    is never more open than that; SQLite gives its -wal and -shm files the same mode)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        with contextlib.suppress(PermissionError):  # not ours: SQLite says if it cannot open it
            os.chmod(path, 0o600)
