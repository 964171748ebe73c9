"""Purchase propensity: the probability of an order in the next 30 days, overall and per
top-level category (``category_l1`` of the products bought).

* Who: every person with a profile as of the date, buyers or not.
* Targets: ``any`` (an order of anything in ``[T, T + h)``, h = ``horizon_days``, default 30)
  and, per category, an order line of that category in the window. A category is modelled when
  it has at least ``MIN_POSITIVES`` buyers in the training window and in the held-out one; at
  most ``MAX_CATEGORIES``, the most bought first. The card lists the others and why.
* Model: one LightGBM binary classifier per target over the profile tags as of T; a category's
  model also reads the person's history with that category before T (orders with it in the last
  30/90/365 days and in all, days since the last, its share of their order lines).
* Baselines: ``any`` — orders in the last 90 days, ties broken by the more recent last order;
  a category — orders with it in the last 90 days, ties broken by its share of the person's
  past order lines.
* Evaluation: the temporal holdout of ``split.temporal_split``; AUC per target beside its
  baseline, and for ``any`` also log loss, Brier score and a calibration table.
* Scores (30-day horizon only, as the tags' names say): ``purchase_propensity_30d`` and
  ``category_propensity_30d``, the five modelled categories most likely bought, each with its
  probability.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portrait.models import binary
from portrait.models.features import feature_tags, profile_features
from portrait.models.orders import Orders, days_since
from portrait.models.registry import ModelCard, TrainOptions, write_scores
from portrait.models.split import TemporalSplit, data_days, temporal_split
from portrait.tags.catalog import Catalog
from portrait.tags.model import TagDef

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

MODEL = "propensity"
TAG = "purchase_propensity_30d"
CATEGORY_TAG = "category_propensity_30d"
TAG_HORIZON_DAYS = 30
DEFAULT_HORIZON_DAYS = 30
MIN_POSITIVES = 20  # buyers of a target in the training and in the held-out window
MAX_CATEGORIES = 12
TOP_N = 5
ANY = "any"
HISTORY = ("orders_30d", "orders_90d", "orders_365d", "orders_total", "days_since_last", "share")
Progress = Callable[[str], None]


@dataclass
class Population:
    """Everyone profiled as of one date: features, order history and (when known) labels."""

    at: date
    x: pd.DataFrame
    recency: np.ndarray  # days since the last order (NaN: never ordered)
    orders_90d: np.ndarray
    history: dict[str, pd.DataFrame] = field(default_factory=dict)  # category -> HISTORY
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # target -> 0/1

    def design(self, target: str) -> pd.DataFrame:
        """The model's input for ``target``: the profile, plus the category history."""
        if target == ANY:
            return self.x
        return pd.concat([self.x, self.history[target]], axis=1)

    def baseline(self, target: str) -> np.ndarray:
        if target == ANY:
            recency = np.nan_to_num(self.recency, nan=1e6)
            return self.orders_90d + 1.0 / (2.0 + recency)
        h = self.history[target]
        return h["cat_orders_90d"].to_numpy() + h["cat_share"].to_numpy()


def population(
    ctx: ModelContext,
    orders: Orders,
    split: TemporalSplit,
    at: date,
    tags: Sequence[TagDef],
    catalog: Catalog,
    categories: Sequence[str],
    labelled: bool = True,
) -> Population:
    x = profile_features(ctx, at, tags, catalog).sort_index()
    recency = days_since(orders.last_order(at), orders.epoch(at), x.index)
    recent = orders.recent_orders(at, 90).reindex(x.index).fillna(0.0).to_numpy()
    pop = Population(at, x, recency, recent)
    if categories:
        history = orders.category_history(at, categories)
        zero_when_none = [k for k in HISTORY if k != "days_since_last"]
        for c in categories:
            h = history[history["category"] == c].set_index("person_id")[list(HISTORY)]
            h = h.reindex(x.index).astype("float64")
            h[zero_when_none] = h[zero_when_none].fillna(0.0)
            pop.history[c] = h.add_prefix("cat_")
    if labelled:
        window = split.label_window(at)
        pop.labels[ANY] = x.index.isin(list(orders.buyers(*window))).astype("int64")
        pairs = orders.category_buyers(*window)
        for c in categories:
            bought = pairs.loc[pairs["category"] == c, "person_id"]
            pop.labels[c] = x.index.isin(list(bought)).astype("int64")
    return pop


