"""The contract every recommender follows, over dense integer user and item ids.

A recommender is fitted on ``Interactions`` (or a user x item CSR matrix), then answers
``recommend(user_ids, k)`` with a ``Recommendations`` pair of (n_users, k) arrays: item ids
best first, padded with -1 (score -inf) where it has fewer than ``k`` items to offer (a small
catalogue, everything excluded, a user it knows nothing about). Mapping external ids to dense
ints is ``IdMap``'s job (``portrait.recs.ids``), never the model's.

    >>> from portrait.recs import Interactions, Popularity
    >>> model = Popularity().fit(Interactions.from_arrays([0, 1, 1], [2, 2, 0]))
    >>> model.recommend([0], k=2).ids.tolist()
    [[2, 0]]
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

SECONDS_PER_DAY = 86_400.0
NO_ITEM = -1
# Users scored per block in recommend(): bounds the dense (block x n_items) score matrix.
BLOCK_USERS = 1024

ArrayLike = Sequence[int] | np.ndarray


@dataclass(frozen=True)
class Interactions:
    """Implicit feedback as parallel arrays: one row per (user, item[, time, weight]) event.

    ``timestamps`` are seconds since the epoch (needed by time-aware models); ``weights``
    default to 1. ``n_users``/``n_items`` fix the id space (ids are 0..n-1).
    """

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None = None
    weights: np.ndarray | None = None
    n_users: int = 0
    n_items: int = 0

    @classmethod
    def from_arrays(
        cls,
        users: ArrayLike,
        items: ArrayLike,
        timestamps: ArrayLike | None = None,
        weights: ArrayLike | None = None,
        n_users: int | None = None,
        n_items: int | None = None,
    ) -> Interactions:
        """Validate and wrap arrays (or Arrow/numpy columns) of integer ids."""
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        if u.shape != i.shape or u.ndim != 1:
            raise ValueError("users and items must be 1-D arrays of the same length")
        if len(u) and (u.min() < 0 or i.min() < 0):
            raise ValueError("user and item ids must be >= 0 (map external ids with IdMap)")
        t = None if timestamps is None else _seconds(timestamps)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        for name, arr in (("timestamps", t), ("weights", w)):
            if arr is not None and arr.shape != u.shape:
                raise ValueError(f"{name} must have one value per interaction")
        nu = int(u.max()) + 1 if len(u) else 0
        ni = int(i.max()) + 1 if len(i) else 0
        if (n_users is not None and n_users < nu) or (n_items is not None and n_items < ni):
            raise ValueError("n_users/n_items smaller than the largest id")
        return cls(
            u, i, t, w, nu if n_users is None else n_users, ni if n_items is None else n_items
        )

    @classmethod
    def from_csr(cls, matrix: sp.spmatrix | sp.sparray) -> Interactions:
        """One interaction per stored cell of a user x item matrix, its value as the weight."""
        m = sp.csr_matrix(matrix)
        coo = m.tocoo()
        return cls.from_arrays(
            coo.row, coo.col, weights=coo.data, n_users=m.shape[0], n_items=m.shape[1]
        )

    def to_csr(self, binary: bool = False) -> sp.csr_matrix:
        """The user x item matrix, summing the weights of repeated (user, item) pairs."""
        data = np.ones(len(self.users)) if self.weights is None or binary else self.weights
        m = sp.csr_matrix(
            (data, (self.users, self.items)), shape=(self.n_users, self.n_items), dtype=np.float64
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    @property
    def last_timestamp(self) -> float | None:
        """The latest event time (seconds), the reference point for recency."""
        return (
            None
            if self.timestamps is None or not len(self.timestamps)
            else float(self.timestamps.max())
        )


def _seconds(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[s]").astype(np.int64).astype(np.float64)
    return arr.astype(np.float64)


@dataclass(frozen=True)
class Recommendations:
    """Top-k answers: ``ids`` and ``scores`` of shape (n_users, k), best first, -1/-inf padded."""

    ids: np.ndarray
    scores: np.ndarray

    def for_user(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The real (unpadded) item ids and scores of one row."""
        keep = self.ids[row] != NO_ITEM
        return self.ids[row][keep], self.scores[row][keep]


def as_interactions(data: Interactions | sp.spmatrix | sp.sparray) -> Interactions:
    """Accept either form of training data."""
    if isinstance(data, Interactions):
        return data
    if sp.issparse(data):
        return Interactions.from_csr(data)
    raise TypeError(f"fit() takes Interactions or a scipy sparse matrix, not {type(data).__name__}")


