"""Model training times and holdout quality, beside the baselines, on real data and the simulator.

    .venv/bin/python bench/bench_models.py [--datasets online-retail-ii ta-feng simulated]
                                           [--users 5000] [--json FILE]

For each data set (a fresh workspace in a temporary folder): load it (Online Retail II and
Ta-Feng from ../shared/data or $PORTRAIT_DATA, skipped with the reason when absent; the
simulated shop is the demo's, 5,000 users over 90 days, seed 42), build the profiles, then
train every model of ``TRAINERS`` with its default options (a model whose trainer cannot be
imported, or whose data do not fit, is reported with the reason). Printed per model: training
seconds and the headline metric beside its baseline; for churn also log loss and Brier score,
and on the simulator the AUC against the users' latent churn.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from portrait.datasets.base import DatasetMissingError
from portrait.models.registry import TRAINERS
from portrait.models.service import key_metric
from portrait.workspace import Workspace

DATASETS = ("online-retail-ii", "ta-feng", "simulated")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def trainer_problem(name: str) -> str | None:
    """Why a model's trainer cannot be loaded (None when it can)."""
    try:
        importlib.import_module(TRAINERS[name])
    except ImportError as e:
        return f"trainer {TRAINERS[name]} cannot be imported: {e}"
    return None


def run_dataset(name: str, root: Path, users: int) -> dict[str, Any]:
    out: dict[str, Any] = {"dataset": name}
    with Workspace.init(root / name) as ws:
        tick = time.perf_counter()
        try:
            if name == "simulated":
                ws.simulate(users=users, days=90, seed=42)
            else:
                ws.load_dataset(name)
        except DatasetMissingError as e:
            return {"dataset": name, "skipped": str(e)}
        out["load_seconds"] = round(time.perf_counter() - tick, 1)
        summary = ws.summary()
        out["events"], out["users"] = summary.events, summary.users
        build = ws.build()
        out["build_seconds"] = build.seconds
        out["persons"] = build.persons
        out["models"] = {}
        for model in TRAINERS:
            problem = trainer_problem(model)
            if problem:
                out["models"][model] = {"skipped": problem}
                continue
            tick = time.perf_counter()
            try:
                card = ws.models.train(model)
            except (ValueError, LookupError) as e:
                out["models"][model] = {"skipped": f"not trained: {e}"}
                continue
            row: dict[str, Any] = {
                "seconds": round(time.perf_counter() - tick, 1),
                "key_metric": key.model_dump() if (key := key_metric(card)) else None,
                "tags_written": card.tags_written,
            }
            if model in ("churn", "propensity"):
                row["holdout"] = {
                    side: {
                        k: card.metrics["holdout"][side][k] for k in ("auc", "log_loss", "brier")
                    }
                    for side in ("model", "baseline")
                }
                row["window"] = card.data_window["holdout_labels"]
                row["horizon_days"] = card.data_window["horizon_days"]
            if model == "churn" and "truth" in card.metrics:
                row["truth"] = card.metrics["truth"].get("auc_vs_latent_churn")
            if model == "propensity":
                row["categories"] = len(card.metrics["categories"])
                row["categories_beating_baseline"] = card.metrics["categories_beating_baseline"]
                row["mean_category_auc"] = card.metrics.get("mean_category_auc")
            out["models"][model] = row
    return out


def report(result: dict[str, Any]) -> None:
    name = result["dataset"]
    if "skipped" in result:
        print(f"\n{name}: skipped: {result['skipped']}")
        return
    print(
        f"\n{name}: {result['events']:,} events, {result['users']:,} users; load "
        f"{result['load_seconds']} s, build {result['build_seconds']:.1f} s "
        f"({result['persons']:,} persons)"
    )
    print(f"  {'model':<14}{'train s':>9}  headline metric (model vs baseline)")
    for model, row in result["models"].items():
        if "skipped" in row:
            print(f"  {model:<14}{'-':>9}  skipped: {row['skipped']}")
            continue
        key = row["key_metric"] or {}
        base = f" vs baseline {fmt(key['baseline'])}" if key.get("baseline") is not None else ""
        headline = f"{key.get('name', '')} {fmt(key.get('model'))}{base}"
        print(f"  {model:<14}{row['seconds']:>9.1f}  {headline}")
        if "holdout" in row:
            m, b = row["holdout"]["model"], row["holdout"]["baseline"]
            print(
                f"  {'':<14}{'':>9}  horizon {row['horizon_days']} d, held-out labels "
                f"{row['window'][0]} .. {row['window'][1]}: AUC {m['auc']:.4f} vs {b['auc']:.4f}, "
                f"log loss {m['log_loss']:.4f} vs {b['log_loss']:.4f}, "
                f"Brier {m['brier']:.4f} vs {b['brier']:.4f}"
            )
        if row.get("truth"):
            t = row["truth"]
            print(
                f"  {'':<14}{'':>9}  AUC against the latent churn (simulator truth): "
                f"{t['model']:.4f} vs {t['baseline']:.4f}"
            )
        if "categories" in row:
            mean = row["mean_category_auc"]
            mean_text = (
                f", mean AUC {fmt(mean['model'])} vs {fmt(mean['baseline'])}" if mean else ""
            )
            print(
                f"  {'':<14}{'':>9}  {row['categories']} categories modelled, "
                f"{row['categories_beating_baseline']} beat their baseline{mean_text}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--users", type=int, default=5000, help="users of the simulated shop")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    print(f"bench_models: {os.cpu_count()} cores; models: {', '.join(TRAINERS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="portrait-bench-models-") as tmp:
        for name in args.datasets:
            result = run_dataset(name, Path(tmp), args.users)
            report(result)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
