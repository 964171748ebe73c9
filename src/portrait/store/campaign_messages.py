"""What a campaign message reads about its persons and products: profile tags from a build's
snapshot, product prices, the average order value (an offer's expected cost).

SQL only, like ``portrait.store.campaigns``; ``portrait.campaigns.personalise`` and the dispatch
use these to fill and cost a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portrait.store.campaigns import with_ids
from portrait.store.warehouse import Warehouse


def snapshot_columns(wh: Warehouse, snapshot: str) -> set[str]:
    """The columns (tags) a profile snapshot table has."""
    schema, table = snapshot.split(".", 1)
    rows = wh.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ?",
        [schema, table],
    )
    return {r[0] for r in rows}


def profile_rows(
    wh: Warehouse, snapshot: str, person_ids: Sequence[str], tags: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The ``tags`` (those the snapshot has) of these persons in a profile snapshot."""
    have = snapshot_columns(wh, snapshot)
    cols = [t for t in tags if t in have]
    select = "".join(f', s."{c}"' for c in cols)
    rows = with_ids(
        wh,
        "_camp_pids",
        person_ids,
        f"SELECT s.person_id{select} FROM {snapshot} s JOIN _camp_pids p ON p.id = s.person_id",
    )
    return {r[0]: dict(zip(cols, r[1:], strict=True)) for r in rows}


def avg_order_value(wh: Warehouse) -> float:
    """Mean order value over every order (0 without orders): what an offer is costed on."""
    row = wh.fetchone(
        "SELECT avg(v) FROM (SELECT sum(quantity * price) AS v FROM events WHERE type = 'order' "
        "GROUP BY order_id)"
    )
    return float(row[0]) if row and row[0] is not None else 0.0


def product_prices(wh: Warehouse, product_ids: Sequence[str]) -> dict[str, float | None]:
    """The catalogue price of each product (None when it has none)."""
    rows = with_ids(
        wh,
        "_camp_products",
        product_ids,
        "SELECT p.product_id, p.price FROM products p JOIN _camp_products x ON x.id = p.product_id",
    )
    return {r[0]: r[1] for r in rows}
