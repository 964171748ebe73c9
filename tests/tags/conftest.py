"""Data unit tests of the tag catalog: a few hand-written rows in, a profile row per person out.

A test module describes its shop with a :class:`Shop` (users, products and events, with times
given relative to the build date) and builds it once, in a module-scoped fixture::

    @pytest.fixture(scope="module")
    def profiles(new_shop):
        shop = new_shop()
        shop.event("u1", "search", shop.before(days=3), query="dress")
        return shop.build("behaviour")   # {person_id: profile row}

Times are written as ``shop.before(days=.., hours=.., seconds=..)``: that long before local
midnight of the build date, so a window edge is ``shop.before(days=30)`` exactly.

A build computes the tags of the families under test and the tags they read, not the whole
catalog: compiling the whole catalog takes seconds, and a tag's value does not depend on the
tags around it (scores rank everyone the build sees, with or without other tags).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portrait.store import pii_tags
from portrait.tags.build import Builder
from portrait.tags.catalog import Catalog, dependencies, load_catalog
from portrait.workspace import Workspace

AS_OF = date(2025, 4, 1)  # a Tuesday


@cache
def family_catalog(*groups: str) -> Catalog:
    """The built-in tags of some level-1 groups, with every tag they read (in order)."""
    full = load_catalog()
    unknown = set(groups) - set(full.groups)
    assert not unknown, f"no group {sorted(unknown)}"
    needed: set[str] = set()
    todo = [t.id for t in full if t.group in groups]
    while todo:
        tag_id = todo.pop()
        if tag_id not in needed:
            needed.add(tag_id)
            todo.extend(dependencies(full.get(tag_id)))
    return Catalog(
        tags=[t for t in full if t.id in needed], groups=full.groups, groups2=full.groups2
    )


class Profiles(dict[str, dict[str, Any]]):
    """Profile rows by person id."""

    def of(self, person: str, *tags: str) -> dict[str, Any]:
        """Some tags of one person: ``assert profiles.of("u1", *want) == want``."""
        row = self[person]
        return {t: row[t] for t in tags}


class Shop:
    """Hand-written users, products and events, and the profiles built from them."""

    def __init__(self, root: Path, as_of: date = AS_OF, timezone: str = "UTC") -> None:
        self.root = root
        self.as_of = as_of
        self.timezone = timezone
        self.midnight = datetime(as_of.year, as_of.month, as_of.day, tzinfo=ZoneInfo(timezone))
        self.users: list[dict[str, Any]] = []
        self.products: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def before(self, days: float = 0, hours: float = 0, seconds: float = 0) -> str:
        """The time that long before local midnight of the build date, as ISO text (UTC)."""
        when = self.midnight - timedelta(days=days, hours=hours, seconds=seconds)
        return when.astimezone(ZoneInfo("UTC")).isoformat()

    def user(self, user_id: str, **fields: Any) -> None:
        self.users.append({"user_id": user_id, **fields})

    def product(self, product_id: str, **fields: Any) -> None:
        self.products.append({"product_id": product_id, **fields})

    def event(self, user_id: str, type: str, ts: str, **fields: Any) -> None:
        """One event of ``user_id`` (its id is made up)."""
        event_id = f"e{next(self._ids):04d}"
        self.events.append(
            {"event_id": event_id, "user_id": user_id, "ts": ts, "type": type, **fields}
        )

    def order(
        self,
        user_id: str,
        ts: str,
        order_id: str,
        product_id: str | None = None,
        quantity: int = 1,
        price: float = 10.0,
        **fields: Any,
    ) -> None:
        """One order line."""
        self.event(
            user_id,
            "order",
            ts,
            order_id=order_id,
            product_id=product_id,
            quantity=quantity,
            price=price,
            **fields,
        )

    def build(self, *groups: str) -> Profiles:
        """Ingest everything (all of it must be accepted), build the tags of ``groups`` (and
        those they read) as of the build date, and return the profile rows."""
        catalog = family_catalog(*groups)
        ws = Workspace.init(self.root)
        try:
            for kind, records in (
                ("products", self.products),
                ("users", self.users),
                ("events", self.events),
            ):
                if records:
                    result = ws.ingest_records(records, kind, timezone="UTC")
                    assert result.accepted == len(records), result.rejections
            wh = ws.warehouse
            run = Builder(wh, catalog, self.timezone, cipher=ws.pii).run(as_of=self.as_of)
            stored = wh.arrow(f"SELECT * FROM {run.snapshot}")
            rows = pii_tags.open_columns(wh, stored, catalog, ws.pii).to_pylist()  # PII opened
        finally:
            ws.close()
        return Profiles((row["person_id"], row) for row in rows)


@pytest.fixture(scope="session")
def new_shop(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Shop]:
    """Makes an empty :class:`Shop` in a fresh folder (build date ``AS_OF``, time zone UTC)."""

    def make(as_of: date = AS_OF, timezone: str = "UTC") -> Shop:
        return Shop(tmp_path_factory.mktemp("shop") / "ws", as_of, timezone)

    return make
