"""Apply one ingest batch to the warehouse, all in or all out.

The staged rows come from :func:`portrait.ingest.plan.stage_query`. Inside one transaction:
rejected rows go to ``quarantine`` with their reason and raw payload; events are appended
unless their event_id is already stored or repeated earlier in the batch; users and products are
upserted (a value the source does not give keeps the stored one); identity links found in
the batch are recorded; the batch and its counts are logged. A crash at any point leaves none of
it behind.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from portrait.ingest.plan import SourceShape, StagePlan, q
from portrait.ingest.readers import SourceRelation, read_error
from portrait.ingest.results import BatchCountError, BatchResult, Rejection
from portrait.schema import CANONICAL
from portrait.store.erasure import refuse_erased
from portrait.store.identity_ops import (
    rebuild_map,
    record_links_from_events,
    record_phone_links,
    refresh_anonymous,
)
from portrait.store.pii import seal_stage
from portrait.store.quarantine import insert_rejected
from portrait.store.warehouse import Warehouse

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher


def ingest_relation(
    wh: Warehouse,
    rel: SourceRelation,
    plan_for: Callable[[SourceShape], StagePlan],
    source_label: str,
    **apply: Any,
) -> BatchResult:
    """Plan the staging query for the columns ``rel`` has and apply it as one batch
    (``apply``: the keyword arguments of :func:`apply_batch`). Under the write lock: the
    relation may read a table registered on the writer's connection."""
    with wh.lock:
        cols = [c for c in wh.columns_of(rel.sql) if c[0] not in rel.hidden]
        return apply_batch(wh, plan_for(SourceShape(dict(cols))), source_label, **apply)


@contextmanager
def registered_lines(wh: Warehouse, lines: Sequence[str], name: str) -> Iterator[str]:
    """JSON texts as a one-column (``line``) table named ``name`` for the block, holding the
    write lock throughout (the batch that reads it writes on the same connection)."""
    with wh.lock:
        wh.register(name, pa.table({"line": pa.array(list(lines), pa.string())}))
        try:
            yield name
        finally:
            wh.unregister(name)


def attach_parquet(wh: Warehouse, name: str, path: Path) -> None:
    """Store a data set's side table (e.g. the simulator's ground truth) as table ``name``."""
    wh.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM read_parquet(?)', [str(path)])


