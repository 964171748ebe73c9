"""Matrix factorisation on implicit feedback: ALS from the ``implicit`` library."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from portrait.recs.base import Interactions, Recommender


class ALS(Recommender):
    """Implicit ALS (Hu, Koren & Volinsky 2008) on the user x item count matrix.

    ``bm25=True`` reweights the counts with BM25 (``bm25_k1``, ``bm25_b``) before fitting;
    ``alpha`` scales the confidence. Runs on the CPU with ``threads`` threads (1 by default, so
    a fit with the same ``seed`` gives the same factors). Scores are factor dot products.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 128,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        bm25: bool = True,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        seed: int = 42,
        threads: int = 1,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.bm25 = bm25
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.seed = seed
        self.threads = threads
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "bm25": self.bm25,
            "bm25_k1": self.bm25_k1,
            "bm25_b": self.bm25_b,
            "seed": self.seed,
            "threads": self.threads,
        }

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.nearest_neighbours import bm25_weight

        m = interactions.to_csr()
        if self.bm25:
            m = bm25_weight(m, K1=self.bm25_k1, B=self.bm25_b).tocsr()
        # implicit warns (and slows down) when BLAS runs its own thread pool beside ALS's.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=self.threads,
            )
            model.fit(sp.csr_matrix(m, dtype=np.float32), show_progress=False)
        self.user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.user_factors[users] @ self.item_factors.T).astype(np.float64)

    def _item_scores(self, item: int) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors, axis=1)
        norms[norms == 0] = 1.0
        v = self.item_factors[item] / norms[item]
        return (self.item_factors @ v / norms).astype(np.float64)

    def _state(self) -> dict[str, Any]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.user_factors = state["user_factors"]
        self.item_factors = state["item_factors"]
