"""Candidates and their features for the hybrid ranker (``portrait.recs.ranker``).

``CandidateFeatures`` is fitted on interactions like a generator: it fits the generators
(repeat purchase, item-kNN, ALS, popularity all time and recent) and the purchase statistics
of every user, item and (user, item) pair. ``build(users)`` then gives, per user, the union of
each generator's top items and one row of features per (user, candidate) pair: each generator's
score and rank, how often and how lately the user bought the item, its share of the user's
purchases, the item's popularity (all time, recent, trend), repurchase rate and age, the user's
tenure and activity, and the user's affinity for the item's group (``item_groups``: a category,
a product subclass, a stock-code prefix) and the item's price against the user's typical price
(``item_prices``) when they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from portrait.recs.als import ALS
from portrait.recs.base import SECONDS_PER_DAY, Interactions, Recommender
from portrait.recs.knn import ItemKNN
from portrait.recs.popularity import Popularity
from portrait.recs.repeat import RepeatPurchase

RECENT_DAYS = 30.0
# Bounds the dense (block x catalogue) score matrices while candidates are drawn.
BLOCK = 256

FEATURES = (
    "repeat_count",
    "repeat_decay",
    "repeat_rank",
    "days_since_item",
    "days_since_first_item",
    "item_share",
    "item_gap_ratio",
    "knn_score",
    "knn_scaled",
    "knn_rank",
    "als_score",
    "als_rank",
    "pop_all",
    "pop_recent",
    "pop_rank",
    "pop_trend",
    "item_repurchase_rate",
    "item_age_days",
    "item_days_since_sold",
    "user_baskets",
    "user_items",
    "user_tenure_days",
    "user_days_since_last",
    "user_mean_gap_days",
    "user_basket_size",
    "group_share",
    "group_item_count",
    "group_pop_share",
    "item_price",
    "price_vs_user",
    "price_band_z",
)


@dataclass(frozen=True)
class Candidates:
    """(user row, item) pairs, grouped by row in ascending order, with their feature rows."""

    rows: np.ndarray
    items: np.ndarray
    features: np.ndarray


class CandidateFeatures:
    """Generators and purchase statistics of one training period (see the module docstring).

    ``per_generator``: how many of each generator's best items join a user's candidates.
    """

    def __init__(
        self,
        per_generator: int = 30,
        neighbours: int = 100,
        als_factors: int = 64,
        als_iterations: int = 15,
        item_groups: np.ndarray | None = None,
        item_prices: np.ndarray | None = None,
        seed: int = 0,
    ) -> None:
        self.per_generator = per_generator
        self.item_groups = item_groups
        self.item_prices = item_prices
        self.repeat = RepeatPurchase()
        self.decay = RepeatPurchase(half_life_days=RECENT_DAYS)
        self.knn = ItemKNN(neighbours=neighbours)
        self.als = ALS(factors=als_factors, iterations=als_iterations, seed=seed)
        self.pop = Popularity()
        self.pop_recent = Popularity(window_days=RECENT_DAYS)
        self.n_users = self.n_items = 0
        self.end = 0.0

    def parts(self) -> dict[str, Recommender]:
        return {
            "repeat": self.repeat,
            "decay": self.decay,
            "knn": self.knn,
            "als": self.als,
            "pop": self.pop,
            "pop_recent": self.pop_recent,
        }

    def fit(self, data: Interactions, end: float | None = None) -> CandidateFeatures:
        """Fit every generator and the statistics; ``end`` (seconds) is "now" for recency."""
        if data.timestamps is None:
            raise ValueError("the hybrid ranker needs interaction timestamps")
        self.n_users, self.n_items = data.n_users, data.n_items
        for part in self.parts().values():
            part.fit(data)
        self.set_interactions(data.users, data.items, data.timestamps, end)
        return self

    def set_interactions(
        self, users: np.ndarray, items: np.ndarray, ts: np.ndarray, end: float | None
    ) -> None:
        """The purchase statistics (cheap; recomputed after ``load`` instead of stored)."""
        self.users_, self.items_, self.ts_ = users, items, ts
        self.end = float(ts.max()) if end is None and len(ts) else float(end or 0.0)
        nu, ni = self.n_users, self.n_items
        key = users * ni + items
        order = np.lexsort((ts, key))
        ks, tk = key[order], ts[order]
        first = np.r_[True, ks[1:] != ks[:-1]] if len(ks) else np.zeros(0, dtype=bool)
        last = np.r_[ks[1:] != ks[:-1], True] if len(ks) else np.zeros(0, dtype=bool)
        self.pair_keys = ks[first]
        self.pair_first = tk[first]
        self.pair_last = tk[last]
        self.pair_count = np.diff(np.r_[np.flatnonzero(first), len(ks)]).astype(np.float64)
        pair_user = self.pair_keys // max(ni, 1)
        pair_item = self.pair_keys % max(ni, 1)
        # Baskets: distinct (user, time) pairs.
        baskets = np.unique(users.astype(np.float64) * 1e10 + ts)  # ts < 1e10 s
        basket_user = (baskets // 1e10).astype(np.int64)
        self.user_baskets = np.bincount(basket_user, minlength=nu).astype(np.float64)
        self.user_lines = np.bincount(users, minlength=nu).astype(np.float64)
        self.user_items = np.bincount(pair_user, minlength=nu).astype(np.float64)
        u_first = np.full(nu, np.inf)
        u_last = np.full(nu, -np.inf)
        np.minimum.at(u_first, users, ts)
        np.maximum.at(u_last, users, ts)
        seen = self.user_baskets > 0
        self.user_tenure = np.where(seen, (self.end - u_first) / SECONDS_PER_DAY, np.nan)
        self.user_since_last = np.where(seen, (self.end - u_last) / SECONDS_PER_DAY, np.nan)
        span = np.where(seen, (u_last - u_first) / SECONDS_PER_DAY, np.nan)
        multi = self.user_baskets > 1
        self.user_gap = np.full(nu, np.nan)
        self.user_gap[multi] = span[multi] / (self.user_baskets[multi] - 1)
        buyers = np.bincount(pair_item, minlength=ni).astype(np.float64)
        again = np.bincount(pair_item[self.pair_count > 1], minlength=ni).astype(np.float64)
        self.item_repurchase = np.divide(again, buyers, out=np.zeros(ni), where=buyers > 0)
        i_first = np.full(ni, np.inf)
        i_last = np.full(ni, -np.inf)
        np.minimum.at(i_first, items, ts)
        np.maximum.at(i_last, items, ts)
        self.item_age = np.where(buyers > 0, (self.end - i_first) / SECONDS_PER_DAY, np.nan)
        self.item_since_sold = np.where(buyers > 0, (self.end - i_last) / SECONDS_PER_DAY, np.nan)
        self.pop_rank = np.empty(ni)
        self.pop_rank[np.argsort(-self.pop.counts, kind="stable")] = np.arange(1, ni + 1)
        self._fit_groups(pair_user, pair_item)
        self._fit_prices(users, items)

    def _fit_prices(self, users: np.ndarray, items: np.ndarray) -> None:
        """The user's typical price: mean and spread of log item prices over their lines."""
        prices = self.item_prices
        self.has_prices = prices is not None and len(prices) == self.n_items
        if not self.has_prices:
            return
        assert prices is not None
        self.log_price = np.log(np.where(prices > 0, prices, np.nan))
        lp = self.log_price[items]
        ok = np.isfinite(lp)
        n = np.bincount(users[ok], minlength=self.n_users).astype(np.float64)
        total = np.bincount(users[ok], weights=lp[ok], minlength=self.n_users)
        squares = np.bincount(users[ok], weights=lp[ok] ** 2, minlength=self.n_users)
        self.user_log_price = np.full(self.n_users, np.nan)
        self.user_log_spread = np.full(self.n_users, np.nan)
        seen = n > 0
        self.user_log_price[seen] = total[seen] / n[seen]
        var = squares[seen] / n[seen] - self.user_log_price[seen] ** 2
        self.user_log_spread[seen] = np.sqrt(np.maximum(var, 0.0)) + 0.1

    def _fit_groups(self, pair_user: np.ndarray, pair_item: np.ndarray) -> None:
        groups = self.item_groups
        if groups is None or len(groups) != self.n_items:
            self.group_key = np.zeros(0, dtype=np.int64)
            self.group_count = np.zeros(0)
            self.group_pop = np.zeros(0)
            return
        n_groups = int(groups.max()) + 1 if len(groups) else 1
        gkey = pair_user * n_groups + groups[pair_item]
        self.group_key, counts = np.unique(gkey, return_counts=True)
        self.group_count = counts.astype(np.float64)
        pop = np.bincount(groups[pair_item], minlength=n_groups).astype(np.float64)
        self.group_pop = pop / max(pop.sum(), 1.0)
        self.n_groups = n_groups

    # -- candidates and features ----------------------------------------------------------

    def build(self, users: np.ndarray) -> Candidates:
        """Candidates and features of ``users`` (ids inside the fitted range)."""
        rows, items, feats = [], [], []
        for start in range(0, len(users), BLOCK):
            block = users[start : start + BLOCK]
            r, i, f = self._build_block(block)
            rows.append(r + start)
            items.append(i)
            feats.append(f)
        if not rows:
            return Candidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0)))
        return Candidates(np.concatenate(rows), np.concatenate(items), np.vstack(feats))

    def _build_block(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.per_generator
        scores = {
            "repeat": self.repeat._score(block),
            "knn": self.knn._score(block),
            "als": self.als._score(block),
        }
        pop_row = np.where(self.pop.counts > 0, self.pop.counts, -np.inf)
        mask = np.zeros((len(block), self.n_items), dtype=bool)
        ranks: dict[str, np.ndarray] = {}
        for name, s in scores.items():
            width = min(n if name != "repeat" else 2 * n, self.n_items)
            top = _top_columns(s, width)
            valid = np.isfinite(np.take_along_axis(s, top, axis=1))
            r = np.full(s.shape, np.nan, dtype=np.float32)
            np.put_along_axis(r, top, np.arange(1, width + 1, dtype=np.float32)[None, :], axis=1)
            r[~np.isfinite(s)] = np.nan
            ranks[name] = r
            rows_idx = np.repeat(np.arange(len(block)), width)[valid.ravel()]
            mask[rows_idx, top.ravel()[valid.ravel()]] = True
        popular = np.argsort(-pop_row, kind="stable")[: min(n, self.n_items)]
        popular = popular[np.isfinite(pop_row[popular])]
        mask[:, popular] = True
        rows, items = np.nonzero(mask)
        users = block[rows]
        knn_max = np.where(np.isfinite(scores["knn"]), scores["knn"], 0.0).max(axis=1)
        f = np.full((len(rows), len(FEATURES)), np.nan, dtype=np.float32)
        col = {name: j for j, name in enumerate(FEATURES)}

        def put(name: str, value: np.ndarray) -> None:
            f[:, col[name]] = np.where(np.isfinite(value), value, np.nan)

        rep = scores["repeat"][rows, items]
        put("repeat_count", np.where(np.isfinite(rep), rep, 0.0))
        dec = self.decay._score(block)[rows, items]
        put("repeat_decay", np.where(np.isfinite(dec), dec, 0.0))
        put("repeat_rank", ranks["repeat"][rows, items])
        pair = users * self.n_items + items
        pos = np.searchsorted(self.pair_keys, pair)
        pos = np.minimum(pos, max(len(self.pair_keys) - 1, 0))
        found = self.pair_keys[pos] == pair if len(self.pair_keys) else np.zeros(len(pair), bool)
        last = np.where(found, self.pair_last[pos] if len(pos) else 0.0, np.nan)
        first = np.where(found, self.pair_first[pos] if len(pos) else 0.0, np.nan)
        count = np.where(found, self.pair_count[pos] if len(pos) else 0.0, 0.0)
        put("days_since_item", (self.end - last) / SECONDS_PER_DAY)
        put("days_since_first_item", (self.end - first) / SECONDS_PER_DAY)
        lines = self.user_lines[users]
        put("item_share", np.divide(count, lines, out=np.zeros(len(count)), where=lines > 0))
        span = (last - first) / SECONDS_PER_DAY
        gap = np.where(count > 1, span / np.maximum(count - 1, 1), np.nan)
        put("item_gap_ratio", (self.end - last) / SECONDS_PER_DAY / np.maximum(gap, 1.0))
        knn = scores["knn"][rows, items]
        put("knn_score", np.where(np.isfinite(knn), knn, 0.0))
        put("knn_scaled", np.where(np.isfinite(knn), knn, 0.0) / np.maximum(knn_max[rows], 1e-9))
        put("knn_rank", ranks["knn"][rows, items])
        put("als_score", scores["als"][rows, items])
        put("als_rank", ranks["als"][rows, items])
        pop_all = self.pop.counts[items]
        pop_recent = self.pop_recent.counts[items]
        put("pop_all", pop_all)
        put("pop_recent", pop_recent)
        put("pop_rank", self.pop_rank[items])
        put("pop_trend", pop_recent / (pop_all + 1.0))
        put("item_repurchase_rate", self.item_repurchase[items])
        put("item_age_days", self.item_age[items])
        put("item_days_since_sold", self.item_since_sold[items])
        put("user_baskets", self.user_baskets[users])
        put("user_items", self.user_items[users])
        put("user_tenure_days", self.user_tenure[users])
        put("user_days_since_last", self.user_since_last[users])
        put("user_mean_gap_days", self.user_gap[users])
        baskets = self.user_baskets[users]
        size = np.divide(lines, baskets, out=np.zeros(len(lines)), where=baskets > 0)
        put("user_basket_size", size)
        if len(self.group_key):
            g = self.item_groups[items]
            gk = users * self.n_groups + g
            gpos = np.minimum(np.searchsorted(self.group_key, gk), len(self.group_key) - 1)
            gcount = np.where(self.group_key[gpos] == gk, self.group_count[gpos], 0.0)
            ui = self.user_items[users]
            put("group_share", np.divide(gcount, ui, out=np.zeros(len(ui)), where=ui > 0))
            put("group_item_count", gcount)
            put("group_pop_share", self.group_pop[g])
        if self.has_prices:
            diff = self.log_price[items] - self.user_log_price[users]
            put("item_price", np.exp(self.log_price[items]))
            put("price_vs_user", diff)
            put("price_band_z", np.abs(diff) / self.user_log_spread[users])
        return rows, items, f

    # -- persistence ----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "interactions/users": self.users_,
            "interactions/items": self.items_,
            "interactions/ts": self.ts_,
            "interactions/end": np.asarray([self.end]),
        }
        if self.item_groups is not None:
            out["interactions/groups"] = self.item_groups
        if self.item_prices is not None:
            out["interactions/prices"] = self.item_prices
        for name, part in self.parts().items():
            out.update({f"{name}/{k}": v for k, v in part._state().items()})
        return out

    def set_state(self, state: dict[str, Any], n_users: int, n_items: int) -> None:
        self.n_users, self.n_items = n_users, n_items
        for name, part in self.parts().items():
            part._set_state(
                {k.split("/", 1)[1]: v for k, v in state.items() if k.startswith(f"{name}/")}
            )
            part.n_users, part.n_items = n_users, n_items
        self.item_groups = state.get("interactions/groups")
        self.item_prices = state.get("interactions/prices")
        self.set_interactions(
            state["interactions/users"],
            state["interactions/items"],
            state["interactions/ts"],
            float(state["interactions/end"][0]),
        )


def _top_columns(scores: np.ndarray, width: int) -> np.ndarray:
    """Per row, the columns of the ``width`` highest scores, best first."""
    if width >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    part = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
