"""The hybrid ranker: generator candidates re-ranked by LightGBM lambdarank on a time split.

``fit`` holds out the last ``validation_days`` of the training interactions: candidates and
features (``portrait.recs.features``) come from the lines before that cut-off, the labels are
the items each user bought inside it, and LightGBM lambdarank learns to put those first (a
fifth of the users is kept aside for early stopping on NDCG@10). The generators and statistics
are then refitted on all the training lines, so ``recommend`` ranks with features as of the end
of training. The test window of an evaluation is never seen: it lies after the training lines.

    >>> from portrait.recs.ranker import HybridRanker
    >>> model = HybridRanker(n_estimators=50)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from portrait.recs.base import SECONDS_PER_DAY, Interactions, Recommender
from portrait.recs.features import FEATURES, CandidateFeatures

# Users bought in the validation window and before it: at most this many train the ranker.
MAX_TRAIN_USERS = 8000
# Training windows, each ``window_step_days`` before the last (the labels of the last 12 weeks
# at the defaults); a window without lines before it is skipped. Three (December-January only
# on Ta-Feng) tied the blend there; the two older ones, from before the holidays, won it.
TRAIN_WINDOWS = 6


def day_start(seconds: float) -> float:
    return float(np.floor(seconds / SECONDS_PER_DAY) * SECONDS_PER_DAY)


# With ``monotone``: more of what the user bought, of what similar buyers bought and of what
# sells should never lower an item's score, and a worse rank never raise it — a ranker
# bound so cannot learn a shape of one season that reverses in the next.
MONOTONE = {
    **dict.fromkeys(
        ("repeat_count", "repeat_decay", "item_share", "knn_score", "knn_scaled", "als_score",
         "pop_all", "pop_recent", "group_share", "group_item_count"), 1,
    ),
    **dict.fromkeys(("repeat_rank", "knn_rank", "als_rank", "pop_rank"), -1),
}  # fmt: skip


@dataclass(frozen=True)
class _Rows:
    """Labelled candidate rows of one training window (rows of a user adjacent)."""

    users: np.ndarray
    features: np.ndarray
    labels: np.ndarray


class HybridRanker(Recommender):
    """Candidates from repeat purchase, item-kNN, ALS and popularity, ranked by lambdarank.

    ``per_generator`` items from each generator (twice that from the user's own history) form a
    user's candidates. Item groups and prices (optional, ``with_item_attributes`` before
    ``fit``) add the user's affinity for the item's group and the price-band match.
    ``train_windows`` windows of ``validation_days``, each ``window_step_days`` before the
    last, give the training groups. LightGBM runs with ``threads`` threads and ``seed``.
    """

    name = "hybrid"

    def __init__(
        self,
        per_generator: int = 30,
        validation_days: int = 28,
        train_windows: int = TRAIN_WINDOWS,
        window_step_days: int = 14,
        n_estimators: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        neighbours: int = 100,
        als_factors: int = 64,
        max_train_users: int = MAX_TRAIN_USERS,
        threads: int = 1,
        seed: int = 0,
        drop_features: list[str] | None = None,
        monotone: bool = True,
    ) -> None:
        self.per_generator = per_generator
        self.validation_days = validation_days
        self.train_windows = train_windows
        self.window_step_days = window_step_days
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.neighbours = neighbours
        self.als_factors = als_factors
        self.max_train_users = max_train_users
        self.threads = threads
        self.seed = seed
        self.drop_features = list(drop_features or [])
        self.monotone = monotone
        self.item_groups: np.ndarray | None = None
        self.item_prices: np.ndarray | None = None
        self.features = self._new_features()
        self.booster: Any = None
        self.best_iteration = 0
        self.training: dict[str, Any] = {}

    def params(self) -> dict[str, Any]:
        return {
            "per_generator": self.per_generator,
            "validation_days": self.validation_days,
            "train_windows": self.train_windows,
            "window_step_days": self.window_step_days,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "neighbours": self.neighbours,
            "als_factors": self.als_factors,
            "max_train_users": self.max_train_users,
            "threads": self.threads,
            "seed": self.seed,
            "drop_features": self.drop_features,
            "monotone": self.monotone,
        }

    def with_item_attributes(
        self, groups: np.ndarray | None = None, prices: np.ndarray | None = None
    ) -> HybridRanker:
        """Per item: a group id (int >= 0; category, subclass, code prefix) for the affinity
        features and a typical unit price for the price-band features. Call before ``fit``."""
        self.item_groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.item_prices = None if prices is None else np.asarray(prices, dtype=np.float64)
        return self

    def _new_features(self) -> CandidateFeatures:
        return CandidateFeatures(
            per_generator=self.per_generator,
            neighbours=self.neighbours,
            als_factors=self.als_factors,
            item_groups=self.item_groups,
            item_prices=self.item_prices,
            seed=self.seed,
        )

    # -- training ---------------------------------------------------------------------------

    def _fit(self, interactions: Interactions) -> None:
        if interactions.timestamps is None:
            raise ValueError("the hybrid ranker needs interaction timestamps")
        end = day_start(float(interactions.timestamps.max())) + SECONDS_PER_DAY
        self.booster = None
        self.training = {}
        parts = [
            self._window_rows(interactions, end - w * self.window_step_days * SECONDS_PER_DAY)
            for w in range(self.train_windows)
        ]
        parts = [p for p in parts if p is not None]
        if parts:
            self._train(parts)
        self.features = self._new_features().fit(interactions, end=end)

    def _window_rows(self, data: Interactions, end: float) -> _Rows | None:
        """Candidates of the lines before ``end - validation_days``, labelled by the window."""
        ts = data.timestamps
        assert ts is not None
        cut = end - self.validation_days * SECONDS_PER_DAY
        before, window = ts < cut, (ts >= cut) & (ts < end)
        if not before.any() or not window.any():
            return None
        past = Interactions.from_arrays(
            data.users[before],
            data.items[before],
            timestamps=ts[before],
            n_users=data.n_users,
            n_items=data.n_items,
        )
        w_users, w_items = data.users[window], data.items[window]
        users = np.intersect1d(np.unique(past.users), np.unique(w_users))
        if len(users) > self.max_train_users:
            rng = np.random.default_rng([self.seed, int(end)])
            users = np.sort(rng.choice(users, self.max_train_users, replace=False))
        if not len(users):
            return None
        cand = self._new_features().fit(past, end=cut).build(users)
        truth = np.unique(w_users * data.n_items + w_items)
        label = np.isin(users[cand.rows] * data.n_items + cand.items, truth).astype(np.float32)
        positives = np.bincount(cand.rows, weights=label, minlength=len(users))
        keep = positives[cand.rows] > 0  # a user without a hit teaches lambdarank nothing
        return _Rows(users[cand.rows[keep]], self._masked(cand.features[keep]), label[keep])

    def _masked(self, x: np.ndarray) -> np.ndarray:
        """``x`` with the ``drop_features`` columns missing (NaN)."""
        for name in self.drop_features:
            x[:, FEATURES.index(name)] = np.nan
        return x

    def _train(self, parts: list[_Rows]) -> None:
        import lightgbm as lgb

        # Groups: one per (window, user), rows of a group adjacent.
        group_id = np.concatenate([p.users + w * (self.n_users + 1) for w, p in enumerate(parts)])
        users = np.concatenate([p.users for p in parts])
        x = np.vstack([p.features for p in parts])
        label = np.concatenate([p.labels for p in parts])
        distinct = np.unique(users)
        if len(distinct) < 2:
            return
        # Early stopping on a fifth of the users (all their windows), seeded.
        rng = np.random.default_rng(self.seed)
        stop = np.isin(users, rng.choice(distinct, max(1, len(distinct) // 5), replace=False))

        def dataset(mask: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
            _, sizes = np.unique(group_id[mask], return_counts=True)
            # np.unique sorts group ids: rows must follow the same order.
            order = np.argsort(group_id[mask], kind="stable")
            return lgb.Dataset(
                x[mask][order],
                label[mask][order],
                group=sizes,
                feature_name=list(FEATURES),
                reference=reference,
            )

        params = {
            "objective": "lambdarank",
            "metric": "ndcg",
            "eval_at": [10],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambdarank_truncation_level": 20,
            "num_threads": self.threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        if self.monotone:
            params["monotone_constraints"] = [MONOTONE.get(f, 0) for f in FEATURES]
            params["monotone_constraints_method"] = "advanced"
        train_set = dataset(~stop)
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=[dataset(stop, train_set)],
            callbacks=[lgb.early_stopping(40, verbose=False)],
        )
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        self.booster = booster
        self.training = {
            "windows": len(parts),
            "users": len(distinct),
            "rows": len(label),
            "positives": int(label.sum()),
            "best_iteration": self.best_iteration,
            "stop_ndcg@10": round(float(booster.best_score["valid_0"]["ndcg@10"]), 4),
        }

    # -- scoring ----------------------------------------------------------------------------

    def _score(self, users: np.ndarray) -> np.ndarray:
        out = np.full((len(users), self.n_items), -np.inf)
        cand = self.features.build(users)
        if not len(cand.rows):
            return out
        out[cand.rows, cand.items] = self._predict(self._masked(cand.features))
        return out

    def _predict(self, x: np.ndarray) -> np.ndarray:
        if self.booster is None:
            # Nothing to learn from (too little history): repeat count, then kNN, then popularity.
            col = {name: j for j, name in enumerate(FEATURES)}
            f = np.nan_to_num(x)
            return (
                f[:, col["repeat_count"]] * 1e6
                + f[:, col["knn_score"]] * 1e3
                + np.log1p(f[:, col["pop_all"]]) * 1e-3
            )
        return self.booster.predict(
            x, num_iteration=self.best_iteration, num_threads=self.threads
        ).astype(np.float64)

    def _item_scores(self, item: int) -> np.ndarray:
        return self.features.knn._item_scores(item)

    def feature_importance(self) -> dict[str, float]:
        """Total gain of each feature in the trained booster (empty without one)."""
        if self.booster is None:
            return {}
        gain = self.booster.feature_importance(importance_type="gain")
        return dict(sorted(zip(FEATURES, gain.tolist(), strict=True), key=lambda kv: -kv[1]))

    # -- persistence ------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        state = self.features.state()
        text = "" if self.booster is None else self.booster.model_to_string()
        state["booster"] = np.frombuffer(text.encode(), dtype=np.uint8)
        state["best_iteration"] = np.asarray([self.best_iteration])
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        import lightgbm as lgb

        self.item_groups = state.get("interactions/groups")
        self.item_prices = state.get("interactions/prices")
        self.features = self._new_features()
        self.features.set_state(state, self.n_users, self.n_items)
        text = state["booster"].tobytes().decode()
        self.booster = lgb.Booster(model_str=text) if text else None
        self.best_iteration = int(state["best_iteration"][0])
