"""REST routes that read what came in: the summary, the ingest log, the quarantine."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated

from fastapi import APIRouter, Query

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.ingest.results import (
    BatchLogEntry,
    QuarantinedRecord,
    WarehouseSummary,
)

router = APIRouter(tags=["admin"], responses=responses(401, 403, 422))
Limit = Annotated[int, Query(ge=1, le=10_000)]


@router.get("/v1/summary")
def summary(ws: WorkspaceDep, _: Caller) -> WarehouseSummary:
    """Counts of what the warehouse holds: users, products, events by type, batches,
    quarantine by reason, identity stitching."""
    return ws.summary()


@router.get("/v1/batches")
def batches(ws: WorkspaceDep, _: Caller, limit: Limit = 100) -> list[BatchLogEntry]:
    """The ingest log, newest first, with each batch's counts."""
    return ws.batches(limit=limit)


@router.get("/v1/quarantine")
def quarantine(
    ws: WorkspaceDep,
    _: Caller,
    reason: str | None = None,
    batch_id: str | None = None,
    limit: Limit = 100,
) -> list[QuarantinedRecord]:
    """Quarantined records, newest first, each with its reason, a plain explanation and its
    raw payload."""
    return ws.quarantine(limit=limit, reason=reason, batch_id=batch_id)
