"""The blend's weights come from the validation window, never from the test window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import block_shop
from portrait.recs.evaluation.protocol import build_eval_set, temporal_split
from portrait.recs.evaluation.runner import evaluate_generator
from portrait.recs.evaluation.tuning import tune_blend


def shop_lines(seed: int = 0) -> pd.DataFrame:
    """The block shop as purchase lines over 120 days (users and items as strings)."""
    inter = block_shop(seed).interactions
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 120, len(inter.users)), "D")
    df = pd.DataFrame(
        {"user": [f"u{u}" for u in inter.users], "item": [f"i{i:02d}" for i in inter.items]}
    )
    df["ts"] = days
    df["day"] = days.floor("D")
    df["basket"] = df["user"] + "-" + df["day"].dt.strftime("%Y%m%d")
    return df


def test_tuning_picks_the_best_grid_point_without_the_test_window() -> None:
    lines = shop_lines()
    split = temporal_split(lines)
    tuned = tune_blend(
        split, half_lives=(None,), knn_weights=(0.0, 0.5), popularity_weights=(0.0, 1.0)
    )
    assert len(tuned.grid) == 4
    assert tuned.best_ndcg10 == max(score for _, score in tuned.grid)
    assert tuned.validation_users > 0
    # Scrambling the test window's purchases changes nothing in the tuning.
    window = lines["day"] >= pd.Timestamp(split.cutoff)
    scrambled = lines.copy()
    scrambled.loc[window, "item"] = "i29"
    again = tune_blend(
        temporal_split(scrambled),
        half_lives=(None,),
        knn_weights=(0.0, 0.5),
        popularity_weights=(0.0, 1.0),
    )
    assert again.grid == tuned.grid


def test_blend_is_evaluated_with_tuned_weights() -> None:
    data = build_eval_set(temporal_split(shop_lines()))
    result = evaluate_generator("blend", data, resamples=20)
    assert result.tuning is not None and result.tuning["grid_points"] > 1
    assert result.params["repeat_weight"] == 1.0
    assert 0.0 <= result.metrics["ndcg@10"].value <= 1.0
