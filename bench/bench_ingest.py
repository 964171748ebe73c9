"""Bulk ingest from Parquet: events/s with validation and dedup, against a plain DuckDB load.

    .venv/bin/python bench/bench_ingest.py [--events 10000000] [--repeats 3]

The file mixes clean events with ~0.3% bad records (missing identity, unknown type, negative
price) and ~0.5% repeated event ids, so every rule and the in-file dedup do real work. Runs:

* baseline: DuckDB `CREATE TABLE AS SELECT * FROM read_parquet(...)`, no validation;
* portrait, empty warehouse: validation + quarantine + in-file dedup + dedup against stored;
* portrait, the same file again: every record is a duplicate of a stored event;
* portrait, a second file of new events on top of the stored ones.

Prints medians over the repeats and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from portrait.datasets.base import source_schema
from portrait.workspace import Workspace

TYPES = np.array(
    ["page_view", "product_view", "search", "add_to_cart", "order", "payment", "click", "login"]
)
TYPE_P = np.array([0.40, 0.30, 0.08, 0.08, 0.06, 0.03, 0.04, 0.01])


def make_events(n: int, seed: int, id_offset: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = np.arange(id_offset, id_offset + n)
    dup = rng.random(n) < 0.005
    ids[dup] = ids[np.maximum(np.flatnonzero(dup) - 1, 0)]
    types = TYPES[rng.choice(len(TYPES), n, p=TYPE_P)]
    bad = rng.random(n)
    types[bad < 0.001] = "teleport"
    users = rng.integers(0, n // 50 + 1, n)
    has_user = rng.random(n) < 0.8
    has_user[(bad >= 0.001) & (bad < 0.002)] = False
    start = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    ts = start + rng.integers(0, 90 * 86400 * 10**6, n)
    price = np.round(rng.lognormal(4, 1, n), 2)
    price[(bad >= 0.002) & (bad < 0.003)] *= -1
    product = rng.integers(0, 20000, n)
    is_order = (types == "order") | (types == "payment")
    needs_product = np.isin(types, ["product_view", "add_to_cart", "order"])
    user_str = pc.binary_join_element_wise("u", pc.cast(pa.array(users), pa.string()), "")
    cols = {
        "event_id": pc.binary_join_element_wise("e", pc.cast(pa.array(ids), pa.string()), ""),
        "user_id": pc.if_else(pa.array(has_user), user_str, pa.nulls(n, pa.string())),
        "anonymous_id": pc.binary_join_element_wise(
            "d", pc.cast(pa.array(users % 100_000), pa.string()), ""
        ),
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "type": pa.array(types),
        "product_id": pc.if_else(
            pa.array(needs_product),
            pc.binary_join_element_wise("p", pc.cast(pa.array(product), pa.string()), ""),
            pa.nulls(n, pa.string()),
        ),
        "quantity": pa.array(np.where(is_order, rng.integers(1, 4, n), 1)),
        "price": pa.array(price),
        "order_id": pc.if_else(
            pa.array(is_order),
            pc.binary_join_element_wise("o", pc.cast(pa.array(ids // 3), pa.string()), ""),
            pa.nulls(n, pa.string()),
        ),
        "query": pc.if_else(
            pa.array(types == "search"), pa.scalar("口红"), pa.nulls(n, pa.string())
        ),
    }
    schema = source_schema("events")
    return pa.table(
        {f.name: cols.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in schema}, schema=schema
    )


def write(path: Path, n: int, seed: int, id_offset: int) -> None:
    writer = None
    chunk = 1_000_000
    for i, start in enumerate(range(0, n, chunk)):
        t = make_events(min(chunk, n - start), seed * 1000 + i, id_offset + start)
        if writer is None:
            writer = pq.ParquetWriter(path, t.schema)
        writer.write_table(t, row_group_size=256_000)
    assert writer is not None
    writer.close()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plain_load(f: Path, db: Path | None) -> float:
    """DuckDB CREATE TABLE AS over the file, no validation (checkpointed when on disk)."""
    con = duckdb.connect(str(db) if db else ":memory:")
    t = timed(
        lambda: (
            con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{f}')"),
            con.execute("CHECKPOINT") if db else None,
        )
    )
    con.close()
    if db:
        db.unlink()
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n = args.events
    tmp = Path(tempfile.mkdtemp(prefix="portrait-bench-"))
    try:
        f1, f2 = tmp / "events-1.parquet", tmp / "events-2.parquet"
        t = timed(lambda: (write(f1, n, 1, 0), write(f2, n, 2, 10 * n)))
        print(f"wrote 2 x {n:,} events in {t:.1f} s to {tmp}")
        runs: dict[str, list[float]] = {}
        last: dict = {}
        for rep in range(args.repeats):
            add = lambda k, v: runs.setdefault(k, []).append(v)  # noqa: E731
            add("plain_mem", plain_load(f1, None))
            add("plain_disk", plain_load(f1, tmp / "plain.duckdb"))
            root = Workspace.init(tmp / f"ws-{rep}").root
            with Workspace.open(root, in_memory=True) as mem:
                add("mem", timed(lambda: last.update(mem=mem.ingest_file(f1))))
            ws = Workspace.open(root)

            def ingest_and_checkpoint(key: str, f: Path, ws: Workspace = ws) -> None:
                last[key] = ws.ingest_file(f)
                ws.warehouse.execute("CHECKPOINT")

            for key, f in (("disk", f1), ("again", f1), ("second", f2)):
                add(key, timed(lambda k=key, f=f: ingest_and_checkpoint(k, f)))
            ws.close()
            shutil.rmtree(root)
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(
            f"\nBulk Parquet ingest of {n:,} events per file, median of {args.repeats} runs; "
            "target >= 2,000,000 events/s with validation and dedup"
        )
        print(f"{'run':<58}{'median s':>9}{'events/s':>12}{'vs baseline':>13}")
        rows = [
            ("plain_mem", "baseline: plain DuckDB load, in memory", "plain_mem"),
            ("mem", "portrait ingest, in-memory warehouse", "plain_mem"),
            ("plain_disk", "baseline: plain DuckDB load to disk + checkpoint", "plain_disk"),
            ("disk", "portrait ingest to disk + checkpoint, empty store", "plain_disk"),
            ("again", "portrait, same file again (all duplicates)", "plain_disk"),
            ("second", f"portrait, new file on top of {n:,} stored", "plain_disk"),
        ]
        for key, label, base in rows:
            m = med[key]
            print(f"{label:<58}{m:>9.2f}{n / m:>12,.0f}{med[base] / m:>12.2f}x")
        print("\nsteps of the last run (s):")
        for key, r in last.items():
            steps = ", ".join(f"{k} {v:.2f}" for k, v in r.timings.items())
            print(f"  {key:<7} {steps}")
            print(
                f"          received {r.received:,} = accepted {r.accepted:,} + duplicates "
                f"{r.duplicates:,} + quarantined {r.quarantined:,}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
