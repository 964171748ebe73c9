"""A batch of realistically dirty records, made from a clean shop, for the demo.

Real feeds resend events, lose ids, mangle times and prices. The demo sends such a batch
through the HTTP-style JSON path to show that every record is accounted for. Spoiled records
get new ids, so none of them can pollute the shop: they are all duplicates or quarantined.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

# (share of the batch, how a clean event is spoiled, expected outcome)
SPOILERS: list[tuple[float, str, str]] = [
    (0.30, "resent", "duplicate"),
    (0.20, "local_time", "duplicate"),
    (0.08, "no_identity", "missing_identity"),
    (0.08, "bad_time", "bad_timestamp"),
    (0.06, "future_time", "implausible_timestamp"),
    (0.08, "renamed_type", "unknown_event_type"),
    (0.06, "negative_price", "negative_price"),
    (0.06, "text_quantity", "wrong_type"),
    (0.04, "broken_properties", "bad_json"),
    (0.04, "not_an_object", "not_an_object"),
]


def dirty_batch(events_file: Path, n: int = 2000, seed: int = 7) -> list[Any]:
    """``n`` records derived from events in ``events_file``, spoiled as in ``SPOILERS``."""
    rng = np.random.default_rng(seed)
    table = pq.read_table(
        events_file,
        columns=[
            "event_id",
            "user_id",
            "anonymous_id",
            "ts",
            "type",
            "product_id",
            "quantity",
            "price",
            "order_id",
            "query",
        ],
    )
    picks = rng.choice(table.num_rows, size=min(n, table.num_rows), replace=False)
    rows = table.take(picks).to_pylist()
    kinds = rng.choice(len(SPOILERS), size=len(rows), p=[s[0] for s in SPOILERS])
    out: list[Any] = []
    for i, (row, k) in enumerate(zip(rows, kinds, strict=True)):
        out.append(_spoil(row, SPOILERS[k][1], i))
    return out


def _spoil(row: dict[str, Any], how: str, i: int) -> Any:
    rec = {k: v for k, v in row.items() if v is not None}
    rec["ts"] = row["ts"].isoformat()
    if how == "resent":
        return rec
    if how == "local_time":  # the same event resent with its time written in +08:00
        rec["ts"] = row["ts"].astimezone(_CST).isoformat()
        return rec
    rec["event_id"] = f"dirty-{i}"
    if how == "no_identity":
        rec.pop("user_id", None)
        rec.pop("anonymous_id", None)
    elif how == "bad_time":
        rec["ts"] = row["ts"].strftime("%d/%m/%Y %Hh%M")
    elif how == "future_time":
        rec["ts"] = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    elif how == "renamed_type":
        rec["type"] = "purchase"
    elif how == "negative_price":
        rec["price"] = -abs(row["price"] or 9.9)
    elif how == "text_quantity":
        rec["quantity"] = "two"
    elif how == "broken_properties":
        rec["properties"] = "{colour: red"
    elif how == "not_an_object":
        return [rec["event_id"], rec["ts"]]
    return rec


_CST = timezone(timedelta(hours=8))
