"""The ingest log (``ingest_batches``): read here; ``store.loader`` writes one row per batch."""

from __future__ import annotations

from portrait.ingest.results import BatchLogEntry
from portrait.store.warehouse import Warehouse

_COLUMNS = (
    "batch_id",
    "kind",
    "source",
    "actor",
    "received",
    "accepted",
    "duplicates",
    "quarantined",
    "started_at",
    "finished_at",
)


def recent_batches(wh: Warehouse, limit: int = 20) -> list[BatchLogEntry]:
    """The newest ``limit`` batches, newest first."""
    rows = wh.fetchall(
        f"SELECT {', '.join(_COLUMNS)} FROM ingest_batches ORDER BY started_at DESC LIMIT ?",
        [limit],
    )
    return [BatchLogEntry(**dict(zip(_COLUMNS, r, strict=True))) for r in rows]


def sources_under(wh: Warehouse, prefix: str) -> list[str]:
    """Every distinct batch source whose path starts with ``prefix``."""
    rows = wh.fetchall(
        "SELECT DISTINCT source FROM ingest_batches WHERE starts_with(source, ?) ORDER BY 1",
        [prefix],
    )
    return [r[0] for r in rows]


def batch_totals(wh: Warehouse) -> tuple[int, int, int, int, int]:
    """(batches, received, accepted, duplicates, quarantined) over the whole log."""
    row = wh.fetchone(
        "SELECT count(*), coalesce(sum(received), 0), coalesce(sum(accepted), 0), "
        "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) FROM ingest_batches"
    )
    assert row is not None  # an aggregate always has a row
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
