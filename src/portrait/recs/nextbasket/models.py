"""Next-basket models: personal top-frequency, TIFU-KNN, and ours (TIFU-KNN + recent popularity).

Every model is fitted on a ``NextBasketData`` (histories only; targets are never read) and
scores users densely: ``scores(users)`` is a (len(users), n_items) array, higher is better.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from portrait.recs.base import BLOCK_USERS, top_k
from portrait.recs.nextbasket.protocol import NextBasketData

DAY = np.timedelta64(1, "D")


class PersonalTopFreq:
    """P-TopFreq: the user's items by the number of history baskets holding them; ties go to
    the item bought most recently. A user with fewer than k items gets a short list."""

    def fit(self, data: NextBasketData) -> PersonalTopFreq:
        # a tie-break under 1: the basket's position in the history over (a bound of) its length
        recency = (data.basket_pos + 1) / (data.history_sizes[data.basket_user] + 1.0)
        owner = sp.csr_matrix(
            (np.ones(len(data.basket_user)), (data.basket_user, np.arange(len(data.basket_user)))),
            shape=(data.n_users, data.history.shape[0]),
        )
        counts = owner @ data.history
        self.scores_ = (counts + _max_by_user(data, recency)).tocsr()
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        dense = self.scores_[users].toarray()
        dense[dense == 0] = -np.inf  # recommends nothing the user never bought
        return dense

    def params(self) -> dict[str, object]:
        return {}


def _max_by_user(data: NextBasketData, weight: np.ndarray) -> sp.csr_matrix:
    """users x items: the largest ``weight`` of the user's baskets holding the item."""
    h = data.history.tocoo()
    u = data.basket_user[h.row]
    w = weight[h.row]
    order = np.lexsort((w, h.col, u))  # the last row of each (user, item) has the largest weight
    u, i, w = u[order], h.col[order], w[order]
    last = np.ones(len(u), dtype=bool)
    last[:-1] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    return sp.csr_matrix((w[last], (u[last], i[last])), shape=(data.n_users, data.n_items))


@dataclass
class TIFUParams:
    """Hu et al. (SIGIR 2020): group size m, within- and across-group decay, k, alpha."""

    group_size: int = 7
    within_decay: float = 0.9
    group_decay: float = 0.7
    neighbours: int = 300
    alpha: float = 0.7


def tifu_user_vectors(
    data: NextBasketData, group_size: int, within_decay: float, group_decay: float
) -> sp.csr_matrix:
    """Time-decayed item-frequency vector of every user.

    The history is cut into groups of ``group_size`` consecutive baskets counted back from the
    most recent (the oldest group may be shorter). A group's vector is the mean of its basket
    vectors weighted ``within_decay ** j`` (j = baskets between it and the group's most recent
    one); the user's vector the mean of the group vectors weighted ``group_decay ** g`` (g =
    groups between it and the most recent group).
    """
    n_hist = data.history_sizes[data.basket_user]
    back = n_hist - 1 - data.basket_pos  # 0 = the most recent basket
    group, within = back // group_size, back % group_size
    n_groups = -(-n_hist // group_size)
    group_len = np.minimum(group_size, n_hist - group * group_size)
    weight = within_decay**within * group_decay**group / (group_len * n_groups)
    owner = sp.csr_matrix(
        (weight, (data.basket_user, np.arange(len(weight)))),
        shape=(data.n_users, data.history.shape[0]),
    )
    return (owner @ data.history).tocsr()


def nearest_users(
    vectors: sp.csr_matrix, users: np.ndarray, k: int, block: int = BLOCK_USERS
) -> np.ndarray:
    """The ``k`` most cosine-similar other users of each of ``users``, most similar first."""
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    unit = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ vectors
    unit_t = unit.T.tocsr()
    k = min(k, vectors.shape[0] - 1)
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), block):
        rows = users[start : start + block]
        sim = (unit[rows] @ unit_t).toarray()
        sim[np.arange(len(rows)), rows] = -np.inf  # not one's own neighbour
        out[start : start + len(rows)] = top_k(sim, k)[0]
    return out


