"""The hybrid ranker: trained on the window before the end of its training lines, never after;
item attributes reach the features; the paired bootstrap of a difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_tuning import shop_lines

from conftest import block_shop
from portrait.recs import Interactions
from portrait.recs.evaluation.metrics import evaluate_lists, paired_difference, per_user
from portrait.recs.evaluation.protocol import build_eval_set, temporal_split
from portrait.recs.evaluation.runner import evaluate_generator, item_attributes
from portrait.recs.features import FEATURES, CandidateFeatures
from portrait.recs.ranker import HybridRanker
from portrait.recs.registry import make

SMALL = {"n_estimators": 20, "als_factors": 8, "train_windows": 2, "window_step_days": 7}


def test_registered_as_hybrid() -> None:
    assert isinstance(make("hybrid"), HybridRanker)


def test_ranker_learns_from_the_last_window_of_its_training_lines() -> None:
    model = HybridRanker(**SMALL).fit(block_shop().interactions)
    assert model.booster is not None
    assert model.training["windows"] == 2
    assert 0 < model.training["positives"] < model.training["rows"]
    assert set(model.feature_importance()) == set(FEATURES)


def test_the_evaluations_test_window_is_never_seen() -> None:
    lines = shop_lines()
    data = build_eval_set(temporal_split(lines))
    first = evaluate_generator("hybrid", data, resamples=20)
    window = lines["day"] >= pd.Timestamp(data.split.cutoff)
    scrambled = lines.copy()
    scrambled.loc[window, "item"] = "i29"
    again = evaluate_generator("hybrid", build_eval_set(temporal_split(scrambled)), resamples=20)
    # The same training groups, labels and early stopping (seconds aside).
    assert first.training is not None and again.training is not None
    first.training.pop("seconds"), again.training.pop("seconds")
    assert first.training == again.training
    assert first.training["positives"] > 0


def test_too_little_history_falls_back_to_repeat_then_knn() -> None:
    # Everything on one day: no window before the end to learn from.
    inter = Interactions.from_arrays([0, 0, 1, 1], [0, 1, 1, 2], timestamps=[0, 0, 0, 0])
    model = HybridRanker(**SMALL).fit(inter)
    assert model.booster is None
    ids, _ = model.recommend([0], k=3).for_user(0)
    assert set(ids[:2].tolist()) == {0, 1}


def test_item_groups_and_prices_become_features() -> None:
    lines = shop_lines()
    lines["group"] = lines["item"].str[:2]
    lines["price"] = lines["item"].str[1:].astype(float) + 1.0
    data = build_eval_set(temporal_split(lines))
    groups, prices = item_attributes(data)
    assert groups is not None and prices is not None
    assert prices[data.items.to_index(["i05"])[0]] == 6.0
    feats = CandidateFeatures(
        per_generator=5, als_factors=4, item_groups=groups, item_prices=prices
    )
    cand = feats.fit(data.train).build(data.test_users[:3])
    col = {name: j for j, name in enumerate(FEATURES)}
    for name in ("group_share", "group_pop_share", "item_price", "price_vs_user"):
        assert np.isfinite(cand.features[:, col[name]]).all(), name
    plain = CandidateFeatures(per_generator=5, als_factors=4).fit(data.train)
    assert np.isnan(plain.build(data.test_users[:3]).features[:, col["group_share"]]).all()


def test_paired_difference_of_identical_models_is_zero() -> None:
    a = np.random.default_rng(1).random(50)
    d = paired_difference(a, a.copy(), resamples=200)
    assert d.value == d.low == d.high == 0.0


def test_paired_difference_of_a_constant_shift_is_the_shift() -> None:
    a = np.random.default_rng(2).random(40)
    d = paired_difference(a + 0.1, a, resamples=200)
    assert d.value == pytest.approx(0.1)
    assert d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1)


def test_paired_difference_resamples_the_users_of_evaluate_lists() -> None:
    # Against a model with zero everywhere the difference interval is the metric's own.
    rng = np.random.default_rng(3)
    truth_rows = rng.integers(0, 2, (30, 12)).astype(float)
    truth_rows[:, 0] = 1.0
    truth = sp.csr_matrix(truth_rows)
    sizes = truth_rows.sum(axis=1).astype(int)
    rec = np.argsort(rng.random((30, 12)), axis=1)
    metrics = evaluate_lists(rec, truth, sizes, 12, resamples=300, seed=7)
    ndcg = per_user(rec, truth, sizes)["ndcg@10"]
    d = paired_difference(ndcg, np.zeros_like(ndcg), resamples=300, seed=7)
    assert (d.value, d.low, d.high) == pytest.approx(
        (metrics["ndcg@10"].value, metrics["ndcg@10"].low, metrics["ndcg@10"].high)
    )


def test_paired_difference_refuses_unpaired_values() -> None:
    with pytest.raises(ValueError, match="same"):
        paired_difference(np.zeros(3), np.zeros(4))


def test_dropped_features_are_not_used() -> None:
    dropped = ["pop_recent", "pop_trend"]
    model = HybridRanker(**SMALL, drop_features=dropped).fit(block_shop().interactions)
    gain = model.feature_importance()
    assert all(gain[name] == 0.0 for name in dropped)
    assert model.params()["drop_features"] == dropped


@pytest.mark.parametrize("feature", ["repeat_count", "pop_all", "knn_score", "repeat_rank"])
def test_monotone_features_never_reverse(feature: str) -> None:
    """More of what the user bought, of what sells, of what similar buyers bought never lowers
    a score (a worse rank never raises one), whatever the other features are."""
    from portrait.recs.ranker import MONOTONE

    model = HybridRanker(**SMALL).fit(block_shop().interactions)
    assert model.params()["monotone"] is True and model.booster is not None
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 50, size=(200, len(FEATURES)))
    j = FEATURES.index(feature)
    scores = []
    for value in np.linspace(0, 100, 21):
        x = base.copy()
        x[:, j] = value
        scores.append(model.booster.predict(x, num_iteration=model.best_iteration))
    steps = np.diff(np.array(scores), axis=0) * MONOTONE[feature]
    assert (steps >= -1e-12).all()