def choose_categories(
    orders: Orders, split: TemporalSplit
) -> tuple[list[str], list[dict[str, Any]]]:
    """The categories to model, and the others with the reason each is left out."""
    train = orders.top_categories(*split.label_window(split.train_at))
    test = orders.top_categories(*split.label_window(split.test_at))
    chosen: list[str] = []
    skipped: list[dict[str, Any]] = []
    for category, buyers in train.items():
        held = int(test.get(category, 0))
        if buyers < MIN_POSITIVES or held < MIN_POSITIVES:
            reason = f"fewer than {MIN_POSITIVES} buyers in the training or held-out window"
        elif len(chosen) >= MAX_CATEGORIES:
            reason = f"beyond the {MAX_CATEGORIES} most bought categories"
        else:
            chosen.append(str(category))
            continue
        skipped.append(
            {"category": category, "train_buyers": int(buyers), "holdout_buyers": held,
             "reason": reason}
        )  # fmt: skip
    return chosen, skipped


def train(ctx: ModelContext, options: TrainOptions, progress: Progress) -> ModelCard:
    """Fit, evaluate, refit and score one model per target (see the module docstring)."""
    tick = time.perf_counter()
    catalog = ctx.profiles.catalog
    tags = feature_tags(catalog, options.features)
    first, end = data_days(ctx)
    h = options.horizon_days or DEFAULT_HORIZON_DAYS
    split = temporal_split(first, end, h, options.holdout_days, options.as_of)
    with Orders(ctx) as orders:
        categories, skipped = choose_categories(orders, split)
        dates = {"training": split.train_at, "held out": split.test_at, "refit": split.refit_at}
        pops: dict[date, Population] = {}
        for what, at in dates.items():
            if at not in pops:
                progress(f"profiles as of {at} ({what})")
                pops[at] = population(ctx, orders, split, at, tags, catalog, categories)
        progress(f"profiles as of {end} (scoring)")
        now = population(ctx, orders, split, end, tags, catalog, categories, labelled=False)
    fit_on, held, refit_on = (pops[d] for d in dates.values())
    for c in list(categories):  # buyers who were not yet persons at T do not count
        train_pos, held_pos = int(fit_on.labels[c].sum()), int(held.labels[c].sum())
        if min(train_pos, held_pos) < MIN_POSITIVES:
            categories.remove(c)
            skipped.append(
                {"category": c, "train_buyers": train_pos, "holdout_buyers": held_pos,
                 "reason": f"fewer than {MIN_POSITIVES} buyers among the persons profiled"}
            )  # fmt: skip
    binary.check_labels(fit_on.labels[ANY], f"training window from {split.train_at}", 20)
    binary.check_labels(held.labels[ANY], f"held-out window from {split.test_at}", 20)
    results: dict[str, dict[str, Any]] = {}
    scores: dict[str, np.ndarray] = {}
    calibration: list[dict[str, Any]] = []
    for target in [ANY, *categories]:
        progress(f"fitting {target!r} ({len(results) + 1} of {len(categories) + 1})")
        model = binary.fit(fit_on.design(target), fit_on.labels[target], options.seed)
        predicted = model.predict(held.design(target))
        y = held.labels[target]
        result = binary.metrics(y, predicted)
        result["baseline_auc"] = binary.auc(y, held.baseline(target))
        result["train_positives"] = int(fit_on.labels[target].sum())
        result["holdout_positives"] = int(y.sum())
        if target == ANY:
            base = binary.Baseline.fit(
                "orders in the last 90 days", fit_on.baseline(ANY), fit_on.labels[ANY]
            )
            result["baseline"] = base.evaluate(held.baseline(ANY), y)
            result["importance"] = model.importance()
            calibration = binary.calibration(y, predicted)
        results[target] = result
        final = binary.fit(refit_on.design(target), refit_on.labels[target], options.seed)
        scores[target] = final.predict(now.design(target))
    written: dict[str, int] = {}
    notes = [
        f"a purchase: an order in the {h} days from the date; a category purchase: an order "
        "line of a product of that top-level category (category_l1)",
        "baselines: orders in the last 90 days (ties: the more recent last order); per "
        "category, orders with it in the last 90 days (ties: its share of past order lines)",
    ]
    if h == TAG_HORIZON_DAYS:
        written = _write(ctx, now, scores, categories)
    else:
        notes.append(
            f"scores not written: the tags {TAG} and {CATEGORY_TAG} hold 30-day propensities "
            f"and this run's horizon is {h} days"
        )
    if not categories:
        notes.append(
            "no category modelled: "
            + ("the products carry no category" if not skipped else "see skipped_categories")
        )
    return _card(ctx, split, tags, options, results, calibration, skipped, written, notes, tick)


