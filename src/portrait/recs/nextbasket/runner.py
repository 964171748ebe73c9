"""Run the next-basket protocol on Ta-Feng: prepare, split, tune on validation, score on test."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from portrait.recs.evaluation.data import load_lines
from portrait.recs.nextbasket.metrics import per_user
from portrait.recs.nextbasket.models import (
    TIFUKNN,
    PersonalTopFreq,
    TIFUPopular,
    recommend,
)
from portrait.recs.nextbasket.protocol import build_next_basket, split_users
from portrait.recs.nextbasket.tuning import tune_popular, tune_tifu

DATASETS = ("ta-feng",)
METRICS = ("recall@10", "ndcg@10")
# Recall@10 and NDCG@10 under this protocol on Ta-Feng (Li et al., TOIS 2023; issue 5).
REFERENCE = {"p-topfreq": (0.108, 0.096), "tifu-knn": (0.128, 0.103)}

Progress = Callable[[str], None]


@dataclass
class ModelResult:
    """One model on the test users: figures, parameters, seconds to fit and score, tuning."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    tuning: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "metrics": {k: round(v, 4) for k, v in self.metrics.items()},
            "reference": dict(zip(METRICS, REFERENCE.get(self.name, ()), strict=False)),
            "seconds": round(self.seconds, 2),
            **({"tuning": self.tuning} if self.tuning else {}),
        }


@dataclass
class NextBasketReport:
    """The protocol's figures on one data set; ``difference`` is ours - TIFU-KNN on the test
    users with a 95% paired user-bootstrap interval."""

    dataset: str
    summary: dict[str, int]
    split: dict[str, int]
    results: list[ModelResult] = field(default_factory=list)
    difference: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "data": self.summary,
            "split": self.split,
            "results": [r.as_dict() for r in self.results],
            "ours_minus_tifu_knn": self.difference,
            "seconds": round(self.seconds, 1),
        }


def paired_difference(
    a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean of ``a - b`` (per-user figures of two models) with a 95% percentile interval over
    users resampled with replacement."""
    diff = a - b
    rng = np.random.default_rng(seed)
    means = np.array([diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(resamples)])
    low, high = np.quantile(means, [0.025, 0.975])
    return {"value": float(diff.mean()), "low": float(low), "high": float(high)}


def run_next_basket(
    dataset: str = "ta-feng",
    path: Path | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> NextBasketReport:
    """The whole protocol: P-TopFreq, TIFU-KNN and ours (both tuned on validation users)."""
    if dataset not in DATASETS:
        raise ValueError(f"the next-basket protocol runs on {', '.join(DATASETS)}, not {dataset!r}")
    say = progress or (lambda _msg: None)
    t_all = time.perf_counter()
    say(f"reading {dataset}")
    data = build_next_basket(load_lines(dataset, path))
    train, validation, test = split_users(data.n_users, seed)
    report = NextBasketReport(
        dataset,
        data.summary(),
        {"train": len(train), "validation": len(validation), "test": len(test), "seed": seed},
    )
    per: dict[str, dict[str, np.ndarray]] = {}

    def score(name: str, model: Any, tuning: dict[str, Any] | None, t0: float) -> None:
        model.fit(data)
        figures = per_user(recommend(model, test), data.target[test])
        per[name] = figures
        report.results.append(
            ModelResult(
                name,
                model.params(),
                {m: float(v.mean()) for m, v in figures.items()},
                time.perf_counter() - t0,
                tuning,
            )
        )

    say("p-topfreq")
    score("p-topfreq", PersonalTopFreq(), None, time.perf_counter())
    say("tifu-knn: tuning on the validation users")
    t0 = time.perf_counter()
    tifu = tune_tifu(data, validation)
    tuning = _tuning(tifu.validation, tifu.grid_points, t0)
    score("tifu-knn", TIFUKNN(**tifu.best), tuning, t0)
    say("ours: tuning on the validation users")
    t0 = time.perf_counter()
    ours = tune_popular(data, validation, tifu.best)
    score("ours", TIFUPopular(**ours.best), _tuning(ours.validation, ours.grid_points, t0), t0)
    report.difference = {
        m: paired_difference(per["ours"][m], per["tifu-knn"][m], seed=seed) for m in METRICS
    }
    report.seconds = time.perf_counter() - t_all
    return report


def _tuning(validation: dict[str, float], points: int, t0: float) -> dict[str, Any]:
    return {
        "validation": {k: round(v, 4) for k, v in validation.items()},
        "grid_points": points,
        "seconds": round(time.perf_counter() - t0, 1),
    }
