"""Model tables: ``model_cards`` (one JSON card per training run) and ``model_scores`` (the
latest value of every model tag per person), and what the trainers read back from the
warehouse (order days, the simulator's ground truth). Every query of ``portrait.models`` on
these tables is here; the trainers work on what these return.

Cards are stored and returned as JSON text: the ``ModelCard`` schema belongs to
``portrait.models.registry``, which reads and writes through this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from portrait.store.profiles import has_table
from portrait.store.warehouse import Warehouse


# --- cards ------------------------------------------------------------------------------------
def save_card(
    wh: Warehouse, run_id: str, model: str, trained_at: datetime, seconds: float, card: str
) -> None:
    """Store (or replace) the card of one training run."""
    wh.execute(
        "INSERT OR REPLACE INTO model_cards VALUES (?, ?, ?, ?, ?)",
        [run_id, model, trained_at, seconds, card],
    )


def card_texts(wh: Warehouse, model: str | None = None) -> list[str]:
    """Every stored card as JSON text, newest first (only ``model``'s when given)."""
    sql = "SELECT card FROM model_cards"
    params: list[Any] = []
    if model is not None:
        sql += " WHERE model = ?"
        params.append(model)
    return [r[0] for r in wh.fetchall(sql + " ORDER BY trained_at DESC", params)]


def delete_cards(wh: Warehouse, model: str) -> None:
    """Forget every card of ``model`` (tests; a model retired)."""
    wh.execute("DELETE FROM model_cards WHERE model = ?", [model])


# --- scores -----------------------------------------------------------------------------------
def replace_scores(
    wh: Warehouse,
    model: str,
    person_ids: pa.Array,
    columns: dict[str, list[str | None]],
    scored_at: datetime,
) -> None:
    """Replace the scores of ``model`` and of the tags ``columns`` names in one transaction:
    ``columns`` maps a model tag (or a flat ``tag__k0`` column) to one text value per person
    of ``person_ids`` (None: no score)."""
    with wh.transaction():
        wh.execute(
            "DELETE FROM model_scores WHERE model = ? OR tag_id IN (SELECT unnest(?))",
            [model, list(columns)],
        )
        for tag_id, values in columns.items():
            table = pa.table({"person_id": person_ids, "value": pa.array(values, pa.string())})
            wh.register("_scores_in", table)
            try:
                wh.execute(
                    "INSERT INTO model_scores SELECT person_id, ?, value, ?, ? "
                    "FROM _scores_in WHERE value IS NOT NULL",
                    [tag_id, model, scored_at],
                )
            finally:
                wh.unregister("_scores_in")


# --- what trainers read -----------------------------------------------------------------------
def order_days(wh: Warehouse, timezone: str) -> list[tuple[str, Any, float]]:
    """(person_id, local day, revenue of the day's order lines) of every known person."""
    return wh.fetchall(
        """
        SELECT person_id, CAST(timezone(?, ts) AS DATE) AS day,
               coalesce(sum(quantity * price), 0)::DOUBLE AS value
        FROM events_resolved
        WHERE type = 'order' AND person_id IS NOT NULL
        GROUP BY 1, 2
        """,
        [timezone],
    )


def anonymous_order_lines(wh: Warehouse) -> int:
    """Order lines whose person is unknown (anonymous, never stitched)."""
    row = wh.fetchone(
        "SELECT count(*) FROM events_resolved WHERE type = 'order' AND person_id IS NULL"
    )
    return int(row[0]) if row else 0


def churn_truth(wh: Warehouse, tag: str) -> list[tuple[str, float, bool, float]] | None:
    """On a simulated shop: (person, written score of ``tag``, latently churned, true churn
    hazard) per scored user, by person id; None without the simulator's ``truth_users``."""
    if not has_table(wh, "truth_users"):
        return None
    return wh.fetchall(
        """SELECT s.person_id, CAST(s.value AS DOUBLE), t.churned_at IS NOT NULL, t.churn_hazard
           FROM model_scores s JOIN truth_users t ON t.user_id = s.person_id
           WHERE s.tag_id = ? ORDER BY 1""",
        [tag],
    )


def persona_classes(wh: Warehouse) -> dict[str, str] | None:
    """On a simulated shop: each user's person and latent persona classes joined by '+'
    (without 'potential'; '' for none); None without the simulator's ``truth_users``."""
    if not has_table(wh, "truth_users"):
        return None
    rows = wh.fetchall(
        "SELECT coalesce(m.person_id, t.user_id) AS pid, "
        "array_to_string(list_sort(list_filter(t.personas, lambda x: x <> 'potential')), '+') "
        "FROM truth_users t LEFT JOIN identity_map m "
        "ON m.id_kind = 'user' AND m.identifier = t.user_id"
    )
    return {pid: classes or "" for pid, classes in rows}
