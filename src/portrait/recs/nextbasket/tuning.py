"""Grid search of TIFU-KNN and of ours on the validation users (the test users never seen).

TIFU-KNN: user vectors per (group size, within decay, group decay), the nearest users found
once at the largest k (a smaller k is a prefix), alpha applied last. Ours then keeps TIFU-KNN's
chosen parameters and searches the popularity weight and window.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from portrait.recs.base import top_k
from portrait.recs.nextbasket.metrics import per_user
from portrait.recs.nextbasket.models import (
    TIFUKNN,
    nearest_users,
    neighbour_mean,
    recent_popularity,
    scale_rows,
    tifu_user_vectors,
)
from portrait.recs.nextbasket.protocol import NextBasketData

GROUP_SIZES = (3, 5, 7)
WITHIN_DECAYS = (0.9, 1.0)
GROUP_DECAYS = (0.6, 0.7, 0.8, 0.9)
NEIGHBOURS = (100, 300, 900)
ALPHAS = (0.3, 0.5, 0.7, 0.9)
POPULARITY_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
WINDOW_DAYS = (1, 2, 3, 7, 14, 30, 120)
OBJECTIVE = "ndcg@10"


@dataclass
class Tuned:
    """The chosen parameters, their validation figures and how many grid points were tried."""

    best: dict[str, Any]
    validation: dict[str, float]
    grid_points: int
    grid: list[tuple[dict[str, Any], float]] = field(default_factory=list, repr=False)


def _score(scores: np.ndarray, data: NextBasketData, users: np.ndarray) -> dict[str, float]:
    rec = top_k(scores, 10)[0]
    return {m: float(v.mean()) for m, v in per_user(rec, data.target[users]).items()}


def _pick(grid: list[tuple[dict[str, Any], dict[str, float]]]) -> Tuned:
    best, figures = max(grid, key=lambda g: g[1][OBJECTIVE])
    return Tuned(best, figures, len(grid), [(p, f[OBJECTIVE]) for p, f in grid])


def tune_tifu(
    data: NextBasketData,
    validation: np.ndarray,
    group_sizes: Sequence[int] = GROUP_SIZES,
    within_decays: Sequence[float] = WITHIN_DECAYS,
    group_decays: Sequence[float] = GROUP_DECAYS,
    neighbours: Sequence[int] = NEIGHBOURS,
    alphas: Sequence[float] = ALPHAS,
) -> Tuned:
    """TIFU-KNN's parameters by NDCG@10 of the ``validation`` users."""
    grid: list[tuple[dict[str, Any], dict[str, float]]] = []
    for m, rb, rg in itertools.product(group_sizes, within_decays, group_decays):
        vectors = tifu_user_vectors(data, m, rb, rg)
        nearest = nearest_users(vectors, validation, max(neighbours))
        own = vectors[validation].toarray()
        for k in neighbours:
            nb = neighbour_mean(vectors, nearest[:, :k]).toarray()
            for a in alphas:
                params = dict(group_size=m, within_decay=rb, group_decay=rg, neighbours=k, alpha=a)
                grid.append((params, _score(a * own + (1 - a) * nb, data, validation)))
    return _pick(grid)


def tune_popular(
    data: NextBasketData,
    validation: np.ndarray,
    tifu: dict[str, Any],
    weights: Sequence[float] = POPULARITY_WEIGHTS,
    windows: Sequence[int] = WINDOW_DAYS,
) -> Tuned:
    """Ours: the popularity weight and window on top of TIFU-KNN's ``tifu`` parameters."""
    own = scale_rows(TIFUKNN(**tifu).fit(data).scores(validation))
    grid: list[tuple[dict[str, Any], dict[str, float]]] = []
    for days in windows:
        pop = scale_rows(recent_popularity(data, data.target_day[validation], days))
        for w in weights:
            params = {"tifu": tifu, "popularity_weight": w, "window_days": days}
            grid.append((params, _score(own + w * pop, data, validation)))
    return _pick(grid)
