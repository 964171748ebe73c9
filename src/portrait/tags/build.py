"""Build profiles: run the compiled catalog on DuckDB (or Spark) and store a dated snapshot.

A build is *full* (every person's facts computed) or *incremental*: when the previous build used
the same catalog and time zone, only persons touched since then are recomputed — persons with
newly ingested events or user records, persons whose events crossed a window edge between the
two build dates, and persons whose identity changed. Rules (stage 2) always run over everyone,
because scores compare a person with the whole population. Either way the result is the same.
When nobody is touched, the date is the previous build's and the model scores are as they were,
the build is *unchanged*: the previous build is the answer and nothing is written.

A build of the newest date is *live*: reads without a date (profile, segments, campaigns) answer
from it. A build of an earlier date stores its snapshot and statistics beside the live one,
readable by its date, and leaves the live profile, its segment history and journeys alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from portrait.store import profiles as store
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.compile import (
    IBIS_TYPE,
    Sources,
    compile_facts,
    compile_rules,
    event_columns,
)
from portrait.tags.sources import DAY, AsOf, event_source, user_source, utc_offsets

Progress = Callable[[str], None]
INCREMENTAL_LIMIT = 0.5  # recompute everything when more than this share of persons changed
BACKENDS = ("duckdb", "pyspark")


class BuildError(RuntimeError):
    """A build cannot run as asked (bad date, unknown backend, nothing to build from)."""


@dataclass
class BuildResult:
    build_id: str
    as_of: str
    backend: str
    mode: str
    persons: int
    recomputed: int
    tags: int
    seconds: float
    snapshot: str
    events: int
    live: bool  # of the newest date: reads without a date answer from it
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the build could not do

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_build(as_of: str | date | None, backend: str) -> None:
    """Refuse a build that cannot run as asked before it starts (bad date, unknown backend)."""
    if backend not in BACKENDS:
        raise BuildError(f"unknown backend {backend!r}; use duckdb or pyspark")
    if isinstance(as_of, str):
        try:
            date.fromisoformat(as_of)
        except ValueError:
            raise ValueError(f"{as_of!r} is not a date; write it as YYYY-MM-DD") from None


def default_as_of(wh: Warehouse, timezone: str) -> date:
    """The day after the latest event (local date): the profile then covers every event."""
    row = wh.fetchone("SELECT max(ts) FROM events")
    last = row[0] if row else None
    if last is None:
        return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()
    return last.astimezone(ZoneInfo(timezone)).date() + timedelta(days=1)


def _sources(con: Any, offsets: list[tuple[int, int]], scores: bool = True) -> Sources:
    t = con.table
    return Sources(
        events=event_source(t("events"), t("products"), t("identity_map"), offsets),
        users=user_source(t("users"), t("identity_map")),
        scores=t("model_scores") if scores else None,
    )


def normalized_facts(catalog: Catalog, facts: ir.Table) -> ir.Table:
    """Fact columns cast to their stored types, so fresh and stored facts can be combined."""
    cols: dict[str, ir.Value] = {"person_id": facts.person_id.cast("string")}
    for t in catalog:
        if t.fact is None:
            continue
        if t.type == "top":
            for i in range(t.fact.n):
                cols[f"{t.id}__k{i}"] = facts[f"{t.id}__k{i}"].cast("string")
                cols[f"{t.id}__w{i}"] = facts[f"{t.id}__w{i}"].cast("float64")
        else:
            cols[t.id] = facts[t.id].cast(IBIS_TYPE[t.type])
    return facts.select(**cols)


class Builder:
    """Runs builds against one warehouse."""

    def __init__(self, wh: Warehouse, catalog: Catalog, timezone: str, keep: int = 30) -> None:
        self.wh = wh
        self.catalog = catalog
        self.timezone = timezone
        self.keep = keep

    def run(
        self,
        as_of: date | None = None,
        backend: str = "duckdb",
        full: bool = False,
        progress: Progress | None = None,
    ) -> BuildResult:
        """Build the profiles as of ``as_of``. One build runs at a time in a workspace, so a
        staging table found now was left by a build that died (killed mid-save): it goes, and
        so does this build's own if this build fails. It computes on a connection of its own
        (a warehouse session: its temporary tables live there, readers go on meanwhile)."""
        with self.wh.session():
            store.drop_staging_tables(self.wh)
            try:
                return self._run(as_of, backend, full, progress)
            except BaseException:
                store.drop_staging_tables(self.wh)
                raise

    def _run(
        self,
        as_of: date | None,
        backend: str,
        full: bool,
        progress: Progress | None,
    ) -> BuildResult:
        if backend not in BACKENDS:
            raise BuildError(f"unknown backend {backend!r}; use duckdb or pyspark")
        say = progress or (lambda _msg: None)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        day = as_of or default_as_of(self.wh, self.timezone)
        point = AsOf.from_date(datetime(day.year, day.month, day.day), self.timezone)
        first = self.wh.fetchone("SELECT min(ts) FROM events")[0]
        start = int(first.timestamp()) if first is not None else point.epoch - 400 * DAY
        offsets = utc_offsets(self.timezone, min(start, point.epoch - 400 * DAY), point.epoch)
        build_id = (
            f"{point.date_text.replace('-', '')}-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        )
        snapshot = store.snapshot_name(point.date_text)
        events_seen = self.wh.fetchone("SELECT count(*) FROM events")[0]
        last_batch = self.wh.fetchone("SELECT arg_max(batch_id, finished_at) FROM ingest_batches")[
            0
        ]

        inputs = self._inputs_digest()
        prev = None if full or backend != "duckdb" else self._previous(point)
        staging = f"snapshots._staging_{uuid.uuid4().hex[:8]}"
        tags = list(self.catalog)
        recomputed = -1
        if backend == "pyspark":
            say("pyspark: exporting tables and computing")
            from portrait.tags.spark import run_on_spark

            arrow = run_on_spark(self.wh, self.catalog, point, offsets, timings)
            tick = time.perf_counter()
            self.wh.register("_spark_profile", arrow)
            try:
                self.wh.execute_local(
                    f"CREATE TABLE {staging} AS " + store.snapshot_select(tags, "_spark_profile")
                )
            finally:
                self.wh.unregister("_spark_profile")
            timings["store"] = time.perf_counter() - tick
            mode = "full"
        else:
            src = _sources(self.wh, offsets)
            mode = "full"
            affected = None
            if prev is not None:
                say("finding what changed since the last build")
                tick = time.perf_counter()
                affected = self._affected(prev, point, offsets)
                timings["changes"] = time.perf_counter() - tick
                population = self.wh.fetchone(f"SELECT count(*) FROM {prev['snapshot_table']}")[0]
                if affected == 0 and prev["epoch"] == point.epoch and prev["inputs"] == inputs:
                    # same date, same catalog, nothing new: the last build is this build
                    self.wh.execute_local("DROP TABLE IF EXISTS _affected")
                    return BuildResult(
                        build_id=prev["build_id"], as_of=point.date_text, backend=backend,
                        mode="unchanged", persons=population, recomputed=0,
                        tags=len(tags), seconds=round(time.perf_counter() - t0, 3),
                        snapshot=prev["snapshot_table"], events=events_seen,
                        live=store.is_newest(self.wh, point.date_text),
                        timings={k: round(v, 3) for k, v in timings.items()},
                    )  # fmt: skip
                if affected is not None and affected <= INCREMENTAL_LIMIT * max(population, 1):
                    mode = "incremental"
                    recomputed = affected
            say(f"computing {len(tags)} tags ({mode})")
            staged = None
            if mode == "full" or recomputed > 0:
                tick = time.perf_counter()
                staged = self._stage_events(src, point, offsets, restrict=mode == "incremental")
                src = Sources(events=self.wh.table(staged), users=src.users, scores=src.scores)
                timings["events"] = time.perf_counter() - tick
            try:
                self._compute(src, point, prev, mode, recomputed, staging, timings)
            finally:
                if staged is not None:
                    self.wh.execute_local(f"DROP TABLE IF EXISTS {staged}")
            self.wh.execute_local("DROP VIEW IF EXISTS _prev_facts")
            self.wh.execute_local("DROP TABLE IF EXISTS _affected")
        persons = self.wh.fetchone(f"SELECT count(*) FROM {staging}")[0]
        if recomputed < 0:
            recomputed = persons
        say("saving the snapshot and tag statistics")
        tick = time.perf_counter()
        with self.wh.transaction():
            live = store.is_newest(self.wh, point.date_text)
            identity_digest = self._save_identity(keep=live)
            self.wh.execute(f"DROP TABLE IF EXISTS {snapshot}")
            self.wh.execute(f"ALTER TABLE {staging} RENAME TO {snapshot.split('.')[1]}")
            self.wh.execute(  # point lookups by person (profile API) use this index
                f"CREATE INDEX idx_{snapshot.split('.')[1]} ON {snapshot} (person_id)"
            )
            store.record_versions(self.wh, tags, build_id, started)
            if live:  # a past date's build is kept beside the live profile, not in its place
                store.point_current(self.wh, tags, snapshot, build_id)
            store.compute_stats(self.wh, tags, snapshot, build_id)
            seconds = time.perf_counter() - t0
            self.wh.execute(
                "INSERT INTO tag_builds (build_id, as_of, as_of_epoch, timezone, backend, mode, "
                "catalog_fingerprint, snapshot, persons, recomputed, events_seen, last_batch, "
                "identity_digest, started_at, finished_at, seconds, inputs_digest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    build_id, point.date_text, point.epoch, self.timezone, backend, mode,
                    self.catalog.fingerprint, snapshot, persons, recomputed, events_seen,
                    last_batch, identity_digest, started, datetime.now(UTC), seconds, inputs,
                ],
            )  # fmt: skip
        timings["save"] = time.perf_counter() - tick
        store.drop_old_snapshots(self.wh, self.keep)
        return BuildResult(
            build_id=build_id,
            as_of=point.date_text,
            backend=backend,
            mode=mode,
            persons=persons,
            recomputed=recomputed,
            tags=len(tags),
            seconds=round(time.perf_counter() - t0, 3),
            snapshot=snapshot,
            events=events_seen,
            live=live,
            timings={k: round(v, 3) for k, v in timings.items()},
        )

    def _compute(
        self,
        src: Sources,
        point: AsOf,
        prev: dict[str, Any] | None,
        mode: str,
        recomputed: int,
        staging: str,
        timings: dict[str, float],
    ) -> None:
        """Facts, then rules over them, into the ``staging`` table."""
        tags = list(self.catalog)
        tick = time.perf_counter()
        if mode == "incremental":
            facts = self._incremental_facts(src, point, prev, recomputed)
        else:
            facts = compile_facts(self.catalog, src, point)
        facts_sql = str(
            ibis.to_sql(normalized_facts(self.catalog, facts), dialect="duckdb", pretty=False)
        )
        timings["compile"] = time.perf_counter() - tick
        # Facts first, into a table; then the rules over it. As one query, the rules'
        # windows and bucket-edge subqueries read the facts more than once (measured on
        # 10M events: 12-20% slower).
        facts_table = f"_facts_{uuid.uuid4().hex[:8]}"
        tick = time.perf_counter()
        # Some thirty groupings read the events. DuckDB would push the OR of all their filters
        # into the shared read and evaluate that on every event; each grouping filters its own
        # rows anyway (measured: 10-15% of the build on 10M events).
        self.wh.execute_local("SET disabled_optimizers = 'cte_filter_pusher'")
        try:
            self.wh.execute_local(f"CREATE TEMP TABLE {facts_table} AS {facts_sql}")
        finally:
            self.wh.execute_local("RESET disabled_optimizers")
        try:
            compute = time.perf_counter() - tick
            tick = time.perf_counter()
            expr = compile_rules(self.catalog, self.wh.table(facts_table), point, src)
            sql = str(ibis.to_sql(expr, dialect="duckdb", pretty=False))
            timings["compile"] += time.perf_counter() - tick
            tick = time.perf_counter()
            self.wh.execute_local(
                f"CREATE TABLE {staging} AS " + store.snapshot_select(tags, f"({sql}) AS p")
            )
        finally:
            self.wh.execute_local(f"DROP TABLE IF EXISTS {facts_table}")
        timings["compute"] = compute + time.perf_counter() - tick

    def _stage_events(
        self, src: Sources, point: AsOf, offsets: list[tuple[int, int]], restrict: bool
    ) -> str:
        """The events the fact stage reads, into a temp table: the columns it uses, of known
        persons, before the build date (with ``restrict``, of the persons in ``_affected``).

        Some thirty groupings read the events. Read from the event source (events joined with
        identities and products) as one shared subquery, DuckDB streams all its columns to
        every grouping; staged once, each grouping scans only the columns it needs (measured at
        1M persons and 11.5M events: 73 s -> 65 s on one thread, 92 s -> 76 s on two, with the
        same values)."""
        ev = src.events
        if restrict:
            # only the events whose ids may resolve to an affected person enter the identity
            # and product joins (all of them did: 4 s of 23 s at 90k persons, 1% affected);
            # the exact test is the semi-join on the resolved person below
            affected = self.wh.table("_affected")
            im = self.wh.table("identity_map")
            theirs = im.semi_join(affected, im.person_id == affected.person_id)
            user_ids = theirs.filter(theirs.id_kind == "user").select(x=theirs.identifier)
            user_ids = user_ids.union(affected.select(x=affected.person_id), distinct=False)
            anon_ids = theirs.filter(theirs.id_kind == "anonymous").select(x=theirs.identifier)
            raw = self.wh.table("events")
            raw = raw.filter(raw.user_id.isin(user_ids.x) | raw.anonymous_id.isin(anon_ids.x))
            ev = event_source(raw, self.wh.table("products"), im, offsets)
        ev = ev.filter(ev.person_id.notnull(), ev.t < point.epoch)
        if restrict:
            ev = ev.semi_join(affected, ev.person_id == affected.person_id)
        table = f"_events_{uuid.uuid4().hex[:8]}"
        sql = ibis.to_sql(ev.select(*event_columns(self.catalog)), dialect="duckdb")
        self.wh.execute_local(f"CREATE TEMP TABLE {table} AS {sql}")
        return table

    # --- incremental ----------------------------------------------------------------------
    def _previous(self, point: AsOf) -> dict[str, Any] | None:
        """The build an incremental build may start from, if any: of the same catalog and time
        zone, of a date not after ``point``, the newest such date (the live build, for a build
        of the newest date; never a past date's build made after it), its snapshot still
        holding it, and the identity map kept in ``profile_identity`` the one it used."""
        row = self.wh.fetchone(
            "SELECT build_id, as_of_epoch, snapshot, last_batch, started_at, inputs_digest, "
            f"identity_digest FROM tag_builds b WHERE snapshot IN ({store.STORED_SNAPSHOTS}) "
            "AND catalog_fingerprint = ? AND timezone = ? AND as_of_epoch <= ? "
            "AND build_id = (SELECT arg_max(build_id, finished_at) FROM tag_builds "
            "                WHERE snapshot = b.snapshot) "
            "ORDER BY as_of_epoch DESC, finished_at DESC LIMIT 1",
            [self.catalog.fingerprint, self.timezone, point.epoch],
        )
        if row is None:
            return None
        build_id, epoch, snapshot, last_batch, started, inputs, identity = row
        # this build diffs the identity map against profile_identity: that must still hold the
        # map the base build used (a build that failed after saving its own may have replaced it)
        if identity is None or identity != self._identity_digest("profile_identity"):
            return None
        batch_done = None
        if last_batch is not None:
            batch_done = self.wh.fetchone(
                "SELECT finished_at FROM ingest_batches WHERE batch_id = ?", [last_batch]
            )
            batch_done = batch_done[0] if batch_done else None
        return {
            "build_id": build_id,
            "epoch": epoch,
            "snapshot_table": snapshot,
            "batch_done": batch_done,
            "started": started,
            "inputs": inputs,
        }

    def _inputs_digest(self) -> str:
        """What a build reads besides events, users, products and identities (those are
        diffed by batch and identity map): the model scores. Every write of a model's scores
        deletes its rows and inserts new ones stamped with the time, so their count and latest
        stamp change whenever they do."""
        row = self.wh.fetchone("SELECT count(*), max(scored_at) FROM model_scores")
        return f"scores:{row[0]}:{row[1].isoformat() if row[1] else '-'}"

    def _affected(self, prev: dict[str, Any], point: AsOf, offsets: list) -> int | None:
        """Fill ``_affected`` with the persons whose facts may differ; return how many."""
        windows = sorted({0, *(t.window_days or 0 for t in self.catalog if t.fact)})
        old, new = prev["epoch"], point.epoch
        before = AsOf.from_epoch(old, self.timezone)
        crossings = " OR ".join(
            f"(e.t >= {before.window_start(w)} AND e.t < {point.window_start(w)})" for w in windows
        )
        src = _sources(self.wh, offsets, scores=False)
        events_sql = str(ibis.to_sql(src.events, dialect="duckdb"))
        users_sql = str(ibis.to_sql(src.users, dialect="duckdb"))
        after = prev["batch_done"]
        new_batches = "SELECT batch_id FROM ingest_batches" + (
            " WHERE finished_at > ?" if after is not None else ""
        )
        params = [after] if after is not None else []
        self.wh.execute_local("DROP TABLE IF EXISTS _affected")
        self.wh.execute_local(
            f"""CREATE TEMP TABLE _affected AS
            WITH e AS ({events_sql}), u AS ({users_sql}), nb AS ({new_batches})
            SELECT person_id FROM e WHERE person_id IS NOT NULL AND ({crossings})
            UNION SELECT e.person_id FROM e JOIN events ev ON ev.event_id = e.event_id
                  WHERE e.person_id IS NOT NULL AND ev.batch_id IN (SELECT batch_id FROM nb)
            UNION SELECT e.person_id FROM e JOIN products p ON p.product_id = e.product_id
                  WHERE e.person_id IS NOT NULL AND p.batch_id IN (SELECT batch_id FROM nb)
            UNION SELECT u.person_id FROM u JOIN users us ON us.user_id = u.person_id
                  WHERE us.batch_id IN (SELECT batch_id FROM nb)
                     OR (u.registered_t >= {old} AND u.registered_t < {new})
            UNION SELECT person_id FROM profile_identity
                  WHERE (id_kind, identifier, person_id) NOT IN
                        (SELECT id_kind, identifier, person_id FROM identity_map)
            UNION SELECT person_id FROM identity_map
                  WHERE (id_kind, identifier, person_id) NOT IN
                        (SELECT id_kind, identifier, person_id FROM profile_identity)""",
            params,
        )
        return self.wh.fetchone("SELECT count(*) FROM _affected")[0]

    def _incremental_facts(
        self, src: Sources, point: AsOf, prev: dict[str, Any], changed: int
    ) -> ir.Table:
        fact_ids = {t.id for t in self.catalog if t.fact}
        self.wh.execute_local(
            "CREATE OR REPLACE TEMP VIEW _prev_facts AS "
            + store.flat_select(list(self.catalog), prev["snapshot_table"], fact_ids)
        )
        kept = normalized_facts(self.catalog, self.wh.table("_prev_facts"))
        if changed == 0:  # nothing to recompute: no pass over the events at all
            return kept
        affected = self.wh.table("_affected")
        fresh = normalized_facts(self.catalog, compile_facts(self.catalog, src, point, affected))
        kept = kept.anti_join(affected, kept.person_id == affected.person_id)
        return kept.union(fresh.select(*kept.columns), distinct=False)

    def _save_identity(self, keep: bool = True) -> str:
        """Keep the identity map this build used (the next incremental build diffs it), when
        ``keep`` (a live build: a past date's build leaves the live build's map); its digest."""
        if keep:
            self.wh.execute(
                "CREATE OR REPLACE TABLE profile_identity AS "
                "SELECT id_kind, identifier, person_id FROM identity_map"
            )
        return self._identity_digest("identity_map")

    def _identity_digest(self, table: str) -> str | None:
        """Rows and a hash of an identity map (None when ``table`` does not exist)."""
        if table != "identity_map" and not store.has_table(self.wh, table):
            return None
        row = self.wh.fetchone(
            "SELECT count(*) || '-' || coalesce(bit_xor(hash(id_kind, identifier, person_id)), 0) "
            f"FROM {table}"
        )
        return str(row[0])
