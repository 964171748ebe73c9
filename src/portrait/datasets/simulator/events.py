"""A columnar batch of simulated events held as numpy arrays, and its conversion to Arrow.

String columns are integer codes until the very end: people are block-local indices, products
are catalog indices, texts and queries are vocabulary indices. ``to_arrow`` turns the codes into
strings with one ``take`` per column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from portrait.datasets.base import source_schema
from portrait.datasets.simulator.ids import prefixed

EVENT_TYPE_NAMES = (
    "page_view", "search", "product_view", "click", "add_to_cart", "remove_from_cart", "order",
    "payment", "refund", "review", "share", "like", "follow", "invite", "login", "register",
    "coupon_received", "coupon_used", "message_sent", "message_opened", "message_clicked",
    "survey_answer", "question", "answer",
)  # fmt: skip
T = {name: i for i, name in enumerate(EVENT_TYPE_NAMES)}

# field -> (dtype, fill value for "absent")
FIELDS: dict[str, tuple[type, object]] = {
    "ts": (np.int64, 0),
    "etype": (np.int8, 0),
    "person": (np.int32, -1),
    "has_user": (np.bool_, False),
    "has_anon": (np.bool_, False),
    "target": (np.int32, -1),
    "product": (np.int32, -1),
    "quantity": (np.int32, -1),
    "price": (np.float64, np.nan),
    "discount": (np.float64, np.nan),
    "order": (np.int64, -1),
    "query": (np.int32, -1),
    "channel": (np.int8, -1),
    "device": (np.int8, -1),
    "campaign": (np.int8, -1),
    "coupon": (np.int8, -1),
    "rating": (np.int8, -1),
    "text": (np.int32, -1),
    "props": (np.int16, -1),
    # bookkeeping only, never written
    "session": (np.int32, -1),
    "slot": (np.int64, 0),
    "aux": (np.int32, -1),
}


@dataclass
class Events:
    """Columns of equal length, one per entry of ``FIELDS``."""

    cols: dict[str, np.ndarray]

    @classmethod
    def new(cls, n: int, **values: np.ndarray | int | float | bool) -> Events:
        """``n`` events; unnamed fields get their fill value, scalars are broadcast."""
        cols = {}
        for name, (dtype, fill) in FIELDS.items():
            v = values.pop(name, fill)
            if np.ndim(v) == 0:
                cols[name] = np.full(n, v, dtype=dtype)
            else:
                cols[name] = np.asarray(v, dtype=dtype)
                if len(cols[name]) != n:
                    raise ValueError(f"field {name!r} has {len(cols[name])} values, not {n}")
        if values:
            raise KeyError(f"unknown event fields: {sorted(values)}")
        return cls(cols)

    @classmethod
    def concat(cls, parts: list[Events]) -> Events:
        parts = [p for p in parts if len(p)] or parts[:1]
        if not parts:
            return cls.new(0)
        return cls({k: np.concatenate([p.cols[k] for p in parts]) for k in FIELDS})

    def __len__(self) -> int:
        return len(self.cols["ts"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def take(self, index: np.ndarray) -> Events:
        """Rows selected by an integer index or a boolean mask."""
        return Events({k: v[index] for k, v in self.cols.items()})


def _take(strings: pa.Array, codes: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    mask = codes < 0 if present is None else (codes < 0) | ~present
    return pc.take(strings, pa.array(np.where(mask, 0, codes), mask=mask))


def _nullable(values: np.ndarray, absent: np.ndarray, typ: pa.DataType) -> pa.Array:
    return pa.array(values, type=typ, mask=absent)


@dataclass(frozen=True)
class Vocabulary:
    """The strings that event codes point into."""

    user_ids: pa.Array  # by block-local person index (users only)
    anonymous_ids: pa.Array  # by block-local person index (users and visitors)
    product_ids: pa.Array
    queries: pa.Array
    texts: pa.Array
    channels: pa.Array
    devices: pa.Array
    campaigns: pa.Array
    coupons: pa.Array
    properties: pa.Array


def to_arrow(
    ev: Events, vocab: Vocabulary, first_event: int, first_order: int, seed: int
) -> pa.Table:
    """The canonical events table for a batch whose ids start at ``first_event``."""
    n = len(ev)
    ids = pc.cast(pa.array(np.arange(first_event, first_event + n, dtype=np.int64)), pa.string())
    order = ev["order"]
    has_order = order >= 0
    lowest = int(order[has_order].min()) if has_order.any() else 0
    highest = int(order[has_order].max()) if has_order.any() else 0
    order_names = prefixed("o", np.arange(lowest, highest + 1) + first_order + 1, 9)
    type_names = pa.array(EVENT_TYPE_NAMES)
    columns = {
        "event_id": pc.binary_join_element_wise(f"s{seed}-", ids, ""),
        "user_id": _take(vocab.user_ids, ev["person"], ev["has_user"]),
        "anonymous_id": _take(vocab.anonymous_ids, ev["person"], ev["has_anon"]),
        "ts": pa.array(ev["ts"], type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "type": pc.take(type_names, pa.array(ev["etype"].astype(np.int32))),
        "product_id": _take(vocab.product_ids, ev["product"]),
        "quantity": _nullable(ev["quantity"].astype(np.int64), ev["quantity"] < 0, pa.int64()),
        "price": _nullable(ev["price"], np.isnan(ev["price"]), pa.float64()),
        "discount": _nullable(ev["discount"], np.isnan(ev["discount"]), pa.float64()),
        "order_id": _take(order_names, np.where(has_order, order - lowest, -1)),
        "query": _take(vocab.queries, ev["query"]),
        "channel": _take(vocab.channels, ev["channel"]),
        "device": _take(vocab.devices, ev["device"]),
        "campaign_id": _take(vocab.campaigns, ev["campaign"]),
        "coupon_id": _take(vocab.coupons, ev["coupon"]),
        "rating": _nullable(ev["rating"].astype(np.int64), ev["rating"] < 0, pa.int64()),
        "text": _take(vocab.texts, ev["text"]),
        "target_user_id": _take(vocab.user_ids, ev["target"]),
        "properties": _take(vocab.properties, ev["props"]),
    }
    schema = source_schema("events")
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
