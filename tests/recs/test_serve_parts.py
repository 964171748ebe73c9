"""The pure parts of serving: association rules, content similarity, business rules
(hand-computed cases)."""

from __future__ import annotations

import pytest

from portrait.recs.assoc import AssociationRules
from portrait.recs.content import ContentIndex, tokens
from portrait.recs.rules import (
    BusinessRules,
    blocked_recent,
    repeat_categories,
    repeat_rates,
    select,
)


def test_association_rules_by_hand(tmp_path) -> None:
    # 5 baskets: {0,1} {0,1} {0,1,2} {0} {2}; items 0:4 baskets, 1:3, 2:2
    baskets = [0, 0, 1, 1, 2, 2, 2, 3, 4]
    items = [0, 1, 0, 1, 0, 1, 2, 0, 2]
    rules = AssociationRules.fit(baskets, items, n_items=3, min_count=1)
    r = rules.rules_for(1)  # 1 -> 0: both 3, conf 3/3, lift 1 / (4/5) = 1.25; 1 -> 2: lift 5/6
    assert [(x.consequent, x.baskets, x.support, x.confidence, x.lift) for x in r] == [
        (0, 3, 0.6, 1.0, 1.25)
    ]
    assert rules.rules_for(1, min_lift=0.0)[1].consequent == 2
    r0 = rules.rules_for(0)[0]  # 0 -> 1: conf 3/4, lift 0.75 / 0.6
    assert (r0.consequent, r0.confidence, r0.lift) == (1, 0.75, 1.25)
    assert AssociationRules.fit(baskets, items, 3, min_count=2).rules_for(2, min_lift=0) == []
    loaded = AssociationRules.load(rules.save(tmp_path / "a.npz"))
    assert loaded.rules_for(1) == r
    assert rules.rules_for(99) == []


def test_title_tokens_cut_chinese_into_words() -> None:
    assert tokens("Lancôme 保湿口红 面膜 100ml") == ["lancôme", "保湿", "口红", "面膜", "100ml"]
    assert tokens(None) == []


def test_content_similarity_prefers_same_category_and_brand() -> None:
    products = {
        "lip1": {
            "category_l1": "beauty",
            "category_l2": "makeup",
            "brand": "A",
            "title": "保湿口红",
        },
        "lip2": {
            "category_l1": "beauty",
            "category_l2": "makeup",
            "brand": "A",
            "title": "口红 red",
        },
        "mask": {"category_l1": "beauty", "category_l2": "skincare", "brand": "B", "title": "面膜"},
        "lamp": {"category_l1": "home", "category_l2": "light", "brand": "C", "title": "lamp"},
    }
    idx = ContentIndex.build(list(products), list(products.values()))
    similar = idx.similar("lip1", k=3)
    assert [p for p, _ in similar] == ["lip2", "mask"]  # lamp shares nothing
    assert similar[0][1] > similar[1][1] > 0
    assert idx.similar("unknown") == []


def test_repeat_rates_and_recent_purchase_rule() -> None:
    rates = repeat_rates(
        ["u", "u", "u", "v", "v"],
        ["coffee", "coffee", "tv", "coffee", "tv"],
        ["o1", "o2", "o1", "o3", "o4"],
        ["drinks", "drinks", "tvs", "drinks", "tvs"],
    )
    assert rates == {"drinks": 0.5, "tvs": 0.0}
    assert repeat_rates(["u", "u"], ["a", "a"], ["o1", "o2"], ["food", "food"], min_pairs=2) == {
        "food": 0.0
    }
    rules = BusinessRules(recent_days=30, repeat_rate=0.3)
    repeatable = repeat_categories(rates, rules)
    assert repeatable == {"drinks"}
    category = {"coffee": "drinks", "tv": "tvs", "radio": "tvs"}
    ages = {"coffee": 2.0, "tv": 3.0, "radio": 45.0}
    assert blocked_recent(ages, category, repeatable, rules) == {"tv"}
    explicit = BusinessRules(repeat_rate=1.0, repeat_categories=("tvs",))
    assert blocked_recent(ages, category, repeat_categories(rates, explicit), explicit) == {
        "coffee"
    }


def test_select_keeps_existing_unblocked_and_diverse() -> None:
    category = {"a": "x", "b": "x", "c": "x", "d": "y", "e": "z"}
    exists = dict.fromkeys("abcde")
    ranked = ["ghost", "a", "b", "c", "d", "e"]
    assert select(ranked, 3, exists, set(), category, None) == ["a", "b", "c"]
    assert select(ranked, 3, exists, {"b"}, category, 1) == ["a", "d", "e"]
    assert select(ranked, 10, exists, set(), category, 2) == ["a", "b", "d", "e"]
    with pytest.raises(ValueError, match="max_per_category"):
        BusinessRules(max_per_category=0)
    with pytest.raises(ValueError, match="category_level"):
        BusinessRules(category_level="colour")
