"""Recall@k and NDCG@k of the next-basket protocol (Li et al., TOIS 2023).

Recall@k = hits in the top k / |target|. NDCG@k has binary gain and its ideal DCG runs over
the whole target basket: sum_{i=1}^{|target|} 1/log2(i+1), not over min(|target|, k) as in
the temporal protocol, so a user with more than k target items cannot reach 1.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from portrait.recs.base import NO_ITEM


def per_user(rec_ids: np.ndarray, target: sp.csr_matrix, k: int = 10) -> dict[str, np.ndarray]:
    """Recall@k and NDCG@k of every row (``rec_ids[r]`` ranked best first against
    ``target[r]``; -1 pads a short list and never hits)."""
    top = np.asarray(rec_ids)[:, :k]
    n, width = top.shape
    valid = top != NO_ITEM
    rows = np.repeat(np.arange(n), width)
    found = np.asarray(target[rows, np.where(valid, top, 0).ravel()]).reshape(n, width) > 0
    hits = found & valid
    sizes = np.diff(target.indptr)
    discount = 1.0 / np.log2(np.arange(2, width + 2))
    max_size = max(int(sizes.max(initial=0)), 1)
    ideal_by_size = np.concatenate([[1.0], np.cumsum(1.0 / np.log2(np.arange(2, max_size + 2)))])
    denom = np.maximum(sizes, 1)
    return {
        f"recall@{k}": hits.sum(axis=1) / denom,
        f"ndcg@{k}": (hits * discount).sum(axis=1) / ideal_by_size[denom],
    }


def basket_metrics(rec_ids: np.ndarray, target: sp.csr_matrix, k: int = 10) -> dict[str, float]:
    """Mean Recall@k and NDCG@k over the rows of ``target``."""
    return {name: float(v.mean()) for name, v in per_user(rec_ids, target, k).items()}
