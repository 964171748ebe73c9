"""The parts a user's list is summed from (see ``portrait.recs.serve``): each scores products
and gives each a reason. Pure functions of the trained files, the catalogue and the user's
history; nothing here reads the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from portrait.recs.catalogue import Catalogue, memo
from portrait.recs.rules import BusinessRules
from portrait.recs.serve_train import SEGMENT_TAGS, TrainedRecs


@dataclass(frozen=True)
class ServeSettings:
    """How the parts are weighed at serving time, and the business rules."""

    pool: int = 100  # candidates taken from each part
    session_weight: float = 1.0
    session_events: int = 20  # latest views/cart adds read
    content_weight: float = 0.3
    brand_weight: float = 0.1
    popularity_weight: float = 0.01  # fills short lists
    rules: BusinessRules = field(default_factory=BusinessRules)


@dataclass
class Part:
    """One part's scores and, per item, why (reason code, text)."""

    weight: float
    scores: dict[str, float] = field(default_factory=dict)
    why: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, product: str, score: float, code: str, text: str, prefer: bool = False) -> None:
        """Add ``score``; its reason wins when it gives more than all before, or ``prefer``."""
        if score <= 0:
            return
        if prefer or score > self.scores.get(product, 0.0):
            self.why[product] = (code, text)
        self.scores[product] = self.scores.get(product, 0.0) + score


def base_part(t: TrainedRecs, cat: Catalogue, u: int, history: list[str], s: ServeSettings) -> Part:
    """A known buyer's candidates from the trained generator, each with its reason."""
    part = Part(1.0)
    rec = t.model.recommend([u], k=s.pool)
    ids, scores = rec.for_user(0)
    products = [t.item_ids[j] for j in ids]
    hist_idx = [t.item_index[h] for h in history[:20] if h in t.item_index]
    links = _links_from(t, hist_idx, s.pool)
    bought = set(history)
    for p, j, score in zip(products, ids, scores, strict=True):
        if p in bought:
            part.add(p, float(score), "repeat", "you buy this again")
        elif int(j) in links:
            code, h = links[int(j)]
            title = cat.title(t.item_ids[h])
            text = (
                f"bought together with {title}"
                if code == "bought_together"
                else f"customers who bought {title} also bought this"
            )
            part.add(p, float(score), code, text)
        else:
            part.add(p, float(score), "popular", "popular in the shop")
    return part


def segment_part(t: TrainedRecs, tags: dict[str, Any], s: ServeSettings) -> Part:
    """A cold-start user's candidates: what sells in their profile segments."""
    part = Part(1.0)
    rows = [
        (tag, t.segment_keys.index(f"{tag}={tags[tag]}"))
        for tag in SEGMENT_TAGS
        if tag in tags and f"{tag}={tags[tag]}" in t.segment_keys
    ]
    if not rows:
        return part  # no profile: the popularity part alone
    score = np.zeros(t.segment_counts.shape[1])
    for _, r in rows:
        counts = t.segment_counts[r]
        score += counts / counts.max() if counts.max() > 0 else 0.0
    segment = ", ".join(f"{tag} {tags[tag]}" for tag, _ in rows)
    for j in np.argsort(-score, kind="stable")[: s.pool]:
        p = t.item_ids[j]
        part.add(p, float(score[j]), "segment_popular", f"popular in your segment ({segment})")
    return part


def session_part(
    t: TrainedRecs,
    cat: Catalogue,
    session: list[tuple[str, str, float]],
    s: ServeSettings,
) -> Part:
    """Products like and bought with what the user viewed or carted lately, newest most."""
    part = Part(s.session_weight)
    for n, (viewed, kind, _) in enumerate(session):
        w = (2.0 if kind == "add_to_cart" else 1.0) * 0.8**n
        title = cat.title(viewed)
        similar = f"similar to {title} " + (
            "in your cart" if kind == "add_to_cart" else "you viewed"
        )
        idx = t.item_index.get(viewed, -1)
        for p, score in cat.similar(viewed, s.pool):
            if idx < 0 or p not in t.item_index:  # what nobody bought enters by content
                part.add(p, w * score, "session_similar", similar)
        if idx < 0:
            continue
        for j, score in neighbours(t, idx, s.pool):
            part.add(t.item_ids[j], w * score, "session_similar", similar)
        for j, conf in _confidences(t, idx):
            # a rule is the more specific reason: it wins over a kNN neighbour
            text = f"bought together with {title}"
            part.add(t.item_ids[j], w * float(conf), "bought_together", text, prefer=True)
    return part


