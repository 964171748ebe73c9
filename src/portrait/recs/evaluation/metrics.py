"""Top-k metrics per user, catalogue coverage, and user-bootstrap confidence intervals.

Recall@k = hits in the top k / |truth|; NDCG@k with binary gain and the ideal DCG over
min(|truth|, k); hit rate@k = at least one hit; coverage@k = distinct items recommended in
anybody's top k / catalogue size.

Coverage gets no interval: it counts distinct items over a set of users, and a resample (with
repeated users, ~63% of them distinct) always covers less, so its percentile interval would
sit below the value it is meant to bracket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from portrait.recs.base import NO_ITEM

METRICS = ("recall@10", "recall@20", "ndcg@10", "hit_rate@10", "coverage@10")


@dataclass(frozen=True)
class Estimate:
    """A metric's value on all test users and its bootstrap interval (None: no interval)."""

    value: float
    low: float | None = None
    high: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


def hits_matrix(rec_ids: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Boolean (users x k): is the item at each rank in that user's truth?"""
    n, k = rec_ids.shape
    valid = rec_ids != NO_ITEM
    rows = np.repeat(np.arange(n), k)
    cols = np.where(valid, rec_ids, 0).ravel()
    found = np.asarray(truth[rows, cols]).reshape(n, k) > 0
    return found & valid


def per_user(
    rec_ids: np.ndarray, truth: sp.csr_matrix, truth_sizes: np.ndarray
) -> dict[str, np.ndarray]:
    """Recall@10/@20, NDCG@10 and hit rate@10 of every test user (arrays of length n)."""
    hits = hits_matrix(rec_ids[:, :20], truth)
    sizes = np.maximum(np.asarray(truth_sizes, dtype=np.float64), 1.0)
    discount = 1.0 / np.log2(np.arange(2, 12))
    dcg = (hits[:, :10] * discount).sum(axis=1)
    ideal = np.cumsum(discount)[np.minimum(np.asarray(truth_sizes), 10).clip(min=1) - 1]
    return {
        "recall@10": hits[:, :10].sum(axis=1) / sizes,
        "recall@20": hits[:, :20].sum(axis=1) / sizes,
        "ndcg@10": dcg / ideal,
        "hit_rate@10": hits[:, :10].any(axis=1).astype(np.float64),
    }


def coverage(rec_ids: np.ndarray, n_items: int, k: int = 10) -> float:
    """Share of the catalogue that appears in at least one user's top k."""
    top = rec_ids[:, :k]
    return len(np.unique(top[top != NO_ITEM])) / n_items if n_items else 0.0


def evaluate_lists(
    rec_ids: np.ndarray,
    truth: sp.csr_matrix,
    truth_sizes: np.ndarray,
    n_items: int,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Estimate]:
    """Every metric of ``METRICS``, the per-user means with a percentile interval over users
    resampled with replacement (the same resamples for every metric; same seed, same interval)."""
    values = per_user(rec_ids, truth, truth_sizes)
    n = rec_ids.shape[0]
    if n == 0:
        raise ValueError("no test users to evaluate")
    stacked = np.column_stack([values[m] for m in METRICS[:4]])
    low, high = bootstrap_interval(stacked, resamples, seed, level)
    estimates = {
        m: Estimate(float(values[m].mean()), float(low[j]), float(high[j]))
        for j, m in enumerate(METRICS[:4])
    }
    estimates["coverage@10"] = Estimate(coverage(rec_ids, n_items))
    return estimates


def bootstrap_interval(
    values: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the column means of ``values`` (users x columns) over users
    resampled with replacement; the same ``seed`` draws the same users for any ``values``."""
    n = values.shape[0]
    boot = np.empty((resamples, values.shape[1]))
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, 100):
        b = min(100, resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + np.arange(b)[:, None] * n).ravel()
        counts = np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        boot[start : start + b] = counts @ values / n
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return low, high


def paired_difference(
    a: np.ndarray, b: np.ndarray, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> Estimate:
    """Mean of ``a - b`` (per-user values of two models on the same users) with its paired
    bootstrap interval: each resample draws the same users for both models (the draws of
    ``evaluate_lists`` with that seed), so the interval is that of the difference itself."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError("paired values must be two 1-D arrays over the same (non-empty) users")
    d = (a - b)[:, None]
    low, high = bootstrap_interval(d, resamples, seed, level)
    return Estimate(float(d.mean()), float(low[0]), float(high[0]))
