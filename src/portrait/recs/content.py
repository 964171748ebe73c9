"""Content similarity between products: category path, brand and title tokens.

A product is a TF-IDF vector over features ``l1:``/``l2:``/``l3:`` (the category path, each
level prefixed by its parents), ``brand:`` and ``t:`` (title tokens; Chinese runs cut into words
by jieba, other text into lower-cased words). Rows are L2-normalised, so the similarity of two
products is the cosine of their vectors. This is how a product nobody has bought yet gets
recommended: through the products it resembles.

    >>> idx = ContentIndex.build(["a", "b", "c"], [
    ...     {"category_l1": "beauty", "brand": "X", "title": "口红 red"},
    ...     {"category_l1": "beauty", "brand": "X", "title": "口红 coral"},
    ...     {"category_l1": "home", "brand": "Y", "title": "lamp"}])
    >>> idx.similar("a", k=2)[0][0]
    'b'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import scipy.sparse as sp

CJK = re.compile(r"[\u3400-\u9fff]+")
WORD = re.compile(r"[\u3400-\u9fff]+|[^\W_\u3400-\u9fff]+")
# How much each kind of feature counts, on top of its IDF.
FIELD_WEIGHTS = {"l1": 0.5, "l2": 1.0, "l3": 1.5, "brand": 1.5, "t": 1.0}


@cache
def _jieba() -> Any:
    try:
        import jieba
    except ImportError:  # tokenise Chinese by characters instead
        return None
    jieba.setLogLevel(logging.WARNING)
    return jieba


def tokens(title: str | None) -> list[str]:
    """Lower-cased words of a title; Chinese runs cut by jieba (by characters without it).

    >>> tokens("Lancôme 保湿口红 100ml")
    ['lancôme', '保湿', '口红', '100ml']
    """
    out: list[str] = []
    for word in WORD.findall((title or "").lower()):
        if CJK.fullmatch(word):
            jieba = _jieba()
            out.extend(jieba.lcut(word) if jieba is not None else list(word))
        else:
            out.append(word)
    return out


def features(product: Mapping[str, Any]) -> list[str]:
    """The content features of one product (a dict of products-table columns)."""
    feats = []
    path = ""
    for level in ("l1", "l2", "l3"):
        value = product.get(f"category_{level}")
        if not value:
            break
        path = f"{path}/{value}" if path else str(value)
        feats.append(f"{level}:{path}")
    if product.get("brand"):
        feats.append(f"brand:{str(product['brand']).lower()}")
    feats.extend(f"t:{t}" for t in dict.fromkeys(tokens(product.get("title"))))
    return feats


PAIRS_UP_TO = 20_000  # products up to which all pairwise similarities are kept


class ContentIndex:
    """Normalised TF-IDF vectors of products, by product id."""

    def __init__(self, product_ids: Sequence[str], matrix: sp.csr_matrix) -> None:
        self.product_ids = list(product_ids)
        self.row = {p: i for i, p in enumerate(self.product_ids)}
        self.matrix = matrix
        # Every pair's similarity, computed once when the catalogue is small enough (1,000
        # products: 1 ms): a request then reads rows instead of multiplying matrices.
        self.pairs: sp.csr_matrix | None = (
            sp.csr_matrix(matrix @ matrix.T) if len(self.product_ids) <= PAIRS_UP_TO else None
        )

    @classmethod
    def build(
        cls, product_ids: Sequence[str], products: Sequence[Mapping[str, Any]]
    ) -> ContentIndex:
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for r, product in enumerate(products):
            for f in features(product):
                rows.append(r)
                cols.append(vocab.setdefault(f, len(vocab)))
        n = len(product_ids)
        x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(vocab)))
        x.sum_duplicates()
        x.data[:] = 1.0
        df = np.asarray(x.sum(axis=0)).ravel()
        idf = np.log((1 + n) / (1 + df)) + 1.0
        field = np.array([FIELD_WEIGHTS[f.split(":", 1)[0]] for f in vocab])
        x = x @ sp.diags(idf * field)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        x = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ x
        return cls(product_ids, sp.csr_matrix(x))

    def scores(
        self, product_ids: Sequence[str], weights: Sequence[float] | None = None
    ) -> np.ndarray:
        """Weighted sum of cosine similarities to ``product_ids`` for every product (dense)."""
        rows = [self.row[p] for p in product_ids if p in self.row]
        w = (
            [1.0] * len(rows)
            if weights is None
            else [wt for p, wt in zip(product_ids, weights, strict=True) if p in self.row]
        )
        if not rows:
            return np.zeros(len(self.product_ids))
        anchor = sp.csr_matrix((w, (np.zeros(len(rows)), rows)), shape=(1, len(self.product_ids)))
        return np.asarray((anchor @ self.matrix @ self.matrix.T).todense()).ravel()

    def similar(self, product_id: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` products most like ``product_id`` (itself left out), best first."""
        if product_id not in self.row:
            return []
        if self.pairs is not None:
            i = self.row[product_id]
            lo, hi = self.pairs.indptr[i], self.pairs.indptr[i + 1]
            cols, vals = self.pairs.indices[lo:hi], self.pairs.data[lo:hi]
            keep = (cols != i) & (vals > 0)
            cols, vals = cols[keep], vals[keep]
            order = np.lexsort((cols, -vals))[:k]
            return [(self.product_ids[c], round(float(v), 4)) for c, v in
                    zip(cols[order], vals[order], strict=True)]  # fmt: skip
        s = self.scores([product_id])
        s[self.row[product_id]] = -np.inf
        order = np.lexsort((np.arange(len(s)), -s))[:k]
        return [(self.product_ids[i], round(float(s[i]), 4)) for i in order if s[i] > 0]
