"""online_shopping_10_cats (Chinese product reviews) -> canonical users, products and events.

The corpus has no users, products or times: each row becomes a ``review`` event by its own
synthetic user about its category (one product per category), at a fixed synthetic time.
"""

from __future__ import annotations

import time
from pathlib import Path

from portrait.datasets.base import DatasetFiles, converter, load_text_csv
from portrait.datasets.base import write_canonical as _write

NAME = "reviews-zh"
FOLDER = "reviews_zh"
FILE = "online_shopping_10_cats.csv.gz"
SYNTHETIC_TS = "2020-01-01 00:00:00"  # UTC

REQUIRED_COLUMNS = ("cat", "label", "review")


def convert_reviews_zh(source: Path, out_dir: Path) -> DatasetFiles:
    """Convert the review corpus CSV (optionally gzipped) ``source`` into canonical files."""
    t0 = time.perf_counter()
    source = Path(source)
    out_dir = Path(out_dir)
    con = converter(out_dir)
    select = load_text_csv(
        con, source, REQUIRED_COLUMNS, "an online_shopping_10_cats file", upper=False
    )
    bom = "chr(65279)"
    con.execute(
        f"""
        CREATE TABLE src AS
        SELECT
            row,
            nullif(trim(cat), '') AS cat,
            try_cast(trim(label) AS INTEGER) AS label,
            CASE WHEN starts_with(review, {bom}) THEN ltrim(review, {bom}) ELSE review END
                AS text,
            starts_with(review, {bom}) AS had_bom
        FROM (SELECT rowid + 1 AS row, {select} FROM raw)
        ORDER BY row
        """
    )
    con.execute("DROP TABLE raw")
    n_rows, n_empty, n_bom, n_bad_label, n_no_cat = con.sql(
        """
        SELECT count(*),
               count(*) FILTER (WHERE text IS NULL OR trim(text) = ''),
               count(*) FILTER (WHERE had_bom),
               count(*) FILTER (WHERE label IS NULL OR label NOT IN (0, 1)),
               count(*) FILTER (WHERE cat IS NULL)
        FROM src
        """
    ).fetchall()[0]

    users_path = out_dir / f"{NAME}-users.parquet"
    products_path = out_dir / f"{NAME}-products.parquet"
    events_path = out_dir / f"{NAME}-events.parquet"

    n_users = _write(
        con, "users", "SELECT 'rzh-u' || row AS user_id FROM src ORDER BY row", users_path
    )
    n_products = _write(
        con,
        "products",
        """
        SELECT DISTINCT 'rzh-cat:' || cat AS product_id, cat AS title, cat AS category_l1
        FROM src WHERE cat IS NOT NULL ORDER BY product_id
        """,
        products_path,
    )
    n_events = _write(
        con,
        "events",
        f"""
        SELECT
            'rzh:' || row AS event_id,
            'rzh-u' || row AS user_id,
            TIMESTAMPTZ '{SYNTHETIC_TS}+00' AS ts,
            'review' AS type,
            'rzh-cat:' || cat AS product_id,
            NULL::BIGINT AS rating,
            text,
            json_object('label', label, 'category', cat, 'ts_synthetic', true)::VARCHAR
                AS properties
        FROM src
        ORDER BY row
        """,
        events_path,
    )
    con.close()
    elapsed = time.perf_counter() - t0
    notes = [
        f"{NAME}: {n_rows:,} reviews from {source} -> {n_events:,} review events (0 dropped), "
        f"{n_users:,} users, {n_products:,} products (one per category); {elapsed:.1f}s.",
        "Each row is its own synthetic user 'rzh-u<row>' (row = 1-based data row number) and "
        "reviews the category's product 'rzh-cat:<cat>'.",
        f"The corpus has no time: every event gets the fixed synthetic ts {SYNTHETIC_TS} UTC "
        "and properties.ts_synthetic = true.",
        "rating is null (the corpus has only a sentiment label: properties.label 1 = positive, "
        "0 = negative); properties.category = cat.",
        f"A leading UTF-8 BOM was stripped from {n_bom:,} review texts; {n_empty:,} reviews "
        f"are empty/null, {n_bad_label:,} have an unreadable label, {n_no_cat:,} have no "
        "category (kept as they are; ingest validation decides).",
    ]
    return DatasetFiles(
        name=NAME,
        users=[users_path],
        products=[products_path],
        events=[events_path],
        notes=notes,
    )
