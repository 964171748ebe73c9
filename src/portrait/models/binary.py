"""Binary classifiers of the churn and propensity models: LightGBM, its metrics, a baseline.

Pure computation on frames it is handed (no warehouse). The number of boosting rounds is
chosen by early stopping on a seeded, stratified fifth of the training rows, then the model is
refit on all of them with that many rounds; the held-out period is never used for fitting.
A heuristic baseline (a score such as days since the last order) gets probabilities from a
logistic fit on the same training rows, so that log loss and Brier score compare too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

LGB_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,  # small data; threads contend on a shared machine (16 s vs 0.6 s)
    "deterministic": True,
    "force_row_wise": True,
}
MAX_ROUNDS = 600
EARLY_STOP = 30
EPS = 1e-6


class TooFewLabelsError(ValueError):
    """A window has too few positives or negatives to fit or evaluate a classifier."""


def check_labels(y: np.ndarray, what: str, minimum: int) -> None:
    pos = int(y.sum())
    neg = int(len(y) - pos)
    if pos < minimum or neg < minimum:
        raise TooFewLabelsError(
            f"{what}: {pos:,} positives and {neg:,} negatives among {len(y):,} persons; at "
            f"least {minimum} of each are needed (use a longer history or another horizon)"
        )


@dataclass
class Classifier:
    """A fitted LightGBM with the columns it was fitted on."""

    booster: lgb.Booster
    columns: list[str]
    rounds: int

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(x[self.columns]), dtype="float64")

    def importance(self, top: int = 12) -> list[dict[str, Any]]:
        """The features that gained the model most, as shares of the total gain."""
        gain = self.booster.feature_importance("gain")
        total = float(gain.sum()) or 1.0
        order = np.argsort(-gain)[:top]
        return [
            {"feature": self.columns[i], "gain_share": round(float(gain[i]) / total, 4)}
            for i in order
            if gain[i] > 0
        ]


def fit(x: pd.DataFrame, y: np.ndarray, seed: int = 42) -> Classifier:
    """LightGBM binary classifier; rounds by early stopping on a stratified fifth of ``x``."""
    params = {**LGB_PARAMS, "seed": seed}
    fit_idx, val_idx = train_test_split(
        np.arange(len(y)), test_size=0.2, random_state=seed, stratify=y
    )
    train_set = lgb.Dataset(x.iloc[fit_idx], y[fit_idx], free_raw_data=False)
    val_set = lgb.Dataset(x.iloc[val_idx], y[val_idx], reference=train_set)
    probe = lgb.train(
        params,
        train_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[val_set],
        callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)],
    )
    rounds = max(int(probe.best_iteration or MAX_ROUNDS), 10)
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=rounds)
    return Classifier(booster, list(x.columns), rounds)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, log loss and Brier score of probabilities ``p`` for labels ``y``."""
    q = np.clip(p, EPS, 1 - EPS)
    return {
        "auc": round(float(roc_auc_score(y, p)), 4),
        "log_loss": round(float(log_loss(y, q, labels=[0, 1])), 4),
        "brier": round(float(brier_score_loss(y, q)), 4),
        "persons": len(y),
        "positive_rate": round(float(np.mean(y)), 4),
        "mean_predicted": round(float(np.mean(p)), 4),
    }


def auc(y: np.ndarray, score: np.ndarray) -> float:
    return round(float(roc_auc_score(y, score)), 4)


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Deciles of the predicted probability (equal numbers of persons): mean predicted
    against observed rate in each."""
    order = np.argsort(p, kind="stable")
    out = []
    for i, part in enumerate(np.array_split(order, bins)):
        if len(part) == 0:
            continue
        out.append(
            {
                "decile": i + 1,
                "persons": len(part),
                "predicted_from": round(float(p[part].min()), 4),
                "predicted_to": round(float(p[part].max()), 4),
                "predicted_mean": round(float(p[part].mean()), 4),
                "observed_rate": round(float(y[part].mean()), 4),
            }
        )
    return out


@dataclass
class Baseline:
    """A heuristic score (higher: more likely positive; zero or more) turned into probabilities
    by a logistic fit on ``log1p(score)`` over the training window (Platt scaling): monotone,
    so the ranking, and the AUC, are the score's own. Persons without a score get ``missing``,
    the training rate of those without one."""

    name: str
    platt: LogisticRegression
    missing: float

    @classmethod
    def fit(cls, name: str, score: np.ndarray, y: np.ndarray) -> Baseline:
        known = ~np.isnan(score)
        platt = LogisticRegression(C=1e6)
        platt.fit(_log_score(score[known]), y[known])
        missing = float(y[~known].mean()) if (~known).any() else float(y.mean())
        return cls(name, platt, missing)

    def predict(self, score: np.ndarray) -> np.ndarray:
        known = ~np.isnan(score)
        out = np.full(len(score), self.missing)
        if known.any():
            out[known] = self.platt.predict_proba(_log_score(score[known]))[:, 1]
        return out

    def evaluate(self, score: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Metrics of the calibrated baseline; its AUC ranks by the raw score (missing scores
        rank lowest)."""
        out = metrics(y, self.predict(score))
        known = ~np.isnan(score)
        lowest = float(score[known].min()) - 1.0 if known.any() else 0.0
        out["auc"] = auc(y, np.where(known, score, lowest))
        out["baseline"] = self.name
        return out


def _log_score(score: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(score, 0.0, None)).reshape(-1, 1)