def new_batch_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def apply_batch(
    wh: Warehouse,
    plan: StagePlan,
    source_label: str,
    batch_id: str | None = None,
    keep_rejections: int = 0,
    before_commit: object | None = None,
    want_accepted_rows: bool = False,
    actor: str | None = None,
    trusted: bool = True,
    auto_merge: str = "all",
    cipher: PiiCipher | None = None,
) -> BatchResult:
    """Run ``plan`` and apply its rows; return the counts. ``keep_rejections`` rejected rows
    are returned with their reasons (the HTTP API returns all of a batch's).

    ``want_accepted_rows`` also returns the positions of the accepted records (a second
    pass over the batch: meant for small batches). ``before_commit`` (a callable) runs
    inside the transaction just before COMMIT; tests use it to crash an ingest at the worst
    moment. ``actor`` (who sent the batch) is logged with it; ``trusted`` and ``auto_merge``
    say whether its users' phones link persons (see ``identity_ops.record_phone_links``).
    ``cipher`` encrypts a users batch's PII, and every rejected record's payload, before it
    is written (``None``: stored in clear, which only the encryption benchmark does).
    """
    batch_id = batch_id or new_batch_id()
    started = datetime.now(UTC)
    kind = plan.kind
    clock = _StepClock()
    with wh.transaction() as con:
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _stage AS {plan.sql}")
        except duckdb.Error as e:  # a file that cannot be read after all: said in one line
            problem = read_error(source_label, e)
            if problem is None:
                raise
            raise problem from None
        clock.step("validate")
        if kind == "users":  # (without a cipher only the birth date is made text)
            seal_stage(con, cipher)
            clock.step("encrypt")
        if refuse_erased(con, cipher):  # an erased person's records: refused, nothing kept
            clock.step("erased")
        received, valid = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE _reason IS NULL) FROM _stage"
        ).fetchall()[0]
        quarantined = insert_rejected(con, cipher, batch_id, kind, source_label, started)
        clock.step("quarantine")
        new_links = 0
        if kind == "events":
            accepted, duplicates, accepted_rows = _append_events(
                con, batch_id, started, want_accepted_rows
            )
            clock.step("store")
            new_links = record_links_from_events(con, batch_id, started)
        else:
            accepted, duplicates, accepted_rows = _upsert_entities(
                con, kind, batch_id, started, want_accepted_rows
            )
            clock.step("store")
            if kind == "users":
                new_links = record_phone_links(
                    con, batch_id, started, trusted=trusted, mode=auto_merge
                )
                # A changed registration date can change who leads a merged person.
                new_links += accepted if _has_user_links(con) else 0
        if new_links and kind == "events":
            refresh_anonymous(con, batch_id)
        elif new_links:
            rebuild_map(con)
        clock.step("identity")
        rejections = []
        if keep_rejections:
            rows = con.execute(
                "SELECT _row, _reason, _detail FROM _stage WHERE _reason IS NOT NULL "
                "ORDER BY _row LIMIT ?",
                [keep_rejections],
            ).fetchall()
            rejections = [Rejection(int(r[0]), r[1], r[2]) for r in rows]
        # Each count was taken on its own (rows inserted, duplicates by their predicate,
        # rows quarantined): a record none of them holds would be lost, so the batch fails.
        if accepted + duplicates != valid or valid + quarantined != received:
            raise BatchCountError(
                f"batch {batch_id} from {source_label}: of {received:,} records received, "
                f"{accepted:,} were stored, {duplicates:,} are duplicates and {quarantined:,} "
                f"were quarantined, which does not add up; nothing was stored. This is a bug "
                "in Portrait: please report it with the file"
            )
        finished = datetime.now(UTC)
        con.execute(
            "INSERT INTO ingest_batches (batch_id, kind, source, received, accepted, duplicates, "
            "quarantined, started_at, finished_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                kind,
                source_label,
                received,
                accepted,
                duplicates,
                quarantined,
                started,
                finished,
                actor,
            ],
        )
        con.execute("DROP TABLE _stage")
        if callable(before_commit):
            before_commit()
        clock.step("log")
    clock.step("commit")
    return BatchResult(
        batch_id=batch_id,
        kind=kind,
        source=source_label,
        received=received,
        accepted=accepted,
        duplicates=duplicates,
        quarantined=quarantined,
        rejections=rejections,
        seconds=clock.total(),
        timings=clock.steps,
        accepted_rows=accepted_rows,
    )


class _StepClock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def step(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.last, 4)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def _events_insert(select: str, keep: str) -> str:
    """The statement that appends the batch's new events (kept apart so that a test can
    make it lose a row and see the batch fail)."""
    return f"INSERT INTO events SELECT {select}, ?, ? FROM _stage s {keep}"


def _append_events(
    con, batch_id: str, now: datetime, want_rows: bool
) -> tuple[int, int, list[int] | None]:
    """Append the batch's new events: (rows inserted, duplicates, accepted positions)."""
    cols = [
        c.name for c in CANONICAL["events"].columns if c.name not in ("ingested_at", "batch_id")
    ]
    select = ", ".join(f"s.{q(c)}" for c in cols)
    # Repeated ids inside a batch are rare. Find them cheaply (group 64-bit hashes, then
    # check the few candidates exactly) and keep all but the first occurrence by row number.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _later_repeats AS
        WITH candidates AS (
          SELECT hash(event_id) AS h FROM _stage WHERE _reason IS NULL
          GROUP BY 1 HAVING count(*) > 1),
        rows AS (
          SELECT s._row, s.event_id FROM _stage s SEMI JOIN candidates c
          ON hash(s.event_id) = c.h WHERE s._reason IS NULL)
        SELECT _row FROM rows
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _row) > 1
        """
    )
    has_repeats = con.execute("SELECT count(*) > 0 FROM _later_repeats").fetchall()[0][0]
    not_repeat = "AND s._row NOT IN (SELECT _row FROM _later_repeats)" if has_repeats else ""
    # The duplicates, by their own predicate: an id stored already, or repeated earlier in the
    # batch. The insert then takes every valid row that is not one of them, and the two counts
    # are checked against the valid rows by the caller.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _duplicates AS
        SELECT s._row FROM _stage s
        WHERE s._reason IS NULL {not_repeat}
          AND EXISTS (SELECT 1 FROM events e WHERE e.event_id = s.event_id)
        UNION ALL SELECT _row FROM _later_repeats
        """
    )
    duplicates = con.execute("SELECT count(*) FROM _duplicates").fetchall()[0][0]
    keep = "WHERE s._reason IS NULL"
    if duplicates:
        keep += " AND NOT EXISTS (SELECT 1 FROM _duplicates d WHERE d._row = s._row)"
    rows = None
    if want_rows:
        rows = [r[0] for r in con.execute(f"SELECT s._row FROM _stage s {keep}").fetchall()]
    inserted = con.execute(_events_insert(select, keep), [now, batch_id]).fetchall()[0][0]
    con.execute("DROP TABLE _later_repeats")
    con.execute("DROP TABLE _duplicates")
    return inserted, duplicates, rows


