"""UCI "Online Retail II" (sheet 2009-2010) -> canonical users, products and events.

Every invoice line becomes one event: an ``order`` line, or a ``refund`` when the invoice is a
cancellation ("C..."). Each non-cancelled invoice also gets one ``payment`` event. Nothing is
dropped: invalid lines (e.g. the negative-price "Adjust bad debt" lines) are written as they are
so that the ingest's validation quarantines them with a reason.
"""

from __future__ import annotations

import time
from pathlib import Path

from portrait.datasets.base import DatasetFiles, converter
from portrait.datasets.base import sql_str as _sql_str
from portrait.datasets.base import write_canonical as _write

NAME = "online-retail-ii"
FOLDER = "online_retail_ii"
FILE = "online_retail_II_2009-2010.parquet"
SOURCE_TZ = "Europe/London"

# Stock codes known to be fees, postage, manual adjustments or tests rather than goods.
NON_PRODUCT_CODES = (
    "POST",
    "DOT",
    "M",
    "C2",
    "C3",
    "D",
    "S",
    "B",
    "BANK CHARGES",
    "ADJUST",
    "ADJUST2",
    "AMAZONFEE",
    "PADS",
    "CRUK",
    "GIFT",
    "TEST001",
    "TEST002",
)
# A code is also a non-product when it does not start with a digit (gift vouchers "gift_...",
# "TEST...", ...), except the dotcom shop's real goods ("DCGS0058", "SP1002").
_NON_PRODUCT_SQL = (
    "(upper(trim(StockCode)) IN ({known}) OR (NOT regexp_matches(StockCode, '^[0-9]') "
    "AND NOT regexp_matches(upper(StockCode), '^(DCGS|SP[0-9])')))"
)

REQUIRED_COLUMNS = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)


