"""What recommendations read from the warehouse: purchases, products, persons' order lines and
recent views (kept in memory by serving), the events ingested since training, profile tags.
Every query of the recommendation layer is here; the rest works on what these return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa

from portrait.store import profiles as profile_store
from portrait.store.warehouse import Warehouse

PRODUCT_COLUMNS = ("product_id", "title", "category_l1", "category_l2", "category_l3", "brand")


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


def data_version(wh: Warehouse) -> tuple:
    """Changes when what serving reads changes: events (count, latest ingest), identity links
    (count), profile builds (count, latest), products (count, latest ingest; the last two)."""
    row = wh.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT max(ingested_at) FROM events), "
        "(SELECT count(*) FROM identity_links), (SELECT count(*) FROM tag_builds), "
        "(SELECT max(finished_at) FROM tag_builds), "
        "(SELECT count(*) FROM products), (SELECT max(ingested_at) FROM products)"
    )
    return tuple(row) if row else ()


def latest_event_seconds(wh: Warehouse) -> float | None:
    """The time of the latest event: "now" for the data (simulated shops live in the past)."""
    row = wh.fetchone("SELECT epoch(max(ts)) FROM events")
    return None if row is None or row[0] is None else float(row[0])


def resolve_person(wh: Warehouse, identifier: str) -> str:
    """The person behind a user or anonymous id; the id itself when the identity map has none."""
    return profile_store.resolve_person(wh, identifier) or identifier


def merged_user_ids(wh: Warehouse) -> dict[str, str]:
    """User ids that belong to another person (merged users): user id -> person id."""
    rows = wh.fetchall(
        "SELECT identifier, person_id FROM identity_map "
        "WHERE id_kind = 'user' AND identifier <> person_id"
    )
    return dict(rows)


def person_history(wh: Warehouse, views_per_person: int) -> pa.Table:
    """Every person's order lines and latest ``views_per_person`` product views and cart adds:
    person_id, product_id, type, ts (epoch seconds)."""
    return wh.arrow(
        "WITH e AS (SELECT person_id, product_id, type, epoch(ts) AS ts, "
        "  row_number() OVER (PARTITION BY person_id, type = 'order' ORDER BY ts DESC) AS n "
        "  FROM events_resolved WHERE type IN ('order', 'product_view', 'add_to_cart') "
        "  AND product_id IS NOT NULL AND person_id IS NOT NULL) "
        "SELECT person_id, product_id, type, ts FROM e WHERE type = 'order' OR n <= ?",
        [views_per_person],
    )


def events_since(wh: Warehouse, ingested_after: datetime) -> pa.Table:
    """Order lines, product views and cart adds ingested after a time, with their person:
    person_id, product_id, type, ts (epoch seconds). The events are picked before the identity
    map is joined, so only the latest row groups are read (ingest appends in time order)."""
    return wh.arrow(
        "WITH t AS MATERIALIZED (SELECT user_id, anonymous_id, product_id, type, "
        "  epoch(ts) AS ts FROM events WHERE ingested_at > ? "
        "  AND type IN ('order', 'product_view', 'add_to_cart') AND product_id IS NOT NULL) "
        "SELECT coalesce(mu.person_id, t.user_id, ma.person_id) AS person_id, t.product_id, "
        "t.type, t.ts FROM t "
        "LEFT JOIN identity_map mu ON mu.id_kind = 'user' AND mu.identifier = t.user_id "
        "LEFT JOIN identity_map ma ON ma.id_kind = 'anonymous' AND ma.identifier = t.anonymous_id "
        "WHERE coalesce(mu.person_id, t.user_id, ma.person_id) IS NOT NULL",
        [ingested_after],
    )


class Snapshot(NamedTuple):
    """The live profile build: its id, snapshot table and the table's columns."""

    build_id: str
    table: str
    columns: set[str]


def latest_snapshot(wh: Warehouse) -> Snapshot | None:
    """The live profile build's snapshot (the newest date's); None before any build."""
    live = profile_store.live_build(wh)
    if live is None:
        return None
    table = live["snapshot"]
    return Snapshot(live["build_id"], table, {c for c, _ in wh.columns_of(table)})


def snapshot_frame(wh: Warehouse, snapshot: Snapshot, tags: tuple[str, ...]) -> pa.Table:
    """person_id and ``tags`` (those the snapshot has) of every person in ``snapshot``."""
    have = [t for t in tags if t in snapshot.columns]
    columns = "".join(f', "{t}"' for t in have)
    return wh.arrow(f"SELECT person_id{columns} FROM {snapshot.table}")


def profile_frame(wh: Warehouse, tags: tuple[str, ...]) -> pa.Table | None:
    """person_id and ``tags`` (those present) of every person in the live build."""
    found = latest_snapshot(wh)
    if found is None or not any(t in found.columns for t in tags):
        return None
    return snapshot_frame(wh, found, tags)
