"""Labels: the order lines of known persons, asked in windows of local days ``[T, T + h)``.

:class:`Orders` keeps one training run's order lines in a temporary table (built from an ibis
expression here, created and queried by ``portrait.store.features``) and answers in local
dates, which it turns into epoch seconds of the shop's time zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from portrait.store import features as feature_store
from portrait.tags.sources import DAY, AsOf, event_source

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

CATEGORY_WINDOWS = (30, 90, 365)  # days of the per-category order counts


class Orders:
    """The order lines of known persons (person, epoch seconds, order, category), kept in a
    temporary table for one training run: ``with Orders(ctx) as orders: ...``."""

    def __init__(self, ctx: ModelContext) -> None:
        self.wh = ctx.warehouse
        self.tz = ctx.profiles.timezone
        self.table = f"_model_orders_{uuid.uuid4().hex[:8]}"
        t = self.wh.table
        # the UTC offsets only set local calendar fields, which labels do not read
        events = event_source(t("events"), t("products"), t("identity_map"), [(-(2**62), 0)])
        events = events.filter(events.type == "order", events.person_id.notnull())
        feature_store.create_order_lines(self.wh, self.table, events)

    def close(self) -> None:
        feature_store.drop_order_lines(self.wh, self.table)

    def __enter__(self) -> Orders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def epoch(self, day: date) -> int:
        """Local midnight of ``day`` in epoch seconds."""
        return AsOf.from_date(datetime(day.year, day.month, day.day), self.tz).epoch

    def last_order(self, before: date) -> pd.Series:
        """Epoch seconds of each person's last order before ``before`` (buyers only)."""
        df = feature_store.last_orders(self.wh, self.table, self.epoch(before))
        return df.set_index("person_id")["last_t"].astype("float64")

    def recent_orders(self, before: date, days: int) -> pd.Series:
        """Each buyer's distinct orders in the ``days`` days before ``before``."""
        start = self.epoch(before - timedelta(days=days))
        df = feature_store.order_counts(self.wh, self.table, start, self.epoch(before))
        return df.set_index("person_id")["n"].astype("float64")

    def buyers(self, start: date, end: date) -> set[str]:
        """Persons with an order in the local days ``[start, end)``."""
        return feature_store.buyers(self.wh, self.table, self.epoch(start), self.epoch(end))

    def category_buyers(self, start: date, end: date) -> pd.DataFrame:
        """(person_id, category) pairs with an order line of the category in ``[start, end)``."""
        return feature_store.category_buyers(
            self.wh, self.table, self.epoch(start), self.epoch(end)
        )

    def category_history(self, before: date, categories: Sequence[str]) -> pd.DataFrame:
        """Per (person, category) of ``categories``, from order lines before ``before``:
        orders with the category in the last 30/90/365 days and in all, days since the last
        one, and the category's share of the person's order lines."""
        windows = {d: self.epoch(before - timedelta(days=d)) for d in CATEGORY_WINDOWS}
        return feature_store.category_history(
            self.wh, self.table, self.epoch(before), windows, categories
        )

    def top_categories(self, start: date, end: date) -> pd.Series:
        """Buyers per category in ``[start, end)``, most bought first."""
        df = feature_store.category_buyer_counts(
            self.wh, self.table, self.epoch(start), self.epoch(end)
        )
        return df.set_index("category")["buyers"]


def days_since(last_t: pd.Series, at_epoch: int, index: pd.Index) -> np.ndarray:
    """Whole days from each person's ``last_t`` to ``at_epoch``, aligned to ``index``
    (NaN for persons without one)."""
    return np.floor((at_epoch - last_t.reindex(index).to_numpy()) / DAY)
