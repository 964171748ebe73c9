"""Association rules "frequently bought together": pairwise rules A -> B over baskets.

For items A and B over N baskets: support(A -> B) = baskets with both / N, confidence =
baskets with both / baskets with A, lift = confidence / (baskets with B / N). Only pairs seen
together in at least ``min_count`` baskets are kept (the support threshold of FP-growth,
restricted to itemsets of two, which is what "bought together with X" needs).

    >>> rules = AssociationRules.fit([0, 0, 1, 1, 2], [0, 1, 0, 1, 2], n_items=3, min_count=2)
    >>> [(r.consequent, r.support, r.confidence, r.lift) for r in rules.rules_for(0)]
    [(1, 0.6667, 1.0, 1.5)]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from portrait.recs.base import ArrayLike


@dataclass(frozen=True)
class Rule:
    """One rule ``antecedent -> consequent`` between dense item ids."""

    antecedent: int
    consequent: int
    baskets: int  # baskets holding both
    support: float
    confidence: float
    lift: float


@dataclass(frozen=True)
class AssociationRules:
    """Pair counts over baskets; rules are read from them on demand."""

    n_baskets: int
    item_baskets: np.ndarray  # baskets holding each item
    pair_baskets: sp.csr_matrix  # (i, j): baskets holding both, i != j, >= min_count

    @classmethod
    def fit(
        cls, baskets: ArrayLike, items: ArrayLike, n_items: int, min_count: int = 2
    ) -> AssociationRules:
        """``baskets``/``items``: one basket index and dense item id per line (repeats fine)."""
        b = np.asarray(baskets, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        n_baskets = int(b.max()) + 1 if len(b) else 0
        x = sp.csr_matrix((np.ones(len(b)), (b, i)), shape=(n_baskets, n_items))
        x.sum_duplicates()
        x.data[:] = 1.0
        item_baskets = np.asarray(x.sum(axis=0)).ravel()
        pairs = (x.T @ x).tocsr()
        pairs.setdiag(0)
        pairs.data[pairs.data < min_count] = 0
        pairs.eliminate_zeros()
        return cls(n_baskets, item_baskets, pairs)

    def rules_for(self, item: int, k: int = 10, min_lift: float = 1.0) -> list[Rule]:
        """Rules ``item -> B``, best first by confidence then lift; only lift above
        ``min_lift`` (bought together more often than chance)."""
        if not 0 <= item < self.pair_baskets.shape[0] or self.item_baskets[item] == 0:
            return []
        row = self.pair_baskets[item]
        both, cols = row.data, row.indices
        confidence = both / self.item_baskets[item]
        lift = confidence / (self.item_baskets[cols] / self.n_baskets)
        keep = lift > min_lift
        order = np.lexsort((cols[keep], -lift[keep], -confidence[keep]))[:k]
        return [
            Rule(
                int(item),
                int(cols[keep][o]),
                int(both[keep][o]),
                round(float(both[keep][o] / self.n_baskets), 4),
                round(float(confidence[keep][o]), 4),
                round(float(lift[keep][o]), 4),
            )
            for o in order
        ]

    def confidence_row(self, item: int) -> sp.csr_matrix:
        """One sparse row: confidence of ``item -> j`` for every j with a rule."""
        row = self.pair_baskets[item].astype(np.float64)
        if self.item_baskets[item] > 0:
            row = row / self.item_baskets[item]
        return sp.csr_matrix(row)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        m = self.pair_baskets
        with path.open("wb") as f:
            np.savez(
                f,
                n_baskets=np.asarray(self.n_baskets),
                item_baskets=self.item_baskets,
                data=m.data,
                indices=m.indices,
                indptr=m.indptr,
                shape=np.asarray(m.shape),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> AssociationRules:
        with np.load(Path(path), allow_pickle=False) as z:
            m = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return cls(int(z["n_baskets"]), z["item_baskets"], m)
