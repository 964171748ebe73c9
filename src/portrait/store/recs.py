"""What serving recommendations reads from the warehouse: purchases, products, a person's recent
events and profile tags. Every query of the serving layer is here; the rest works on what these
return."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from portrait.store import profiles as profile_store
from portrait.store.warehouse import Warehouse

PRODUCT_COLUMNS = ("product_id", "title", "category_l1", "category_l2", "category_l3", "brand")
SESSION_TYPES = ("product_view", "add_to_cart")


def purchases(wh: Warehouse) -> pa.Table:
    """Every order line with a product: person_id, product_id, order_id, ts (epoch seconds)."""
    return wh.arrow(
        "SELECT person_id, product_id, coalesce(order_id, event_id) AS order_id, "
        "epoch(ts) AS ts FROM events_resolved "
        "WHERE type = 'order' AND product_id IS NOT NULL AND person_id IS NOT NULL"
    )


def products(wh: Warehouse) -> list[dict[str, Any]]:
    """The products table (the columns content similarity and the rules use)."""
    cols = ", ".join(PRODUCT_COLUMNS)
    rows = wh.fetchall(f"SELECT {cols} FROM products ORDER BY product_id")
    return [dict(zip(PRODUCT_COLUMNS, r, strict=True)) for r in rows]


def products_version(wh: Warehouse) -> tuple[int, datetime | None]:
    """Changes when products are added or updated (count, latest ingest time)."""
    row = wh.fetchone("SELECT count(*), max(ingested_at) FROM products")
    return (row[0], row[1]) if row else (0, None)


def latest_event_seconds(wh: Warehouse) -> float | None:
    """The time of the latest event: "now" for the data (simulated shops live in the past)."""
    row = wh.fetchone("SELECT epoch(max(ts)) FROM events")
    return None if row is None or row[0] is None else float(row[0])


def resolve_person(wh: Warehouse, identifier: str) -> str:
    """The person behind a user or anonymous id; the id itself when the identity map has none."""
    return profile_store.resolve_person(wh, identifier) or identifier


def person_purchases(wh: Warehouse, person_id: str) -> list[tuple[str, float]]:
    """The person's order lines (product_id, epoch seconds), newest first."""
    return wh.fetchall(
        "SELECT product_id, epoch(ts) FROM events_resolved WHERE person_id = ? "
        "AND type = 'order' AND product_id IS NOT NULL ORDER BY ts DESC",
        [person_id],
    )


def session_events(
    wh: Warehouse,
    person_id: str,
    ingested_after: datetime | None,
    limit: int,
) -> list[tuple[str, str, float]]:
    """The person's latest product views and cart adds (product_id, type, epoch seconds), newest
    first; only those ingested after ``ingested_after`` when it is given."""
    sql = (
        "SELECT product_id, type, epoch(ts) FROM events_resolved WHERE person_id = ? "
        "AND type IN ('product_view', 'add_to_cart') AND product_id IS NOT NULL"
    )
    params: list[Any] = [person_id]
    if ingested_after is not None:
        sql += " AND ingested_at > ?"
        params.append(ingested_after)
    return wh.fetchall(sql + " ORDER BY ts DESC LIMIT ?", [*params, limit])


def latest_snapshot(wh: Warehouse) -> tuple[str, set[str]] | None:
    """The latest profile build's snapshot table and its columns; None before any build."""
    builds = profile_store.builds(wh, 1)
    if not builds:
        return None
    snapshot = builds[0]["snapshot"]
    cols = {c for c, _ in wh.columns_of(snapshot)}
    return snapshot, cols


def profile_tags(wh: Warehouse, person_id: str, tags: tuple[str, ...]) -> dict[str, Any]:
    """The person's values of ``tags`` in the latest build (the tags it has; {} without)."""
    found = latest_snapshot(wh)
    if found is None:
        return {}
    snapshot, cols = found
    have = [t for t in tags if t in cols]
    if not have:
        return {}
    columns = ", ".join(f'"{t}"' for t in have)
    row = wh.fetchone(f"SELECT {columns} FROM {snapshot} WHERE person_id = ?", [person_id])
    if row is None:
        return {}
    return {t: v for t, v in zip(have, row, strict=True) if v is not None}


def profile_frame(wh: Warehouse, tags: tuple[str, ...]) -> pa.Table | None:
    """person_id and ``tags`` (those present) of every person in the latest build."""
    found = latest_snapshot(wh)
    if found is None:
        return None
    snapshot, cols = found
    have = [t for t in tags if t in cols]
    if not have:
        return None
    columns = ", ".join(f'"{t}"' for t in have)
    return wh.arrow(f"SELECT person_id, {columns} FROM {snapshot}")
