"""``simulate``: write a whole demo shop as canonical Parquet files, streaming by chunks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from portrait.datasets.base import DatasetFiles
from portrait.datasets.simulator.block import BLOCK_USERS, block_table, simulate_block
from portrait.datasets.simulator.catalog import build_catalog, catalog_size
from portrait.datasets.simulator.clock import Period

DEFAULT_START = date(2025, 1, 1)
DEFAULT_CHUNK_USERS = 10_000
_COMPRESSION = "zstd"


def simulate(
    out_dir: Path,
    users: int = 5000,
    days: int = 90,
    seed: int = 42,
    start: date | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    chunk_users: int = DEFAULT_CHUNK_USERS,
) -> DatasetFiles:
    """Simulate a realistic e-commerce shop and write it as canonical Parquet files.

    Users are generated block by block (2,000 users per block, each block seeded from
    ``(seed, block)``), and every ``chunk_users`` users the events so far are written as Parquet
    row groups, so memory stays bounded whatever ``users`` is. The same arguments always give
    the same files, whatever ``chunk_users``.

    Files in ``out_dir``: ``users.parquet``, ``products.parquet``, ``events.parquet`` (canonical
    source schemas) and the ground truth ``truth_users.parquet`` and ``truth_products.parquet``.

    Example::

        files = simulate(Path("/tmp/shop"), users=300, days=30)
        files.in_ingest_order()  # [("users", ...), ("products", ...), ("events", ...)]

    ``progress(done_users, total_users)`` is called after each chunk is written.
    """
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if chunk_users < 1:
        raise ValueError(f"chunk_users must be at least 1, got {chunk_users}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    period = Period(start or DEFAULT_START, days)
    catalog = build_catalog(
        np.random.default_rng(np.random.SeedSequence([seed, 0])), catalog_size(users), period
    )
    paths = {
        name: out_dir / f"{name}.parquet"
        for name in ("users", "products", "events", "truth_users", "truth_products")
    }
    pq.write_table(catalog.table, paths["products"], compression=_COMPRESSION)
    pq.write_table(catalog.truth, paths["truth_products"], compression=_COMPRESSION)

    n_blocks = -(-users // BLOCK_USERS)
    blocks_per_chunk = max(1, chunk_users // BLOCK_USERS)
    n_events = n_orders = done = 0
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for first in range(0, n_blocks, blocks_per_chunk):
            parts: dict[str, list[pa.Table]] = {"events": [], "users": [], "truth_users": []}
            for index in range(first, min(first + blocks_per_chunk, n_blocks)):
                size = min(BLOCK_USERS, users - index * BLOCK_USERS)
                result = simulate_block(seed, index, size, period, catalog)
                parts["events"].append(block_table(result, n_events, n_orders, seed))
                parts["users"].append(result.users)
                parts["truth_users"].append(result.truth)
                n_events += len(result.events)
                n_orders += result.n_orders
                done += size
                del result
            for name, tables in parts.items():
                table = pa.concat_tables(tables)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(
                        paths[name], table.schema, compression=_COMPRESSION
                    )
                writers[name].write_table(table)
            del parts
            if progress is not None:
                progress(done, users)
    finally:
        for writer in writers.values():
            writer.close()

    return DatasetFiles(
        name="simulated",
        users=[paths["users"]],
        products=[paths["products"]],
        events=[paths["events"]],
        extra={"truth_users": paths["truth_users"], "truth_products": paths["truth_products"]},
        notes=[
            f"simulated shop: seed {seed}, {users:,} users, {catalog.size:,} products, "
            f"{n_events:,} events, {n_orders:,} orders over {days} days from {period.start}",
            "ground truth of latent user traits and personas: truth_users.parquet",
            "coupon_used.discount is the order's total coupon discount; order.discount is per unit",
        ],
    )
