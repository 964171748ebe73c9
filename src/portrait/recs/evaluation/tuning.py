"""Tune the blend's weights on the validation window (the 28 days before the test cut-off).

The test window is never looked at: the parts are fitted on the lines before the validation
cut-off and the weights chosen by NDCG@10 of the validation users.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from portrait.recs.base import BLOCK_USERS, top_k
from portrait.recs.blend import Blend
from portrait.recs.evaluation.metrics import per_user
from portrait.recs.evaluation.protocol import Split, build_eval_set, temporal_split

HALF_LIVES: tuple[float | None, ...] = (None, 60.0)
KNN_WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.3)
POPULARITY_WEIGHTS = (0.0, 0.02, 0.1, 0.3, 1.0)
# Items ranked below this by popularity reach a top 10 only through repeat or kNN scores.
POPULAR_CANDIDATES = 200


@dataclass(frozen=True)
class Tuning:
    """The chosen blend params and the validation NDCG@10 of every grid point."""

    best: dict[str, Any]
    best_ndcg10: float
    grid: list[tuple[dict[str, Any], float]]
    validation_users: int


def tune_blend(
    split: Split,
    half_lives: Sequence[float | None] = HALF_LIVES,
    knn_weights: Sequence[float] = KNN_WEIGHTS,
    popularity_weights: Sequence[float] = POPULARITY_WEIGHTS,
    max_users: int = 2000,
    seed: int = 0,
) -> Tuning:
    """Grid search of the blend on the validation window of ``split`` (repeat weight fixed at 1).

    At most ``max_users`` validation users (a seeded sample) keep the search quick.
    """
    val = build_eval_set(temporal_split(split.train, end=split.cutoff))
    if not len(val.test_users):
        raise ValueError("no validation users: the data before the cut-off is too short")
    rows = np.arange(len(val.test_users))
    if len(rows) > max_users:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_users, replace=False))
    combos = list(itertools.product(knn_weights, popularity_weights))
    grid: list[tuple[dict[str, Any], float]] = []
    for half_life in half_lives:
        blend = Blend(half_life_days=half_life).fit(val.train)
        sums = np.zeros(len(combos))
        for start in range(0, len(rows), BLOCK_USERS):
            block = rows[start : start + BLOCK_USERS]
            parts = blend.part_scores(val.test_users[block])
            # Only columns that can reach a top 10: any repeat/kNN score, or very popular.
            popular = np.argsort(-parts["popularity"][0], kind="stable")[:POPULAR_CANDIDATES]
            personal = (parts["repeat"] > 0).any(axis=0) | (parts["knn"] > 0).any(axis=0)
            cols = np.union1d(np.flatnonzero(personal), popular)
            parts = {k: v[:, cols].astype(np.float32) for k, v in parts.items()}
            truth, sizes = val.truth[block], val.truth_sizes[block]
            for j, (wk, wp) in enumerate(combos):
                s = parts["repeat"] + np.float32(wk) * parts["knn"]
                s += np.float32(wp) * parts["popularity"]
                s[s <= 0] = -np.inf
                ids, _ = top_k(s, 10)
                ids = np.where(ids >= 0, cols[np.maximum(ids, 0)], ids)
                sums[j] += per_user(ids, truth, sizes)["ndcg@10"].sum()
        for (wk, wp), total in zip(combos, sums, strict=True):
            params = {
                "repeat_weight": 1.0,
                "knn_weight": wk,
                "popularity_weight": wp,
                "half_life_days": half_life,
            }
            grid.append((params, float(total / len(rows))))
    best, score = max(grid, key=lambda g: g[1])
    return Tuning(best, score, grid, len(rows))
