"""Purchase lines of the public data sets, cleaned as the evaluation protocol says.

Read straight from the raw files (not the workspace), one row per purchased line:
``user`` and ``item`` as strings, ``basket`` (an invoice, or one customer on one day) and its
``ts`` (the basket's time, source local time) and ``day``; item attributes for the hybrid
ranker: ``group`` (Ta-Feng's product subclass; Online Retail II has no categories, so the first
three characters of the stock code) and ``price`` (the unit price of the line).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from portrait.datasets.base import sql_str
from portrait.datasets.registry import get_spec, locate_source
from portrait.datasets.simulator.shop import simulate

DATASETS = ("online-retail-ii", "ta-feng", "simulated")
# The simulated shop the protocol runs on when no folder of simulator output is given: the
# demo shop of `portrait simulate` (its defaults).
SIMULATED = {"users": 5000, "days": 90, "seed": 42}


def load_lines(dataset: str, path: Path | None = None) -> pd.DataFrame:
    """The cleaned purchase lines of ``dataset`` (online-retail-ii, ta-feng or simulated).

    ``path`` is the data root, the data set's folder or its file (default: the data root);
    for ``simulated``, a folder written by `portrait simulate` (default: simulate the demo shop).
    Raises DatasetMissingError when the file is not there.
    """
    if dataset == "simulated":
        return _simulated_lines(path)
    name = get_spec(dataset).name
    if name not in DATASETS:
        raise ValueError(f"no recommendation protocol for {dataset!r}; use {', '.join(DATASETS)}")
    source = locate_source(name, path)
    con = duckdb.connect()
    try:
        query = _ONLINE_RETAIL if name == "online-retail-ii" else _TA_FENG
        df = con.sql(query.format(src=sql_str(str(source)))).df()
    finally:
        con.close()
    df["day"] = df["ts"].dt.floor("D")
    return df


def _simulated_lines(path: Path | None) -> pd.DataFrame:
    """Order lines of a simulated shop: ``path`` is a folder written by `portrait simulate`;
    without one, the default demo shop is simulated into a temporary folder. ``group`` is the
    product's second-level category."""
    if path is not None:
        missing = [f for f in ("events.parquet", "products.parquet") if not (path / f).exists()]
        if missing:
            raise ValueError(
                f"{path} is not a folder written by `portrait simulate` (no {', '.join(missing)}); "
                "give one, or no --path to simulate the default shop"
            )
        return _read_simulated(path)
    with tempfile.TemporaryDirectory(prefix="portrait-sim-") as tmp:
        simulate(Path(tmp), **SIMULATED)
        return _read_simulated(Path(tmp))


def _read_simulated(folder: Path) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        df = con.sql(
            _SIMULATED.format(
                events=sql_str(str(folder / "events.parquet")),
                products=sql_str(str(folder / "products.parquet")),
            )
        ).df()
    finally:
        con.close()
    df["day"] = df["ts"].dt.floor("D")
    return df


# Orders of logged-in users with a product and a positive price; the basket is the order.
_SIMULATED = """
SELECT e.user_id AS "user", e.product_id AS item, e.order_id AS basket,
       CAST(min(e.ts) OVER (PARTITION BY e.order_id) AS TIMESTAMP) AS ts,
       coalesce(p.category_l2, '') AS "group", CAST(e.price AS DOUBLE) AS price
FROM read_parquet({events}) e
LEFT JOIN read_parquet({products}) p USING (product_id)
WHERE e.type = 'order' AND e.user_id IS NOT NULL AND e.product_id IS NOT NULL
  AND e.order_id IS NOT NULL AND e.price > 0 AND coalesce(e.quantity, 1) > 0
ORDER BY ts, basket, item
"""


# Lines without a customer, cancelled invoices ("C..."), Quantity <= 0 and Price <= 0 are
# dropped. One basket time per invoice: its earliest InvoiceDate (a few invoices carry two).
_ONLINE_RETAIL = """
WITH raw AS (
    SELECT
        regexp_replace(trim(CAST("Customer ID" AS VARCHAR)), '\\.0+$', '') AS "user",
        trim(CAST(StockCode AS VARCHAR)) AS item,
        CAST(Invoice AS VARCHAR) AS basket,
        CAST(InvoiceDate AS TIMESTAMP) AS ts,
        left(trim(CAST(StockCode AS VARCHAR)), 3) AS "group",
        CAST(Price AS DOUBLE) AS price
    FROM read_parquet({src})
    WHERE "Customer ID" IS NOT NULL
      AND NOT starts_with(CAST(Invoice AS VARCHAR), 'C')
      AND Quantity > 0
      AND Price > 0
)
SELECT "user", item, basket, min(ts) OVER (PARTITION BY basket) AS ts, "group", price
FROM raw
ORDER BY ts, basket, item
"""

# A basket is one customer on one day; ids stay zero-padded strings.
_TA_FENG = """
WITH raw AS (
    SELECT
        trim(CUSTOMER_ID) AS "user",
        trim(PRODUCT_ID) AS item,
        strptime(trim(TRANSACTION_DT), '%m/%d/%Y') AS ts,
        trim(PRODUCT_SUBCLASS) AS "group",
        try_cast(SALES_PRICE AS DOUBLE) / nullif(try_cast(AMOUNT AS DOUBLE), 0) AS price
    FROM read_csv({src}, all_varchar = true, header = true)
    WHERE nullif(trim(CUSTOMER_ID), '') IS NOT NULL AND nullif(trim(PRODUCT_ID), '') IS NOT NULL
)
SELECT "user", item, "user" || '-' || strftime(ts, '%Y%m%d') AS basket, ts, "group", price
FROM raw
ORDER BY ts, basket, item
"""
