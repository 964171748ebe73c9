"""CDNOW online CD store purchases (1997-01 .. 1998-06) -> canonical users and events.

Two files share one format, whitespace-separated: ``CDNOW_master.txt`` (header line, then
customer_id, date, number_of_cds, dollar_value) and the 2,357-customer ``CDNOW_sample.txt`` of
Fader, Hardie & Lee (2005), which has no header and TWO id columns: the master customer id and the
sample's own id (1..2,357). ``user_id`` is always the master id as written (``"00004"``), so the
sample's customers are the same users as in the master file; the sample id is kept in the user's
attributes.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pandas as pd

from portrait.datasets.base import DatasetFiles, DatasetMissingError, converter
from portrait.datasets.base import sql_str as _sql_str
from portrait.datasets.base import write_canonical as _write

NAME = "cdnow"
FOLDER = "cdnow"
SAMPLE_FILE = "CDNOW_sample.txt"
MASTER_FILE = "CDNOW_master.txt"
SOURCE_TZ = "America/New_York"


def _load(con: duckdb.DuckDBPyConnection, source: Path) -> tuple[int, int]:
    """Parse ``source`` into table ``tx``; return (number of id columns, header lines skipped).

    ``tx`` columns: line (1-based line number in the file), customer_id, sample_id (or NULL),
    date_str, day (DATE), number_of_cds, dollar_value, raw (the line as read).
    """
    con.execute(
        f"""
        CREATE TABLE lines AS
        SELECT t.line, t.raw, regexp_split_to_array(trim(t.raw), '\\s+') AS f
        FROM (
            SELECT unnest(l) AS raw, generate_subscripts(l, 1) AS line
            FROM (SELECT string_split(replace(content, chr(13), ''), chr(10)) AS l
                  FROM read_text({_sql_str(str(source))}))
        ) t
        WHERE trim(t.raw) <> ''
        """
    )
    # A header is a line whose first field is not a number (the master file's first line).
    n_header = con.sql(
        "SELECT count(*) FROM lines WHERE NOT regexp_matches(f[1], '^[0-9]+$')"
    ).fetchall()[0][0]
    widths = con.sql(
        "SELECT len(f) AS w, count(*) FROM lines WHERE regexp_matches(f[1], '^[0-9]+$') "
        "GROUP BY w ORDER BY 2 DESC"
    ).fetchall()
    n_ids = 2 if widths and widths[0][0] >= 5 else 1
    k = n_ids  # fields before the date
    con.execute(
        f"""
        CREATE TABLE tx AS
        SELECT
            line,
            raw,
            f[1] AS customer_id,
            {"f[2]" if n_ids == 2 else "NULL::VARCHAR"} AS sample_id,
            f[{k + 1}] AS date_str,
            try_strptime(f[{k + 1}], '%Y%m%d')::DATE AS day,
            try_cast(f[{k + 2}] AS BIGINT) AS number_of_cds,
            try_cast(f[{k + 3}] AS DOUBLE) AS dollar_value
        FROM lines
        WHERE regexp_matches(f[1], '^[0-9]+$')
        ORDER BY line
        """
    )
    return n_ids, n_header


def cdnow_transactions(path: Path, full: bool = False) -> pd.DataFrame:
    """CDNOW purchases as a DataFrame: customer_id (str), date, number_of_cds, dollar_value.

    ``path`` is a CDNOW file, the ``cdnow`` folder or the data root holding ``cdnow/``;
    ``full`` picks the master file instead of the 2,357-customer sample when ``path`` is a
    folder. ``customer_id`` is the master id as written (e.g. ``"00004"``); ``date`` is a
    ``datetime64`` day (no time zone); rows keep the file's order.
    """
    source = _resolve(Path(path), full)
    con = duckdb.connect()
    try:
        _load(con, source)
        df = con.sql(
            "SELECT customer_id, day AS date, number_of_cds, dollar_value FROM tx ORDER BY line"
        ).df()
    finally:
        con.close()
    df["date"] = pd.to_datetime(df["date"])
    df["customer_id"] = df["customer_id"].astype(str)
    return df


def _resolve(path: Path, full: bool) -> Path:
    if path.is_file():
        return path
    name = MASTER_FILE if full else SAMPLE_FILE
    for cand in (path / FOLDER / name, path / name):
        if cand.is_file():
            return cand
    raise DatasetMissingError(
        f"CDNOW file {name} not found at {path / FOLDER / name} nor at {path / name}: put the "
        "data set there or set PORTRAIT_DATA"
    )


def convert_cdnow(source: Path, out_dir: Path) -> DatasetFiles:
    """Convert a CDNOW file (sample or master, detected by its columns) into canonical files."""
    t0 = time.perf_counter()
    source = Path(source)
    out_dir = Path(out_dir)
    con = converter(out_dir)
    n_ids, n_header = _load(con, source)
    con.execute(
        f"""
        CREATE TABLE tx2 AS
        SELECT
            *,
            customer_id || '-' || coalesce(date_str, '') || '-'
                || row_number() OVER (PARTITION BY customer_id, date_str ORDER BY line)
                AS order_id,
            timezone({_sql_str(SOURCE_TZ)}, day::TIMESTAMP) AS ts
        FROM tx
        """
    )
    n_rows, n_zero, n_bad = con.sql(
        """
        SELECT count(*),
               count(*) FILTER (WHERE number_of_cds = 0),
               count(*) FILTER (WHERE day IS NULL OR number_of_cds IS NULL
                                OR dollar_value IS NULL)
        FROM tx2
        """
    ).fetchall()[0]
    kind = "sample" if n_ids == 2 else "master"
    stem = f"{NAME}-{kind}"
    users_path = out_dir / f"{stem}-users.parquet"
    events_path = out_dir / f"{stem}-events.parquet"
    attrs = (
        "json_object('sample_id', any_value(sample_id))::VARCHAR" if n_ids == 2 else "NULL::VARCHAR"
    )
    n_users = _write(
        con,
        "users",
        f"""
        SELECT customer_id AS user_id, min(ts) AS registered_at, {attrs} AS attributes
        FROM tx2 GROUP BY customer_id ORDER BY customer_id
        """,
        users_path,
    )
    n_events = _write(
        con,
        "events",
        """
        SELECT * EXCLUDE (seq, k) FROM (
            SELECT
                'cdnow:' || order_id AS event_id,
                customer_id AS user_id,
                ts,
                'order' AS type,
                number_of_cds AS quantity,
                CASE WHEN number_of_cds IS NULL OR number_of_cds = 0 THEN dollar_value
                     ELSE dollar_value / number_of_cds END AS price,
                order_id,
                line AS seq,
                0 AS k
            FROM tx2
            UNION ALL
            SELECT
                'cdnow:' || order_id || ':payment' AS event_id,
                customer_id AS user_id,
                ts,
                'payment' AS type,
                NULL AS quantity,
                dollar_value AS price,
                order_id,
                line AS seq,
                1 AS k
            FROM tx2
        )
        ORDER BY ts, seq, k
        """,
        events_path,
    )
    con.close()
    elapsed = time.perf_counter() - t0
    id_note = (
        "The sample file has two id columns (master id, sample id 1..2,357): user_id = the "
        "master id as written, leading zeros kept ('00004'); the sample id is in "
        "attributes.sample_id."
        if n_ids == 2
        else "user_id = the master file's customer_id as written, leading zeros kept ('00001')."
    )
    notes = [
        f"{NAME} ({kind}): {n_rows:,} purchases from {source} -> {n_rows:,} order events "
        f"(0 dropped; header lines skipped: {n_header}) + {n_rows:,} payment events, "
        f"{n_users:,} users, no products; {n_events:,} events in all; {elapsed:.1f}s.",
        id_note,
        "order_id = '<customer_id>-<YYYYMMDD>-<n>' where n numbers a customer's rows within a "
        "day in file order (several purchases on one day stay separate orders).",
        f"The source has dates only: ts = local midnight {SOURCE_TZ} converted to UTC.",
        "Each row -> an order with product_id null, quantity = number_of_cds, price = "
        "dollar_value / number_of_cds, and a payment with price = dollar_value.",
        f"{n_zero:,} rows with number_of_cds = 0 keep quantity 0 and price = dollar_value; "
        f"{n_bad:,} rows with an unreadable date/number keep nulls; ingest validation decides.",
        "Users: registered_at = first purchase date (the data set is a cohort of first-time "
        "buyers of early 1997).",
    ]
    return DatasetFiles(name=NAME, users=[users_path], events=[events_path], notes=notes)