def content_part(t: TrainedRecs, cat: Catalogue, anchors: list[str], s: ServeSettings) -> Part:
    """New products (no purchases in training) resembling the user's recent items."""
    part = Part(s.content_weight)
    for anchor in dict.fromkeys(anchors):
        if anchor not in cat.content.row:
            continue
        title = cat.title(anchor)
        for p, score in cat.similar(anchor, s.pool):
            if p not in t.item_index:
                part.add(p, score, "new_similar", f"new, like {title}")
    return part


def popularity_part(t: TrainedRecs, s: ServeSettings) -> Part:
    """The shop's best sellers, weighed lightly: they fill short lists."""
    if not t.popular:  # the same for everyone: computed once per trained model
        counts = t.assoc.item_baskets
        order = np.argsort(-counts, kind="stable")[: s.pool]
        t.popular = [(t.item_ids[j], float(counts[j])) for j in order]
    part = Part(s.popularity_weight)
    for p, count in t.popular:
        part.add(p, count, "popular", "popular in the shop")
    return part


def newest_first(views: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    return sorted(views, key=lambda v: -v[2])


def neighbours(t: TrainedRecs, idx: int, k: int) -> list[tuple[int, float]]:
    """The trained model's item neighbours (none for a model without item similarity)."""
    return memo(t.memo, ("neighbours", idx, k), lambda: _compute_neighbours(t, idx, k))


def _rules_for(t: TrainedRecs, idx: int, k: int) -> list[Any]:
    return memo(t.memo, ("rules", idx, k), lambda: t.assoc.rules_for(idx, k=k))


def _confidences(t: TrainedRecs, idx: int) -> list[tuple[int, float]]:
    """(item, confidence of ``idx -> item``) for every item with a rule from ``idx``."""

    def compute() -> list[tuple[int, float]]:
        row = t.assoc.confidence_row(idx)
        return list(zip(row.indices.tolist(), row.data.tolist(), strict=True))

    return memo(t.memo, ("confidence", idx), compute)


def _compute_neighbours(t: TrainedRecs, idx: int, k: int) -> list[tuple[int, float]]:
    try:
        rec = t.model.similar_items(idx, k=k)
    except NotImplementedError:
        return []
    ids, scores = rec.for_user(0)
    return [(int(j), float(v)) for j, v in zip(ids, scores, strict=True) if v > 0]


def _links_from(t: TrainedRecs, history: list[int], k: int) -> dict[int, tuple[str, int]]:
    """For items linked to the user's history: (``bought_together`` or ``also_bought``, the
    history item), association rules first."""
    links: dict[int, tuple[str, int]] = {}
    for h in history:
        for r in _rules_for(t, h, k):
            links.setdefault(r.consequent, ("bought_together", h))
    for h in history:
        for j, _ in neighbours(t, h, k):
            links.setdefault(j, ("also_bought", h))
    return links


def reason(p: str, parts: dict[str, Part], brand: str | None, cat: Catalogue) -> tuple[str, str]:
    """The reason of the part that gave ``p`` the most (after weighting)."""
    best, best_value = None, 0.0
    for part in parts.values():
        top = max(part.scores.values(), default=0.0)
        value = part.weight * part.scores.get(p, 0.0) / top if top > 0 else 0.0
        if value > best_value:
            best, best_value = part, value
    product_brand = (cat.products.get(p) or {}).get("brand")
    if brand and product_brand == brand and (best is None or best.why[p][0] == "popular"):
        return "favourite_brand", f"matches your favourite brand ({brand})"
    if best is None:
        return "popular", "popular in the shop"
    return best.why[p]
