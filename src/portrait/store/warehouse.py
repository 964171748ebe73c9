"""The warehouse: the one owner of the database connections.

Everything else in Portrait builds Ibis expressions or SQL text and hands it here. DuckDB is the
default (embedded) backend; the connection is an Ibis backend so that the same expressions can
later run on Spark.

Concurrency (a server answers many requests while a build runs):

- **One writer at a time.** Every statement that may write a shared table runs while holding
  ``lock`` (``execute``, ``transaction``); writes never interleave, so they never conflict.
- **Readers never share a busy connection.** A thread that does not hold the write lock reads
  through a cursor of its own (a DuckDB connection to the same database, made once per
  thread), which sees the last committed state and does not wait for a writer. The thread
  that opened the warehouse (the only one in a CLI command or a notebook) keeps using the
  writer's connection, taking the lock for each read, as everything did before.
- **Sessions for long work.** ``with wh.session():`` pins the calling thread to a connection of
  its own for the duration (a build, a model training): its temporary tables and settings live
  there, its reads and its private statements (``execute_local``: temp tables, settings, a new
  staging table) need no lock, and only its writes of shared tables take the write lock, briefly.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa

from portrait.store.ddl import MIGRATIONS

_SETUP = ("SET TimeZone = 'UTC'", "SET enable_progress_bar = false")  # the CLI shows its own
THREADS_ENV = "PORTRAIT_THREADS"


def _threads() -> int | None:
    """How many threads DuckDB may use (``$PORTRAIT_THREADS``; default: one per core), e.g.
    to leave cores to other work on a shared machine, or to the other test workers."""
    text = os.environ.get(THREADS_ENV)
    if not text:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{THREADS_ENV}={text!r}: give a whole number of threads, 1 or more")
    return int(text)


@contextmanager
def _private_files(private: bool) -> Iterator[None]:
    """Files created inside the block are 0600 (the process umask, restored after)."""
    if not private:
        yield
        return
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse open for writing."""


class WriteLock:
    """A re-entrant lock that knows which thread holds it (``held()``)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        ok = self._lock.acquire(blocking, timeout)
        if ok:
            self._owner = threading.get_ident()
            self._depth += 1
        return ok

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Conn:
    """A DuckDB connection with the Ibis backend over it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, backend: Any | None = None) -> None:
        self.con = con
        self.ibis = backend if backend is not None else ibis.duckdb.from_connection(con)