class Recommender(ABC):
    """Base of every recommender: fit, recommend, similar_items, save, load.

    Subclasses implement ``_fit``, ``_score`` (a dense block of scores, -inf where the model has
    nothing to say) and ``_state``/``_set_state`` for persistence; their constructor keyword
    arguments are the params written by ``save``.
    """

    name: ClassVar[str] = "recommender"
    # False: the model answers users it never saw (e.g. popularity) like any other user.
    needs_history: ClassVar[bool] = True
    registry: ClassVar[dict[str, type[Recommender]]] = {}

    n_users: int = 0
    n_items: int = 0
    fit_seconds: float = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Recommender.registry[cls.__name__] = cls

    # -- the contract -------------------------------------------------------------------------

    def fit(self, data: Interactions | sp.spmatrix | sp.sparray) -> Recommender:
        """Learn from interactions; returns self."""
        interactions = as_interactions(data)
        t0 = time.perf_counter()
        self.n_users, self.n_items = interactions.n_users, interactions.n_items
        self._fit(interactions)
        self.fit_seconds = time.perf_counter() - t0
        return self

    def recommend(
        self,
        user_ids: ArrayLike,
        k: int = 10,
        exclude: sp.spmatrix | sp.sparray | ArrayLike | None = None,
    ) -> Recommendations:
        """The ``k`` best items per user, best first.

        ``exclude``: a sparse matrix with one row per requested user (its stored cells are
        removed, e.g. the user's past purchases) or item ids removed for everyone. Users outside
        the fitted id range are answered like users without history.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError("k must be at least 1")
        users = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        ex_rows, ex_all = _exclusions(exclude, len(users), self.n_items)
        ids = np.full((len(users), k), NO_ITEM, dtype=np.int64)
        scores = np.full((len(users), k), -np.inf, dtype=np.float64)
        for start in range(0, len(users), BLOCK_USERS):
            block = users[start : start + BLOCK_USERS]
            known = (block >= 0) & (block < self.n_users)
            if not self.needs_history:
                known[:] = True
            s = np.full((len(block), self.n_items), -np.inf, dtype=np.float64)
            if known.any():
                s[known] = self._score(block[known])
            if ex_all is not None:
                s[:, ex_all] = -np.inf
            if ex_rows is not None:
                part = ex_rows[start : start + len(block)].tocoo()
                s[part.row, part.col] = -np.inf
            ids[start : start + len(block)], scores[start : start + len(block)] = top_k(s, k)
        return Recommendations(ids, scores)

    def similar_items(self, item_id: int, k: int = 10) -> Recommendations:
        """The ``k`` items most like ``item_id`` (itself left out), as a one-row answer."""
        self._check_fitted()
        if not 0 <= item_id < self.n_items:
            return Recommendations(
                np.full((1, k), NO_ITEM, dtype=np.int64), np.full((1, k), -np.inf)
            )
        s = np.asarray(self._item_scores(int(item_id)), dtype=np.float64).reshape(1, -1).copy()
        s[0, item_id] = -np.inf
        ids, scores = top_k(s, k)
        return Recommendations(ids, scores)

    def save(self, path: str | Path) -> Path:
        """Write params and fitted state to one ``.npz`` file (no pickle); returns its path."""
        self._check_fitted()
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for key, value in self._state().items():
            if sp.issparse(value):
                m = sp.csr_matrix(value)
                arrays.update(
                    {
                        f"{key}.csr.data": m.data,
                        f"{key}.csr.indices": m.indices,
                        f"{key}.csr.indptr": m.indptr,
                        f"{key}.csr.shape": np.asarray(m.shape),
                    }
                )
            else:
                arrays[key] = np.asarray(value)
        meta = {
            "class": type(self).__name__,
            "params": self.params(),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "fit_seconds": self.fit_seconds,
        }
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with path.open("wb") as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a model written by ``save`` (any subclass; ``Recommender.load`` dispatches)."""
        with np.load(Path(path), allow_pickle=False) as npz:
            meta = json.loads(npz["__meta__"].tobytes().decode())
            target = Recommender.registry.get(meta["class"])
            if target is None or not issubclass(target, cls):
                raise ValueError(f"{path} holds a {meta['class']}, not a {cls.__name__}")
            state: dict[str, Any] = {}
            for key in npz.files:
                if key == "__meta__":
                    continue
                if ".csr." in key:
                    base, _, part = key.partition(".csr.")
                    if part == "shape":
                        state[base] = sp.csr_matrix(
                            (
                                npz[f"{base}.csr.data"],
                                npz[f"{base}.csr.indices"],
                                npz[f"{base}.csr.indptr"],
                            ),
                            shape=tuple(npz[key]),
                        )
                else:
                    state[key] = npz[key]
        model = target(**meta["params"])
        model.n_users, model.n_items = meta["n_users"], meta["n_items"]
        model.fit_seconds = meta["fit_seconds"]
        model._set_state(state)
        return model

    # -- for subclasses -----------------------------------------------------------------------

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The constructor keyword arguments (JSON values)."""

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None: ...

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Dense (len(users), n_items) scores for known users; -inf where nothing is known."""

    def _item_scores(self, item: int) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no notion of item similarity")

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _set_state(self, state: dict[str, Any]) -> None: ...

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    def _is_fitted(self) -> bool:
        return self.n_items > 0

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` highest finite scores, best first (equal scores among the chosen in
    item-id order), padded with -1/-inf."""
    n, m = scores.shape
    ids = np.full((n, k), NO_ITEM, dtype=np.int64)
    out = np.full((n, k), -np.inf, dtype=np.float64)
    if m == 0 or n == 0:
        return ids, out
    width = min(k, m)
    if width < m:
        part = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    else:
        part = np.broadcast_to(np.arange(m), (n, m))
    part_scores = np.take_along_axis(scores, part, axis=1)
    # Sort by score descending, then item id ascending, so equal scores come out stably.
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    real = np.isfinite(best_scores)
    ids[:, :width] = np.where(real, best, NO_ITEM)
    out[:, :width] = np.where(real, best_scores, -np.inf)
    return ids, out


def _exclusions(
    exclude: sp.spmatrix | sp.sparray | ArrayLike | None, n_rows: int, n_items: int
) -> tuple[sp.csr_matrix | None, np.ndarray | None]:
    if exclude is None:
        return None, None
    if sp.issparse(exclude):
        m = sp.csr_matrix(exclude)
        if m.shape[0] != n_rows:
            raise ValueError(f"exclude has {m.shape[0]} rows for {n_rows} users")
        if m.shape[1] > n_items:
            m = m[:, :n_items]
        return m, None
    items = np.asarray(exclude, dtype=np.int64).reshape(-1)
    return None, items[(items >= 0) & (items < n_items)]
