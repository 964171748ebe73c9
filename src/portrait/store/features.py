"""What model training reads from the warehouse: whether a stored build can stand for the
profile as of a date, the profile columns (read from that build or computed by a compiled
query), the persons known before a date, and one training run's order lines in a temporary
table with the label queries over it. ``portrait.models`` builds the expressions (ibis) and the
profile query; only this module runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from portrait.store.warehouse import Warehouse

DAY = 86_400


# --- the profile as of a date -----------------------------------------------------------------
def first_event_time(wh: Warehouse) -> datetime | None:
    """The time of the first event (None before any)."""
    row = wh.fetchone("SELECT min(ts) FROM events")
    return row[0] if row else None


class DayBuild(NamedTuple):
    """The latest build of one date, and what says whether it is still current."""

    snapshot: str
    catalog_fingerprint: str
    timezone: str
    last_batch: str | None  # the newest ingest batch it read
    latest_batch: str | None  # the newest ingest batch now
    snapshot_stored: bool
    links_since: int  # identity links first seen at or after the date


def day_build(wh: Warehouse, day: str, day_epoch: int) -> DayBuild | None:
    """The latest build of ``day`` (YYYY-MM-DD) with what is needed to judge it current;
    ``day_epoch``: local midnight of the day in epoch seconds. None without one."""
    row = wh.fetchone(
        "SELECT snapshot, catalog_fingerprint, timezone, last_batch FROM tag_builds "
        "WHERE as_of = CAST(? AS DATE) ORDER BY finished_at DESC LIMIT 1",
        [day],
    )
    if row is None:
        return None
    snapshot = row[0]
    latest = wh.fetchone("SELECT arg_max(batch_id, finished_at) FROM ingest_batches")
    stored = wh.fetchone(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'snapshots' "
        "AND table_name = ?",
        [snapshot.split(".")[1]],
    )
    links = wh.fetchone(
        "SELECT count(*) FROM identity_links WHERE first_seen >= to_timestamp(?)", [day_epoch]
    )
    return DayBuild(
        *row,
        latest_batch=latest[0] if latest else None,
        snapshot_stored=bool(stored and stored[0]),
        links_since=int(links[0]) if links else 0,
    )


def snapshot_columns(wh: Warehouse, snapshot: str, columns: Sequence[str]) -> pa.Table:
    """person_id and ``columns`` of every person of a stored snapshot."""
    cols = "".join(f', "{c}"' for c in columns)
    return wh.arrow(f"SELECT person_id{cols} FROM {snapshot}")


def computed_profile(wh: Warehouse, sql: str) -> pa.Table:
    """The result of a compiled profile query (``portrait.models.features``), run as a build
    runs it: each grouping filters its own rows, since pushing the OR of all their filters
    into the shared event CTE costs more than it saves."""
    with wh.reading() as con:
        con.execute("SET disabled_optimizers = 'cte_filter_pusher'")
        try:
            return con.sql(sql).to_arrow_table()
        finally:
            con.execute("RESET disabled_optimizers")


def person_ids(wh: Warehouse, expr: ir.Table) -> set[str]:
    """The values of the first column of an expression over warehouse tables."""
    sql = ibis.to_sql(expr, dialect="duckdb")
    return {r[0] for r in wh.fetchall(str(sql))}


# --- one training run's order lines -----------------------------------------------------------
def create_order_lines(wh: Warehouse, table: str, expr: ir.Table) -> None:
    """Keep the order lines of ``expr`` (person_id, t, order_id, category_l1) in the temporary
    table ``table`` for the run."""
    sql = ibis.to_sql(expr.select("person_id", "t", "order_id", "category_l1"), dialect="duckdb")
    wh.execute(f"CREATE TEMP TABLE {table} AS {sql}")


def drop_order_lines(wh: Warehouse, table: str) -> None:
    wh.execute(f"DROP TABLE IF EXISTS {table}")


def _frame(wh: Warehouse, sql: str, params: Sequence[Any]) -> pd.DataFrame:
    # under the write lock: the connection that created the temporary table (the session's,
    # or the writer's), whichever thread reads
    with wh.lock:
        return wh._con.execute(sql, list(params)).df()


def last_orders(wh: Warehouse, table: str, before: int) -> pd.DataFrame:
    """person_id, last_t: each buyer's last order before epoch ``before``."""
    return _frame(
        wh, f"SELECT person_id, max(t) AS last_t FROM {table} WHERE t < ? GROUP BY 1", [before]
    )


def order_counts(wh: Warehouse, table: str, start: int, end: int) -> pd.DataFrame:
    """person_id, n: each buyer's distinct orders in epochs ``[start, end)``."""
    return _frame(
        wh,
        f"SELECT person_id, count(DISTINCT order_id) AS n FROM {table} "
        "WHERE t >= ? AND t < ? GROUP BY 1",
        [start, end],
    )


def buyers(wh: Warehouse, table: str, start: int, end: int) -> set[str]:
    """Persons with an order in epochs ``[start, end)``."""
    df = _frame(wh, f"SELECT DISTINCT person_id FROM {table} WHERE t >= ? AND t < ?", [start, end])
    return set(df["person_id"])


def category_buyers(wh: Warehouse, table: str, start: int, end: int) -> pd.DataFrame:
    """person_id, category: pairs with an order line of the category in ``[start, end)``."""
    return _frame(
        wh,
        f"SELECT DISTINCT person_id, category_l1 AS category FROM {table} "
        "WHERE t >= ? AND t < ? AND category_l1 IS NOT NULL",
        [start, end],
    )


def category_history(
    wh: Warehouse, table: str, cut: int, windows: dict[int, int], categories: Sequence[str]
) -> pd.DataFrame:
    """Per (person, category of ``categories``), from order lines before epoch ``cut``: orders
    with the category since each window start (``windows``: days -> epoch, columns
    ``orders_<days>d``) and in all, days since the last one, and the category's share of the
    person's order lines."""
    counts = ", ".join(
        f"count(DISTINCT order_id) FILTER (t >= {int(start)}) AS orders_{int(days)}d"
        for days, start in windows.items()
    )
    return _frame(
        wh,
        f"""WITH lines AS (SELECT * FROM {table} WHERE t < ?),
                 per_person AS (SELECT person_id, count(*) AS lines FROM lines GROUP BY 1)
            SELECT l.person_id, l.category_l1 AS category, {counts},
                   count(DISTINCT order_id) AS orders_total,
                   floor((? - max(t)) / {DAY}) AS days_since_last,
                   count(*) / any_value(p.lines) AS share
            FROM lines l JOIN per_person p USING (person_id)
            WHERE l.category_l1 IN (SELECT unnest(?))
            GROUP BY 1, 2""",
        [cut, cut, list(categories)],
    )


def category_buyer_counts(wh: Warehouse, table: str, start: int, end: int) -> pd.DataFrame:
    """category, buyers: distinct buyers per category in ``[start, end)``, most first."""
    return _frame(
        wh,
        f"SELECT category_l1 AS category, count(DISTINCT person_id) AS buyers "
        f"FROM {table} WHERE t >= ? AND t < ? AND category_l1 IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        [start, end],
    )
