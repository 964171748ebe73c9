"""The next-basket protocol of Li et al. (TOIS 2023) on Ta-Feng, and the models measured under it.

See docs/recs.md, section "Next-basket protocol".
"""

from portrait.recs.nextbasket.metrics import basket_metrics
from portrait.recs.nextbasket.protocol import NextBasketData, build_next_basket, split_users

__all__ = ["NextBasketData", "basket_metrics", "build_next_basket", "split_users"]
