"""Recommendation generators on real data: training time and NDCG@10 beside issue 5's baselines.

    .venv/bin/python bench/bench_recs.py [--datasets online-retail-ii ta-feng]
                                         [--models a,b] [--resamples 1000] [--json FILE]

For each data set (from ../shared/data or $PORTRAIT_DATA; skipped with the reason when absent)
the evaluation protocol of issue 5 runs every generator alone: train before the cut-off, top 20
for the users who buy in the last 28 days. Printed per generator: training seconds, seconds to
recommend for all test users, NDCG@10 with its 95% user-bootstrap interval beside the published
baseline, and Recall@20. "repeat" stands beside the published personal top-frequency,
"blend" (weights tuned on the validation window first, that time printed apart) beside the
tuned blend; "hybrid" (the LightGBM ranker, trained inside its fit on windows before the
cut-off) with its training summary and the paired bootstrap interval of hybrid - blend; the
published popularity beside "popularity-30d" on Online Retail II (the issue
says 30 days) and beside all-time "popularity" on Ta-Feng (the issue does not say; that one
gives its figure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from portrait.datasets.base import DatasetMissingError
from portrait.recs.evaluation.runner import PUBLISHED_NDCG10, evaluate
from portrait.recs.registry import parse_names

DATASETS = ("online-retail-ii", "ta-feng", "simulated")


def run(dataset: str, models: list[str], resamples: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        report = evaluate(dataset, models=models, resamples=resamples)
    except DatasetMissingError as e:
        return {"dataset": dataset, "skipped": str(e)}
    out = report.as_dict()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def show(result: dict[str, Any]) -> None:
    name = result["dataset"]
    if "skipped" in result:
        print(f"\n{name}: skipped: {result['skipped']}")
        return
    print(
        f"\n{name}: train before {result['cutoff']}, test window to {result['end']} (exclusive); "
        f"{result['train_lines']:,} train lines, {result['train_users']:,} users, "
        f"{result['catalogue']:,} items; {result['test_users']:,} test users; "
        f"{result['seconds']} s in all"
    )
    print(
        f"  {'generator':<16}{'train s':>8}{'rec s':>7}  {'NDCG@10 [95% CI]':<24}"
        f"{'published':>9}{'diff':>8}{'Recall@20':>11}"
    )
    for g in result["results"]:
        nd = g["metrics"]["ndcg@10"]
        pub = PUBLISHED_NDCG10.get(name, {}).get(g["name"])
        ci = f"{nd['value']:.3f} [{nd['low']:.3f}, {nd['high']:.3f}]"
        diff = "" if pub is None else f"{nd['value'] - pub:+.3f}"
        print(
            f"  {g['name']:<16}{g['fit_seconds']:>8.2f}{g['recommend_seconds']:>7.2f}  {ci:<24}"
            f"{'' if pub is None else f'{pub:.3f}':>9}{diff:>8}"
            f"{g['metrics']['recall@20']['value']:>11.3f}"
        )
    for g in result["results"]:
        if "training" in g:
            t = g["training"]
            print(
                f"  hybrid: fitted in {t['seconds']:.1f} s (generators and LightGBM lambdarank) on "
                f"{t.get('windows', 0)} window(s) before the cut-off: {t.get('users', 0):,} users, "
                f"{t.get('rows', 0):,} candidate rows, {t.get('positives', 0):,} positives, "
                f"{t.get('best_iteration', 0)} trees (early-stopping NDCG@10 "
                f"{t.get('stop_ndcg@10', float('nan')):.3f})"
            )
        elif "tuning" in g:
            print(
                f"  {g['name']}: weights tuned on the validation window in "
                f"{g['tuning']['seconds']:.1f} s (validation NDCG@10 "
                f"{g['tuning']['validation_ndcg@10']:.3f}): {g['params']}"
            )
    for pair, d in result.get("ndcg@10_differences", {}).items():
        print(
            f"  {pair} NDCG@10: {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] "
            "(paired bootstrap: the same resampled users for both)"
        )
    blend = PUBLISHED_NDCG10.get(name, {}).get("blend")
    if blend is not None and not any(g["name"] == "blend" for g in result["results"]):
        print(f"  {'(tuned blend)':<16}{'':>8}{'':>7}  {'not run':<24}{blend:>9.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    ap.add_argument("--models", default=None, help="comma-separated generators (default: all)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument(
        "--no-next-basket", action="store_true", help="skip the next-basket protocol on Ta-Feng"
    )
    args = ap.parse_args(argv)
    models = parse_names(args.models)
    print(f"bench_recs: {os.cpu_count()} cores; generators: {', '.join(models)}")
    results = []
    for name in args.datasets:
        result = run(name, models, args.resamples)
        show(result)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if not args.no_next_basket:
        next_basket()
    return 0


def next_basket() -> None:
    """Issue 5's next-basket protocol on Ta-Feng (Li et al., TOIS 2023): ours beside TIFU-KNN."""
    from portrait.recs.nextbasket.runner import REFERENCE, run_next_basket

    try:
        report = run_next_basket("ta-feng")
    except DatasetMissingError as e:
        print(f"\nta-feng next basket: skipped: {e}")
        return
    print(f"\nta-feng next basket: {report.summary}, split {report.split}, {report.seconds:.0f} s")
    print(f"  {'model':<11}{'Recall@10':>10}{'NDCG@10':>9}{'ref R@10':>10}{'ref N@10':>10}")
    for r in report.results:
        ref = [f"{v:.3f}" for v in REFERENCE.get(r.name, ())] or ["", ""]
        m = r.metrics
        print(f"  {r.name:<11}{m['recall@10']:>10.3f}{m['ndcg@10']:>9.3f}{ref[0]:>10}{ref[1]:>10}")
    for name, d in report.difference.items():
        print(f"  ours - tifu-knn {name}: {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]")


if __name__ == "__main__":
    sys.exit(main())
