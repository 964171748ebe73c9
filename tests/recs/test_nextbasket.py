"""The next-basket protocol on tiny hand-computed cases: preparation, split, metrics, models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from portrait.recs.nextbasket import basket_metrics, build_next_basket, split_users
from portrait.recs.nextbasket.models import (
    TIFUKNN,
    PersonalTopFreq,
    nearest_users,
    recent_popularity,
    recommend,
    tifu_user_vectors,
)
from portrait.recs.nextbasket.runner import paired_difference


def lines(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    """(user, day of January 2001, items as one string of letters) -> purchase lines."""
    out = [(u, item, pd.Timestamp(2001, 1, day)) for u, day, items in rows for item in items]
    return pd.DataFrame(out, columns=["user", "item", "day"])


def shop() -> pd.DataFrame:
    rows = [
        ("A", 1, "xy"), ("A", 2, "x"), ("A", 3, "xz"), ("A", 4, "xwy"),
        ("D", 1, "xy"), ("D", 2, "y"), ("D", 3, "zy"),
        ("D", 3, "y"),  # the same item twice on a day: one basket, one line
        ("B", 1, "z"), ("B", 2, "z"),  # two baskets: dropped, its z never counts
        ("F", 1, "x"), ("F", 2, "x"), ("F", 3, "z"),  # target holds only z: dropped
    ]  # fmt: skip
    return lines(rows)


def test_preparation_by_hand() -> None:
    many = pd.DataFrame({"user": "M", "item": "z", "day": pd.date_range("2001-01-01", periods=51)})
    df = pd.concat([shop(), many])  # M: 51 baskets, dropped
    data = build_next_basket(df)
    # history counts over A, D, F: x 3+1+2 = 6, y 1+2 = 3, z 1 -> keep x and y; w (target only)
    # and z (B's and M's baskets do not count) go.
    assert list(data.item_ids) == ["x", "y"]
    assert list(data.user_ids) == ["A", "D"]  # B: 2 baskets, M: 51, F: empty target
    assert data.target.toarray().tolist() == [[1, 1], [0, 1]]
    assert data.history.toarray().tolist() == [[1, 1], [1, 0], [1, 0], [1, 1], [0, 1]]
    assert data.basket_user.tolist() == [0, 0, 0, 1, 1]
    assert data.basket_pos.tolist() == [0, 1, 2, 0, 1]
    assert data.target_day.tolist()[0] == pd.Timestamp(2001, 1, 4).value


def test_split_is_72_8_20_disjoint_and_seeded() -> None:
    train, val, test = split_users(100, seed=3)
    assert (len(train), len(val), len(test)) == (72, 8, 20)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    again = split_users(100, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(train, split_users(100, seed=4)[0])


def test_metrics_by_hand() -> None:
    target = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 1, 1, 0]], dtype=np.float32))
    rec = np.array([[0, 1, 2, -1], [2, 3, -1, -1]])
    got = basket_metrics(rec, target, k=4)
    d1, d2, d3 = 1.0, 1 / np.log2(3), 0.5
    # user 0: one hit (item 1) at rank 2 of a 2-item target; user 1: item 2 at rank 1 of 3
    assert got["recall@4"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert got["ndcg@4"] == pytest.approx((d2 / (d1 + d2) + d1 / (d1 + d2 + d3)) / 2)


def test_ndcg_ideal_runs_over_the_whole_target() -> None:
    target = sp.csr_matrix(np.ones((1, 12), dtype=np.float32))
    got = basket_metrics(np.arange(10)[None, :], target, k=10)
    discounts = 1 / np.log2(np.arange(2, 14))
    assert got["recall@10"] == pytest.approx(10 / 12)
    assert got["ndcg@10"] == pytest.approx(discounts[:10].sum() / discounts.sum())
    assert got["ndcg@10"] < 1


def three_baskets() -> pd.DataFrame:
    # one user, oldest to newest: {x}, {y}, {x, z}, then the target {x}
    rows = [("U", 1, "x"), ("U", 2, "y"), ("U", 3, "xz"), ("U", 4, "x")]
    rows += [("V", d, "xyz") for d in (1, 2, 3, 4)]  # keeps every item above 3 history baskets
    return lines(rows)


def test_tifu_vector_by_hand() -> None:
    data = build_next_basket(three_baskets())
    vec = tifu_user_vectors(data, group_size=2, within_decay=0.5, group_decay=0.5).toarray()
    # groups from the newest: {b3, b2} and {b1}. Group 1 = (1 * {x,z} + 0.5 * {y}) / 2,
    # group 2 = {x}; user = (group 1 + 0.5 * group 2) / 2.
    x, y, z = (0.5 + 0.5) / 2, 0.25 / 2, 0.5 / 2
    assert vec[0] == pytest.approx([x, y, z])
    # V: three equal baskets, one group of 2 and one of 1
    v = (1.5 / 2 + 0.5 * 1) / 2
    assert vec[1] == pytest.approx([v, v, v])


def test_nearest_users_cosine_without_self() -> None:
    vectors = sp.csr_matrix(np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 1], [0.5, 0.5, 0]]))
    near = nearest_users(vectors, np.array([0]), k=3)
    assert near.tolist() == [[1, 3, 2]]


def test_tifu_blends_own_and_neighbours() -> None:
    data = build_next_basket(three_baskets())
    params = dict(group_size=2, within_decay=0.5, group_decay=0.5, neighbours=1)
    own = tifu_user_vectors(data, 2, 0.5, 0.5).toarray()
    got = TIFUKNN(**params, alpha=0.25).fit(data).scores(np.array([0]))
    assert got[0] == pytest.approx(0.25 * own[0] + 0.75 * own[1])


def test_personal_top_frequency_ranks_by_baskets_then_recency() -> None:
    data = build_next_basket(three_baskets())
    rec = recommend(PersonalTopFreq().fit(data), np.array([0]), k=3)
    # x in 2 baskets; y and z in one each, z the more recent; nothing else is recommended
    assert rec.tolist() == [[0, 2, 1]]
    short = recommend(PersonalTopFreq().fit(data), np.array([0]), k=5)
    assert short.tolist() == [[0, 2, 1, -1, -1]]


def test_recent_popularity_counts_only_the_days_before() -> None:
    data = build_next_basket(three_baskets())
    days = np.array(["2001-01-04", "2001-01-03", "2001-01-02"], dtype="datetime64[ns]")
    pop = recent_popularity(data, days, window_days=2)
    # U's {x} {y} {x,z} and V's {x,y,z} on Jan 1, 2, 3: for the 4th, Jan 2 and 3 count; for
    # the 3rd, Jan 1 and 2; for the 2nd, Jan 1 only
    assert pop.tolist() == [[3, 3, 3], [3, 3, 2], [2, 1, 1]]


def test_paired_difference_interval() -> None:
    a, b = np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0, 0.0])
    assert paired_difference(a, b, resamples=50) == {"value": 1.0, "low": 1.0, "high": 1.0}