def _write(
    ctx: ModelContext, now: Population, scores: dict[str, np.ndarray], categories: list[str]
) -> dict[str, int]:
    persons = list(now.x.index)
    values: dict[str, list[Any]] = {TAG: scores[ANY].tolist()}
    if categories:
        matrix = np.column_stack([scores[c] for c in categories])
        best = np.argsort(-matrix, axis=1, kind="stable")[:, :TOP_N]
        values[CATEGORY_TAG] = [
            [(categories[j], round(float(matrix[i, j]), 6)) for j in row]
            for i, row in enumerate(best)
        ]
    return write_scores(ctx.warehouse, MODEL, persons, values)


def _card(
    ctx: ModelContext,
    split: TemporalSplit,
    tags: Sequence[TagDef],
    options: TrainOptions,
    results: dict[str, dict[str, Any]],
    calibration: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    written: dict[str, int],
    notes: list[str],
    tick: float,
) -> ModelCard:
    overall = results[ANY]
    per_category = {
        c: {k: r[k] for k in ("auc", "baseline_auc", "train_positives", "holdout_positives")}
        for c, r in results.items()
        if c != ANY
    }
    beats = sum(r["auc"] > r["baseline_auc"] for r in per_category.values())
    metrics: dict[str, Any] = {
        "key": {"name": "auc", "model": overall["auc"], "baseline": overall["baseline"]["auc"]},
        "holdout": {
            "model": {k: v for k, v in overall.items() if k not in ("baseline", "importance")},
            "baseline": overall["baseline"],
        },
        "categories": per_category,
        "categories_beating_baseline": f"{beats} of {len(per_category)}",
        "skipped_categories": skipped,
    }
    if per_category:
        metrics["mean_category_auc"] = {
            "model": round(float(np.mean([r["auc"] for r in per_category.values()])), 4),
            "baseline": round(
                float(np.mean([r["baseline_auc"] for r in per_category.values()])), 4
            ),
        }
    return ModelCard(
        model=MODEL,
        training_seconds=round(time.perf_counter() - tick, 3),
        algorithm="LightGBM binary classifier per target (any purchase, each category)",
        dataset=str(ctx.root),
        data_window=split.describe(),
        features=[t.id for t in tags] + [f"cat_{c} (category targets)" for c in HISTORY],
        params={
            "lightgbm": {k: v for k, v in binary.LGB_PARAMS.items() if k != "verbose"},
            "seed": options.seed,
            "targets": [ANY, *per_category],
            "importance": overall.get("importance", []),
            "min_positives": MIN_POSITIVES,
            "max_categories": MAX_CATEGORIES,
        },
        metrics=metrics,
        calibration=calibration,
        tags_written=written,
        notes=notes,
    )