def convert_online_retail(source: Path, out_dir: Path) -> DatasetFiles:
    """Convert the Online Retail II Parquet file ``source`` into canonical files in ``out_dir``."""
    t0 = time.perf_counter()
    source = Path(source)
    out_dir = Path(out_dir)
    con = converter(out_dir)
    src = _sql_str(str(source))
    cols = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM read_parquet({src})").fetchall()]
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise ValueError(
            f"{source} is not an Online Retail II file: missing columns {missing} (has {cols})"
        )
    known = ", ".join(_sql_str(c) for c in NON_PRODUCT_CODES)
    non_product = _NON_PRODUCT_SQL.format(known=known)
    # One row per input line; `line` is the 1-based data row number within the file.
    con.execute(
        f"""
        CREATE TABLE src AS
        SELECT
            file_row_number + 1 AS line,
            CAST(Invoice AS VARCHAR) AS invoice,
            CAST(StockCode AS VARCHAR) AS stock_code,
            CAST(Description AS VARCHAR) AS description,
            CAST(Quantity AS BIGINT) AS quantity,
            CAST(InvoiceDate AS TIMESTAMP) AS local_ts,
            CAST(Price AS DOUBLE) AS price,
            nullif(regexp_replace(trim(CAST("Customer ID" AS VARCHAR)), '\\.0+$', ''), '')
                AS customer,
            CAST(Country AS VARCHAR) AS country,
            starts_with(CAST(Invoice AS VARCHAR), 'C') AS is_cancel,
            {non_product} AS non_product
        FROM read_parquet({src}, file_row_number = true)
        """
    )
    # One basket time per invoice: the earliest InvoiceDate of its lines, London time -> UTC.
    con.execute(
        f"""
        CREATE TABLE lines AS
        SELECT s.*, timezone({_sql_str(SOURCE_TZ)}, b.basket_local) AS ts
        FROM src s
        JOIN (SELECT invoice, min(local_ts) AS basket_local FROM src GROUP BY invoice) b
        USING (invoice)
        """
    )
    stats = con.sql(
        """
        SELECT
            count(*),
            count(*) FILTER (WHERE is_cancel),
            count(*) FILTER (WHERE NOT is_cancel AND quantity < 0),
            count(*) FILTER (WHERE customer IS NULL),
            count(DISTINCT invoice) FILTER (WHERE customer IS NULL),
            count(*) FILTER (WHERE price < 0),
            count(*) FILTER (WHERE non_product),
            count(DISTINCT invoice) FILTER (WHERE NOT is_cancel),
            (SELECT count(*) FROM (
                SELECT invoice FROM src GROUP BY invoice HAVING count(DISTINCT local_ts) > 1))
        FROM lines
        """
    ).fetchall()[0]
    n_lines, n_cancel, n_neg_qty, n_guest, n_guest_inv, n_neg_price, n_np, n_pay, n_multi_ts = stats

    users_path = out_dir / f"{NAME}-users.parquet"
    products_path = out_dir / f"{NAME}-products.parquet"
    events_path = out_dir / f"{NAME}-events.parquet"

    n_users = _write(
        con,
        "users",
        """
        SELECT
            customer AS user_id,
            min(ts) AS registered_at,
            first(country ORDER BY n DESC, country) FILTER (WHERE country IS NOT NULL)
                AS country
        FROM (
            SELECT customer, country, min(ts) AS ts, count(*) AS n
            FROM lines WHERE customer IS NOT NULL GROUP BY customer, country
        )
        GROUP BY customer
        ORDER BY customer
        """,
        users_path,
    )
    n_products = _write(
        con,
        "products",
        """
        WITH d AS (
            SELECT stock_code, description, count(*) AS n
            FROM lines WHERE description IS NOT NULL GROUP BY ALL
        ),
        titles AS (
            SELECT stock_code, first(description ORDER BY n DESC, description) AS title
            FROM d GROUP BY stock_code
        ),
        p AS (
            SELECT
                stock_code,
                median(price) FILTER (WHERE price > 0) AS price,
                min(ts) FILTER (WHERE NOT is_cancel AND quantity > 0) AS launched_at,
                bool_or(non_product) AS non_product
            FROM lines GROUP BY stock_code
        )
        SELECT
            p.stock_code AS product_id,
            titles.title AS title,
            p.price AS price,
            CASE WHEN p.non_product THEN '{"non_product":true}' END AS attributes,
            p.launched_at AS launched_at
        FROM p LEFT JOIN titles USING (stock_code)
        ORDER BY product_id
        """,
        products_path,
    )
    n_events = _write(
        con,
        "events",
        """
        SELECT * EXCLUDE (seq) FROM (
            SELECT
                'oretail:' || invoice || ':' || line AS event_id,
                customer AS user_id,
                CASE WHEN customer IS NULL THEN 'guest:' || invoice END AS anonymous_id,
                ts,
                CASE WHEN is_cancel THEN 'refund' ELSE 'order' END AS type,
                stock_code AS product_id,
                CASE WHEN is_cancel THEN abs(quantity) ELSE quantity END AS quantity,
                price,
                invoice AS order_id,
                CASE
                    WHEN is_cancel AND non_product THEN
                        json_object('cancellation', true, 'invoice', invoice, 'non_product', true)
                    WHEN is_cancel THEN json_object('cancellation', true, 'invoice', invoice)
                    WHEN non_product THEN json_object('non_product', true)
                END::VARCHAR AS properties,
                line AS seq
            FROM lines
            UNION ALL
            SELECT
                'oretail:' || invoice || ':payment' AS event_id,
                any_value(customer) AS user_id,
                CASE WHEN any_value(customer) IS NULL THEN 'guest:' || invoice END
                    AS anonymous_id,
                min(ts) AS ts,
                'payment' AS type,
                NULL AS product_id,
                NULL AS quantity,
                round(sum(quantity * price), 6) AS price,
                invoice AS order_id,
                NULL AS properties,
                max(line) AS seq
            FROM lines WHERE NOT is_cancel GROUP BY invoice
        )
        ORDER BY ts, order_id, seq, type
        """,
        events_path,
    )
    con.close()
    n_order = n_lines - n_cancel
    elapsed = time.perf_counter() - t0
    notes = [
        f"{NAME}: {n_lines:,} invoice lines from {source} -> {n_order:,} order + "
        f"{n_cancel:,} refund events (0 lines dropped), {n_pay:,} payment events (one per "
        f"non-cancelled invoice, price = sum(quantity*price)), {n_users:,} users, "
        f"{n_products:,} products; {n_events:,} events in all; {elapsed:.1f}s.",
        f"InvoiceDate is London local time ({SOURCE_TZ}); converted to UTC.",
        f"One basket time per invoice: every line of an invoice gets the earliest InvoiceDate of "
        f"the invoice ({n_multi_ts:,} invoices carry two timestamps a minute apart).",
        f"Cancellation invoices ('C...', {n_cancel:,} lines) -> refund events with quantity = "
        "abs(Quantity), order_id = the C-invoice number (the source does not say which order "
        "was cancelled) and properties {cancellation: true, invoice}.",
        f"{n_neg_qty:,} other lines with negative Quantity (stock adjustments/returns without a "
        "C-invoice) are kept as order events with their negative quantity; ingest cleaning "
        "turns them into refunds.",
        f"{n_guest:,} lines ({n_guest_inv:,} invoices) have no Customer ID: anonymous guest "
        "checkouts with anonymous_id = 'guest:<Invoice>' and user_id null.",
        f"{n_neg_price:,} lines with negative Price ('Adjust bad debt', invoices 'A...') are "
        "written unchanged (as are their payments) so that ingest quarantines them.",
        f"{n_np:,} lines with non-product stock codes (postage, manual, fees, vouchers, tests: "
        "codes not starting with a digit other than DCGS*/SP* goods) carry properties "
        "{non_product: true}; their products get attributes {non_product: true}.",
        "Users: one per Customer ID (id without '.0'); country = most frequent Country, "
        "registered_at = first invoice time (first seen in the data, not true registration).",
        "Products: title = most frequent Description, price = median Price over lines with "
        "Price > 0, launched_at = first sale time in the data, category unknown (null).",
    ]
    return DatasetFiles(
        name=NAME,
        users=[users_path],
        products=[products_path],
        events=[events_path],
        notes=notes,
    )
