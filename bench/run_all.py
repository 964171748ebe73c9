"""`make bench`: every benchmark script in bench/, one after the other, with its output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHES = [
    ["bench_simulator.py"],
    ["bench_ingest.py"],
    ["bench_http.py", "--concurrency", "8"],
    ["bench_http.py", "--concurrency", "16"],
    ["bench_concurrency.py"],
    ["bench_profiles.py"],
    ["bench_audit.py"],
    ["bench_erasure.py"],
    ["bench_models.py"],
    ["bench_segments.py"],
    ["bench_recs.py"],
    ["bench_uplift.py"],
    ["marketing_policies.py"],
    ["bench_recs_serving.py"],
]


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for script, *args in BENCHES:
        name = " ".join([script, *args])
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(here / script), *args])
        print(f"=== {name}: exit {rc}, {time.perf_counter() - t0:.0f} s ===", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
