"""External user and product ids <-> the dense integers the recommenders work on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd


class IdMap:
    """A fixed, sorted vocabulary of external ids; index i is the id's dense integer.

    >>> m = IdMap.fit(["b", "a", "b"])
    >>> m.to_index(["a", "b", "zz"]).tolist()
    [0, 1, -1]
    >>> m.to_ids([1]).tolist()
    ['b']
    """

    def __init__(self, ids: Iterable[str]) -> None:
        self._index = pd.Index(np.asarray(list(ids), dtype=object))
        if not self._index.is_unique:
            raise ValueError("IdMap ids must be unique")

    @classmethod
    def fit(cls, values: Iterable[object]) -> IdMap:
        """The distinct values (as strings), sorted."""
        arr = pd.Series(np.asarray(list(values), dtype=object)).dropna().astype(str)
        return cls(np.sort(arr.unique()))

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, value: object) -> bool:
        return str(value) in self._index

    def to_index(self, values: Iterable[object]) -> np.ndarray:
        """Dense integers of ``values``; -1 for an id the map does not know."""
        arr = np.asarray([str(v) for v in values], dtype=object)
        return self._index.get_indexer(arr).astype(np.int64)

    def index_of(self, value: str) -> int:
        """The dense id of one value, -1 when unknown (no array built: for serving)."""
        try:
            return int(self._index.get_loc(value))
        except KeyError:
            return -1

    def to_ids(self, indices: Iterable[int]) -> np.ndarray:
        """External ids of dense integers; None for -1 (a padded slot)."""
        idx = np.asarray(list(indices), dtype=np.int64)
        out = np.empty(len(idx), dtype=object)
        ok = (idx >= 0) & (idx < len(self._index))
        out[ok] = self._index.to_numpy()[idx[ok]]
        out[~ok] = None
        return out

    @property
    def ids(self) -> list[str]:
        return [str(v) for v in self._index]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.ids))
        return path

    @classmethod
    def load(cls, path: str | Path) -> IdMap:
        return cls(json.loads(Path(path).read_text()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self.ids == other.ids

    def __repr__(self) -> str:
        return f"IdMap({len(self)} ids)"
