"""Popularity: the same list for everyone, over all time or a recent window."""

from __future__ import annotations

from typing import Any

import numpy as np

from portrait.recs.base import SECONDS_PER_DAY, Interactions, Recommender


class Popularity(Recommender):
    """Items ranked by their number of distinct buyers.

    ``window_days``: count only the last N days before the latest interaction (needs
    timestamps); None counts everything. Items nobody bought in the window get no score.
    """

    name = "popularity"
    needs_history = False

    def __init__(self, window_days: float | None = None) -> None:
        self.window_days = window_days
        self.counts = np.zeros(0)

    def params(self) -> dict[str, Any]:
        return {"window_days": self.window_days}

    def _fit(self, interactions: Interactions) -> None:
        keep = np.ones(len(interactions.users), dtype=bool)
        if self.window_days is not None:
            if interactions.timestamps is None:
                raise ValueError("Popularity(window_days=...) needs interaction timestamps")
            end = interactions.last_timestamp or 0.0
            keep = interactions.timestamps > end - self.window_days * SECONDS_PER_DAY
        pairs = np.unique(
            interactions.users[keep] * interactions.n_items + interactions.items[keep]
        )
        self.counts = np.bincount(
            pairs % max(interactions.n_items, 1), minlength=interactions.n_items
        ).astype(np.float64)

    def _scores_row(self) -> np.ndarray:
        return np.where(self.counts > 0, self.counts, -np.inf)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._scores_row(), (len(users), self.n_items))

    def _item_scores(self, item: int) -> np.ndarray:
        return self._scores_row()

    def _state(self) -> dict[str, Any]:
        return {"counts": self.counts}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.counts = state["counts"]
