"""The server under mixed load while builds run: errors, lost or doubled events, p99 per route.

    .venv/bin/python bench/bench_concurrency.py [--users 20000] [--days 90] [--seconds 60]
                                                [--clients 8] [--every 10]

One simulated shop (built once, recommender trained) is served by ``portrait serve`` in a
subprocess on 127.0.0.1. ``--clients`` clients each loop over a mix of profile reads, segment
counts, recommendations and event ingest (batches of 50 new events) for ``--seconds``, in three
phases measured in the same run:

* baseline: no build runs;
* builds back to back: a build job is started as soon as the previous one finished;
* a build every ``--every`` seconds.

Per phase and route it prints requests, errors (any non-2xx answer or transport error), p50
and p99 latency, and the p99 ratio to the baseline; then it checks that the events table holds
exactly the events the ingest answers accepted, each once. Loopback only; each phase is
bounded in time, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_http import free_port, pct, start_server, wait_ready
from portrait.workspace import Workspace

EXPRESSIONS = [
    "orders_total >= 1",
    "gender = 'F' AND orders_total >= 2",
    "rfm_segment IN ('champions', 'loyal')",
    "days_since_last_order <= 30",
    "lifecycle_stage = 'active'",
]
ROUTES = ("profile", "segment count", "recommendations", "ingest", "build")


@dataclass
class Phase:
    label: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    builds: int = 0
    build_seconds: list[float] = field(default_factory=list)

    def note(self, route: str, seconds: float, error: str | None = None) -> None:
        self.latencies.setdefault(route, []).append(seconds)
        if error is not None:
            self.errors.setdefault(route, []).append(error)


def prepare(root: Path, users: int, days: int) -> tuple[list[str], str]:
    """Simulate, build and train the recommender; return some person ids and an admin key."""
    t0 = time.perf_counter()
    with Workspace.init(root) as ws:
        ws.simulate(users=users, days=days, seed=42)
        events = ws.warehouse.fetchone("SELECT count(*) FROM events")[0]
        print(f"shop: {users:,} users, {events:,} events ({time.perf_counter() - t0:.0f} s)")
        tick = time.perf_counter()
        result = ws.build()
        print(f"first build: {result.persons:,} persons in {time.perf_counter() - tick:.1f} s")
        ws.recs.train()
        persons = [
            r[0] for r in ws.warehouse.fetchall("SELECT person_id FROM profile USING SAMPLE 2000")
        ]
        token = ws.create_key("admin").token
    return persons, token


async def client_loop(
    c: httpx.AsyncClient, phase: Phase, persons: list[str], n: int, until: float
) -> None:
    rng = random.Random(n)
    i = 0
    while time.monotonic() < until:
        i += 1
        op = rng.choice(("profile", "segment count", "recommendations", "ingest"))
        person = rng.choice(persons)
        tick = time.perf_counter()
        batch: list[dict] = []
        try:
            if op == "profile":
                r = await c.get(f"/v1/users/{person}/profile")
            elif op == "segment count":
                r = await c.post("/v1/segments/count", json={"expression": rng.choice(EXPRESSIONS)})
            elif op == "recommendations":
                r = await c.get(f"/v1/users/{person}/recommendations", params={"k": 10})
            else:
                batch = []
                for k in range(50):
                    kind = rng.choice(("page_view", "search", "login"))
                    e = {
                        "event_id": f"lt-{id(phase)}-{n}-{i}-{k}",
                        "user_id": rng.choice(persons),
                        "ts": "2025-03-30T12:00:00Z",
                        "type": kind,
                    }
                    if kind == "search":
                        e["query"] = rng.choice(("口红", "running shoes", "连衣裙"))
                    batch.append(e)
                r = await c.post("/v1/events", json=batch)
            error = None if r.is_success else f"{r.status_code} {r.text[:200]}"
            if op == "ingest" and r.is_success:
                body = r.json()
                if body["accepted"] != len(batch):  # every event here is valid and new
                    error = f"accepted {body['accepted']} of {len(batch)}: {body['rejected'][:2]}"
                rejected = {x["index"] for x in body["rejected"]}
                phase.accepted.extend(
                    e["event_id"] for j, e in enumerate(batch) if j not in rejected
                )
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        phase.note(op, time.perf_counter() - tick, error)


async def build_loop(c: httpx.AsyncClient, phase: Phase, every: float | None, until: float):
    """Builds back to back (``every`` None) or one started every ``every`` seconds."""
    while time.monotonic() < until:
        start = time.monotonic()
        tick = time.perf_counter()
        try:
            r = await c.post("/v1/build", json={}, params={"wait": 600})
            ok = r.status_code == 200 and r.json()["state"] == "succeeded"
            error = None if ok else f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        phase.note("build", time.perf_counter() - tick, error)
        phase.builds += 1
        if every is not None:
            await asyncio.sleep(max(0.0, every - (time.monotonic() - start)))


async def run_phase(
    base: str, token: str, phase: Phase, persons, clients: int, seconds: float, builds
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600, limits=limits) as c:
        until = time.monotonic() + seconds
        tasks = [client_loop(c, phase, persons, n, until) for n in range(clients)]
        if builds != "none":
            tasks.append(build_loop(c, phase, None if builds == "back-to-back" else builds, until))
        await asyncio.gather(*tasks)


def report(phases: list[Phase]) -> None:
    base = phases[0]
    print(
        f"\n{'phase':<26}{'route':<17}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p99 vs baseline':>17}"
    )
    for ph in phases:
        for route in ROUTES:
            lat = ph.latencies.get(route, [])
            if not lat:
                continue
            p99 = pct(lat, 99) * 1000
            ref = base.latencies.get(route)
            ratio = f"{p99 / (pct(ref, 99) * 1000):.2f}x" if ref and route != "build" else "-"
            print(
                f"{ph.label:<26}{route:<17}{len(lat):>9}{len(ph.errors.get(route, [])):>8}"
                f"{pct(lat, 50) * 1000:>9.1f}{p99:>9.1f}{ratio:>17}"
            )
    for ph in phases:
        for route, errs in ph.errors.items():
            print(f"errors in {ph.label} / {route} (first 3 of {len(errs)}): {errs[:3]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--every", type=float, default=10)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-concurrency-"))
    root = tmp / "ws"
    proc = None
    try:
        persons, token = prepare(root, args.users, args.days)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp / "server.log"
        proc = start_server(root, port, log)
        wait_ready(proc, base, log)
        phases = [
            Phase("baseline (no build)"),
            Phase("builds back to back"),
            Phase(f"a build every {args.every:g} s"),
        ]
        modes = ["none", "back-to-back", args.every]
        for ph, mode in zip(phases, modes, strict=True):
            t0 = time.perf_counter()
            asyncio.run(run_phase(base, token, ph, persons, args.clients, args.seconds, mode))
            print(
                f"{ph.label}: {sum(len(v) for v in ph.latencies.values()):,} requests, "
                f"{ph.builds} builds in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        report(phases)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        proc = None
        sent = [e for ph in phases for e in ph.accepted]
        with Workspace.open(root) as ws:
            stored, distinct = ws.warehouse.fetchone(
                "SELECT count(*), count(DISTINCT event_id) FROM events "
                "WHERE starts_with(event_id, 'lt-')"
            )
        lost = len(set(sent)) - distinct
        doubled = stored - distinct
        errors = sum(len(v) for ph in phases for v in ph.errors.values())
        print(
            f"\nevents accepted by the answers {len(sent):,}, stored {stored:,} "
            f"(distinct {distinct:,}): lost {lost}, doubled {doubled}; errors {errors}"
        )
        return 0 if errors == 0 and lost == 0 and doubled == 0 else 1
    finally:
        if proc is not None:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
