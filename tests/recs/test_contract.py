"""One contract, every generator: the same known-answer checks run against each model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import BlockShop
from portrait.recs import ALS, Blend, ItemKNN, Popularity, Recommender, RepeatPurchase
from portrait.recs.base import NO_ITEM
from portrait.recs.ranker import HybridRanker

# (factory, personal): a personal model must recommend inside the user's own block.
MODELS = {
    "popularity": (lambda: Popularity(), False),
    "popularity-window": (lambda: Popularity(window_days=30), False),
    "repeat": (lambda: RepeatPurchase(), True),
    "repeat-decay": (lambda: RepeatPurchase(half_life_days=14), True),
    "item-knn": (lambda: ItemKNN(neighbours=20), True),
    "als": (lambda: ALS(factors=8, iterations=10, regularization=0.05, seed=3), True),
    "blend": (lambda: Blend(knn_weight=0.3, popularity_weight=0.1, neighbours=20), True),
    "hybrid": (
        lambda: HybridRanker(n_estimators=20, als_factors=8, train_windows=2, neighbours=20),
        True,
    ),
}
SIMILARITY = {"popularity", "popularity-window", "item-knn", "als", "blend", "hybrid"}


@pytest.fixture(params=list(MODELS), scope="module")
def fitted(request: pytest.FixtureRequest, shop: BlockShop) -> tuple[str, Recommender, bool]:
    factory, personal = MODELS[request.param]
    return request.param, factory().fit(shop.interactions), personal


def test_recommendations_have_the_contract_shape(fitted, shop: BlockShop) -> None:
    _, model, _ = fitted
    rec = model.recommend(np.arange(5), k=4)
    assert rec.ids.shape == rec.scores.shape == (5, 4)
    assert rec.ids.dtype == np.int64
    for row in range(5):
        ids, scores = rec.for_user(row)
        assert len(set(ids.tolist())) == len(ids)
        assert np.all((ids >= 0) & (ids < shop.n_items))
        assert np.all(np.diff(scores) <= 0)


def test_personal_models_recommend_inside_the_users_block(fitted, shop: BlockShop) -> None:
    name, model, personal = fitted
    users = np.arange(shop.interactions.n_users)
    rec = model.recommend(users, k=3)
    if not personal:
        # The same list for everyone, led by the item with the most buyers.
        assert (rec.ids == rec.ids[0]).all()
        return
    blocks = shop.item_block[rec.ids]
    assert (rec.ids != NO_ITEM).all(), name
    assert (blocks == shop.user_block[:, None]).all(), name


def test_popularity_ranks_by_buyers(shop: BlockShop) -> None:
    x = shop.interactions.to_csr(binary=True)
    buyers = np.asarray(x.sum(axis=0)).ravel()
    rec = Popularity().fit(shop.interactions).recommend([0], k=5)
    assert rec.scores[0].tolist() == sorted(buyers, reverse=True)[:5]


def test_save_load_round_trip(fitted, tmp_path: Path) -> None:
    name, model, _ = fitted
    path = model.save(tmp_path / f"{name}.npz")
    again = Recommender.load(path)
    assert type(again) is type(model)
    assert again.params() == model.params()
    users = np.arange(-1, 61)
    a, b = model.recommend(users, k=7), again.recommend(users, k=7)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    if name in SIMILARITY:
        np.testing.assert_array_equal(model.similar_items(3, 5).ids, again.similar_items(3, 5).ids)


def test_unknown_users_get_an_answer_not_an_error(fitted, shop: BlockShop) -> None:
    _, model, personal = fitted
    rec = model.recommend([-5, shop.interactions.n_users, 10**9], k=3)
    assert rec.ids.shape == (3, 3)
    if personal:
        assert (rec.ids == NO_ITEM).all()
        assert np.isneginf(rec.scores).all()
    else:
        assert (rec.ids != NO_ITEM).all()


def test_k_larger_than_the_catalogue_is_padded(fitted, shop: BlockShop) -> None:
    _, model, _ = fitted
    k = shop.n_items + 5
    rec = model.recommend([0, 1], k=k)
    assert rec.ids.shape == (2, k)
    assert (rec.ids[:, shop.n_items :] == NO_ITEM).all()
    ids, _ = rec.for_user(0)
    assert len(ids) <= shop.n_items


def test_exclude_removes_items(fitted, shop: BlockShop) -> None:
    _, model, _ = fitted
    users = np.arange(6)
    bought = shop.interactions.to_csr()[users]
    rec = model.recommend(users, k=10, exclude=bought)
    for row in range(len(users)):
        ids, _ = rec.for_user(row)
        assert not set(ids.tolist()) & set(bought[row].indices.tolist())
    everyone = model.recommend(users, k=10, exclude=[0, 1, 2])
    assert not np.isin(everyone.ids, [0, 1, 2]).any()


def test_similar_items(fitted, shop: BlockShop) -> None:
    name, model, personal = fitted
    if name not in SIMILARITY:
        with pytest.raises(NotImplementedError):
            model.similar_items(0, 3)
        return
    rec = model.similar_items(4, k=3)
    ids, _ = rec.for_user(0)
    assert 4 not in ids.tolist()
    assert len(ids) == 3
    if personal:
        assert (shop.item_block[ids] == shop.item_block[4]).all()
    assert (model.similar_items(10**6, 3).ids == NO_ITEM).all()


def test_same_seed_same_model(fitted, shop: BlockShop) -> None:
    name, model, _ = fitted
    again = MODELS[name][0]().fit(shop.interactions)
    users = np.arange(10)
    np.testing.assert_array_equal(model.recommend(users, 5).ids, again.recommend(users, 5).ids)


def test_fit_accepts_a_csr_matrix(fitted, shop: BlockShop) -> None:
    name = fitted[0]
    if name in ("popularity-window", "repeat-decay", "blend", "hybrid"):
        with pytest.raises(ValueError, match="timestamps"):
            MODELS[name][0]().fit(shop.interactions.to_csr())
        return
    model = MODELS[name][0]().fit(shop.interactions.to_csr())
    assert model.recommend([0], 3).ids.shape == (1, 3)


def test_unfitted_model_says_so() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ItemKNN().recommend([0], 3)


def test_blend_of_repeat_alone_ranks_like_repeat(shop: BlockShop) -> None:
    users = np.arange(shop.interactions.n_users)
    blend = Blend(knn_weight=0.0, popularity_weight=0.0, half_life_days=14).fit(shop.interactions)
    repeat = RepeatPurchase(half_life_days=14).fit(shop.interactions)
    np.testing.assert_array_equal(blend.recommend(users, 8).ids, repeat.recommend(users, 8).ids)