def neighbour_mean(vectors: sp.csr_matrix, neighbours: np.ndarray) -> sp.csr_matrix:
    """Row r: the mean of the vectors of ``neighbours[r]``."""
    n, k = neighbours.shape
    pick = sp.csr_matrix(
        (np.full(n * k, 1.0 / k), (np.repeat(np.arange(n), k), neighbours.ravel())),
        shape=(n, vectors.shape[0]),
    )
    return (pick @ vectors).tocsr()


class TIFUKNN:
    """TIFU-KNN (Hu et al., SIGIR 2020), written from the paper: score = alpha * own vector +
    (1 - alpha) * mean vector of the k nearest users (cosine over the same vectors; every
    user's history is a candidate neighbour, targets never are)."""

    def __init__(self, **params: float) -> None:
        self.p = TIFUParams(**params)  # type: ignore[arg-type]

    def fit(self, data: NextBasketData) -> TIFUKNN:
        self.vectors_ = tifu_user_vectors(
            data, self.p.group_size, self.p.within_decay, self.p.group_decay
        )
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        nb = nearest_users(self.vectors_, users, self.p.neighbours)
        own = self.vectors_[users].toarray()
        return self.p.alpha * own + (1 - self.p.alpha) * neighbour_mean(self.vectors_, nb).toarray()

    def params(self) -> dict[str, object]:
        return asdict(self.p)


def recent_popularity(data: NextBasketData, days: np.ndarray, window_days: int) -> np.ndarray:
    """Row r: in how many history baskets (anybody's) each item was in the ``window_days``
    days before ``days[r]`` (that day excluded: only the past is used)."""
    first = data.basket_day.min()
    day_index = ((data.basket_day - first) // DAY).astype(np.int64)
    n_days = int(day_index.max()) + 2
    per_day = sp.csr_matrix(
        (np.ones(len(day_index)), (day_index, np.arange(len(day_index)))),
        shape=(n_days, len(day_index)),
    )
    cum = np.zeros((n_days + 1, data.n_items))
    cum[1:] = np.cumsum((per_day @ data.history).toarray(), axis=0)  # cum[d] = days before d
    end = np.clip(((days - first) // DAY).astype(np.int64), 0, n_days)
    start = np.clip(end - window_days, 0, n_days)
    return cum[end] - cum[start]


class TIFUPopular:
    """Ours: TIFU-KNN's scores scaled to a maximum of 1 per user, plus ``popularity_weight``
    times the items' popularity over the ``window_days`` before the user's target day (scaled
    to a maximum of 1). Grocery baskets hold many items new to the user; what everybody buys
    in the days just before (Chinese New Year falls in Ta-Feng's last weeks) fills them better
    than distant neighbours' habits."""

    def __init__(
        self, tifu: dict[str, float], popularity_weight: float = 0.1, window_days: int = 14
    ) -> None:
        self.tifu = TIFUKNN(**tifu)
        self.popularity_weight = popularity_weight
        self.window_days = window_days

    def fit(self, data: NextBasketData) -> TIFUPopular:
        self.tifu.fit(data)
        self.data_ = data
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        own = scale_rows(self.tifu.scores(users))
        pop = recent_popularity(self.data_, self.data_.target_day[users], self.window_days)
        return own + self.popularity_weight * scale_rows(pop)

    def params(self) -> dict[str, object]:
        return {
            **self.tifu.params(),
            "popularity_weight": self.popularity_weight,
            "window_days": self.window_days,
        }


def scale_rows(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1, keepdims=True)
    return scores / np.where(top > 0, top, 1.0)


def recommend(model: object, users: np.ndarray, k: int = 10) -> np.ndarray:
    """Top ``k`` item ids of each user, best first, scored a block at a time."""
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), BLOCK_USERS):
        rows = users[start : start + BLOCK_USERS]
        out[start : start + len(rows)] = top_k(model.scores(rows), k)[0]  # type: ignore[attr-defined]
    return out
