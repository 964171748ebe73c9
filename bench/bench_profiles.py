"""Profile build speed, profile lookup latency, and builds on real data.

    .venv/bin/python bench/bench_profiles.py [--users 90000] [--spark-users 5000]

1. Simulates a shop of ``--users`` users (about 110 events each over 90 days: 90k users give
   about 10M events), ingests it, and times the full catalog build on DuckDB; then the same for
   ``--wide-users`` users over ``--wide-days`` days (1M users over 2 days: about 10M events,
   ten per user, so ten times the persons). Baseline, in the same run: the issue's reference,
   ``bench/profile_baseline.py``, a hand-written, hand-tuned DuckDB pass computing the values of
   the catalog's 90 fact tags (80 over events, 10 over users; one main grouping with FILTER
   clauses, keyed groupings for distinct counts, modes and top-N lists), checked column by
   column against the build's snapshot; the build's time is set beside it, whole and as its
   query stage (staging the events, then the fact and rule queries). The older, smaller
   baseline (``BASELINE_SQL`` here: 38 comparable columns, counts, distinct counts, sums, 4
   top-N lists and 2 modes) is still timed and printed, labelled as such.
2. The same build with ``--backend pyspark`` on a ``--spark-users`` shop, against DuckDB on
   that same shop, reported as a ratio (Spark local mode needs minutes for 10M events here).
3. Profile lookups: in-process ``Workspace.profile`` and ``GET /v1/users/{id}/profile`` over
   HTTP (uvicorn), median and p99 of 300 random persons.
4. Online Retail II and Ta-Feng (from ../shared/data, skipped when absent): build time and tag
   coverage by group.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from portrait.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profile_baseline  # bench/profile_baseline.py

BASELINE_SQL = """
WITH e AS (
  SELECT coalesce(m.person_id, e.user_id) AS pid, e.*, p.category_l1, p.brand, p.colour,
         epoch(e.ts) AS t
  FROM events e LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = e.user_id
  LEFT JOIN products p USING (product_id) WHERE e.user_id IS NOT NULL AND e.ts < $asof
), base AS (
  SELECT pid,
    count(DISTINCT CAST(t / 86400 AS BIGINT)) FILTER (t >= epoch($asof) - 7*86400) v7,
    count(DISTINCT CAST(t / 86400 AS BIGINT)) FILTER (t >= epoch($asof) - 30*86400) v30,
    count(DISTINCT CAST(t / 86400 AS BIGINT)) FILTER (t >= epoch($asof) - 90*86400) v90,
    count(DISTINCT CAST(t / 86400 AS BIGINT)) v365,
    count(DISTINCT order_id) FILTER (type = 'order' AND t >= epoch($asof) - 7*86400) o7,
    count(DISTINCT order_id) FILTER (type = 'order' AND t >= epoch($asof) - 30*86400) o30,
    count(DISTINCT order_id) FILTER (type = 'order' AND t >= epoch($asof) - 90*86400) o90,
    count(DISTINCT order_id) FILTER (type = 'order') o_all,
    max(t) last_visit, min(t) first_visit,
    max(t) FILTER (type = 'order') last_order, min(t) FILTER (type = 'order') first_order,
    count(*) FILTER (type = 'product_view' AND t >= epoch($asof) - 30*86400) pv30,
    count(*) FILTER (type = 'search' AND t >= epoch($asof) - 30*86400) s30,
    count(*) FILTER (type = 'add_to_cart' AND t >= epoch($asof) - 30*86400) c30,
    count(DISTINCT product_id) FILTER (type = 'add_to_cart') carted,
    count(DISTINCT product_id) FILTER (type = 'order') ordered,
    sum(quantity * price) FILTER (type = 'order') spend,
    sum(quantity * price) FILTER (type = 'order' AND t >= epoch($asof) - 30*86400) spend30,
    sum(quantity * price) FILTER (type = 'refund') refunded,
    sum(quantity) FILTER (type = 'order') items,
    avg(price) FILTER (type = 'order') avg_price,
    avg(CASE WHEN discount > 0 OR coupon_id IS NOT NULL THEN 1.0 ELSE 0.0 END)
      FILTER (type = 'order') discount_share,
    count(*) FILTER (type = 'review') reviews, avg(rating) FILTER (type = 'review') rating,
    count(*) FILTER (type = 'share') shares, count(*) FILTER (type = 'invite') invites,
    count(*) FILTER (type = 'message_sent' AND channel = 'email') email_sent,
    count(*) FILTER (type = 'message_opened' AND channel = 'email') email_opened,
    count(*) FILTER (type = 'message_sent' AND channel = 'sms') sms_sent,
    count(*) FILTER (type = 'message_opened' AND channel = 'sms') sms_opened,
    count(*) FILTER (type = 'coupon_used') coupons_used,
    mode(hour(ts)) active_hour, mode(device) device
  FROM e GROUP BY pid
), keyed AS (
  SELECT pid, 'cat' AS k, category_l1 AS v FROM e WHERE type IN ('product_view', 'order')
  UNION ALL SELECT pid, 'brand', brand FROM e WHERE type = 'order'
  UNION ALL SELECT pid, 'colour', colour FROM e WHERE type IN ('product_view', 'order')
  UNION ALL SELECT pid, 'query', query FROM e WHERE type = 'search'
), counted AS (
  SELECT pid, k, v, count(*) AS n FROM keyed WHERE v IS NOT NULL GROUP BY ALL
), top AS (
  SELECT pid,
    list(v ORDER BY n DESC, v) FILTER (k = 'cat')[1:3] top_cat,
    list(v ORDER BY n DESC, v) FILTER (k = 'brand')[1:5] top_brand,
    list(v ORDER BY n DESC, v) FILTER (k = 'colour')[1:3] top_colour,
    list(v ORDER BY n DESC, v) FILTER (k = 'query')[1:5] top_query
  FROM counted GROUP BY pid
)
SELECT * FROM base LEFT JOIN top USING (pid)
"""


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def build_speed(tmp: Path, users: int, days: int = 90, name: str = "big") -> Workspace:
    ws = Workspace.init(tmp / name)
    _, sim_s = timed(ws.simulate, users=users, days=days, seed=42)
    events = ws.warehouse.fetchone("SELECT count(*) FROM events")[0]
    print(
        f"shop: {users:,} users over {days} days, {events:,} events "
        f"(simulated and ingested in {sim_s:.0f} s)"
    )
    result, _ = timed(ws.build, full=True)
    as_of = result.as_of
    _, base_s = timed(
        ws.warehouse.execute,
        "CREATE OR REPLACE TEMP TABLE baseline AS "
        + BASELINE_SQL.replace("$asof", f"TIMESTAMPTZ '{as_of}'"),
    )
    ncols = len(ws.warehouse.columns_of("baseline")) - 1
    again, _ = timed(ws.build, full=True)
    best = min(result.seconds, again.seconds)
    compute = min(
        result.timings["compute"] + result.timings.get("events", 0),
        again.timings["compute"] + again.timings.get("events", 0),
    )
    print(
        f"full build, {result.tags} tags, {result.persons:,} persons: {best:.1f} s wall "
        f"({events / best / 1e6:.2f} M events/s; compile {again.timings['compile']:.1f} s, "
        f"query {compute:.1f} s (staging the events {again.timings.get('events', 0):.1f} s), "
        f"save+stats {again.timings['save']:.1f} s, segment index and "
        f"memberships {again.timings.get('segments', 0):.1f} s)  [best of 2]"
    )
    # the issue's reference: the 90 fact tags' values by a hand-written pass, best of 2 like
    # the build, then checked against the build's snapshot (same as-of)
    as_of_epoch, timezone, snapshot = profile_baseline.latest_build(ws.warehouse)
    facts_s = min(
        profile_baseline.run_baseline(ws.warehouse, as_of_epoch, timezone, cipher=ws.pii)
        for _ in range(2)
    )
    nfacts = len(ws.warehouse.columns_of("baseline_profile")) - 1
    query = compute  # staging the events + the fact and rule queries, best of 2
    print(
        f"baseline: hand-written DuckDB pass, the {nfacts} fact tags' values "
        f"(bench/profile_baseline.py): {facts_s:.1f} s  [best of 2]"
    )
    print(
        f"ratio build / baseline: {best / facts_s:.2f}x whole build ({best:.1f} s, "
        f"{result.tags} tags), {query / facts_s:.2f}x its query stage ({query:.1f} s: staging "
        f"the events, fact and rule queries)"
    )
    opened = profile_baseline.opened_snapshot(ws.warehouse, snapshot, ws.profiles.catalog, ws.pii)
    parity = profile_baseline.compare_with_snapshot(ws.warehouse, opened)
    wrong = {c: n for c, n in parity.mismatches.items() if n}
    print(
        f"  parity with the build: {len(parity.matching)}/{len(profile_baseline.FACT_TYPES)} "
        f"fact columns equal for every person ({parity.persons[1]:,} in the build, "
        f"{parity.persons[0]:,} in the baseline, {parity.missing} in one only)"
        + (f"; persons differing, by column: {wrong}" if wrong else "")
    )
    ws.warehouse.execute("DROP TABLE IF EXISTS baseline_profile")
    print(f"older baseline: hand-written DuckDB query, {ncols} columns: {base_s:.1f} s")
    print(
        f"ratio build / older baseline: {best / base_s:.2f}x for "
        f"{result.tags / ncols:.1f}x the columns"
    )
    t = ws.build(as_of=as_of)
    print(f"rebuild with nothing new: {t.seconds:.1f} s ({t.mode}, {t.recomputed} recomputed)")
    # the incremental path proper: 1% of the persons come back on the build date's eve
    rows = ws.warehouse.fetchall(
        f"SELECT person_id FROM {result.snapshot} USING SAMPLE 1 PERCENT (reservoir, 42)"
    )
    (cut,) = ws.warehouse.fetchone(
        "SELECT as_of_epoch FROM tag_builds WHERE build_id = ?", [result.build_id]
    )
    eve = datetime.fromtimestamp(cut, UTC) - timedelta(hours=2)  # before the build's cut-off
    ws.ingest_records(
        [{"event_id": f"bench-back-{i}", "user_id": r[0], "ts": eve.isoformat(),
          "type": "page_view"} for i, r in enumerate(rows)],
        "events",
    )  # fmt: skip
    t = ws.build(as_of=as_of)
    print(
        f"rebuild after {len(rows):,} persons came back (1%): {t.seconds:.1f} s ({t.mode}, "
        f"{t.recomputed:,} recomputed; changes {t.timings.get('changes', 0):.1f} s, query "
        f"{t.timings.get('events', 0) + t.timings.get('compute', 0):.1f} s, segment index "
        f"{t.timings.get('segments', 0):.1f} s) vs the full build's {best:.1f} s"
    )
    return ws


def spark_ratio(tmp: Path, users: int) -> None:
    if shutil.which("java") is None:
        print("pyspark: skipped (no java on PATH)")
        return
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("pyspark: skipped (pyspark not installed: pip install '.[spark]')")
        return
    ws = Workspace.init(tmp / "spark")
    ws.simulate(users=users, days=90, seed=42)
    events = ws.warehouse.fetchone("SELECT count(*) FROM events")[0]
    duck = ws.build(full=True)
    spark = ws.build(full=True, backend="pyspark")
    print(
        f"same shop ({users:,} users, {events:,} events): duckdb {duck.seconds:.1f} s, "
        f"pyspark {spark.seconds:.1f} s (export {spark.timings.get('export', 0):.1f} s, "
        f"spark compute {spark.timings.get('compute', 0):.1f} s): "
        f"ratio {spark.seconds / duck.seconds:.1f}x"
    )
    ws.close()


def lookups(ws: Workspace, tmp: Path) -> None:
    persons = [r[0] for r in ws.warehouse.fetchall("SELECT person_id FROM profile")]
    sample = random.Random(7).sample(persons, min(300, len(persons)))
    ws.profile(sample[0])
    inproc = [timed(ws.profile, p)[1] * 1000 for p in sample]
    print(
        f"profile lookup in-process: median {statistics.median(inproc):.1f} ms, "
        f"p99 {pct(inproc, 0.99):.1f} ms ({len(sample)} persons)"
    )
    key = ws.create_key("admin", "bench").token
    root = ws.root
    ws.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "portrait.cli", "serve", "-w", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as c:
            for _ in range(120):
                try:
                    if c.get("/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            c.get(f"/v1/users/{sample[0]}/profile").raise_for_status()
            rest = []
            for p in sample:
                t0 = time.perf_counter()
                c.get(f"/v1/users/{p}/profile").raise_for_status()
                rest.append((time.perf_counter() - t0) * 1000)
        print(
            f"profile lookup over REST: median {statistics.median(rest):.1f} ms, "
            f"p99 {pct(rest, 0.99):.1f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(30)


def real_data(tmp: Path) -> None:
    for name in ("online-retail-ii", "ta-feng"):
        ws = Workspace.init(tmp / name)
        try:
            ws.load_dataset(name)
        except Exception as e:  # data set absent: say so and go on
            print(f"{name}: skipped ({str(e).splitlines()[0]})")
            ws.close()
            continue
        events = ws.warehouse.fetchone("SELECT count(*) FROM events")[0]
        r = ws.build(full=True)
        print(f"{name}: {events:,} events, {r.persons:,} persons, build {r.seconds:.1f} s")
        by_group: dict[str, list[float]] = {}
        for t in ws.tags():
            by_group.setdefault(t.group, []).append(t.coverage or 0.0)
        print("  coverage by group (mean over its tags; tags with any value / all):")
        for g, covs in by_group.items():
            filled = sum(c > 0 for c in covs)
            print(f"  {g:13s} {statistics.mean(covs):6.1%}   {filled}/{len(covs)} tags")
        ws.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=90_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument(
        "--wide-users",
        type=int,
        default=1_000_000,
        help="also time a shop of this many users over --wide-days (about 10 events each, the "
        "issue's '10M events, about 1M users' shape); 0 skips it",
    )
    ap.add_argument("--wide-days", type=int, default=2)
    ap.add_argument("--spark-users", type=int, default=5_000)
    ap.add_argument("--skip-real", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="portrait-bench-") as d:
        tmp = Path(d)
        if args.wide_users:
            wide = build_speed(tmp, args.wide_users, args.wide_days, name="wide")
            wide.close()
            shutil.rmtree(tmp / "wide")
        ws = build_speed(tmp, args.users, args.days)
        lookups(ws, tmp)
        spark_ratio(tmp, args.spark_users)
        if not args.skip_real:
            real_data(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
