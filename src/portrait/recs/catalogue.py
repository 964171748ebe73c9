"""The product catalogue as serving reads it (content index, titles) and the memo that keeps
per-item results between requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portrait.recs.content import ContentIndex
from portrait.recs.results import RecommendedItem

MEMO_ENTRIES = 50_000  # per-item results kept between requests (cleared when full)


def memo(store: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
    """``store[key]``, computed once: per-item neighbours and rules do not change until the
    model or the catalogue does, and a request asks for dozens of them."""
    value = store.get(key)
    if value is None:
        if len(store) >= MEMO_ENTRIES:
            store.clear()
        value = store[key] = compute()
    return value


class Catalogue:
    """The products serving shows (by id), their content index and memoised neighbours."""

    def __init__(self, products: list[dict[str, Any]]) -> None:
        self.products = {p["product_id"]: p for p in products}
        self.content = ContentIndex.build([p["product_id"] for p in products], products)
        self._similar: dict[tuple[str, int], tuple[tuple[str, float], ...]] = {}

    def similar(self, product: str, k: int) -> tuple[tuple[str, float], ...]:
        """Content neighbours of a product (memoised)."""
        key = (product, k)
        return memo(self._similar, key, lambda: tuple(self.content.similar(product, k)))

    def title(self, product: str) -> str:
        return str((self.products.get(product) or {}).get("title") or product)

    def item(
        self, p: str, score: float, code: str, text: str, level: str = "category_l2"
    ) -> RecommendedItem:
        """Product ``p`` as a list entry, with its reason."""
        product = self.products.get(p) or {}
        return RecommendedItem(
            product_id=p,
            title=product.get("title"),
            brand=product.get("brand"),
            category=product.get(level),
            score=round(float(score), 4),
            reason=text,
            reason_code=code,
        )
