"""Counts over the whole warehouse: what ``portrait summary`` and ``GET /v1/summary`` show."""

from __future__ import annotations

from datetime import date

from portrait.ingest.results import IdentityCounts, WarehouseSummary
from portrait.store.ingest_log import batch_totals
from portrait.store.quarantine import counts_by_reason
from portrait.store.warehouse import Warehouse

_IDENTITY_COUNTS = """SELECT
  (SELECT count(DISTINCT person_id) FROM identity_map WHERE id_kind = 'user'
     AND person_id IN (SELECT person_id FROM identity_map WHERE id_kind = 'user'
                       AND identifier <> person_id)),
  (SELECT count(*) FROM identity_map WHERE id_kind = 'user' AND identifier <> person_id),
  (SELECT count(*) FROM identity_map WHERE id_kind = 'anonymous'),
  (SELECT count(*) FROM identity_map WHERE id_kind = 'anonymous' AND conflict),
  (SELECT count(DISTINCT anonymous_id) FROM events WHERE user_id IS NULL
     AND anonymous_id NOT IN (SELECT identifier FROM identity_map
                              WHERE id_kind = 'anonymous'))"""

_ENTITY_COUNTS = """SELECT
  (SELECT count(*) FROM users),
  (SELECT count(*) FROM products),
  (SELECT count(*) FROM events),
  (SELECT count(DISTINCT order_id) FROM events WHERE type = 'order'),
  (SELECT min(ts) FROM events),
  (SELECT max(ts) FROM events)"""


def identity_counts(wh: Warehouse) -> IdentityCounts:
    """How many persons merge users, and how many devices are stitched or in conflict."""
    row = wh.fetchone(_IDENTITY_COUNTS)
    assert row is not None
    return IdentityCounts(
        merged_people=row[0],
        users_merged_into_another=row[1],
        anonymous_ids_stitched=row[2],
        anonymous_ids_in_conflict=row[3],
        anonymous_only_visitors=row[4],
    )


def warehouse_summary(wh: Warehouse, workspace: str) -> WarehouseSummary:
    """Users, products, events by type, the ingest log's totals, quarantine and identity."""
    counts = wh.fetchone(_ENTITY_COUNTS)
    assert counts is not None
    by_type = dict(wh.fetchall("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"))
    batches, received, accepted, duplicates, quarantined = batch_totals(wh)
    return WarehouseSummary(
        workspace=workspace,
        users=counts[0],
        products=counts[1],
        events=counts[2],
        orders=counts[3],
        first_event=counts[4],
        last_event=counts[5],
        events_by_type=by_type,
        batches=batches,
        received=received,
        accepted=accepted,
        duplicates=duplicates,
        quarantined=quarantined,
        quarantine_by_reason=counts_by_reason(wh),
        identity=identity_counts(wh),
    )


def last_event_day(wh: Warehouse) -> date | None:
    """The date of the newest event (None in an empty warehouse)."""
    row = wh.fetchone("SELECT max(ts)::DATE FROM events")
    return row[0] if row else None
