"""Fit every generator on the training part of a data set and score it on the test window."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portrait.recs.base import Recommender
from portrait.recs.blend import Blend
from portrait.recs.evaluation.data import load_lines
from portrait.recs.evaluation.metrics import Estimate, evaluate_lists, paired_difference, per_user
from portrait.recs.evaluation.protocol import EvalSet, build_eval_set, temporal_split
from portrait.recs.evaluation.tuning import tune_blend
from portrait.recs.ranker import HybridRanker
from portrait.recs.registry import GENERATORS, make

K = 20
# The cut-offs the protocol gives on the published files (the day after the last date - 28).
EXPECTED_CUTOFF = {"online-retail-ii": date(2010, 11, 12), "ta-feng": date(2001, 2, 1)}
# NDCG@10 measured by the authors under this protocol (issue 5).
PUBLISHED_NDCG10 = {
    "online-retail-ii": {
        "popularity-30d": 0.143,
        "repeat": 0.338,
        "item-knn": 0.183,
        "als": 0.313,
        "blend": 0.394,
    },
    # The issue says "popularity" here; all-time popularity is the one that gives 0.076.
    "ta-feng": {
        "popularity": 0.076,
        "repeat": 0.124,
        "item-knn": 0.060,
        "als": 0.111,
        "blend": 0.140,
    },
}

Progress = Callable[[str], None]
# Paired differences reported when both models run: (model, baseline).
PAIRS = (("hybrid", "blend"),)


@dataclass
class GeneratorResult:
    """One generator alone: its metrics with intervals and how long it took."""

    name: str
    params: dict[str, Any]
    fit_seconds: float
    recommend_seconds: float
    metrics: dict[str, Estimate]
    # The blend only: seconds spent tuning and its validation NDCG@10.
    tuning: dict[str, Any] | None = None
    # Per-user NDCG@10 of the test users (for paired differences; not written out).
    ndcg10_per_user: Any = field(default=None, repr=False)
    # The hybrid only: what its ranker was trained on (windows, users, rows, trees).
    training: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "params": self.params,
            "fit_seconds": round(self.fit_seconds, 3),
            "recommend_seconds": round(self.recommend_seconds, 3),
            "metrics": {k: v.as_dict() for k, v in self.metrics.items()},
        }
        if self.tuning is not None:
            out["tuning"] = self.tuning
        if self.training is not None:
            out["training"] = self.training
        return out


@dataclass
class Evaluation:
    """The protocol's numbers on one data set, one row per generator."""

    dataset: str
    cutoff: date
    end: date
    train_lines: int
    train_users: int
    catalogue: int
    test_users: int
    resamples: int
    results: list[GeneratorResult] = field(default_factory=list)
    # "hybrid-blend": NDCG@10 of hybrid minus blend with its paired bootstrap interval.
    differences: dict[str, Estimate] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "cutoff": self.cutoff.isoformat(),
            "end": self.end.isoformat(),
            "train_lines": self.train_lines,
            "train_users": self.train_users,
            "catalogue": self.catalogue,
            "test_users": self.test_users,
            "bootstrap_resamples": self.resamples,
            "published_ndcg@10": PUBLISHED_NDCG10.get(self.dataset, {}),
            "results": [r.as_dict() for r in self.results],
            "ndcg@10_differences": {k: v.as_dict() for k, v in self.differences.items()},
        }


def prepare(dataset: str, path: Path | None = None) -> EvalSet:
    """Load, clean and split ``dataset``; the evaluation set of its test window."""
    lines = load_lines(dataset, path)
    return build_eval_set(temporal_split(lines))


def evaluate_generator(
    name: str, data: EvalSet, resamples: int = 1000, seed: int = 0
) -> GeneratorResult:
    """Fit generator ``name`` on the training lines and score its top 20 on the test users.

    The blend's weights are first tuned on the validation window (never the test window).
    """
    tuning = training = None
    if name == "blend":
        t0 = time.perf_counter()
        tuned = tune_blend(data.split, seed=seed)
        model: Recommender = Blend(**tuned.best)
        tuning = {
            "seconds": round(time.perf_counter() - t0, 3),
            "validation_ndcg@10": round(tuned.best_ndcg10, 4),
            "validation_users": tuned.validation_users,
            "grid_points": len(tuned.grid),
        }
    else:
        model = make(name)
    if isinstance(model, HybridRanker):
        model.with_item_attributes(*item_attributes(data))
    model.fit(data.train)
    if isinstance(model, HybridRanker):
        training = {"seconds": round(model.fit_seconds, 3), **model.training}
    t0 = time.perf_counter()
    rec = model.recommend(data.test_users, k=K)
    recommend_seconds = time.perf_counter() - t0
    metrics = evaluate_lists(
        rec.ids, data.truth, data.truth_sizes, len(data.items), resamples=resamples, seed=seed
    )
    ndcg = per_user(rec.ids, data.truth, data.truth_sizes)["ndcg@10"]
    return GeneratorResult(
        name, model.params(), model.fit_seconds, recommend_seconds, metrics, tuning, ndcg, training
    )


def item_attributes(data: EvalSet) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per training item: a group id (from the lines' ``group``) and its median unit price
    (``price``), each None where the lines lack the column."""
    lines = data.split.train
    items = data.items.to_index(lines["item"])
    groups = prices = None
    if "group" in lines.columns:
        codes, _ = pd.factorize(lines["group"].fillna(""))
        groups = np.zeros(len(data.items), dtype=np.int64)
        groups[items] = codes  # an item keeps one group (its last line's)
    if "price" in lines.columns:
        frame = pd.DataFrame({"item": items, "price": lines["price"].to_numpy()})
        median = frame.groupby("item")["price"].median()
        prices = np.full(len(data.items), np.nan)
        prices[median.index.to_numpy()] = median.to_numpy()
    return groups, prices


def paired_differences(
    report: Evaluation, resamples: int = 1000, seed: int = 0
) -> dict[str, Estimate]:
    """NDCG@10 of each pair in ``PAIRS`` that ran: model minus baseline, paired bootstrap."""
    by_name = {r.name: r for r in report.results}
    out = {}
    for model, baseline in PAIRS:
        if model in by_name and baseline in by_name:
            out[f"{model}-{baseline}"] = paired_difference(
                by_name[model].ndcg10_per_user,
                by_name[baseline].ndcg10_per_user,
                resamples=resamples,
                seed=seed,
            )
    return out


def evaluate(
    dataset: str,
    path: Path | None = None,
    models: list[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
) -> Evaluation:
    """Run the protocol on ``dataset`` for every generator in ``models`` (default: all)."""
    say = progress or (lambda _msg: None)
    names = models or list(GENERATORS)
    for n in names:
        make(n)  # unknown names fail before the data is read
    say(f"reading {dataset}")
    data = prepare(dataset, path)
    report = Evaluation(
        dataset=dataset,
        cutoff=data.split.cutoff,
        end=data.split.end,
        train_lines=len(data.split.train),
        train_users=len(data.users),
        catalogue=len(data.items),
        test_users=len(data.test_users),
        resamples=resamples,
    )
    for n in names:
        say(f"{dataset}: {n}")
        report.results.append(evaluate_generator(n, data, resamples=resamples, seed=seed))
    report.differences = paired_differences(report, resamples=resamples, seed=seed)
    return report
