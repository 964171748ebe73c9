"""A hand-weighted blend: repeat purchase + item-kNN + popularity, scores normalised per user."""

from __future__ import annotations

from typing import Any

import numpy as np

from portrait.recs.base import Interactions, Recommender
from portrait.recs.knn import ItemKNN
from portrait.recs.popularity import Popularity
from portrait.recs.repeat import RepeatPurchase


def _per_row_max_scaled(scores: np.ndarray) -> np.ndarray:
    """Finite scores divided by their row's maximum (rows without scores stay 0); -inf -> 0."""
    s = np.where(np.isfinite(scores), scores, 0.0)
    top = s.max(axis=1, keepdims=True)
    return np.divide(s, top, out=np.zeros_like(s), where=top > 0)


class Blend(Recommender):
    """score = repeat_weight * repeat + knn_weight * kNN + popularity_weight * popularity.

    Each part is scaled to [0, 1] by the user's highest score of that part (popularity by the
    most popular item), so the weights say how much each part counts; the weights are meant to
    be tuned on a validation window (``portrait.recs.evaluation.tuning``).
    """

    name = "blend"

    def __init__(
        self,
        repeat_weight: float = 1.0,
        knn_weight: float = 0.2,
        popularity_weight: float = 0.05,
        half_life_days: float | None = 60.0,
        neighbours: int = 100,
        popularity_window_days: float | None = 30.0,
    ) -> None:
        self.repeat_weight = repeat_weight
        self.knn_weight = knn_weight
        self.popularity_weight = popularity_weight
        self.half_life_days = half_life_days
        self.neighbours = neighbours
        self.popularity_window_days = popularity_window_days
        self.repeat = RepeatPurchase(half_life_days=half_life_days)
        self.knn = ItemKNN(neighbours=neighbours)
        self.popularity = Popularity(window_days=popularity_window_days)

    def params(self) -> dict[str, Any]:
        return {
            "repeat_weight": self.repeat_weight,
            "knn_weight": self.knn_weight,
            "popularity_weight": self.popularity_weight,
            "half_life_days": self.half_life_days,
            "neighbours": self.neighbours,
            "popularity_window_days": self.popularity_window_days,
        }

    def _parts(self) -> dict[str, Recommender]:
        return {"repeat": self.repeat, "knn": self.knn, "popularity": self.popularity}

    def _fit(self, interactions: Interactions) -> None:
        for part in self._parts().values():
            part.fit(interactions)

    def part_scores(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """Each part's scaled scores for known ``users`` (dense, 0 where it has none)."""
        return {name: _per_row_max_scaled(p._score(users)) for name, p in self._parts().items()}

    def _score(self, users: np.ndarray) -> np.ndarray:
        weights = {
            "repeat": self.repeat_weight,
            "knn": self.knn_weight,
            "popularity": self.popularity_weight,
        }
        s = np.zeros((len(users), self.n_items))
        for name, part in self._parts().items():
            if weights[name]:  # a part weighted 0 is not scored at all
                s += weights[name] * _per_row_max_scaled(part._score(users))
        s[s <= 0] = -np.inf
        return s

    def _item_scores(self, item: int) -> np.ndarray:
        return self.knn._item_scores(item)

    def _state(self) -> dict[str, Any]:
        return {
            f"{name}/{key}": value
            for name, part in self._parts().items()
            for key, value in part._state().items()
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        for name, part in self._parts().items():
            part._set_state(
                {k.split("/", 1)[1]: v for k, v in state.items() if k.startswith(f"{name}/")}
            )
            part.n_users, part.n_items = self.n_users, self.n_items