def _upsert_entities(
    con, kind: str, batch_id: str, now: datetime, want_rows: bool
) -> tuple[int, int, list[int] | None]:
    """Upsert the batch's users or products: (rows written, duplicates, accepted positions)."""
    table = CANONICAL[kind]
    key = table.key
    data_cols = [c.name for c in table.columns if c.name not in ("ingested_at", "batch_id")]
    # A value the source does not give (absent column or NULL) keeps the stored value.
    merged = [f"n.{q(c)}" if c == key else f"coalesce(n.{q(c)}, o.{q(c)})" for c in data_cols]
    select_merged = ", ".join(f"{m} AS {q(c)}" for m, c in zip(merged, data_cols, strict=True))
    content = ", ".join(q(c) for c in data_cols)
    # Within a batch the last row of a key wins; earlier rows of that key change nothing in
    # the end and count as duplicates, so re-sending a batch is idempotent.
    last_of_key = f"row_number() OVER (PARTITION BY {q(key)} ORDER BY _row DESC)"
    superseded = con.execute(
        f"SELECT count(*) FROM (SELECT _row FROM _stage WHERE _reason IS NULL "
        f"QUALIFY {last_of_key} > 1)"
    ).fetchall()[0][0]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _merged AS "
        f"SELECT n._row, {select_merged} "
        f"FROM (SELECT * FROM _stage WHERE _reason IS NULL "
        f"QUALIFY {last_of_key} = 1) n "
        f"LEFT JOIN {table.name} o ON o.{q(key)} = n.{q(key)}"
    )
    # A final row identical to the stored one changes nothing either.
    same = (
        f"EXISTS (SELECT 1 FROM {table.name} o "
        f"WHERE o.{q(key)} = m.{q(key)} AND hash(ROW({', '.join('o.' + q(c) for c in data_cols)})) "
        f"= hash(ROW({', '.join('m.' + q(c) for c in data_cols)})))"
    )
    unchanged = con.execute(f"SELECT count(*) FROM _merged m WHERE {same}").fetchall()[0][0]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT * FROM _merged m WHERE NOT {same}"
    )
    rows = None
    if want_rows:
        rows = [r[0] for r in con.execute("SELECT _row FROM _changed").fetchall()]
    con.execute(f"DELETE FROM {table.name} WHERE {q(key)} IN (SELECT {q(key)} FROM _changed)")
    # by name: a column a migration added sits last in an older warehouse
    written = con.execute(
        f"INSERT INTO {table.name} ({content}, ingested_at, batch_id) "
        f"SELECT {content}, ?, ? FROM _changed",
        [now, batch_id],
    ).fetchall()[0][0]
    con.execute("DROP TABLE _merged")
    con.execute("DROP TABLE _changed")
    return written, superseded + unchanged, rows


def _has_user_links(con) -> bool:
    return con.execute(
        "SELECT count(*) > 0 FROM identity_links WHERE from_kind = 'user'"
    ).fetchall()[0][0]
