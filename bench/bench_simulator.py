"""Benchmark the demo-shop simulator: events per second and peak memory, against the target.

Target (docs/PRODUCT.md): at least 10 million events in at most 60 seconds on a 2-core
machine, with memory bounded by the chunk size, not by the size of the shop.

    .venv/bin/python bench/bench_simulator.py [--events 10000000] [--days 90]

A small calibration run measures events per user; the full run then simulates enough users to
reach the event target. Each run happens in a fresh subprocess so that its peak RSS
(``resource.getrusage``) is its own. A quarter-size run is measured too: if memory is bounded,
its peak RSS is about the same as the full run's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_EVENTS = 10_000_000
TARGET_SECONDS = 60.0


def child(users: int, days: int, seed: int, chunk_users: int) -> None:
    """Simulate once in this process and print its figures as JSON."""
    import pyarrow.parquet as pq

    from portrait.datasets.simulator import simulate

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        began = time.perf_counter()
        files = simulate(Path(tmp), users=users, days=days, seed=seed, chunk_users=chunk_users)
        seconds = time.perf_counter() - began
        events = pq.ParquetFile(files.events[0]).metadata.num_rows
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {"users": users, "events": events, "seconds": seconds, "rss_mib": peak_kib / 1024,
             "file_mib": size / 2**20}
        )
    )  # fmt: skip


def run(users: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", str(users), "--days", str(args.days),
           "--seed", str(args.seed), "--chunk-users", str(args.chunk_users)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=TARGET_EVENTS)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-users", type=int, default=10_000)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.days, args.seed, args.chunk_users)
        return

    calibration = run(4_000, args)
    per_user = calibration["events"] / calibration["users"]
    users = math.ceil(args.events / per_user * 1.03)
    full = run(users, args)
    quarter = run(max(1, users // 4), args)

    rate = full["events"] / full["seconds"]
    target_rate = TARGET_EVENTS / TARGET_SECONDS
    ok = (
        full["events"] >= args.events
        and full["seconds"] <= TARGET_SECONDS * args.events / TARGET_EVENTS
    )
    rows = [
        ("events", f">= {args.events:,}", f"{full['events']:,}"),
        ("users", "", f"{full['users']:,}"),
        (
            "seconds",
            f"<= {TARGET_SECONDS * args.events / TARGET_EVENTS:.0f}",
            f"{full['seconds']:.1f}",
        ),
        ("events / s", f">= {target_rate:,.0f}", f"{rate:,.0f}"),
        ("peak RSS (MiB)", "bounded by chunk", f"{full['rss_mib']:,.0f}"),
        ("peak RSS, 1/4 of the users (MiB)", "about the same", f"{quarter['rss_mib']:,.0f}"),
        ("seconds, 1/4 of the users", "", f"{quarter['seconds']:.1f}"),
        ("files on disk (MiB)", "", f"{full['file_mib']:,.0f}"),
    ]
    print(f"\nsimulator: {args.days} days, seed {args.seed}, chunks of {args.chunk_users:,} users, "
          f"{os.cpu_count()} CPUs; calibration {per_user:.1f} events/user")  # fmt: skip
    print(f"| {'measure':<34} | {'target':<18} | {'measured':>12} |")
    print(f"|{'-' * 36}|{'-' * 20}|{'-' * 14}|")
    for name, target, measured in rows:
        print(f"| {name:<34} | {target:<18} | {measured:>12} |")
    print(f"\ntarget '10M events in <= 60 s': {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
