"""Segment counts on the bitmap index against a DuckDB scan of the wide profile table.

    .venv/bin/python bench/bench_segments.py [--users 10000000] [--runs 100]

1. A synthetic profile table of ``--users`` persons, made in DuckDB from ``range()`` with
   hash-based random columns: four enums (gender, rfm_segment, lifecycle_stage, city_tier), a
   yes/no flag with NULLs (price_sensitive), an integer with NULLs (days_since_last_order,
   0-730) and money in cents (total_spend, 0.00-20,000.00: two million distinct values, the hard
   case for a bit-sliced index).
2. The segment index built by the production code (dense ids, bitmaps, stored as BLOBs in
   the warehouse, a DuckDB file as in a workspace), twice: a first build, which assigns the
   dense ids, and a rebuild, which looks them up (as every later build does): time and size.
3. One 5-condition expression (AND, OR, NOT; categorical and numeric) counted ``--runs`` times
   through ``SegmentService.count`` on the bitmap path and on the warehouse path (a DuckDB
   scan of the table), interleaved, in the same run: median and p99 of each and the ratio.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from portrait.segments.indexer import build_index
from portrait.segments.service import SegmentService
from portrait.store.warehouse import Warehouse
from portrait.tags.catalog import Catalog
from portrait.tags.model import ModelTag, TagDef

SNAPSHOT = "snapshots.profile_20250101"
BUILD_ID = "bench-segments"
EXPRESSION = (
    "gender = 'F' AND rfm_segment IN ('champions', 'loyal', 'potential_loyalist') "
    "AND NOT price_sensitive AND (days_since_last_order <= 30 OR total_spend BETWEEN 500 AND 2000)"
)
RFM = ["champions", "loyal", "potential_loyalist", "new_customer", "promising", "need_attention",
       "at_risk", "cant_lose", "hibernating", "lost"]  # fmt: skip
STAGES = ["prospect", "new", "won_back", "loyal", "growing", "active", "dormant", "churned"]
TIERS = ["tier1", "tier2", "tier3", "tier4", "tier5"]


def pick(values: list[str], salt: int) -> str:
    """SQL picking one of ``values`` by a hash of the row, the first ones more often."""
    weights = [len(values) - i for i in range(len(values))]
    total, edge, cases = sum(weights), 0, []
    for v, w in zip(values, weights, strict=True):
        edge += w
        cases.append(f"WHEN hash(i, {salt}) % {total} < {edge} THEN '{v}'")
    return "CASE " + " ".join(cases) + " END"


def make_table(wh: Warehouse, users: int) -> float:
    t0 = time.perf_counter()
    wh.execute(
        f"""CREATE TABLE {SNAPSHOT} AS
        SELECT 'u' || lpad(CAST(i AS VARCHAR), 9, '0') AS person_id,
               CASE WHEN hash(i, 1) % 100 < 48 THEN 'F' WHEN hash(i, 1) % 100 < 95 THEN 'M'
                    ELSE 'U' END AS gender,
               CASE WHEN hash(i, 9) % 100 < 15 THEN NULL ELSE {pick(RFM, 2)} END AS rfm_segment,
               {pick(STAGES, 3)} AS lifecycle_stage,
               {pick(TIERS, 4)} AS city_tier,
               CASE WHEN hash(i, 5) % 10 < 3 THEN NULL ELSE hash(i, 6) % 10 < 4
                    END AS price_sensitive,
               CASE WHEN hash(i, 9) % 100 < 15 THEN NULL
                    ELSE CAST(hash(i, 7) % 731 AS BIGINT) END AS days_since_last_order,
               CASE WHEN hash(i, 9) % 100 < 15 THEN NULL
                    ELSE CAST(hash(i, 8) % 2000001 AS DOUBLE) / 100 END AS total_spend
        FROM range({users}) t(i)"""
    )
    return time.perf_counter() - t0


def tag(tag_id: str, value_type: str, values: list[str] | None = None) -> TagDef:
    return ModelTag(
        id=tag_id, zh=tag_id, en=tag_id, description=tag_id, group="bench", kind="model",
        type=value_type, values=values, model={"model": "bench"},
    )  # fmt: skip


TAGS = [
    tag("gender", "enum", ["F", "M", "U"]),
    tag("rfm_segment", "enum", RFM),
    tag("lifecycle_stage", "enum", STAGES),
    tag("city_tier", "enum", TIERS),
    tag("price_sensitive", "bool"),
    tag("days_since_last_order", "int"),
    tag("total_spend", "float"),
]


def record_build(wh: Warehouse, users: int) -> None:
    """A build log row pointing at the table, as a profile build would write."""
    now = datetime.now(UTC)
    wh.execute(
        "INSERT INTO tag_builds (build_id, as_of, as_of_epoch, timezone, backend, mode, "
        "catalog_fingerprint, snapshot, persons, recomputed, events_seen, started_at, "
        "finished_at, seconds) VALUES (?, DATE '2025-01-01', 1735689600, 'UTC', 'duckdb', "
        "'full', 'bench', ?, ?, ?, 0, ?, ?, 0)",
        [BUILD_ID, SNAPSHOT, users, users, now, now],
    )


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()

    folder = tempfile.TemporaryDirectory(prefix="bench-segments-")
    wh = Warehouse(Path(folder.name) / "warehouse.duckdb")  # on disk, compressed, as a workspace
    made = make_table(wh, args.users)
    wh.execute("CHECKPOINT")
    print(f"synthetic profile table: {args.users:,} persons, 7 tags, made in {made:.1f} s")
    record_build(wh, args.users)

    for label in ("first build (assigns dense ids)", "rebuild (looks the ids up)"):
        report = build_index(wh, TAGS, BUILD_ID, SNAPSHOT)
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
        print(
            f"index, {label}: {report.seconds:.1f} s ({steps}); "
            f"{report.bytes / 2**20:.1f} MiB for {report.tags} tags"
        )

    service = SegmentService(warehouse=wh, catalog=Catalog(tags=TAGS, groups={}))
    cold = service.count(EXPRESSION)
    warehouse = service.count(EXPRESSION, engine="warehouse")
    assert cold.count == warehouse.count, (cold, warehouse)
    print(f"expression: {EXPRESSION}")
    print(
        f"count: {cold.count:,} persons ({cold.share:.2%}); first count (loads the index "
        f"of the 5 tags from the warehouse) {cold.ms:.0f} ms"
    )

    bitmap_ms, scan_ms, evaluate_ms = [], [], []
    for _ in range(args.runs):  # interleaved, so drift in the machine's speed hits both
        tick = time.perf_counter()
        r = service.count(EXPRESSION)
        bitmap_ms.append((time.perf_counter() - tick) * 1000)
        evaluate_ms.append(r.evaluate_ms)
        assert r.path == "bitmap" and r.count == cold.count
        tick = time.perf_counter()
        r = service.count(EXPRESSION, engine="warehouse")
        scan_ms.append((time.perf_counter() - tick) * 1000)
        assert r.path == "warehouse" and r.count == cold.count

    b_med, b_p99 = summary(bitmap_ms)
    s_med, s_p99 = summary(scan_ms)
    e_med, e_p99 = summary(evaluate_ms)
    print(f"\n{'path':<34}{'median ms':>10}{'p99 ms':>10}   ({args.runs} runs each)")
    print(f"{'bitmap index (SegmentService.count)':<34}{b_med:>10.2f}{b_p99:>10.2f}")
    print(f"{'  of which bitmap evaluation':<34}{e_med:>10.2f}{e_p99:>10.2f}")
    print(f"{'DuckDB scan of the profile table':<34}{s_med:>10.2f}{s_p99:>10.2f}")
    ratio = s_med / b_med
    met = "met" if b_med <= 10 and ratio >= 5 else "NOT met"
    print(f"scan / bitmap (medians): {ratio:.1f}x; target bitmap <= 10 ms and >= 5x: {met}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")
    wh.close()
    folder.cleanup()


if __name__ == "__main__":
    main()
