"""HTTP ingest throughput: POST /v1/events from concurrent clients, against the in-process path.

    .venv/bin/python bench/bench_http.py [--events 200000] [--concurrency 8] [--batch 500]

Runs, each on its own fresh on-disk workspace in a temporary folder:

* in-process baseline: ``ws.ingest_records`` called directly with batches of ``--batch``
  events (no HTTP, one batch per transaction), and once more with batches of
  ``--concurrency x --batch`` (what the server's group commit can at best combine);
* HTTP: ``portrait serve`` in a subprocess on 127.0.0.1 (a free port), an ingest key, and
  ``--concurrency`` httpx tasks posting batches of valid events with unique event_ids.

Prints events/s, batches/s and p50/p95 request latency beside the target of 30,000 events/s,
then checks that the server stored exactly what its responses said it accepted. Loopback
only; bounded by ``--events`` and ``--max-seconds``; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from portrait.workspace import Workspace

TARGET = 30_000
TYPES = ["page_view", "product_view", "click", "add_to_cart", "search", "login"]


def make_batch(run: str, b: int, size: int) -> list[dict]:
    """``size`` valid events with ids unique to (run, b)."""
    out = []
    for i in range(size):
        t = TYPES[(b + i) % len(TYPES)]
        e = {
            "event_id": f"{run}-{b}-{i}",
            "user_id": f"u{(b * 7 + i) % 5000}",
            "anonymous_id": f"d{(b * 7 + i) % 7000}",
            "ts": f"2025-03-{1 + (b + i) % 28:02d}T{i % 24:02d}:{b % 60:02d}:00Z",
            "type": t,
            "channel": "app" if i % 2 else "web",
        }
        if t in ("product_view", "add_to_cart"):
            e["product_id"] = f"p{i % 900}"
            e["price"] = round(5 + (i % 50) * 1.5, 2)
        if t == "add_to_cart":
            e["quantity"] = 1 + i % 3
        if t == "search":
            e["query"] = "口红"
        out.append(e)
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))] if s else float("nan")


@dataclass
class Run:
    label: str
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    duplicates: int = 0
    quarantined: int = 0

    def line(self) -> str:
        eps = self.events / self.seconds if self.seconds else 0.0
        return (
            f"{self.label:<50}{eps:>11,.0f}{self.batches / max(self.seconds, 1e-9):>10,.1f}"
            f"{pct(self.latencies, 50) * 1000:>9.1f}{pct(self.latencies, 95) * 1000:>9.1f}"
            f"{eps / TARGET:>9.2f}x"
        )


def in_process(root: Path, n_events: int, batch: int, label: str, deadline: float) -> Run:
    run = Run(label)
    ws = Workspace.init(root)
    try:
        t0 = time.perf_counter()
        for b in range(n_events // batch):
            if time.perf_counter() > deadline:
                break
            recs = make_batch(f"ip{batch}", b, batch)
            s = time.perf_counter()
            r = ws.ingest_records(recs)
            run.latencies.append(time.perf_counter() - s)
            run.events += r.accepted
            run.duplicates += r.duplicates
            run.quarantined += r.quarantined
            run.batches += 1
        run.seconds = time.perf_counter() - t0
    finally:
        ws.close()
    return run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "portrait.cli", "serve", "-w", str(root)]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)


def wait_ready(proc: subprocess.Popen, base: str, log: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout} s:\n{log.read_text()}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully (lifespan runs)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def post_all(
    base: str, token: str, bodies: list[bytes], sizes: list[int], concurrency: int, deadline: float
) -> Run:
    run = Run(f"HTTP POST /v1/events, {concurrency} concurrent clients")
    next_i = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=120
    ) as client:

        async def worker() -> None:
            nonlocal next_i
            while next_i < len(bodies) and time.perf_counter() < deadline and not run.failures:
                i = next_i
                next_i += 1
                s = time.perf_counter()
                r = await client.post("/v1/events", content=bodies[i])
                run.latencies.append(time.perf_counter() - s)
                if r.status_code != 200:
                    run.failures.append(f"batch {i}: HTTP {r.status_code}: {r.text[:500]}")
                    return
                body = r.json()
                if body["accepted"] + body["duplicates"] + body["quarantined"] != sizes[i]:
                    run.failures.append(f"batch {i}: counts do not add up: {body}")
                    return
                run.events += body["accepted"]
                run.duplicates += body["duplicates"]
                run.quarantined += body["quarantined"]
                run.batches += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.seconds = time.perf_counter() - t0
    return run


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="portrait-bench-http-"))
    try:
        return bench(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(tmp: Path) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000, help="events sent over HTTP")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch", type=int, default=500, help="events per request")
    ap.add_argument(
        "--baseline-events",
        type=int,
        default=None,
        help="events for each in-process baseline [default: --events, at most 100,000]",
    )
    ap.add_argument("--max-seconds", type=float, default=240, help="time bound for each run")
    args = ap.parse_args()
    if min(args.events, args.concurrency, args.batch) < 1:
        ap.error("--events, --concurrency and --batch must be positive")
    n_batches = max(1, args.events // args.batch)
    n_base = args.baseline_events or min(args.events, 100_000)
    print(
        f"{os.cpu_count()} CPUs; HTTP: {n_batches * args.batch:,} events in {n_batches:,} "
        f"requests of {args.batch}, {args.concurrency} concurrent; baseline: {n_base:,} events"
    )
    runs: list[Run] = []
    proc = None
    try:
        # 1. In-process baselines (no server running, so nothing competes for the CPUs).
        for size, label in (
            (args.batch, f"in-process ws.ingest_records, batches of {args.batch}"),
            (
                args.batch * args.concurrency,
                f"in-process, batches of {args.batch * args.concurrency} (group size)",
            ),
        ):
            deadline = time.perf_counter() + args.max_seconds
            runs.append(in_process(tmp / f"base-{size}", max(n_base, size), size, label, deadline))

        # 2. HTTP through `portrait serve` in its own process.
        root = tmp / "http"
        with Workspace.init(root) as ws:
            token = ws.create_key("ingest", "bench_http").token
        bodies, sizes = [], []
        for b in range(n_batches):
            recs = make_batch("http", b, args.batch)
            bodies.append(orjson.dumps(recs))
            sizes.append(len(recs))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp / "server.log"
        proc = start_server(root, port, log)
        wait_ready(proc, base, log)
        deadline = time.perf_counter() + args.max_seconds
        http = asyncio.run(post_all(base, token, bodies, sizes, args.concurrency, deadline))
        runs.append(http)
        stop_server(proc)
        proc = None
    finally:
        if proc is not None:
            stop_server(proc)

    print(f"\n{'run':<50}{'events/s':>11}{'batch/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'/target':>10}")
    print(f"{'target':<50}{TARGET:>11,}")
    for r in runs:
        print(r.line())
    status = 0
    if http.failures:
        print(f"\nHTTP run FAILED after {http.batches} good requests: {http.failures[0]}")
        status = 1
    elif http.batches < n_batches:
        print(f"\nHTTP run stopped at the time bound after {http.batches}/{n_batches} requests")
    with Workspace.open(root, read_only=True) as ws:
        stored = ws.warehouse.fetchone("SELECT count(*) FROM events")[0]
        batches = ws.warehouse.fetchone("SELECT count(*) FROM ingest_batches")[0]
    ok = stored == http.events and http.duplicates == 0 and http.quarantined == 0
    print(
        f"\nHTTP: {http.events:,} events accepted in {http.seconds:.1f} s "
        f"({http.duplicates} duplicates, {http.quarantined} quarantined); "
        f"{stored:,} stored by the server in {batches:,} group commits "
        f"(~{http.batches / max(batches, 1):.1f} requests each): "
        + ("consistent" if ok else "MISMATCH")
    )
    if not ok:
        status = 1
    for r in runs[:2]:
        if r.duplicates or r.quarantined:
            print(f"{r.label}: unexpected {r.duplicates} duplicates, {r.quarantined} quarantined")
            status = 1
    http_eps = http.events / http.seconds if http.seconds else 0.0
    base_eps = runs[0].events / runs[0].seconds if runs[0].seconds else 0.0
    median_ms = statistics.median(http.latencies or [0.0]) * 1000
    print(
        f"HTTP {http_eps:,.0f} events/s = {http_eps / TARGET:.2f} x the {TARGET:,} target and "
        f"{http_eps / max(base_eps, 1e-9):.2f} x in-process batches of {args.batch}; "
        f"median request latency {median_ms:.0f} ms"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
