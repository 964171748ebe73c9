"""Recommendations: one contract over integer ids, candidate generators and their evaluation.

See ``docs/recs.md``. ``Recommender`` is the contract, ``IdMap`` maps external ids; the
generators are ``Popularity``, ``RepeatPurchase``, ``ItemKNN``, ``ALS`` and the hand-weighted
``Blend`` of the first three.
"""

from __future__ import annotations

from portrait.recs.als import ALS
from portrait.recs.base import Interactions, Recommendations, Recommender
from portrait.recs.blend import Blend
from portrait.recs.ids import IdMap
from portrait.recs.knn import ItemKNN
from portrait.recs.popularity import Popularity
from portrait.recs.repeat import RepeatPurchase

__all__ = [
    "ALS",
    "Blend",
    "IdMap",
    "Interactions",
    "ItemKNN",
    "Popularity",
    "Recommendations",
    "Recommender",
    "RepeatPurchase",
]
