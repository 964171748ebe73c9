"""What a profile build reads of the warehouse, and the working tables it stages there.

The build (``portrait.tags.build``) decides and compiles; this module runs its statements: the
facts it plans with (first and latest event, latest batch, model scores, identity digests), the
temporary tables it computes through (staged events, facts, the persons an incremental build
recomputes), ``profile_identity`` (the identity map a live build used), and the export of the
canonical tables for Spark. Temporary tables live on the build's own connection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir

from portrait.store import profiles as snapshots
from portrait.store import tag_builds, tag_stats
from portrait.store.profiles import flat_select, has_table
from portrait.store.tag_builds import BuildLogRecord
from portrait.store.warehouse import Warehouse
from portrait.tags.model import TagDef

AFFECTED = "_affected"  # the persons an incremental build recomputes
PREVIOUS_FACTS = "_prev_facts"  # the base build's facts, as engine columns


# --- what a build plans with ----------------------------------------------------------------
def event_span(wh: Warehouse) -> tuple[datetime | None, datetime | None]:
    """The first and the latest event time (None without events)."""
    row = wh.fetchone("SELECT min(ts), max(ts) FROM events")
    return (row[0], row[1]) if row else (None, None)


def event_count(wh: Warehouse) -> int:
    return wh.fetchone("SELECT count(*) FROM events")[0]


def last_batch(wh: Warehouse) -> str | None:
    """The latest finished ingest batch (what a build includes)."""
    return wh.fetchone("SELECT arg_max(batch_id, finished_at) FROM ingest_batches")[0]


def batch_finished(wh: Warehouse, batch_id: str) -> datetime | None:
    row = wh.fetchone("SELECT finished_at FROM ingest_batches WHERE batch_id = ?", [batch_id])
    return row[0] if row else None


def scores_digest(wh: Warehouse) -> str:
    """What a build reads besides events, users, products and identities (those are diffed by
    batch and identity map): the model scores. Every write of a model's scores deletes its rows
    and inserts new ones stamped with the time, so their count and latest stamp change whenever
    they do."""
    row = wh.fetchone("SELECT count(*), max(scored_at) FROM model_scores")
    return f"scores:{row[0]}:{row[1].isoformat() if row[1] else '-'}"


def identity_digest(wh: Warehouse, table: str = "identity_map") -> str | None:
    """Rows and a hash of an identity map (None when ``table`` does not exist)."""
    if table != "identity_map" and not has_table(wh, table):
        return None
    row = wh.fetchone(
        "SELECT count(*) || '-' || coalesce(bit_xor(hash(id_kind, identifier, person_id)), 0) "
        f"FROM {table}"
    )
    return str(row[0])


def keep_identity(wh: Warehouse) -> None:
    """Keep the identity map a live build used: the next incremental build diffs it."""
    wh.execute("DELETE FROM profile_identity")
    wh.execute(
        "INSERT INTO profile_identity SELECT id_kind, identifier, person_id FROM identity_map"
    )


# --- working tables -------------------------------------------------------------------------
def stage(wh: Warehouse, expr: ir.Table, prefix: str) -> str:
    """``expr`` computed into a new temporary table; its name."""
    table = f"{prefix}{uuid.uuid4().hex[:8]}"
    sql = ibis.to_sql(expr, dialect="duckdb", pretty=False)
    wh.execute_local(f"CREATE TEMP TABLE {table} AS {sql}")
    return table


def stage_facts(wh: Warehouse, facts: ir.Table) -> str:
    """The fact stage computed into a temporary table; its name.

    Some thirty groupings read the events. DuckDB would push the OR of all their filters into
    the shared read and evaluate that on every event; each grouping filters its own rows anyway
    (measured: 10-15% of the build on 10M events)."""
    wh.execute_local("SET disabled_optimizers = 'cte_filter_pusher'")
    try:
        return stage(wh, facts, "_facts_")
    finally:
        wh.execute_local("RESET disabled_optimizers")


def drop_temp(wh: Warehouse, *tables: str) -> None:
    for table in tables:
        wh.execute_local(f"DROP TABLE IF EXISTS {table}")


def stage_previous_facts(
    wh: Warehouse, tags: Sequence[TagDef], snapshot: str, fact_ids: set[str]
) -> str:
    """A view of a stored snapshot's fact tags as engine columns; its name."""
    sql = flat_select(list(tags), snapshot, fact_ids)
    wh.execute_local(f"CREATE OR REPLACE TEMP VIEW {PREVIOUS_FACTS} AS {sql}")
    return PREVIOUS_FACTS


