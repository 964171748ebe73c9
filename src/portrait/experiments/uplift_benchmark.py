"""The Hillstrom uplift protocol: every uplift model on one split, with the published reference.

Protocol (docs/experiments.md, "Uplift"): one e-mail arm (Womens by default) against the
no-e-mail controls, the other arm dropped; target ``visit``; features from
``portrait.datasets.hillstrom.features``; a 50/50 split stratified by treatment and target with
``train_test_split(..., test_size=0.5, random_state=42, stratify=...)``; models fitted on the
first half and scored on the second: uplift@30% (with a bootstrap interval), Qini AUC and uplift
AUC (both normalised by the perfect curve, as scikit-uplift does), beside a random-targeting
baseline measured in the same run and the average treatment effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from portrait.datasets.hillstrom import ARMS, TARGETS, load_hillstrom, uplift_problem
from portrait.experiments.uplift import LEARNERS, METHODS, fit_uplift
from portrait.experiments.uplift_metrics import (
    Estimate,
    ate,
    bootstrap_uplift_at_k,
    qini_auc,
    uplift_at_k,
    uplift_auc,
)

DATASETS = ("hillstrom",)
K = 0.3
#: scikit-uplift's published pipeline example: class transformation, Womens E-Mail vs No E-Mail,
#: target visit, 50/50 split with seed 42 (../shared/data/README.md).
REFERENCE_UPLIFT_AT_30 = 0.0661
#: Average treatment effect on visit over all rows of the arm and the controls (the same README).
REFERENCE_ATE_VISIT = {"womens": 0.0452, "mens": 0.0766}
RANDOM = "random"

#: LightGBM settings of the protocol, chosen by 4-fold cross-validation on the TRAINING half only
#: (``cross_validate_lgbm``; `bench/bench_uplift.py --tune` reprints the comparison): boosted
#: stumps (an additive model) had the best mean Qini AUC over the three methods, ahead of depth-2
#: and deeper trees. The test half plays no part in the choice.
HILLSTROM_LGBM: dict[str, Any] = {
    "num_leaves": 2,
    "max_depth": 1,
    "n_estimators": 100,
    "learning_rate": 0.1,
    "min_child_samples": 50,
}
#: The candidates that cross-validation compared (name -> LightGBM parameters).
LGBM_CANDIDATES: dict[str, dict[str, Any]] = {
    "stumps, 100 x 0.1": HILLSTROM_LGBM,
    "stumps, 300 x 0.05": {**HILLSTROM_LGBM, "n_estimators": 300, "learning_rate": 0.05},
    "depth 2, 100 x 0.05 (default)": {},
    "depth 3, 100 x 0.05": {"num_leaves": 8, "max_depth": 3, "min_child_samples": 100},
    "15 leaves, 200 x 0.03": {
        "num_leaves": 15,
        "max_depth": -1,
        "n_estimators": 200,
        "learning_rate": 0.03,
        "min_child_samples": 100,
    },
}


def model_name(method: str, learner: str) -> str:
    """``class_transformation`` + ``lightgbm`` -> ``class-transformation/lightgbm``."""
    return f"{method.replace('_', '-')}/{learner}"


ALL_MODELS: tuple[str, ...] = tuple(model_name(m, lr) for m in METHODS for lr in LEARNERS)


def parse_models(spec: str | None) -> list[tuple[str, str]]:
    """``"two-model,x-learner/logistic"`` -> [(method, learner), ...]; a bare method means both
    learners; None or "all" means every model. Raises ValueError naming the valid names."""
    if spec is None or spec.strip().lower() in ("", "all"):
        return [(m, lr) for m in METHODS for lr in LEARNERS]
    out: list[tuple[str, str]] = []
    for part in spec.split(","):
        part = part.strip().lower().replace("-", "_")
        if not part:
            continue
        method, _, learner = part.partition("/")
        if method not in METHODS or (learner and learner not in LEARNERS):
            raise ValueError(
                f"unknown uplift model {part.replace('_', '-')!r}; valid: "
                f"{', '.join(m.replace('_', '-') for m in METHODS)}, each optionally with "
                f"/{' or /'.join(LEARNERS)} (e.g. two-model/lightgbm)"
            )
        for lr in [learner] if learner else LEARNERS:
            if (method, lr) not in out:
                out.append((method, lr))
    if not out:
        raise ValueError("no uplift model named")
    return out


@dataclass
class ModelResult:
    """One model's scores on the test half."""

    name: str
    uplift_at_30: Estimate
    qini_auc: float
    uplift_auc: float
    fit_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON."""
        return {
            "name": self.name,
            "uplift_at_30": self.uplift_at_30.as_dict(),
            "qini_auc": self.qini_auc,
            "uplift_auc": self.uplift_auc,
            "fit_seconds": self.fit_seconds,
        }


@dataclass
class UpliftReport:
    """The protocol's outcome: split sizes, ATEs, every model and the random baseline."""

    dataset: str
    arm: str
    target: str
    rows: int
    train_rows: int
    test_rows: int
    treated_share: float
    ate_all: Estimate
    ate_test: Estimate
    seed: int
    resamples: int
    stratified: bool
    reference_uplift_at_30: float | None
    reference_ate: float | None
    results: list[ModelResult] = field(default_factory=list)
    random: ModelResult | None = None
    seconds: float = 0.0

    def best(self) -> ModelResult:
        """The model with the highest uplift@30% on the test half (chosen on the test half)."""
        return max(self.results, key=lambda r: r.uplift_at_30.value)

    def as_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values."""
        best = self.best() if self.results else None
        return {
            "dataset": self.dataset,
            "arm": self.arm,
            "target": self.target,
            "rows": self.rows,
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "treated_share": self.treated_share,
            "ate_all": self.ate_all.as_dict(),
            "ate_test": self.ate_test.as_dict(),
            "reference": {"uplift_at_30": self.reference_uplift_at_30, "ate": self.reference_ate},
            "seed": self.seed,
            "resamples": self.resamples,
            "stratified": self.stratified,
            "k": K,
            "models": [r.as_dict() for r in self.results],
            "random": self.random.as_dict() if self.random else None,
            "best": best.name if best else None,
            "seconds": self.seconds,
        }


def check_protocol(dataset: str, arm: str, target: str) -> None:
    """Raise ValueError naming the valid choices for an unknown data set, arm or target."""
    if dataset.strip().lower() not in DATASETS:
        raise ValueError(f"unknown uplift data set {dataset!r}; valid: {', '.join(DATASETS)}")
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; valid: {', '.join(ARMS)}")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")


def split(
    treatment: np.ndarray, y: np.ndarray, seed: int = 42, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the train and test halves: 50/50, stratified by treatment and target."""
    idx = np.arange(len(y))
    labels = np.char.add(treatment.astype(str), y.astype(str)) if stratify else None
    from sklearn.model_selection import train_test_split  # lazily: 0.5 s at CLI start

    train, test = train_test_split(idx, test_size=0.5, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(test)


def _score(
    name: str, y: np.ndarray, s: np.ndarray, t: np.ndarray, resamples: int, seed: int, fit_s: float
) -> ModelResult:
    return ModelResult(
        name=name,
        uplift_at_30=bootstrap_uplift_at_k(y, s, t, k=K, resamples=resamples, seed=seed),
        qini_auc=qini_auc(y, s, t),
        uplift_auc=uplift_auc(y, s, t),
        fit_seconds=fit_s,
    )


def run_uplift_benchmark(
    dataset: str = "hillstrom",
    path: Path | str | None = None,
    arm: str = "womens",
    target: str = "visit",
    models: list[tuple[str, str]] | None = None,
    seed: int = 42,
    resamples: int = 1000,
    stratify: bool = True,
    lgbm_params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> UpliftReport:
    """Run the protocol on ``dataset`` (only ``hillstrom``); ``progress(msg)`` before each step.

    ``lgbm_params`` override the LightGBM settings (default ``HILLSTROM_LGBM``). Raises
    ``ValueError`` for an unknown data set, arm, target or model and ``DatasetMissingError`` when
    the file is absent.
    """
    lgbm = HILLSTROM_LGBM if lgbm_params is None else lgbm_params
    check_protocol(dataset, arm, target)
    models = models if models is not None else parse_models(None)
    note = progress or (lambda _msg: None)
    t_start = time.perf_counter()
    note(f"reading {dataset}")
    problem = uplift_problem(load_hillstrom(path), arm=arm, target=target)
    X, t, y = problem.X, problem.treatment, problem.y
    train, test = split(t, y, seed=seed, stratify=stratify)
    report = UpliftReport(
        dataset="hillstrom",
        arm=arm,
        target=target,
        rows=len(y),
        train_rows=len(train),
        test_rows=len(test),
        treated_share=float(t.mean()),
        ate_all=ate(y, t),
        ate_test=ate(y[test], t[test]),
        seed=seed,
        resamples=resamples,
        stratified=stratify,
        reference_uplift_at_30=(
            REFERENCE_UPLIFT_AT_30 if (arm, target) == ("womens", "visit") else None
        ),
        reference_ate=REFERENCE_ATE_VISIT.get(arm) if target == "visit" else None,
    )
    yt, tt = y[test], t[test]
    for method, learner in models:
        name = model_name(method, learner)
        note(f"training {name}")
        t0 = time.perf_counter()
        params = lgbm if learner == "lightgbm" else {}
        model = fit_uplift(
            X[train], t[train], y[train], method=method, learner=learner, seed=seed, **params
        )
        fit_s = time.perf_counter() - t0
        report.results.append(_score(name, yt, model.predict(X[test]), tt, resamples, seed, fit_s))
    note("random-targeting baseline")
    noise = np.random.default_rng(seed).random(len(test))
    report.random = _score(RANDOM, yt, noise, tt, resamples, seed, 0.0)
    report.seconds = time.perf_counter() - t_start
    return report


def cross_validate_lgbm(
    arm: str = "womens",
    target: str = "visit",
    path: Path | str | None = None,
    candidates: dict[str, dict[str, Any]] | None = None,
    folds: int = 4,
    seed: int = 42,
) -> dict[str, dict[str, dict[str, float]]]:
    """Mean uplift@30% and Qini AUC over ``folds`` stratified folds of the TRAINING half, for
    each LightGBM candidate and method: ``{candidate: {method: {"uplift_at_30", "qini_auc"}}}``.
    """
    from sklearn.model_selection import StratifiedKFold

    problem = uplift_problem(load_hillstrom(path), arm=arm, target=target)
    train, _ = split(problem.treatment, problem.y, seed=seed)
    X, t, y = problem.X[train], problem.treatment[train], problem.y[train]
    labels = np.char.add(t.astype(str), y.astype(str))
    cv = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, labels))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, params in (candidates or LGBM_CANDIDATES).items():
        out[name] = {}
        for method in METHODS:
            u, q = [], []
            for a, b in cv:
                s = fit_uplift(X[a], t[a], y[a], method=method, seed=seed, **params).predict(X[b])
                u.append(uplift_at_k(y[b], s, t[b], k=K))
                q.append(qini_auc(y[b], s, t[b]))
            out[name][method] = {"uplift_at_30": float(np.mean(u)), "qini_auc": float(np.mean(q))}
    return out


__all__ = [
    "ALL_MODELS",
    "DATASETS",
    "HILLSTROM_LGBM",
    "LGBM_CANDIDATES",
    "REFERENCE_ATE_VISIT",
    "REFERENCE_UPLIFT_AT_30",
    "ModelResult",
    "UpliftReport",
    "check_protocol",
    "cross_validate_lgbm",
    "model_name",
    "parse_models",
    "run_uplift_benchmark",
    "split",
]
