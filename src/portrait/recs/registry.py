"""The generators by name, with the settings the evaluation uses."""

from __future__ import annotations

from collections.abc import Callable

from portrait.recs.als import ALS
from portrait.recs.base import Recommender
from portrait.recs.blend import Blend
from portrait.recs.knn import ItemKNN
from portrait.recs.popularity import Popularity
from portrait.recs.ranker import HybridRanker
from portrait.recs.repeat import RepeatPurchase

GENERATORS: dict[str, Callable[[], Recommender]] = {
    "popularity": Popularity,
    "popularity-30d": lambda: Popularity(window_days=30),
    "repeat": RepeatPurchase,
    "repeat-decay": lambda: RepeatPurchase(half_life_days=30),
    "item-knn": ItemKNN,
    "als": ALS,
    # Its weights are tuned on the validation window by the evaluation (tuning.tune_blend).
    "blend": Blend,
    # Candidates of the generators ranked by LightGBM lambdarank, trained before the cut-off.
    "hybrid": HybridRanker,
}


def make(name: str) -> Recommender:
    """A fresh, unfitted generator; ValueError naming the valid names for an unknown one."""
    factory = GENERATORS.get(name.strip().lower())
    if factory is None:
        raise ValueError(f"unknown generator {name!r}; valid names: {', '.join(GENERATORS)}")
    return factory()


def parse_names(text: str | None) -> list[str]:
    """``a,b`` -> ["a", "b"] (every generator when empty), each checked."""
    names = [n.strip().lower() for n in (text or "").split(",") if n.strip()] or list(GENERATORS)
    for n in names:
        make(n)
    return names
