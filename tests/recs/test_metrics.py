"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from portrait.recs.evaluation.metrics import coverage, evaluate_lists, per_user


def padded(rows: list[list[int]], k: int = 20) -> np.ndarray:
    return np.array([r + [-1] * (k - len(r)) for r in rows], dtype=np.int64)


def truth_of(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [j for items in rows for j in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def test_hand_computed_case() -> None:
    # user 0: truth {1, 2}; hits at ranks 1 and 3.
    # user 1: truth {5} plus one item unseen in training (counts in |truth|); hit at rank 2.
    # user 2: truth {7}; found only at rank 15 (recall@20, not @10).
    rec = padded([[1, 3, 2], [4, 5], [*range(8, 22)[:14], 7]])
    truth = truth_of([[1, 2], [5], [7]], n_items=30)
    sizes = np.array([2, 2, 1])
    m = per_user(rec, truth, sizes)
    log2 = math.log2
    assert m["recall@10"].tolist() == [1.0, 0.5, 0.0]
    assert m["recall@20"].tolist() == [1.0, 0.5, 1.0]
    assert m["hit_rate@10"].tolist() == [1.0, 1.0, 0.0]
    expected = [
        (1 + 1 / log2(4)) / (1 + 1 / log2(3)),
        (1 / log2(3)) / (1 + 1 / log2(3)),
        0.0,
    ]
    np.testing.assert_allclose(m["ndcg@10"], expected)


def test_ideal_dcg_stops_at_ten() -> None:
    # 12 truth items, all of the top 10 hit: NDCG is exactly 1, recall@10 is 10/12.
    rec = padded([list(range(20))])
    m = per_user(rec, truth_of([list(range(12))], 30), np.array([12]))
    assert m["ndcg@10"][0] == pytest.approx(1.0)
    assert m["recall@10"][0] == pytest.approx(10 / 12)


def test_coverage_counts_distinct_items_of_the_top_ten() -> None:
    rec = padded([[1, 2, 3], [3, 4], list(range(10, 30))])  # ranks 11+ of row 3 not counted
    assert coverage(rec, n_items=40) == pytest.approx((4 + 10) / 40)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(1)
    n = 300
    rec = np.tile(np.arange(20), (n, 1))
    truth = sp.csr_matrix((rng.random((n, 40)) < 0.2).astype(float))
    sizes = np.maximum(np.asarray(truth.sum(axis=1)).ravel().astype(int), 1)
    a = evaluate_lists(rec, truth, sizes, n_items=40, resamples=200, seed=5)
    b = evaluate_lists(rec, truth, sizes, n_items=40, resamples=200, seed=5)
    assert a == b
    for name in ("recall@10", "recall@20", "ndcg@10", "hit_rate@10"):
        e = a[name]
        assert e.low < e.value < e.high, name
    assert a["coverage@10"].value == pytest.approx(10 / 40)
    assert a["coverage@10"].low is None


def test_identical_users_give_a_zero_width_interval() -> None:
    rec = padded([[1, 2]] * 5)
    e = evaluate_lists(rec, truth_of([[1]] * 5, 5), np.ones(5, int), 5, resamples=50)
    assert e["ndcg@10"].low == e["ndcg@10"].value == e["ndcg@10"].high == 1.0
