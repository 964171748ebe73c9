"""Personal repeat purchase: what this user has bought before, by frequency and recency."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from portrait.recs.base import SECONDS_PER_DAY, Interactions, Recommender


class RepeatPurchase(Recommender):
    """Score of (user, item) = sum over the user's purchases of the item of 2^(-age / half_life).

    Age is in days before the latest interaction in the training data. ``half_life_days=None``
    gives plain frequency ("personal top-frequency"). Only items the user bought get a score;
    a user without history gets nothing.
    """

    name = "repeat"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days
        self.matrix = sp.csr_matrix((0, 0))

    def params(self) -> dict[str, Any]:
        return {"half_life_days": self.half_life_days}

    def _fit(self, interactions: Interactions) -> None:
        weight = (
            np.ones(len(interactions.users))
            if interactions.weights is None
            else interactions.weights.copy()
        )
        if self.half_life_days is not None:
            if interactions.timestamps is None:
                raise ValueError("RepeatPurchase(half_life_days=...) needs interaction timestamps")
            age_days = (interactions.last_timestamp - interactions.timestamps) / SECONDS_PER_DAY
            weight = weight * np.exp2(-age_days / self.half_life_days)
        m = sp.csr_matrix(
            (weight, (interactions.users, interactions.items)),
            shape=(interactions.n_users, interactions.n_items),
        )
        m.sum_duplicates()
        m.eliminate_zeros()
        self.matrix = m

    def _score(self, users: np.ndarray) -> np.ndarray:
        rows = self.matrix[users]
        out = np.full(rows.shape, -np.inf)
        coo = rows.tocoo()
        out[coo.row, coo.col] = coo.data
        return out

    def _state(self) -> dict[str, Any]:
        return {"matrix": self.matrix}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.matrix = state["matrix"]
