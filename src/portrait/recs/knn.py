"""Item-to-item co-occurrence (item-kNN): items bought by the same users as the user's items."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from portrait.recs.base import Interactions, Recommender


class ItemKNN(Recommender):
    """Cosine similarity between item columns of the binary user x item matrix.

    Each item keeps only its ``neighbours`` most similar items (a sparse item x item matrix);
    a user's score for item j is the sum of similarities between j and the items they bought.
    The item itself is not its own neighbour, so a bought item is recommended again only when
    it is similar to the user's other items. ``shrink`` damps similarities of rare pairs.
    """

    name = "item-knn"

    def __init__(self, neighbours: int = 100, shrink: float = 0.0) -> None:
        self.neighbours = neighbours
        self.shrink = shrink
        self.history = sp.csr_matrix((0, 0))
        self.similarity = sp.csr_matrix((0, 0))

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours, "shrink": self.shrink}

    def _fit(self, interactions: Interactions) -> None:
        x = interactions.to_csr(binary=True)
        self.history = x
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        coo = co.tocoo()
        sim = coo.data / (norms[coo.row] * norms[coo.col] + self.shrink)
        full = sp.csr_matrix((sim, (coo.row, coo.col)), shape=co.shape)
        self.similarity = keep_top_per_row(full, self.neighbours)

    def _score(self, users: np.ndarray) -> np.ndarray:
        s = (self.history[users] @ self.similarity).toarray()
        s[s <= 0] = -np.inf
        return s

    def _item_scores(self, item: int) -> np.ndarray:
        row = self.similarity[item].toarray().ravel()
        row[row <= 0] = -np.inf
        return row

    def _state(self) -> dict[str, Any]:
        return {"history": self.history, "similarity": self.similarity}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.history = state["history"]
        self.similarity = state["similarity"]


def keep_top_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``m`` with only the ``n`` largest entries of each row kept (ties: lower column id)."""
    m = sp.csr_matrix(m)
    m.sort_indices()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= n:
        return m
    keep = np.zeros(m.nnz, dtype=bool)
    for r in np.flatnonzero(counts):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi - lo <= n:
            keep[lo:hi] = True
            continue
        order = np.lexsort((m.indices[lo:hi], -m.data[lo:hi]))[:n]
        keep[lo + order] = True
    rows = np.repeat(np.arange(m.shape[0]), counts)
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