class Warehouse:
    """An embedded DuckDB warehouse reached through Ibis."""

    def __init__(self, path: Path | None, read_only: bool = False) -> None:
        """Open (creating if needed) the warehouse at ``path``; ``None`` keeps it in memory."""
        self.path = path
        self.read_only = read_only
        try:
            # a new file is created readable by its owner only (it holds the shop's data)
            with _private_files(path is not None and not path.exists()):
                self.ibis = ibis.duckdb.connect(
                    str(path) if path else ":memory:", read_only=read_only
                )
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise WarehouseLockedError(
                    f"{path} is in use by another process (is `portrait serve` running on this "
                    "workspace?); stop it or send data through its HTTP API instead"
                ) from e
            raise
        self._main = _Conn(self.ibis.con, self.ibis)
        self._setup_main()
        self.lock = WriteLock()
        # Held while a profile build and what derives from it (its segment index) are being
        # written: one build at a time, and a request that would make that data itself (an
        # index for a build that has none yet) answers another way meanwhile.
        self.build_lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._closed = False
        self._opener = threading.get_ident()
        # Bumped by every statement that may write (execute, a transaction): a cache of
        # something read from the warehouse holds while this has not moved. DuckDB lets one
        # process write a database file at a time, and a process holding it open read-only
        # keeps writers out, so this process's own writes are the only ones there are.
        self.generation = 0
        self.file_generation = 0  # bumped when ``compact`` swaps the file in
        if not read_only:
            self.migrate()

    def _setup_main(self) -> None:
        for stmt in _SETUP:
            self._main.con.execute(stmt)
        threads = _threads()
        if threads is not None:  # the database's setting: every cursor of it shares it
            self._main.con.execute(f"SET threads = {threads}")

    # --- connections --------------------------------------------------------------------
    def _new_cursor(self) -> duckdb.DuckDBPyConnection:
        if self._closed:
            raise RuntimeError("the warehouse is closed")
        cur = self._main.con.cursor()
        for stmt in _SETUP:
            cur.execute(stmt)
        with self._cursors_lock:
            self._cursors.append(cur)
        return cur

    def _here(self) -> _Conn:
        """The connection the calling thread uses: its session's; the writer's while it holds
        the write lock, or when it is the thread that opened the warehouse (a CLI command, a
        notebook: one thread, whose temporary tables and reads stay on one connection); else
        a reading cursor of its own."""
        session = getattr(self._local, "session", None)
        if session is not None:
            return session
        if self.lock.held() or threading.get_ident() == self._opener:
            return self._main
        reader = getattr(self._local, "reader", None)
        if reader is None or getattr(self._local, "file", 0) != self.file_generation:
            reader = self._local.reader = _Conn(self._new_cursor())
            self._local.file = self.file_generation  # a compacted file: a new cursor
        return reader

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        """The calling thread's connection (see the module docstring); write only while
        holding ``lock``. Private: store modules run SQL through the methods below."""
        return self._here().con

    @contextmanager
    def _reader(self) -> Iterator[_Conn]:
        """The calling thread's connection, held for a read: the writer's is shared with
        the other threads' writes, so reading through it takes the write lock."""
        here = self._here()
        if here is self._main and not self.lock.held():
            with self.lock:
                yield here
        else:
            yield here

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to read through that no other thread is using meanwhile."""
        with self._reader() as c:
            yield c.con

    @contextmanager
    def session(self) -> Iterator[Warehouse]:
        """Pin the calling thread to a connection of its own until the block ends (long work:
        a build, a model training). Its temporary tables go with it."""
        if getattr(self._local, "session", None) is not None:  # nested: keep the outer one
            yield self
            return
        cur = self._new_cursor()
        self._local.session = _Conn(cur)
        try:
            yield self
        finally:
            self._local.session = None
            self._forget(cur)

    def _forget(self, cur: duckdb.DuckDBPyConnection) -> None:
        with self._cursors_lock:
            if cur in self._cursors:
                self._cursors.remove(cur)
        with contextlib.suppress(duckdb.Error):  # already closed with the database
            cur.close()

    # --- schema -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the migrations this warehouse has not seen yet, each in one transaction."""
        with self.lock:
            con = self._con
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                with self.transaction():
                    for stmt in statements:
                        con.execute(stmt)
                    con.execute("INSERT INTO schema_migrations (version) VALUES (?)", [version])

    # --- execution ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All statements inside are committed together or not at all (holding the write
        lock, so no other write interleaves)."""
        with self.lock:
            con = self._con
            self.generation += 1
            con.execute("BEGIN TRANSACTION")
            try:
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                # moved again once the writes are visible: a reader that cached what it read
                # while they were not yet committed sees a new generation and reads again
                self.generation += 1

    def execute(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run a statement that may write shared tables (under the write lock)."""
        with self.lock:
            self.generation += 1
            try:
                return self._con.execute(sql, params or [])
            finally:
                self.generation += 1  # once committed (see ``transaction``)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a write statement once per row of parameters (under the write lock)."""
        if not rows:
            return
        with self.lock:
            self.generation += 1
            try:
                self._con.executemany(sql, [list(r) for r in rows])
            finally:
                self.generation += 1

    def execute_local(self, sql: str, params: list[Any] | None = None) -> None:
        """Run a statement that touches only the calling session's own objects (temporary
        tables, settings, a freshly named staging table): no write lock inside a session."""
        if getattr(self._local, "session", None) is None:
            self.execute(sql, params)
            return
        self._con.execute(sql, params or [])

    def fetchall(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> list[tuple]:
        with self._reader() as c:
            return c.con.execute(sql, params or []).fetchall()

    def fetchone(self, sql: str, params: list[Any] | None = None) -> tuple | None:
        # Fetch everything: DuckDB refuses new work while a result is half-read.
        with self._reader() as c:
            rows = c.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        # a relation straight to Arrow: no extra copy of the rows
        with self._reader() as c:
            return c.con.sql(sql, params=params or None).to_arrow_table()

    def register(self, name: str, data: pa.Table) -> None:
        """Expose an Arrow table to SQL as ``name`` (until ``unregister``) on the calling
        thread's connection (see ``_here``): in a server thread, register a table that a write
        reads inside ``with wh.lock`` (or a transaction), one that a read reads outside it."""
        with self._reader() as c:
            c.con.register(name, data)

    def unregister(self, name: str) -> None:
        with self._reader() as c:
            c.con.unregister(name)

    def columns_of(self, relation_sql: str) -> list[tuple[str, str]]:
        """(name, DuckDB type) of the columns a SELECT or table function yields."""
        with self._reader() as c:
            rows = c.con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
        return [(r[0], r[1]) for r in rows]

    # --- Ibis ---------------------------------------------------------------------------
    def table(self, name: str) -> ibis.Table:
        """An Ibis expression over a warehouse table or view."""
        with self._reader() as c:
            return c.ibis.table(name)

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        with self._reader() as c:
            return c.ibis.to_pyarrow(expr)

    def scalar(self, expr: ibis.Expr) -> Any:
        with self._reader() as c:
            return c.ibis.execute(expr)

    def compact(self) -> bool:
        """Rewrite the database into a fresh file and swap it in, so that the bytes of deleted
        rows (DuckDB leaves them in freed blocks) are gone (``portrait privacy compact``).
        Holds the build lock and the write lock throughout; every connection is reopened
        (other threads' cursors are made again on their next read). False in memory."""
        if self.path is None or self.read_only:
            return False
        fresh = self.path.with_name(self.path.name + ".compact")
        with self.build_lock, self.lock:
            fresh.unlink(missing_ok=True)
            con = self._main.con
            con.execute("CHECKPOINT")
            name = con.execute("SELECT current_database()").fetchall()[0][0]
            with _private_files(True):
                con.execute("ATTACH ? AS _compacted", [str(fresh)])
                try:
                    con.execute(f'COPY FROM DATABASE "{name}" TO _compacted')
                finally:
                    con.execute("DETACH _compacted")
            self._close_cursors()
            self.ibis.disconnect()
            os.replace(fresh, self.path)
            self.ibis = ibis.duckdb.connect(str(self.path))
            self._main = _Conn(self.ibis.con, self.ibis)
            self._setup_main()
            self.file_generation += 1
            self.generation += 1
        return True

    def _close_cursors(self) -> None:
        """Close every thread's reading cursor (each makes a new one on its next read)."""
        with self._cursors_lock:
            cursors, self._cursors = self._cursors, []
        for cur in cursors:
            with contextlib.suppress(duckdb.Error):
                cur.close()

    def close(self) -> None:
        with self.lock:
            self._closed = True
            self._close_cursors()
            self.ibis.disconnect()
