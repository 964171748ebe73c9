"""Erasure of one person on a large shop: seconds for ``forget``, for compaction and for the
residue check (which must find nothing), beside the baseline of deleting one person's events
only, measured in the same run on the same warehouse.

    .venv/bin/python bench/bench_erasure.py [--persons 1000000] [--events 4000000] [--build]

The shop is synthetic Arrow tables ingested through the facade into an on-disk workspace:
``--persons`` users, ``--events`` page views and orders spread over them (one person in ten
also browses with a device id, logged in once so the device is linked). With ``--build`` a
profile is built first (snapshots, segment memberships and index: what erasure then also
edits; it takes minutes at a million persons on two cores). Then, for three persons:

1. baseline: ``DELETE FROM events WHERE user_id = ?`` for one person (the least erasure does);
2. ``forget(compact=False)`` for another (every table, bitmap, file, tombstones), then
   ``compact()`` (the file rewritten) and ``residue`` (every table and file searched; 0);
3. ``forget()`` for a third, compaction decided by the bytes (``checkpoint`` or ``rewritten``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from portrait.datasets.base import source_schema
from portrait.workspace import Workspace

T = TypeVar("T")


def ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def shaped(kind: str, cols: dict[str, pa.Array], n: int) -> pa.Table:
    schema = source_schema(kind)
    return pa.table(
        {f.name: cols.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in schema}, schema=schema
    )


def make_users(n: int) -> pa.Table:
    cols = {
        "user_id": ids("u", np.arange(n)),
        "registered_at": pa.array(
            np.full(n, np.datetime64("2024-06-01T00:00:00", "us").astype(np.int64)),
            pa.timestamp("us", tz="UTC"),
        ),
        "city": pa.array(["上海"] * n),
    }
    return shaped("users", cols, n)


def make_events(n: int, persons: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    who = rng.integers(0, persons, n)
    is_order = rng.random(n) < 0.2
    # one person in ten browses with a device id too (logged out)
    device = (who % 10 == 0) & (rng.random(n) < 0.5)
    user = np.where(device, None, np.char.add("u", who.astype(str)).astype(object))
    cols = {
        "event_id": ids("e", np.arange(n)),
        "user_id": pa.array(user, pa.string()),
        "anonymous_id": pa.array(
            np.where(who % 10 == 0, np.char.add("d", who.astype(str)).astype(object), None),
            pa.string(),
        ),
        "ts": pa.array(
            start + rng.integers(0, 90 * 86400 * 10**6, n), pa.timestamp("us", tz="UTC")
        ),
        "type": pa.array(np.where(is_order, "order", "page_view")),
        "product_id": pa.array(np.where(is_order, np.char.add("p", (who % 50).astype(str)), None)),
        "order_id": pa.array(np.where(is_order, np.char.add("o", np.arange(n).astype(str)), None)),
        "quantity": pa.array(np.where(is_order, 1, None), pa.int64()),
        "price": pa.array(np.where(is_order, 30.0, None), pa.float64()),
    }
    return shaped("events", cols, n)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(seconds, result) of calling ``fn``."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=4_000_000)
    ap.add_argument("--build", action="store_true", help="build profiles first (minutes)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="portrait-bench-erasure-"))
    try:
        users, events = tmp / "users.parquet", tmp / "events.parquet"
        pq.write_table(make_users(args.persons), users)
        pq.write_table(make_events(args.events, args.persons, 1), events)
        ws = Workspace.init(tmp / "ws")
        made, _ = timed(lambda: (ws.ingest_file(users), ws.ingest_file(events)))
        if args.build:
            made += timed(ws.build)[0]
        ws.warehouse.execute("CHECKPOINT")
        size = (tmp / "ws" / "warehouse.duckdb").stat().st_size
        print(f"\nErasure of one person: {args.persons:,} persons, {args.events:,} events, "
              f"{'built' if args.build else 'not built'}; made in {made:.0f} s, "
              f"warehouse {size / 2**20:,.0f} MiB")  # fmt: skip
        # persons 10, 20 and 30: each with a device id linked to their user id
        wh = ws.warehouse
        base, _ = timed(lambda: wh.execute("DELETE FROM events WHERE user_id = 'u10'"))
        ckpt, _ = timed(lambda: wh.execute("CHECKPOINT"))
        forget, r = timed(lambda: ws.privacy.forget("u20", compact=False))
        compact, c = timed(ws.privacy.compact)
        residue, res = timed(lambda: ws.privacy.residue("u20"))
        auto, r2 = timed(lambda: ws.privacy.forget("u30"))
        res2 = ws.privacy.residue("d30")
        print(f"{'step':<46}{'seconds':>9}")
        for name, s in (
            ("baseline: DELETE one person's events", base),
            ("baseline: + CHECKPOINT", ckpt),
            (f"forget (no compaction): {r.identifiers} ids, {r.rows_removed:,} rows", forget),
            (f"compact: {c.bytes_before / 2**20:,.0f} -> {c.bytes_after / 2**20:,.0f} MiB",
             compact),
            (f"residue after forget: {res.total} mention(s)", residue),
            (f"forget with compaction ({r2.compaction}): {r2.rows_removed:,} rows", auto),
        ):  # fmt: skip
            print(f"{name:<46}{s:>9.2f}")
        print(f"forget / baseline: {forget / max(base, 1e-9):.0f}x; steps of forget: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items()))  # fmt: skip
        print(f"residue of the second person after forget with compaction: {res2.total}")
        ws.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
