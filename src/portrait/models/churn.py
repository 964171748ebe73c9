"""Churn propensity: the probability that a customer places no order in the next N days.

* Who: persons with at least one order before the date (a customer cannot churn before buying).
* Label: no order in the local days ``[T, T + N)``; N is ``horizon_days`` (default 90, or the
  longest horizon the data hold a holdout for, at least 14 days, noted in the card).
* Model: a LightGBM binary classifier over the profile tags as of T (see ``features``).
* Baseline: RFM recency, the days since the last order (mapped to a probability by a logistic
  fit on the training window), reported beside the model on the same persons.
* Evaluation: a temporal holdout (``split.temporal_split``): the model fitted at T1 is scored
  on the profiles as of T2 >= T1 + N against what happened in ``[T2, T2 + N)``: AUC, log loss,
  Brier score and a calibration table by deciles.
* Scores: the same recipe refit on the latest whole window scores every customer as of the day
  after the last event, written as the model tag ``churn_propensity``.

On the simulator, :func:`truth_check` compares the written scores with each user's latent
churn (the simulated user had left for good) and churn hazard.

>>> ws.models.train("churn", horizon_days=90).metrics["key"]      # doctest: +SKIP
{'name': 'auc', 'model': 0.78, 'baseline': 0.74}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from portrait.models import binary
from portrait.models.features import feature_tags, profile_features
from portrait.models.orders import Orders, days_since
from portrait.models.registry import ModelCard, TrainOptions, write_scores
from portrait.models.split import (
    MIN_HISTORY_DAYS,
    TemporalSplit,
    data_days,
    fitting_horizon,
    temporal_split,
)
from portrait.store import models as model_store
from portrait.tags.catalog import Catalog
from portrait.tags.model import TagDef

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

MODEL = "churn"
TAG = "churn_propensity"
DEFAULT_HORIZON_DAYS = 90
MIN_CLASS = 20  # churners and stayers each, in the training and in the held-out window
BASELINE = "days since the last order (RFM recency)"
Progress = Callable[[str], None]


@dataclass
class Window:
    """The customers as of one date: features, recency and (when known) churn labels."""

    at: date
    x: pd.DataFrame
    recency: np.ndarray
    y: np.ndarray | None


def customers(
    ctx: ModelContext,
    orders: Orders,
    split: TemporalSplit,
    at: date,
    tags: Sequence[TagDef],
    catalog: Catalog,
    labelled: bool = True,
) -> Window:
    """Persons with an order before ``at``: their profile as of ``at``, the days since their
    last order and, when ``labelled``, 1 if they placed no order in the window after ``at``."""
    last = orders.last_order(at)
    x = profile_features(ctx, at, tags, catalog)
    x = x.loc[x.index.intersection(last.index)].sort_index()
    recency = days_since(last, orders.epoch(at), x.index)
    y = None
    if labelled:
        bought = orders.buyers(*split.label_window(at))
        y = (~x.index.isin(list(bought))).astype("int64")
    return Window(at, x, recency, y)


def _labels(w: Window) -> np.ndarray:
    assert w.y is not None
    return w.y


def train(ctx: ModelContext, options: TrainOptions, progress: Progress) -> ModelCard:
    """Fit, evaluate on the temporal holdout, refit, score and describe the churn model."""
    tick = time.perf_counter()
    catalog = ctx.profiles.catalog
    tags = feature_tags(catalog, options.features)
    first, end = data_days(ctx)
    h = options.horizon_days or fitting_horizon(first, end, DEFAULT_HORIZON_DAYS)
    split = temporal_split(first, end, h, options.holdout_days, options.as_of)
    with Orders(ctx) as orders:
        progress(f"profiles as of {split.train_at} (training)")
        fit_on = customers(ctx, orders, split, split.train_at, tags, catalog)
        binary.check_labels(_labels(fit_on), f"training window from {split.train_at}", MIN_CLASS)
        progress(f"profiles as of {split.test_at} (held out)")
        held = customers(ctx, orders, split, split.test_at, tags, catalog)
        binary.check_labels(_labels(held), f"held-out window from {split.test_at}", MIN_CLASS)
        progress(f"fitting LightGBM on {len(fit_on.x):,} customers")
        model = binary.fit(fit_on.x, _labels(fit_on), options.seed)
        predicted = model.predict(held.x)
        baseline = binary.Baseline.fit(BASELINE, fit_on.recency, _labels(fit_on))
        refit_on = held
        if split.refit_at != split.test_at:
            progress(f"profiles as of {split.refit_at} (refit)")
            refit_on = customers(ctx, orders, split, split.refit_at, tags, catalog)
        progress(f"refitting on the {len(refit_on.x):,} customers as of {split.refit_at}")
        final = binary.fit(refit_on.x, _labels(refit_on), options.seed)
        progress(f"scoring customers as of {end}")
        now = customers(ctx, orders, split, end, tags, catalog, labelled=False)
    scores = final.predict(now.x)
    written = write_scores(ctx.warehouse, MODEL, list(now.x.index), {TAG: scores.tolist()})
    y = _labels(held)
    model_metrics = binary.metrics(y, predicted)
    baseline_metrics = baseline.evaluate(held.recency, y)
    baseline_metrics["calibration"] = binary.calibration(y, baseline.predict(held.recency))
    metrics: dict[str, Any] = {
        "key": {"name": "auc", "model": model_metrics["auc"], "baseline": baseline_metrics["auc"]},
        "holdout": {"model": model_metrics, "baseline": baseline_metrics},
        "auc_gain_over_baseline": round(model_metrics["auc"] - baseline_metrics["auc"], 4),
        "training": {
            "persons": len(fit_on.x),
            "positive_rate": round(float(_labels(fit_on).mean()), 4),
            "rounds": model.rounds,
        },
    }
    truth = truth_check(ctx, horizon_days=h)
    if truth is not None:
        metrics["truth"] = truth
    empty = [c for c in fit_on.x.columns if fit_on.x[c].isna().all()]
    notes = [
        f"churn: no order in the {h} days from the date, among persons with an order before it",
        f"baseline: {BASELINE}, probabilities by a logistic fit on log(1 + days) over the "
        "training window",
    ]
    if h != (options.horizon_days or DEFAULT_HORIZON_DAYS):
        notes.append(
            f"horizon shortened from {DEFAULT_HORIZON_DAYS} to {h} days: the events span "
            f"{(end - first).days} days and a {DEFAULT_HORIZON_DAYS}-day horizon needs "
            f"{MIN_HISTORY_DAYS + 2 * DEFAULT_HORIZON_DAYS} (history, training and held-out "
            "windows); give --horizon-days to choose"
        )
    if empty:
        notes.append(f"{len(empty)} feature tags are empty in this data: {', '.join(empty)}")
    return ModelCard(
        model=MODEL,
        training_seconds=round(time.perf_counter() - tick, 3),
        algorithm="LightGBM binary classifier (gradient-boosted trees)",
        dataset=str(ctx.root),
        data_window=split.describe(),
        features=[t.id for t in tags],
        params={
            "lightgbm": {k: v for k, v in binary.LGB_PARAMS.items() if k != "verbose"},
            "rounds_final": final.rounds,
            "seed": options.seed,
            "importance": model.importance(),
        },
        metrics=metrics,
        calibration=binary.calibration(y, predicted),
        tags_written=written,
        notes=notes,
    )


def truth_check(ctx: ModelContext, horizon_days: int | None = None) -> dict[str, Any] | None:
    """On a simulated shop: how well the written ``churn_propensity`` scores find the users
    who had left for good (latent churn), as AUC, and follow the true churn hazard (Spearman),
    beside the recency baseline on the same users. None without ground truth or scores."""
    rows = model_store.churn_truth(ctx.warehouse, TAG)
    if not rows:
        return None
    persons = [r[0] for r in rows]
    score = np.array([r[1] for r in rows], dtype="float64")
    churned = np.array([r[2] for r in rows], dtype="int64")
    hazard = np.array([r[3] for r in rows], dtype="float64")
    _, end = data_days(ctx)
    with Orders(ctx) as orders:
        last = orders.last_order(end)
        recency = days_since(last, orders.epoch(end), pd.Index(persons))
    recency = np.nan_to_num(recency, nan=float(np.nanmax(recency)) if len(recency) else 0.0)
    out: dict[str, Any] = {
        "persons": len(persons),
        "latent_churned_share": round(float(churned.mean()), 4),
        "spearman_vs_hazard": {
            "model": round(float(spearmanr(score, hazard).statistic), 4),
            "baseline": round(float(spearmanr(recency, hazard).statistic), 4),
        },
        "what": "scores as of the day after the last event against the simulator's truth: "
        "latent churn = the user had left for good before the data end",
    }
    if horizon_days is not None:
        out["horizon_days"] = horizon_days
    if 0 < churned.sum() < len(churned):
        out["auc_vs_latent_churn"] = {
            "model": binary.auc(churned, score),
            "baseline": binary.auc(churned, recency),
        }
    return out
