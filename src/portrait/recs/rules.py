"""Business rules applied to a ranked candidate list before it is served.

- Only products that exist in the products table are served.
- A product the user bought in the last ``recent_days`` is left out, unless its category shows
  repeat purchase: at least ``repeat_rate`` of the (buyer, product) pairs of the category were
  bought in two orders or more (consumables: sheet masks, coffee), or the category is listed in
  ``repeat_categories``.
- ``max_per_category``: at most M products of one category (None: no limit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BusinessRules:
    """The rules' parameters (see the module docstring)."""

    recent_days: float = 30.0
    repeat_rate: float = 0.15
    repeat_categories: tuple[str, ...] = ()
    max_per_category: int | None = None
    category_level: str = "category_l2"  # category_l1, category_l2 or category_l3

    def __post_init__(self) -> None:
        if self.category_level not in ("category_l1", "category_l2", "category_l3"):
            raise ValueError(
                f"category_level {self.category_level!r}: use category_l1, category_l2 or "
                "category_l3"
            )
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ValueError("max_per_category must be at least 1 (or None for no limit)")
        if self.recent_days < 0:
            raise ValueError("recent_days must be >= 0")


def repeat_rates(
    buyers: Sequence[str],
    products: Sequence[str],
    orders: Sequence[str],
    categories: Sequence[str],
    min_pairs: int = 1,
) -> dict[str, float]:
    """Per category: the share of (buyer, product) pairs bought in two or more orders; a
    category with fewer than ``min_pairs`` pairs gets 0 (too few to tell).

    >>> repeat_rates(["u", "u", "v"], ["a", "a", "b"], ["o1", "o2", "o3"], ["food", "food", "tv"])
    {'food': 1.0, 'tv': 0.0}
    """
    orders_per_pair: dict[tuple[str, str], set[str]] = {}
    category_of: dict[tuple[str, str], str] = {}
    for u, p, o, c in zip(buyers, products, orders, categories, strict=True):
        orders_per_pair.setdefault((u, p), set()).add(o)
        category_of[(u, p)] = c
    pairs: Counter[str] = Counter()
    repeated: Counter[str] = Counter()
    for pair, os in orders_per_pair.items():
        c = category_of[pair]
        pairs[c] += 1
        repeated[c] += len(os) >= 2
    return {
        c: round(repeated[c] / pairs[c], 4) if pairs[c] >= min_pairs else 0.0 for c in sorted(pairs)
    }


def repeat_categories(rates: Mapping[str, float], rules: BusinessRules) -> set[str]:
    """Categories where buying again makes sense."""
    return {c for c, r in rates.items() if r >= rules.repeat_rate} | set(rules.repeat_categories)


def blocked_recent(
    last_bought_age_days: Mapping[str, float],
    category_of: Mapping[str, str | None],
    repeatable: set[str],
    rules: BusinessRules,
) -> set[str]:
    """Products bought within ``recent_days`` whose category is not a repeat-purchase one."""
    return {
        p
        for p, age in last_bought_age_days.items()
        if age <= rules.recent_days and category_of.get(p) not in repeatable
    }


def select(
    ranked: Iterable[str],
    k: int,
    existing: Mapping[str, object],
    blocked: set[str],
    category_of: Mapping[str, str | None],
    max_per_category: int | None,
) -> list[str]:
    """The first ``k`` of ``ranked`` that exist, are not blocked, and keep each category at
    most ``max_per_category`` times."""
    chosen: list[str] = []
    per_category: Counter[str | None] = Counter()
    for p in ranked:
        if p not in existing or p in blocked or p in chosen:
            continue
        c = category_of.get(p)
        if max_per_category is not None and per_category[c] >= max_per_category:
            continue
        per_category[c] += 1
        chosen.append(p)
        if len(chosen) == k:
            break
    return chosen


def scaled(scores: Mapping[str, float]) -> dict[str, float]:
    """Scores divided by their maximum (an empty or non-positive set stays as it is)."""
    top = max(scores.values(), default=0.0)
    if top <= 0 or not np.isfinite(top):
        return dict(scores)
    return {p: s / top for p, s in scores.items()}
