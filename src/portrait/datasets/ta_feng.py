"""Ta-Feng grocery transactions (Taiwan, 2000-11 .. 2001-02) -> canonical users, products, events.

Each CSV row is one ``order`` line; a basket is one customer on one day and gets one ``payment``.
All ids are read as strings so that their leading zeros survive.
"""

from __future__ import annotations

import time
from pathlib import Path

from portrait.datasets.base import DatasetFiles, converter, load_text_csv
from portrait.datasets.base import sql_str as _sql_str
from portrait.datasets.base import write_canonical as _write

NAME = "ta-feng"
FOLDER = "ta_feng"
FILE = "ta_feng_all_months_merged.csv.gz"
SOURCE_TZ = "Asia/Taipei"

REQUIRED_COLUMNS = (
    "TRANSACTION_DT",
    "CUSTOMER_ID",
    "AGE_GROUP",
    "PIN_CODE",
    "PRODUCT_SUBCLASS",
    "PRODUCT_ID",
    "AMOUNT",
    "ASSET",
    "SALES_PRICE",
)


def _col(name: str) -> str:
    return f"nullif(trim(\"{name}\"), '')"


def convert_ta_feng(source: Path, out_dir: Path) -> DatasetFiles:
    """Convert the Ta-Feng CSV (optionally gzipped) ``source`` into canonical files."""
    t0 = time.perf_counter()
    source = Path(source)
    out_dir = Path(out_dir)
    con = converter(out_dir)
    # Every column as VARCHAR: ids are zero-padded.
    select = load_text_csv(con, source, REQUIRED_COLUMNS, "a Ta-Feng file", upper=True)
    con.execute(f"CREATE TABLE src AS SELECT rowid + 1 AS line, {select} FROM raw ORDER BY rowid")
    con.execute("DROP TABLE raw")
    con.execute(
        f"""
        CREATE TABLE lines AS
        SELECT
            line,
            {_col("CUSTOMER_ID")} AS customer,
            {_col("AGE_GROUP")} AS age_group,
            {_col("PIN_CODE")} AS pin_code,
            {_col("PRODUCT_SUBCLASS")} AS subclass,
            {_col("PRODUCT_ID")} AS product,
            try_cast({_col("AMOUNT")} AS BIGINT) AS amount,
            try_cast({_col("ASSET")} AS DOUBLE) AS asset,
            try_cast({_col("SALES_PRICE")} AS DOUBLE) AS sales_price,
            try_strptime({_col("TRANSACTION_DT")}, '%m/%d/%Y')::DATE AS day,
            {_col("TRANSACTION_DT")} AS raw_dt
        FROM src
        """
    )
    con.execute(
        f"""
        CREATE TABLE lines2 AS
        SELECT
            *,
            coalesce(customer, '') || '-' || coalesce(strftime(day, '%Y%m%d'), raw_dt, '')
                AS order_id,
            timezone({_sql_str(SOURCE_TZ)}, day::TIMESTAMP) AS ts,
            CASE WHEN amount IS NULL OR amount = 0 THEN sales_price
                 ELSE sales_price / amount END AS unit_price
        FROM lines
        """
    )
    stats = con.sql(
        """
        SELECT
            count(*),
            count(*) FILTER (WHERE day IS NULL),
            count(*) FILTER (WHERE amount IS NULL OR amount = 0),
            count(*) FILTER (WHERE age_group IS NULL),
            count(DISTINCT product) FILTER (WHERE product IS NOT NULL),
            (SELECT count(*) FROM (SELECT product FROM lines GROUP BY product
                                   HAVING count(DISTINCT subclass) > 1))
        FROM lines2
        """
    ).fetchall()[0]
    n_rows, n_bad_dt, n_zero_amount, n_no_age, _, n_multi_subclass = stats
    # Is SALES_PRICE the line total? Compare, per product, single-unit lines with multi-unit
    # lines: if it is, SALES_PRICE/AMOUNT of multi-unit lines matches the single-unit price.
    check = con.sql(
        """
        WITH one AS (SELECT product, median(sales_price) AS p1 FROM lines2
                     WHERE amount = 1 GROUP BY product),
             many AS (SELECT product, median(sales_price / amount) AS pu,
                             median(sales_price) AS pt
                      FROM lines2 WHERE amount > 1 GROUP BY product)
        SELECT count(*),
               avg((abs(pu / p1 - 1) < 0.15)::INT),
               avg((abs(pt / p1 - 1) < 0.15)::INT)
        FROM one JOIN many USING (product) WHERE p1 > 0
        """
    ).fetchall()[0]
    n_cmp, share_unit, share_total = check

    users_path = out_dir / f"{NAME}-users.parquet"
    products_path = out_dir / f"{NAME}-products.parquet"
    events_path = out_dir / f"{NAME}-events.parquet"

    n_users = _write(
        con,
        "users",
        """
        SELECT
            customer AS user_id,
            pin_code AS region,
            'TW' AS country,
            json_object('age_group', age_group, 'pin_code', pin_code)::VARCHAR AS attributes
        FROM (
            SELECT
                customer,
                first(age_group ORDER BY age_group IS NULL, n DESC, age_group) AS age_group,
                first(pin_code ORDER BY pin_code IS NULL, n DESC, pin_code) AS pin_code
            FROM (SELECT customer, age_group, pin_code, count(*) AS n
                  FROM lines2 GROUP BY ALL)
            GROUP BY customer
        )
        WHERE customer IS NOT NULL
        ORDER BY user_id
        """,
        users_path,
    )
    n_products = _write(
        con,
        "products",
        """
        WITH sc AS (
            SELECT product, subclass, count(*) AS n FROM lines2
            WHERE subclass IS NOT NULL GROUP BY ALL
        )
        SELECT
            p.product AS product_id,
            s.category_l1 AS category_l1,
            p.price AS price,
            CASE WHEN s.n_sub > 1 THEN
                json_object('product_subclasses', s.subclasses)::VARCHAR END AS attributes
        FROM (SELECT product, median(unit_price) FILTER (WHERE unit_price > 0) AS price
              FROM lines2 WHERE product IS NOT NULL GROUP BY product) p
        LEFT JOIN (
            SELECT product,
                   first(subclass ORDER BY n DESC, subclass) AS category_l1,
                   count(*) AS n_sub,
                   list(subclass ORDER BY subclass) AS subclasses
            FROM sc GROUP BY product
        ) s USING (product)
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
                'tafeng:' || order_id || ':' || line AS event_id,
                customer AS user_id,
                ts,
                'order' AS type,
                product AS product_id,
                amount AS quantity,
                unit_price AS price,
                order_id,
                json_object('asset', asset, 'sales_price', sales_price,
                            'product_subclass', subclass)::VARCHAR AS properties,
                line AS seq
            FROM lines2
            UNION ALL
            SELECT
                'tafeng:' || order_id || ':payment' AS event_id,
                any_value(customer) AS user_id,
                min(ts) AS ts,
                'payment' AS type,
                NULL AS product_id,
                NULL AS quantity,
                round(sum(sales_price), 6) AS price,
                order_id,
                NULL AS properties,
                max(line) AS seq
            FROM lines2 GROUP BY order_id
        )
        ORDER BY ts, order_id, seq, type
        """,
        events_path,
    )
    n_baskets = n_events - n_rows
    con.close()
    elapsed = time.perf_counter() - t0
    if n_cmp:
        price_note = (
            f"SALES_PRICE is the line total, checked on the data: over {n_cmp:,} products sold "
            f"both singly and in multi-unit lines, SALES_PRICE/AMOUNT of multi-unit lines is "
            f"within 15% of the single-unit price for {share_unit:.1%} of products "
            f"(SALES_PRICE itself: {share_total:.1%}); so price = SALES_PRICE / AMOUNT."
        )
    else:
        price_note = (
            "SALES_PRICE is taken as the line total (price = SALES_PRICE / AMOUNT); this file "
            "has too few products sold both singly and in multi-unit lines to check it."
        )
    notes = [
        f"{NAME}: {n_rows:,} rows from {source} -> {n_rows:,} order events (0 dropped) + "
        f"{n_baskets:,} payment events (one per basket), {n_users:,} users, "
        f"{n_products:,} products; {elapsed:.1f}s.",
        "Ids (CUSTOMER_ID, PRODUCT_ID, PIN_CODE, PRODUCT_SUBCLASS) are kept as the file's "
        "strings, leading zeros included.",
        "A basket is one customer on one day: order_id = '<CUSTOMER_ID>-<yyyymmdd>'; its "
        "payment's price = sum(SALES_PRICE).",
        f"The source has dates only: ts = local midnight {SOURCE_TZ} converted to UTC "
        "(16:00 UTC of the previous day).",
        price_note,
        "Order properties keep ASSET (cost of the line), SALES_PRICE (line total) and "
        "PRODUCT_SUBCLASS.",
        f"{n_zero_amount:,} rows with AMOUNT missing or 0 keep price = SALES_PRICE and their "
        f"quantity; {n_bad_dt:,} rows with an unreadable TRANSACTION_DT keep a null ts (ingest "
        "quarantines them).",
        f"Users: country 'TW', region = PIN_CODE, attributes {{age_group, pin_code}} "
        f"(age_group null on {n_no_age:,} rows); registered_at unknown (null).",
        f"Products: category_l1 = PRODUCT_SUBCLASS (the most frequent one for the "
        f"{n_multi_subclass:,} products seen under several; all listed in attributes), "
        "price = median unit price, title and launch time unknown.",
    ]
    return DatasetFiles(
        name=NAME,
        users=[users_path],
        products=[products_path],
        events=[events_path],
        notes=notes,
    )
