"""Uplift models on Hillstrom beside the published reference and random targeting, same run.

    .venv/bin/python bench/bench_uplift.py [--arms womens mens] [--target visit]
                                           [--resamples 1000] [--unstratified] [--tune]
                                           [--json FILE]

The protocol of docs/experiments.md ("Uplift"): one e-mail arm against No E-Mail, a 50/50 split
stratified by treatment and target (seed 42), every model (class transformation, two-model,
X-learner; LightGBM and logistic regression) fitted on the first half and scored on the second.
Printed per model: uplift@30% with its 95% bootstrap interval beside the published
class-transformation reference (0.0661, Womens/visit only), the difference, Qini AUC and uplift
AUC (normalised by the perfect curve, as scikit-uplift does) and fit seconds; then the
random-targeting baseline from the same run and the ATE. ``--unstratified`` adds the split of
scikit-uplift's published notebook (train_test_split without stratify, same seed) to show how
much the split alone moves the figures. ``--tune`` reprints the 4-fold cross-validation on the
training half that chose the LightGBM settings. Skips with the reason when the file is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from portrait.datasets.base import DatasetMissingError
from portrait.experiments.uplift_benchmark import (
    LGBM_CANDIDATES,
    cross_validate_lgbm,
    run_uplift_benchmark,
)


def show(report: dict[str, Any], label: str) -> None:
    ref = report["reference"]["uplift_at_30"]
    ate_all, ate_ref = report["ate_all"], report["reference"]["ate"]
    print(
        f"\nhillstrom {report['arm']} e-mail vs no e-mail, target {report['target']} ({label}): "
        f"{report['train_rows']:,} train / {report['test_rows']:,} test rows; ATE "
        f"{ate_all['value'] * 100:+.2f} pp [{ate_all['low'] * 100:+.2f}, "
        f"{ate_all['high'] * 100:+.2f}]"
        + (f" (published {ate_ref * 100:+.2f} pp)" if ate_ref is not None else "")
        + f"; {report['seconds']:.1f} s"
    )
    print(
        f"  {'model':<32}{'uplift@30% [95% CI]':<26}{'reference':>10}{'diff':>9}"
        f"{'Qini AUC':>10}{'uplift AUC':>12}{'fit s':>7}"
    )
    rows = [*report["models"], report["random"]]
    for m in rows:
        u = m["uplift_at_30"]
        name = "random targeting (baseline)" if m["name"] == "random" else m["name"]
        ci = f"{u['value']:.4f} [{u['low']:.4f}, {u['high']:.4f}]"
        print(
            f"  {name:<32}{ci:<26}"
            + (f"{ref:>10.4f}{u['value'] - ref:>+9.4f}" if ref is not None else f"{'':>19}")
            + f"{m['qini_auc']:>10.4f}{m['uplift_auc']:>12.4f}"
            + (f"{m['fit_seconds']:>7.2f}" if m["name"] != "random" else "")
        )
    if ref is not None:
        best = max(report["models"], key=lambda m: m["uplift_at_30"]["value"])
        u = best["uplift_at_30"]
        where = (
            "above the reference beyond the 95% interval"
            if u["low"] > ref
            else "within the noise of the reference (it lies inside the 95% interval)"
            if u["high"] >= ref
            else "below the reference beyond the interval"
        )
        print(f"  best: {best['name']} {u['value']:.4f}, {where}")


def show_tuning(cv: dict[str, dict[str, dict[str, float]]]) -> None:
    print("\nLightGBM settings, 4-fold CV on the training half only (uplift@30% / Qini AUC):")
    methods = list(next(iter(cv.values())))
    print(f"  {'candidate':<32}" + "".join(f"{m:>26}" for m in methods) + f"{'mean Qini':>11}")
    for name, per in cv.items():
        cells = "".join(
            f"{per[m]['uplift_at_30']:>17.4f} / {per[m]['qini_auc']:.4f}" for m in methods
        )
        mean_q = sum(v["qini_auc"] for v in per.values()) / len(per)
        print(f"  {name:<32}{cells}{mean_q:>11.4f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arms", nargs="+", default=["womens", "mens"], choices=["womens", "mens"])
    ap.add_argument("--target", default="visit", choices=["visit", "conversion"])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--unstratified", action="store_true", help="also the unstratified split")
    ap.add_argument("--tune", action="store_true", help="reprint the LightGBM CV on train")
    ap.add_argument("--json", type=Path, help="write every report to this file")
    args = ap.parse_args()
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        for arm in args.arms:
            splits = [True, False] if args.unstratified and arm == "womens" else [True]
            for stratify in splits:
                report = run_uplift_benchmark(
                    arm=arm, target=args.target, resamples=args.resamples, stratify=stratify
                ).as_dict()
                show(report, "stratified split" if stratify else "unstratified split")
                results.append(report)
        if args.tune:
            cv = cross_validate_lgbm(target=args.target)
            show_tuning(cv)
            results.append({"lgbm_cv": cv, "candidates": LGBM_CANDIDATES})
    except DatasetMissingError as e:
        print(f"hillstrom: skipped: {e}")
        return 0
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
