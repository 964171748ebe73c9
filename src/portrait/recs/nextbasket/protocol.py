"""Data preparation of "A Next Basket Recommendation Reality Check" (Li et al., TOIS 2023).

From purchase lines (``user``, ``item``, ``day``):

1. one basket per customer and day, holding the distinct items bought that day;
2. customers with 3 to 50 baskets are kept;
3. each customer's last basket is the target, the earlier ones are the history;
4. items are kept only if they occur in at least 3 history baskets (counted over every kept
   customer's history; the target baskets never count), and the filter applies to history and
   target alike;
5. baskets left empty are dropped, then customers without a target or without a history.

Users are then split at random (seeded) into 72% train, 8% validation and 20% test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

MIN_BASKETS, MAX_BASKETS = 3, 50
MIN_ITEM_COUNT = 3
SPLIT = (0.72, 0.08, 0.20)


@dataclass(frozen=True)
class NextBasketData:
    """History baskets (rows of ``history``, grouped by user in time order) and one target per user.

    ``basket_user[b]`` is the user of history basket ``b`` and ``basket_pos[b]`` its position
    in that user's history (0 = oldest); ``basket_day`` its day. ``target`` is users x items
    (binary), ``target_day`` the day of each target. ``user_ids`` / ``item_ids`` give the
    external ids of the dense indices.
    """

    history: sp.csr_matrix
    basket_user: np.ndarray
    basket_pos: np.ndarray
    basket_day: np.ndarray
    target: sp.csr_matrix
    target_day: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def history_sizes(self) -> np.ndarray:
        """Number of history baskets of each user."""
        return np.bincount(self.basket_user, minlength=self.n_users)

    def summary(self) -> dict[str, int]:
        return {
            "users": self.n_users,
            "items": self.n_items,
            "history_baskets": self.history.shape[0],
            "history_lines": int(self.history.nnz),
            "target_lines": int(self.target.nnz),
        }


def build_next_basket(
    lines: pd.DataFrame,
    min_baskets: int = MIN_BASKETS,
    max_baskets: int = MAX_BASKETS,
    min_item_count: int = MIN_ITEM_COUNT,
) -> NextBasketData:
    """Baskets, history/target and the item filter of the protocol (steps 1-5 above)."""
    df = lines[["user", "item", "day"]].drop_duplicates()
    n_baskets = df.groupby("user")["day"].nunique()
    keep = n_baskets[(n_baskets >= min_baskets) & (n_baskets <= max_baskets)].index
    df = df[df["user"].isin(keep)]
    last_day = df.groupby("user")["day"].max()  # the target: the last basket before filtering
    is_target = (df["day"] == df["user"].map(last_day)).to_numpy()
    counts = df[~is_target].groupby("item").size()  # rows are distinct (user, item, day)
    items = counts[counts >= min_item_count].index
    kept = df["item"].isin(items).to_numpy()
    df, is_target = df[kept], is_target[kept]
    users_with = set(df.loc[is_target, "user"]) & set(df.loc[~is_target, "user"])
    keep_rows = df["user"].isin(users_with).to_numpy()
    df, is_target = df[keep_rows], is_target[keep_rows]

    user_ids = np.array(sorted(users_with), dtype=object)
    item_ids = np.array(sorted(df["item"].unique()), dtype=object)
    u = pd.Index(user_ids).get_indexer(df["user"])
    i = pd.Index(item_ids).get_indexer(df["item"])
    day = df["day"].to_numpy()

    t = is_target
    target = sp.csr_matrix(
        (np.ones(t.sum(), dtype=np.float32), (u[t], i[t])), shape=(len(user_ids), len(item_ids))
    )
    target_day = np.empty(len(user_ids), dtype="datetime64[ns]")
    target_day[u[t]] = day[t]

    h = ~t
    hb = pd.DataFrame({"u": u[h], "day": day[h]}).drop_duplicates().sort_values(["u", "day"])
    hb["b"] = np.arange(len(hb))
    rows = pd.DataFrame({"u": u[h], "day": day[h], "i": i[h]}).merge(hb, on=["u", "day"])
    history = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows["b"].to_numpy(), rows["i"].to_numpy())),
        shape=(len(hb), len(item_ids)),
    )
    basket_user = hb["u"].to_numpy()
    first = np.searchsorted(basket_user, np.arange(len(user_ids)))
    basket_pos = np.arange(len(hb)) - first[basket_user]
    return NextBasketData(
        history=history,
        basket_user=basket_user,
        basket_pos=basket_pos,
        basket_day=hb["day"].to_numpy(),
        target=target,
        target_day=target_day,
        user_ids=user_ids,
        item_ids=item_ids,
    )


def split_users(
    n_users: int, seed: int = 0, shares: tuple[float, float, float] = SPLIT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test user indices (sorted), a seeded random 72/8/20 split."""
    perm = np.random.default_rng(seed).permutation(n_users)
    n_train = round(shares[0] * n_users)
    n_val = round(shares[1] * n_users)
    parts = perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]
    return tuple(np.sort(p) for p in parts)  # type: ignore[return-value]