def drop_working_tables(wh: Warehouse) -> None:
    """The incremental build's view and table of affected persons."""
    wh.execute_local(f"DROP VIEW IF EXISTS {PREVIOUS_FACTS}")
    wh.execute_local(f"DROP TABLE IF EXISTS {AFFECTED}")


def stage_affected(
    wh: Warehouse,
    events: ir.Table,
    users: ir.Table,
    crossings: Sequence[tuple[int, int]],
    epochs: tuple[int, int],
    batches_after: datetime | None,
) -> int:
    """Fill ``_affected`` with the persons whose facts may differ from the base build's; how
    many. They are those with events crossing a window edge (each ``[start, end)`` of
    ``crossings``), with events, products or user records of batches after ``batches_after``,
    registered between the two build ``epochs``, or whose identities changed since the base
    build (``profile_identity`` against ``identity_map``)."""
    old, new = epochs
    crossed = " OR ".join(f"(e.t >= {a} AND e.t < {b})" for a, b in crossings)
    events_sql = ibis.to_sql(events, dialect="duckdb")
    users_sql = ibis.to_sql(users, dialect="duckdb")
    new_batches = "SELECT batch_id FROM ingest_batches" + (
        " WHERE finished_at > ?" if batches_after is not None else ""
    )
    params = [batches_after] if batches_after is not None else []
    wh.execute_local(f"DROP TABLE IF EXISTS {AFFECTED}")
    wh.execute_local(
        f"""CREATE TEMP TABLE {AFFECTED} AS
        WITH e AS ({events_sql}), u AS ({users_sql}), nb AS ({new_batches})
        SELECT person_id FROM e WHERE person_id IS NOT NULL AND ({crossed})
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
    return wh.fetchone(f"SELECT count(*) FROM {AFFECTED}")[0]


def save_build(wh: Warehouse, tags: Sequence[TagDef], staging: str, record: BuildLogRecord) -> bool:
    """Save a computed build in one transaction: its staging table becomes the date's
    snapshot, changed definitions get new versions, its statistics are computed and it is
    logged. A build of the newest date is live: the ``profile`` and ``tag_values`` views then
    point at it and its identity map is kept. Whether it is live."""
    tick = time.perf_counter()
    with wh.transaction():
        live = tag_builds.is_newest(wh, record.as_of)
        if live:  # a past date's build is kept beside the live profile, not in its place
            keep_identity(wh)
        digest = identity_digest(wh)
        snapshots.save_snapshot(wh, staging, record.snapshot)
        tag_builds.record_versions(wh, tags, record.build_id, record.started_at)
        if live:
            snapshots.point_current(wh, tags, record.snapshot, record.build_id)
        tag_stats.compute_stats(wh, tags, record.snapshot, record.build_id)
        saved = record.model_copy(
            update={
                "identity_digest": digest,
                "finished_at": datetime.now(UTC),
                "seconds": record.seconds + time.perf_counter() - tick,
            }
        )
        tag_builds.insert_build(wh, saved)
    return live


def export_parquet(wh: Warehouse, table: str, path: Path) -> None:
    """A canonical table written as one Parquet file (for an engine outside the warehouse)."""
    with wh.reading() as con:
        con.execute(f"COPY (SELECT * FROM {table}) TO '{path}' (FORMAT parquet)")
