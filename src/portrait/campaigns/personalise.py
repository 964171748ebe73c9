"""A message for one user: their language, profile tags, recommended products and the offer.

Reads go through ``portrait.store.campaigns`` (tags of the latest profile build, contacts,
product prices) and a ``Recommend`` function (the workspace's recommender, when one is trained).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from portrait.campaigns.definition import Campaign, Variant
from portrait.campaigns.templates import (
    MAX_PRODUCTS,
    PROFILE_TAGS,
    offer_context,
    pick_language,
    render_message,
    user_context,
)
from portrait.store import campaign_messages as store

if TYPE_CHECKING:
    from portrait.campaigns.audience import Audiences
    from portrait.store.warehouse import Warehouse

# tags read from the profile for timing and messages
READ_TAGS = ("best_send_hour", "language", *PROFILE_TAGS.values())
# (user id, how many) -> the recommender's answer (its ``items``: product_id, title, brand...);
# LookupError, ValueError or OSError when no model is trained
Recommend = Callable[[str, int], Any]


class Personaliser:
    """Builds and renders messages; caches the recommender's state and its answers."""

    def __init__(
        self,
        warehouse: Warehouse,
        audiences: Audiences,
        shop: str,
        recommend: Recommend | None = None,
    ) -> None:
        self.wh = warehouse
        self.audiences = audiences
        self.shop = shop
        self.recommend = recommend
        self._recs_ok: bool | None = None if recommend is not None else False
        self._products: dict[str, list[dict[str, Any]]] = {}

    def snapshot(self) -> str | None:
        """The latest profile snapshot table, None before the first build."""
        try:
            return str(self.audiences.latest_build()["snapshot"])
        except LookupError:
            return None

    def tags(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Profile tags of the persons in the latest build (empty before any build)."""
        snapshot = self.snapshot()
        if snapshot is None or not person_ids:
            return {}
        return store.profile_rows(self.wh, snapshot, person_ids, READ_TAGS)

    def prefetch(self, user_ids: list[str]) -> None:
        """Recommend for these users now, in one go (and read the prices once): the
        recommender's caches hold while nothing is written, and a dispatch writes the ledger
        after every send."""
        self._products = {}
        found = {u: self._recommend(u) for u in dict.fromkeys(user_ids)}
        ids = list({i["product_id"] for items in found.values() for i in items})
        prices = store.product_prices(self.wh, ids) if ids else {}
        self._products = {u: _with_prices(items, prices) for u, items in found.items()}

    def products(self, user_id: str) -> list[dict[str, Any]]:
        """Up to three recommended products (title, price, brand); none without a model."""
        if user_id in self._products:
            return self._products[user_id]
        items = self._recommend(user_id)
        ids = [i["product_id"] for i in items]
        return _with_prices(items, store.product_prices(self.wh, ids) if ids else {})

    def _recommend(self, user_id: str) -> list[dict[str, Any]]:
        if self._recs_ok is False or self.recommend is None:
            return []
        try:
            items = _items(self.recommend(user_id, MAX_PRODUCTS))
        except (LookupError, ValueError, FileNotFoundError, OSError):
            self._recs_ok = False  # not trained (or unreadable): messages go without products
            return []
        self._recs_ok = True
        return items

    def render(
        self,
        campaign: Campaign,
        variant: Variant,
        user_id: str,
        contact: dict[str, Any] | None,
        tags: dict[str, Any] | None,
    ) -> tuple[str, str, str]:
        """(language, subject, body) of ``variant`` for one user."""
        contact = contact or {}
        tags = tags or {}
        language = pick_language(variant.message, contact.get("language") or tags.get("language"))
        ctx = user_context(
            user_id=user_id,
            name=contact.get("name"),
            language=language,
            tags=tags,
            products=self.products(user_id),
            offer=offer_context(variant.offer, language),
            shop=self.shop,
            campaign=campaign.name,
        )
        subject, body = render_message(variant.message, language, ctx)
        return language, subject, body


def address_of(channel: str, user_id: str, contact: dict[str, Any] | None) -> str | None:
    """Where a message on ``channel`` goes: e-mail, phone, or the user id (push providers
    and the app's inbox know users by id)."""
    contact = contact or {}
    if channel == "email":
        return contact.get("email") or None
    if channel == "sms":
        return contact.get("phone") or None
    return user_id


def _items(answer: Any) -> list[dict[str, Any]]:
    """The recommended items as plain rows, from the recommender's answer (a typed result or
    the plain mapping an older recommender returned)."""
    items = answer["items"] if isinstance(answer, dict) else answer.items
    return [i if isinstance(i, dict) else i.model_dump() for i in items]


def _with_prices(items: list[dict[str, Any]], prices: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "product_id": i["product_id"],
            "title": i["title"] or i["product_id"],
            "brand": i.get("brand"),
            "price": prices.get(i["product_id"]),
        }
        for i in items
    ]
