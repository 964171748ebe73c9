"""Serving recommendations in a workspace: ``ws.recs.recommend(user_id)``, ``similar``,
``bought_together``.

A user's list is the sum of scaled parts (``portrait.recs.parts``), each giving the items it
scores a reason:

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
    >>> ws.recs.recommend("u000001", k=5).items[0].reason          # doctest: +SKIP
    'you buy this again'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portrait.consent.policy import Consents, HasConsent
from portrait.models.registry import ModelCard, save_card
from portrait.recs.base import SECONDS_PER_DAY
from portrait.recs.catalogue import Catalogue
from portrait.recs.history import PersonHistory, PersonTags
from portrait.recs.parts import (
    Part,
    ServeSettings,
    base_part,
    content_part,
    neighbours,
    newest_first,
    popularity_part,
    reason,
    segment_part,
    session_part,
)
from portrait.recs.results import (
    BoughtTogether,
    Recommendations,
    RecommendedItem,
    RuleItem,
    SimilarProducts,
)
from portrait.recs.rules import BusinessRules, blocked_recent, repeat_categories, scaled, select
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

    from portrait.store.warehouse import Warehouse

__all__ = ["NotTrainedError", "RecsService", "ServeSettings"]


@dataclass
class Live:
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
    """Recommendations of one workspace (``ws.recs``): the model files under
    ``<root>/recs/`` and what serving reads from the warehouse."""

    def __init__(
        self,
        warehouse: Warehouse,
        root: Path,
        settings: ServeSettings | None = None,
        consent: HasConsent | None = None,
    ) -> None:
        """``consent``: the settings whose ``[consent]`` decides who gets personalised lists
        (None: everyone); see ``portrait.consent.policy``."""
        self.warehouse = warehouse
        self.root = root
        self.settings = settings or ServeSettings()
        # whether a person consents to personalisation (without it: the shop's best sellers)
        self.personalised: Callable[[str], bool] | None = (
            Consents(warehouse, consent).checker("personalisation") if consent else None
        )
        self._trained: TrainedRecs | None = None
        self._trained_stamp: float | None = None
        self._catalogue: Catalogue | None = None
        self._catalogue_version: tuple | None = None
        self._live: Live | None = None

    # --- training -----------------------------------------------------------------------
    def train(
        self, model: str = DEFAULT_MODEL, progress: Callable[[str], None] | None = None
    ) -> ModelCard:
        """Fit ``model`` (a name of ``portrait.recs.registry.GENERATORS``) on the purchases,
        write its files under ``<workspace>/recs/`` and record the ``recs`` model card."""
        card = train_and_save(self.warehouse, self.root, model, progress)
        save_card(self.warehouse, card)
        self._trained = None
        return card

    def trained(self) -> TrainedRecs:
        """The files of the latest training (reloaded when a new training wrote them)."""
        meta = self.root / FOLDER / "meta.json"
        stamp = meta.stat().st_mtime if meta.exists() else None
        if self._trained is None or stamp != self._trained_stamp:
            self._trained = TrainedRecs.load(self.root / FOLDER)
            self._trained_stamp = stamp
        return self._trained

    def catalogue(self) -> Catalogue:
        """The products (content index included), rebuilt when the products table changed."""
        products = self.live(self.trained()).version[-2:]  # products: count, latest ingest
        if self._catalogue is None or products != self._catalogue_version:
            self._catalogue = Catalogue(serve_data.products(self.warehouse))
            self._catalogue_version = products
        return self._catalogue

    def live(self, t: TrainedRecs) -> Live:
        """The warehouse state serving needs, read again only after a write that changed
        what serving reads (events, identities, builds, products): writes of other kinds
        (a campaign's send ledger, say) cost one small query, not a reload."""
        wh = self.warehouse
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
        live = self._live = Live(
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
            self.warehouse, snapshot, (*SEGMENT_TAGS, "favourite_brand")
        )
        return PersonTags.from_arrow(frame, snapshot.build_id)

    def _person(self, t: TrainedRecs, live: Live, identifier: str) -> str:
        """The person behind a user or anonymous id, without a query for known persons."""
        if identifier in live.merged:
            return live.merged[identifier]
        if (
            t.history.of(identifier) != ([], [])
            or live.since_training.of(identifier) != ([], [])
            or (live.tags is not None and live.tags.has(identifier))
        ):
            return identifier  # a person id (the canonical user id) with history or profile
        return serve_data.resolve_person(self.warehouse, identifier)

    # --- serving ------------------------------------------------------------------------
    def recommend(
        self,
        user_id: str,
        k: int = 10,
        exclude: list[str] | None = None,
        rules: BusinessRules | None = None,
    ) -> Recommendations:
        """The ``k`` products to show ``user_id``, best first, each with a short reason."""
        if k < 1:
            raise ValueError("k must be at least 1")
        s = self.settings if rules is None else replace(self.settings, rules=rules)
        t = self.trained()
        live = self.live(t)
        cat = self.catalogue()
        person = self._person(t, live, user_id)
        if self.personalised is not None and not self.personalised(person):
            return self._best_sellers(t, cat, user_id, person, k, exclude, s)
        old_bought, old_views = t.history.of(person)
        new_bought, new_views = live.since_training.of(person)
        bought = new_bought + old_bought
        history = list(dict.fromkeys(p for p, _ in bought))
        u = t.users.index_of(person)
        cold = u < 0
        tags = live.tags.of(person) if live.tags is not None else {}
        # a known buyer's session is what happened since training; a new user's, all of it
        session = (new_views if not cold else newest_first(new_views + old_views))[
            : s.session_events
        ]
        parts = {
            "base": segment_part(t, tags, s) if cold else base_part(t, cat, u, history, s),
            "session": session_part(t, cat, session, s),
            "content": content_part(t, cat, [p for p, _, _ in session] + history[:5], s),
            "popularity": popularity_part(t, s),
        }
        brand = tags.get("favourite_brand")
        total = _blend(parts, cat, brand, s)
        chosen = self._choose(t, cat, total, bought, history, live.now, exclude, k, s)
        level = s.rules.category_level
        items = [cat.item(p, total[p], *reason(p, parts, brand, cat), level=level) for p in chosen]
        return Recommendations(
            user_id=user_id,
            person_id=person,
            k=k,
            cold_start=cold,
            session=list(dict.fromkeys(p for p, _, _ in session)),
            model=t.meta.get("model"),
            run_id=t.meta.get("run_id"),
            items=items,
        )

    def _best_sellers(
        self, t: TrainedRecs, cat: Catalogue, user_id: str, person: str, k: int,
        exclude: list[str] | None, s: ServeSettings,
    ) -> Recommendations:  # fmt: skip
        """The shop's best sellers, for a person who does not consent to personalisation:
        nothing of their history, session or profile is read (``exclude`` is the caller's)."""
        total = scaled(popularity_part(t, s).scores)
        chosen = self._choose(t, cat, total, [], [], 0.0, exclude, k, s)
        level = s.rules.category_level
        return Recommendations(
            user_id=user_id, person_id=person, k=k, cold_start=False, personalised=False,
            model=t.meta.get("model"), run_id=t.meta.get("run_id"),
            items=[cat.item(p, total[p], "popular", "popular in the shop", level=level)
                   for p in chosen],
        )  # fmt: skip

    @staticmethod
    def _choose(
        t: TrainedRecs,
        cat: Catalogue,
        total: dict[str, float],
        bought: list[tuple[str, float]],
        history: list[str],
        now: float,
        exclude: list[str] | None,
        k: int,
        s: ServeSettings,
    ) -> list[str]:
        """The ``k`` best products the business rules let through (recent buys of categories
        that do not repeat left out, at most so many per category)."""
        level = s.rules.category_level
        category_of = {p: (cat.products.get(p) or {}).get(level) for p in total}
        category_of.update({p: (cat.products.get(p) or {}).get(level) for p in history})
        ages: dict[str, float] = {}
        for p, ts in bought:
            ages.setdefault(p, (now - ts) / SECONDS_PER_DAY)
        repeatable = repeat_categories(t.meta.get("repeat_rates", {}), s.rules)
        blocked = blocked_recent(ages, category_of, repeatable, s.rules) | set(exclude or ())
        ranked = sorted(total, key=lambda p: (-total[p], p))
        return select(ranked, k, cat.products, blocked, category_of, s.rules.max_per_category)

    def similar(self, product_id: str, k: int = 10) -> SimilarProducts:
        """Products like ``product_id``: bought by the same customers (item-kNN of the trained
        model), then by content (category path, brand, title) — how a new product gets some."""
        t, cat = self.trained(), self.catalogue()
        idx = t.item_index.get(product_id, -1)
        if idx < 0 and product_id not in cat.products:
            raise LookupError(f"unknown product {product_id!r}: not in the products table")
        items: list[RecommendedItem] = []
        seen = {product_id}
        if idx >= 0:
            for j, score in neighbours(t, idx, k + len(seen)):
                p = t.item_ids[j]
                if p in cat.products and p not in seen and len(items) < k:
                    seen.add(p)
                    text = "bought by the same customers"
                    items.append(cat.item(p, score, "also_bought", text))
        for p, score in cat.similar(product_id, k + len(seen)):
            if p not in seen and len(items) < k:
                seen.add(p)
                text = f"similar to {cat.title(product_id)} (category, brand, title)"
                items.append(cat.item(p, score, "content", text))
        return SimilarProducts(product_id=product_id, k=k, items=items)

    def bought_together(self, product_id: str, k: int = 10) -> BoughtTogether:
        """Association rules ``product_id -> B`` with support, confidence and lift."""
        t, cat = self.trained(), self.catalogue()
        idx = t.item_index.get(product_id, -1)
        if idx < 0 and product_id not in cat.products:
            raise LookupError(f"unknown product {product_id!r}: not in the products table")
        rules: list[RuleItem] = []
        for r in t.assoc.rules_for(idx, k=k * 2) if idx >= 0 else []:
            p = t.item_ids[r.consequent]
            if p in cat.products and len(rules) < k:
                item = cat.item(p, r.confidence, "bought_together", "")
                rules.append(
                    RuleItem(
                        **item.model_dump(exclude={"reason"}),
                        reason=f"bought together with {cat.title(product_id)}",
                        baskets=r.baskets,
                        support=r.support,
                        confidence=r.confidence,
                        lift=r.lift,
                    )
                )
        return BoughtTogether(product_id=product_id, baskets=t.assoc.n_baskets, k=k, items=rules)


def _blend(
    parts: dict[str, Part], cat: Catalogue, brand: Any, s: ServeSettings
) -> dict[str, float]:
    """Each product's weighted sum of its scaled part scores, plus the favourite-brand bonus."""
    total: dict[str, float] = {}
    for part in parts.values():
        for p, v in scaled(part.scores).items():
            total[p] = total.get(p, 0.0) + part.weight * v
    if brand:
        for p in total:
            if (cat.products.get(p) or {}).get("brand") == brand:
                total[p] += s.brand_weight
    return total
