"""What the audit log costs a profile read: audited and unaudited reads, same run, same persons.

    .venv/bin/python bench/bench_audit.py [--users 20000] [--days 60] [--persons 300] [--rounds 3]

1. Simulates a shop of ``--users`` users over ``--days`` days and builds it.
2. Reads the profiles of ``--persons`` random persons ``--rounds`` times, each person twice in
   a row in alternating order: through the facade (``Workspace.profile``: the read, then one
   audit entry appended to ``audit.sqlite``) and through the service underneath
   (``ProfileService.profile``: the same read, nothing recorded). Medians of each, their
   ratio (the issue allows at most 1.05) and the median cost of one append on its own.
3. The chain then verifies (``ws.audit.verify()``), timed.

In-process reads are the strict measure: over REST each read also pays HTTP and JSON, so the
same append is a smaller share of it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from portrait.audit.context import AuditCaller
from portrait.workspace import Workspace

LIMIT = 1.05


def ms(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--persons", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "shop")
        t0 = time.perf_counter()
        ws.simulate(users=args.users, days=args.days, seed=42)
        built = ws.build()
        print(
            f"shop: {args.users:,} users over {args.days} days, {built.persons:,} persons "
            f"built in {time.perf_counter() - t0:.0f} s"
        )
        persons = ws.profile_table().column("person_id").to_pylist()
        sample = random.Random(7).sample(persons, min(args.persons, len(persons)))
        audited, plain = [], []
        ws.profile(sample[0]), ws.profiles.profile(sample[0])  # warm both paths
        for r in range(args.rounds):
            for i, p in enumerate(sample):
                pair = [(audited, ws.profile), (plain, ws.profiles.profile)]
                for sink, read in pair if (i + r) % 2 == 0 else reversed(pair):
                    sink.append(ms(read, p))
        caller = AuditCaller("bench", None, "python", "python", "bench")
        appends = [
            ms(ws.audit.record, "bench.append", caller, None, [p], None, 1, {"lang": "en"})
            for p in sample
        ]
        a, b = statistics.median(audited), statistics.median(plain)
        print(f"profile read, unaudited (ProfileService.profile): median {b:.2f} ms")
        print(f"profile read, audited (Workspace.profile):         median {a:.2f} ms")
        print(
            f"ratio audited / unaudited: {a / b:.3f} (limit {LIMIT}); "
            f"{len(audited):,} reads each, {len(sample)} persons x {args.rounds} rounds"
        )
        print(f"one audit append on its own: median {statistics.median(appends) * 1000:.0f} us")
        t0 = time.perf_counter()
        check = ws.audit.verify()
        print(
            f"verify: {check.entries:,} entries, ok={check.ok}, "
            f"{(time.perf_counter() - t0) * 1000:.0f} ms"
        )
        ws.close()
    return 0 if a / b <= LIMIT and check.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
