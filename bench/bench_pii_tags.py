"""What sealing the PII tags (birth_date) in profile snapshots costs a build and a read.

    .venv/bin/python bench/bench_pii_tags.py [--users 20000] [--days 60] [--repeats 2]

Simulates one shop, copies its workspace, and per repeat builds it in two fresh copies, in
alternating order: the baseline without the seal step (the snapshot keeps the dates in clear, as
before issue 17's last step) and the build as shipped (the dates sealed as tokens). Then, in each,
an incremental build of the next day after a small batch of events (the sealed one opens the base
snapshot's dates and seals again), and a read of the whole profile frame (the sealed one opens
the dates). Prints medians side by side.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from portrait.tags.build import Builder
from portrait.workspace import Workspace


def timed(fn, *args, **kw) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def one_run(src: Path, dest: Path, sealed: bool) -> dict[str, float]:
    shutil.copytree(src, dest)
    original = Builder._seal
    if not sealed:
        Builder._seal = lambda self, plan: None  # the build as it was: no seal step
    try:
        with Workspace.open(dest) as ws:
            last = ws.warehouse.fetchone("SELECT max(ts) FROM events")[0]
            day = last.date() + timedelta(days=1)
            full, full_s = timed(ws.build, as_of=day, full=True)
            ws.ingest_records(
                [{"event_id": f"bench{i}", "user_id": user, "ts": f"{day}T10:00:00Z",
                  "type": "page_view"}
                 for i, (user,) in enumerate(ws.warehouse.fetchall(
                     "SELECT user_id FROM users ORDER BY user_id LIMIT 200"))]
            )  # fmt: skip
            inc, inc_s = timed(ws.build, as_of=day + timedelta(days=1))
            assert inc.mode == "incremental", inc.mode
            _, frame_s = timed(ws.profiles.frame)
            return {
                "full build": full_s,
                "seal step": full.timings.get("seal", 0.0),
                "incremental build": inc_s,
                "frame read": frame_s,
                "persons": full.persons,
                "dates": ws.profiles.tag("birth_date").coverage * full.persons,
            }
    finally:
        Builder._seal = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pii-tags-") as tmp:
        src = Path(tmp) / "shop"
        ws = Workspace.init(src)
        _, sim_s = timed(ws.simulate, users=args.users, days=args.days, seed=42)
        ws.close()
        print(f"shop: {args.users:,} users over {args.days} days (simulated in {sim_s:.0f} s)")
        runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for r in range(args.repeats):
            for sealed in (False, True) if r % 2 == 0 else (True, False):
                name = f"r{r}-{'sealed' if sealed else 'clear'}"
                runs[sealed].append(one_run(src, Path(tmp) / name, sealed))
                shutil.rmtree(Path(tmp) / name)
        first = runs[True][0]
        print(f"persons {first['persons']:,}, birth dates sealed {first['dates']:,.0f}; "
              f"medians of {args.repeats}, seconds")  # fmt: skip
        print(f"{'step':<20}{'clear (before)':>16}{'sealed (after)':>16}{'ratio':>8}")
        for key in ("full build", "seal step", "incremental build", "frame read"):
            before = statistics.median(x[key] for x in runs[False])
            after = statistics.median(x[key] for x in runs[True])
            ratio = f"{after / before:.2f}x" if before else "-"
            print(f"{key:<20}{before:>16.2f}{after:>16.2f}{ratio:>8}")


if __name__ == "__main__":
    main()
