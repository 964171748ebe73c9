"""Synthetic purchases with a known answer: each user buys only from their own block of items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from portrait.recs import Interactions

BLOCKS = 3
ITEMS_PER_BLOCK = 10
USERS_PER_BLOCK = 20
DAY = 86_400


@dataclass(frozen=True)
class BlockShop:
    interactions: Interactions
    user_block: np.ndarray  # block of each user
    item_block: np.ndarray  # block of each item

    @property
    def n_items(self) -> int:
        return self.interactions.n_items


def block_shop(seed: int = 0) -> BlockShop:
    """60 users in 3 blocks of 20; each buys 4-7 distinct items of their block, some twice."""
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    n_users = BLOCKS * USERS_PER_BLOCK
    user_block = np.repeat(np.arange(BLOCKS), USERS_PER_BLOCK)
    item_block = np.repeat(np.arange(BLOCKS), ITEMS_PER_BLOCK)
    for u in range(n_users):
        b = user_block[u]
        chosen = rng.choice(ITEMS_PER_BLOCK, size=rng.integers(4, 8), replace=False)
        for j in chosen:
            repeats = 1 + int(rng.random() < 0.3)
            for _ in range(repeats):
                users.append(u)
                items.append(b * ITEMS_PER_BLOCK + j)
                ts.append(int(rng.integers(0, 60)) * DAY)
    inter = Interactions.from_arrays(
        users, items, timestamps=ts, n_users=n_users, n_items=BLOCKS * ITEMS_PER_BLOCK
    )
    return BlockShop(inter, user_block, item_block)


@pytest.fixture(scope="session")
def shop() -> BlockShop:
    return block_shop()
