"""Serving recommendations in a workspace: ``ws.recs.recommend(user_id)``, ``similar``,
``bought_together``.

A user's list is the sum of scaled parts, each giving the items it scores a reason:

- ``base``: the trained generator's candidates (the blend: repeat purchase + item-kNN +
  popularity), or, for a user without purchases (cold start), popularity in their profile
  segments (gender, age band, RFM segment, lifecycle stage of the latest build), else in the shop;
- ``session``: the product views and cart adds ingested since training (all recent ones for a
  cold-start user), read from the events table at request time: items similar to and bought
  together with what the user is looking at now;
- ``content``: products nobody has bought yet that resemble the user's recent items;
- ``brand``: a bonus for the user's favourite brand (profile tag ``favourite_brand``).

Then the business rules (``portrait.recs.rules``) pick the ``k`` served items.

    >>> ws.recs.train()                                            # doctest: +SKIP
    >>> ws.recs.recommend("u000001", k=5)["items"][0]["reason"]     # doctest: +SKIP
    'you buy this again'
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from portrait.models.registry import ModelCard, save_card
from portrait.recs.base import SECONDS_PER_DAY
from portrait.recs.content import ContentIndex
from portrait.recs.history import PersonHistory, PersonTags
from portrait.recs.rules import (
    BusinessRules,
    blocked_recent,
    repeat_categories,
    scaled,
    select,
)
from portrait.recs.serve_train import (
    DEFAULT_MODEL,
    FOLDER,
    SEGMENT_TAGS,
    NotTrainedError,
    TrainedRecs,
    train_and_save,
)
from portrait.store import recs as serve_data

if TYPE_CHECKING:
    from collections.abc import Callable

    from portrait.workspace import Workspace

__all__ = ["NotTrainedError", "RecsService", "ServeSettings"]


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
class _Part:
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


MEMO_ENTRIES = 50_000  # per-item results kept between requests (cleared when full)


def _memo(store: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
    """``store[key]``, computed once: per-item neighbours and rules do not change until the
    model or the catalogue does, and a request asks for dozens of them."""
    value = store.get(key)
    if value is None:
        if len(store) >= MEMO_ENTRIES:
            store.clear()
        value = store[key] = compute()
    return value


class _Catalogue:
    def __init__(self, products: list[dict[str, Any]]) -> None:
        self.products = {p["product_id"]: p for p in products}
        self.content = ContentIndex.build([p["product_id"] for p in products], products)
        self._similar: dict[tuple[str, int], tuple[tuple[str, float], ...]] = {}

    def similar(self, product: str, k: int) -> tuple[tuple[str, float], ...]:
        """Content neighbours of a product (memoised)."""
        key = (product, k)
        return _memo(self._similar, key, lambda: tuple(self.content.similar(product, k)))

    def title(self, product: str) -> str:
        return str((self.products.get(product) or {}).get("title") or product)


@dataclass
class _Live:
    """What serving reads from the warehouse besides the model files, kept while the warehouse
    has not been written to (``Warehouse.generation``): the data's "now", what was ingested
    since training, merged user ids and the latest profile snapshot."""

    generation: int
    version: tuple  # serve_data.data_version when read
    trained_at: str
    now: float
    since_training: PersonHistory
    merged: dict[str, str]
    tags: PersonTags | None  # serving tags of the latest profile build


class RecsService:
    """Recommendations of one workspace (``ws.recs``)."""

    def __init__(self, ws: Workspace, settings: ServeSettings | None = None) -> None:
        self.ws = ws
        self.settings = settings or ServeSettings()
        self._trained: TrainedRecs | None = None
        self._trained_stamp: float | None = None
        self._catalogue: _Catalogue | None = None
        self._catalogue_version: tuple | None = None
        self._live: _Live | None = None

    # --- training -----------------------------------------------------------------------
    def train(
        self, model: str = DEFAULT_MODEL, progress: Callable[[str], None] | None = None
    ) -> ModelCard:
        """Fit ``model`` (a name of ``portrait.recs.registry.GENERATORS``) on the purchases,
        write its files under ``<workspace>/recs/`` and record the ``recs`` model card."""
        card = train_and_save(self.ws, model, progress)
        save_card(self.ws.warehouse, card)
        self._trained = None
        return card

    def trained(self) -> TrainedRecs:
        """The files of the latest training (reloaded when a new training wrote them)."""
        meta = self.ws.root / FOLDER / "meta.json"
        stamp = meta.stat().st_mtime if meta.exists() else None
        if self._trained is None or stamp != self._trained_stamp:
            self._trained = TrainedRecs.load(self.ws.root / FOLDER)
            self._trained_stamp = stamp
        return self._trained

    def catalogue(self) -> _Catalogue:
        """The products (content index included), rebuilt when the products table changed."""
        products = self.live(self.trained()).version[-2:]  # products: count, latest ingest
        if self._catalogue is None or products != self._catalogue_version:
            self._catalogue = _Catalogue(serve_data.products(self.ws.warehouse))
            self._catalogue_version = products
        return self._catalogue

    def live(self, t: TrainedRecs) -> _Live:
        """The warehouse state serving needs, read again only after a write that changed
        what serving reads (events, identities, builds, products): writes of other kinds
        (a campaign's send ledger, say) cost one small query, not a reload."""
        wh = self.ws.warehouse
        live = self._live
        trained_at = str(t.meta.get("trained_at"))
        if live is not None and live.generation == wh.generation and live.trained_at == trained_at:
            return live
        generation = wh.generation  # before reading: a write meanwhile invalidates
        version = serve_data.data_version(wh)
        if live is not None and live.version == version and live.trained_at == trained_at:
            live.generation = generation
            return live
        rows = serve_data.events_since(wh, datetime.fromisoformat(trained_at))
        live = self._live = _Live(
            generation=generation,
            version=version,
            trained_at=trained_at,
            now=serve_data.latest_event_seconds(wh) or 0.0,
            since_training=PersonHistory.from_rows(
                *(rows[c].to_pylist() for c in ("person_id", "product_id", "type", "ts"))
            ),
            merged=serve_data.merged_user_ids(wh),
            tags=self._tags(serve_data.latest_snapshot(wh)),
        )
        return live

    def _tags(self, snapshot: serve_data.Snapshot | None) -> PersonTags | None:
        """The serving tags of every person of the latest build, read once per build."""
        if snapshot is None:
            return None
        known = self._live.tags if self._live is not None else None
        if known is not None and known.build_id == snapshot.build_id:
            return known
        frame = serve_data.snapshot_frame(
            self.ws.warehouse, snapshot, (*SEGMENT_TAGS, "favourite_brand")
        )
        return PersonTags.from_arrow(frame, snapshot.build_id)

    def _person(self, t: TrainedRecs, live: _Live, identifier: str) -> str:
        """The person behind a user or anonymous id, without a query for known persons."""
        if identifier in live.merged:
            return live.merged[identifier]
        if (
            t.history.of(identifier) != ([], [])
            or live.since_training.of(identifier) != ([], [])
            or (live.tags is not None and live.tags.has(identifier))
        ):
            return identifier  # a person id (the canonical user id) with history or profile
        return serve_data.resolve_person(self.ws.warehouse, identifier)

    # --- serving ------------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        exclude: list[str] | None = None,
        rules: BusinessRules | None = None,
    ) -> dict[str, Any]:
        """The ``k`` products to show ``user_id``, best first, each with a short reason."""
        if k < 1:
            raise ValueError("k must be at least 1")
        s = self.settings if rules is None else replace(self.settings, rules=rules)
        t = self.trained()
        live = self.live(t)
        cat = self.catalogue()
        person = self._person(t, live, user_id)
        now = live.now
        old_bought, old_views = t.history.of(person)
        new_bought, new_views = live.since_training.of(person)
        bought = new_bought + old_bought
        history = list(dict.fromkeys(p for p, _ in bought))
        u = t.users.index_of(person)
        cold = u < 0
        tags = live.tags.of(person) if live.tags is not None else {}
        # a known buyer's session is what happened since training; a new user's, all of it
        session = (new_views if not cold else _newest_first(new_views + old_views))[
            : s.session_events
        ]

        parts = {
            "base": self._segment_part(t, tags, s)
            if cold
            else self._base_part(t, cat, u, history, s),
            "session": self._session_part(t, cat, session, s),
            "content": self._content_part(t, cat, [p for p, _, _ in session] + history[:5], s),
            "popularity": self._popularity_part(t, s),
        }
        total: dict[str, float] = {}
        for part in parts.values():
            for p, v in scaled(part.scores).items():
                total[p] = total.get(p, 0.0) + part.weight * v
        brand = tags.get("favourite_brand")
        if brand:
            for p in total:
                if (cat.products.get(p) or {}).get("brand") == brand:
                    total[p] += s.brand_weight
        level = s.rules.category_level
        category_of = {p: (cat.products.get(p) or {}).get(level) for p in total}
        category_of.update({p: (cat.products.get(p) or {}).get(level) for p in history})
        ages = {}
        for p, ts in bought:
            ages.setdefault(p, (now - ts) / SECONDS_PER_DAY)
        repeatable = repeat_categories(t.meta.get("repeat_rates", {}), s.rules)
        blocked = blocked_recent(ages, category_of, repeatable, s.rules) | set(exclude or ())
        ranked = sorted(total, key=lambda p: (-total[p], p))
        chosen = select(ranked, k, cat.products, blocked, category_of, s.rules.max_per_category)
        items = []
        for p in chosen:
            code, text = _reason(p, parts, brand, cat)
            items.append(self._item(cat, p, total[p], code, text, level))
        return {
            "user_id": user_id,
            "person_id": person,
            "k": k,
            "cold_start": cold,
            "session": list(dict.fromkeys(p for p, _, _ in session)),
            "model": t.meta.get("model"),
            "run_id": t.meta.get("run_id"),
            "items": items,
        }

    def similar(self, product_id: str, k: int = 10) -> dict[str, Any]:
        """Products like ``product_id``: bought by the same customers (item-kNN of the trained
        model), then by content (category path, brand, title) — how a new product gets some."""
        t, cat = self.trained(), self.catalogue()
        idx = t.item_index.get(product_id, -1)
        if idx < 0 and product_id not in cat.products:
            raise LookupError(f"unknown product {product_id!r}: not in the products table")
        items: list[dict[str, Any]] = []
        seen = {product_id}
        if idx >= 0:
            for j, score in _neighbours(t, idx, k + len(seen)):
                p = t.item_ids[j]
                if p in cat.products and p not in seen and len(items) < k:
                    seen.add(p)
                    text = "bought by the same customers"
                    items.append(self._item(cat, p, score, "also_bought", text))
        for p, score in cat.similar(product_id, k + len(seen)):
            if p not in seen and len(items) < k:
                seen.add(p)
                text = f"similar to {cat.title(product_id)} (category, brand, title)"
                items.append(self._item(cat, p, score, "content", text))
        return {"product_id": product_id, "k": k, "items": items}

    def bought_together(self, product_id: str, k: int = 10) -> dict[str, Any]:
        """Association rules ``product_id -> B`` with support, confidence and lift."""
        t, cat = self.trained(), self.catalogue()
        idx = t.item_index.get(product_id, -1)
        if idx < 0 and product_id not in cat.products:
            raise LookupError(f"unknown product {product_id!r}: not in the products table")
        rules = []
        for r in t.assoc.rules_for(idx, k=k * 2) if idx >= 0 else []:
            p = t.item_ids[r.consequent]
            if p in cat.products and len(rules) < k:
                item = self._item(cat, p, r.confidence, "bought_together", "")
                item["reason"] = f"bought together with {cat.title(product_id)}"
                rules.append(
                    item | {"baskets": r.baskets, "support": r.support, "confidence": r.confidence,
                            "lift": r.lift}
                )  # fmt: skip
        return {"product_id": product_id, "baskets": t.assoc.n_baskets, "k": k, "items": rules}

    # --- parts --------------------------------------------------------------------------
    def _base_part(
        self, t: TrainedRecs, cat: _Catalogue, u: int, history: list[str], s: ServeSettings
    ) -> _Part:
        part = _Part(1.0)
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

    def _segment_part(self, t: TrainedRecs, tags: dict[str, Any], s: ServeSettings) -> _Part:
        part = _Part(1.0)
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

    def _session_part(
        self,
        t: TrainedRecs,
        cat: _Catalogue,
        session: list[tuple[str, str, float]],
        s: ServeSettings,
    ) -> _Part:
        part = _Part(s.session_weight)
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
            for j, score in _neighbours(t, idx, s.pool):
                part.add(t.item_ids[j], w * score, "session_similar", similar)
            for j, conf in _confidences(t, idx):
                # a rule is the more specific reason: it wins over a kNN neighbour
                text = f"bought together with {title}"
                part.add(t.item_ids[j], w * float(conf), "bought_together", text, prefer=True)
        return part

    def _content_part(
        self, t: TrainedRecs, cat: _Catalogue, anchors: list[str], s: ServeSettings
    ) -> _Part:
        """New products (no purchases in training) resembling the user's recent items."""
        part = _Part(s.content_weight)
        for anchor in dict.fromkeys(anchors):
            if anchor not in cat.content.row:
                continue
            title = cat.title(anchor)
            for p, score in cat.similar(anchor, s.pool):
                if p not in t.item_index:
                    part.add(p, score, "new_similar", f"new, like {title}")
        return part

    def _popularity_part(self, t: TrainedRecs, s: ServeSettings) -> _Part:
        if not t.popular:  # the same for everyone: computed once per trained model
            counts = t.assoc.item_baskets
            order = np.argsort(-counts, kind="stable")[: s.pool]
            t.popular = [(t.item_ids[j], float(counts[j])) for j in order]
        part = _Part(s.popularity_weight)
        for p, count in t.popular:
            part.add(p, count, "popular", "popular in the shop")
        return part

    @staticmethod
    def _item(
        cat: _Catalogue, p: str, score: float, code: str, text: str, level: str = "category_l2"
    ) -> dict[str, Any]:
        product = cat.products.get(p) or {}
        return {
            "product_id": p,
            "title": product.get("title"),
            "brand": product.get("brand"),
            "category": product.get(level),
            "score": round(float(score), 4),
            "reason": text,
            "reason_code": code,
        }


def _newest_first(views: list[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    return sorted(views, key=lambda v: -v[2])


def _neighbours(t: TrainedRecs, idx: int, k: int) -> list[tuple[int, float]]:
    """The trained model's item neighbours (none for a model without item similarity)."""
    return _memo(t.memo, ("neighbours", idx, k), lambda: _compute_neighbours(t, idx, k))


def _rules_for(t: TrainedRecs, idx: int, k: int) -> list[Any]:
    return _memo(t.memo, ("rules", idx, k), lambda: t.assoc.rules_for(idx, k=k))


def _confidences(t: TrainedRecs, idx: int) -> list[tuple[int, float]]:
    """(item, confidence of ``idx -> item``) for every item with a rule from ``idx``."""

    def compute() -> list[tuple[int, float]]:
        row = t.assoc.confidence_row(idx)
        return list(zip(row.indices.tolist(), row.data.tolist(), strict=True))

    return _memo(t.memo, ("confidence", idx), compute)


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
        for j, _ in _neighbours(t, h, k):
            links.setdefault(j, ("also_bought", h))
    return links


def _reason(p: str, parts: dict[str, _Part], brand: str | None, cat: _Catalogue) -> tuple[str, str]:
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
