"""What encrypting PII at rest costs ingest: users/s and events/s with encryption on and off,
in the same run, medians and ratio; plus key rotation and contact decryption rates.

    .venv/bin/python bench/bench_pii.py [--users 200000] [--events 1000000] [--repeats 3]

Each repeat ingests the same users file (phone, e-mail, name, address on every row) and the same
events file into two fresh on-disk workspaces, one with encryption off (the ingest service's
internal switch, ``ws.ingest.cipher``, which only this benchmark turns off) and one with it on,
in alternating order, each followed by a checkpoint; then an events file where one record in
five is rejected (its quarantined payload is sealed). Events carry no PII, so their rate should
not move; the users rate pays for one AES-GCM and one HMAC per PII value, in Python.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from portrait.datasets.base import source_schema
from portrait.store.campaigns import contacts
from portrait.workspace import Workspace

SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
GIVEN = np.array(["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰"])


def make_users(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = pc.binary_join_element_wise("u", pc.cast(pa.array(np.arange(n)), pa.string()), "")
    phones = [f"+86 1{p:010d}" for p in rng.integers(3 * 10**9, 9 * 10**9, n)]
    emails = [f"user{i}.{k}@example.cn" for i, k in enumerate(rng.integers(0, 10**6, n))]
    names = [
        s + g
        for s, g in zip(SURNAMES[rng.integers(0, len(SURNAMES), n)],
                        GIVEN[rng.integers(0, len(GIVEN), n)], strict=True)
    ]  # fmt: skip
    cols = {
        "user_id": ids,
        "phone": pa.array(phones),
        "email": pa.array(emails),
        "name": pa.array(names),
        "address": pa.array([f"上海市浦东新区{i % 999}号" for i in range(n)]),
        "city": pa.array(["上海"] * n),
        "gender": pa.array(rng.choice(["F", "M"], n)),
    }
    schema = source_schema("users")
    return pa.table(
        {f.name: cols.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in schema}, schema=schema
    )


def make_events(n: int, users: int, seed: int, bad_every: int = 0) -> pa.Table:
    """Page views; with ``bad_every`` k, one in k has an unknown type (quarantined)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    cols = {
        "event_id": pc.binary_join_element_wise(
            "e", pc.cast(pa.array(np.arange(n)), pa.string()), ""
        ),
        "user_id": pc.binary_join_element_wise(
            "u", pc.cast(pa.array(rng.integers(0, users, n)), pa.string()), ""
        ),
        "ts": pa.array(
            start + rng.integers(0, 90 * 86400 * 10**6, n), pa.timestamp("us", tz="UTC")
        ),
        "type": pa.array(
            ["teleport" if bad_every and i % bad_every == 0 else "page_view" for i in range(n)]
        ),
    }
    schema = source_schema("events")
    return pa.table(
        {f.name: cols.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in schema}, schema=schema
    )


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def one_run(root: Path, users: Path, events: Path, bad: Path, encrypt: bool) -> dict[str, float]:
    ws = Workspace.init(root)
    if not encrypt:
        ws.ingest.cipher = lambda: None  # internal switch: stored in clear (benchmark only)
    out = {}
    out["users"] = timed(lambda: (ws.ingest_file(users), ws.warehouse.execute("CHECKPOINT")))
    out["events"] = timed(lambda: (ws.ingest_file(events), ws.warehouse.execute("CHECKPOINT")))
    out["bad_events"] = timed(lambda: (ws.ingest_file(bad), ws.warehouse.execute("CHECKPOINT")))
    if encrypt:
        pids = [r[0] for r in ws.warehouse.fetchall("SELECT user_id FROM users LIMIT 10000")]
        out["contacts"] = timed(lambda: contacts(ws.warehouse, pids, ws.pii)) / len(pids)
        out["contacts_n"] = len(pids)
        out["rotate"] = timed(ws.rotate_key)
    ws.close()
    shutil.rmtree(root)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="portrait-bench-pii-"))
    try:
        users, events = tmp / "users.parquet", tmp / "events.parquet"
        bad = tmp / "bad_events.parquet"
        pq.write_table(make_users(args.users, 1), users)
        pq.write_table(make_events(args.events, args.users, 2), events)
        pq.write_table(make_events(args.events // 5, args.users, 3, bad_every=5), bad)
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for rep in range(args.repeats):
            order = ("off", "on") if rep % 2 == 0 else ("on", "off")
            for mode in order:
                runs[mode].append(
                    one_run(tmp / f"ws-{mode}-{rep}", users, events, bad, mode == "on")
                )

        def med(mode: str, key: str) -> float:
            return statistics.median(r[key] for r in runs[mode])

        print(
            f"\nPII encryption at rest: ingest to disk + checkpoint, median of {args.repeats} "
            f"runs ({args.users:,} users with phone, e-mail, name and address; "
            f"{args.events:,} events)"
        )
        print(f"{'batch':<10}{'clear s':>9}{'encrypted s':>13}{'clear /s':>12}"
              f"{'encrypted /s':>14}{'ratio':>8}")  # fmt: skip
        for key, n in (
            ("users", args.users),
            ("events", args.events),
            ("bad_events", args.events // 5),
        ):
            off, on = med("off", key), med("on", key)
            print(f"{key:<10}{off:>9.2f}{on:>13.2f}{n / off:>12,.0f}{n / on:>14,.0f}"
                  f"{on / off:>7.2f}x")  # fmt: skip
        print("(bad_events: one in five has an unknown type and is quarantined, its payload "
              "sealed and its ids pseudonymised)")  # fmt: skip
        rotate = med("on", "rotate")
        print(f"\nkey rotation of {args.users:,} users (4 PII values each): {rotate:.2f} s "
              f"({args.users / rotate:,.0f} users/s)")  # fmt: skip
        per = med("on", "contacts")
        print(f"contacts decrypted for a send: {1 / per:,.0f} persons/s "
              f"(batches of {int(runs['on'][0]['contacts_n']):,})")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
