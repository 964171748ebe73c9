"""What ingest reports: the batch log, the quarantine and the warehouse summary, as models.

The CLI prints them (``--json``: ``model_dump(mode="json")``), the REST API returns them as its
documented response bodies, and notebooks read their attributes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class IngestedBatch(BaseModel):
    """What one batch of an ingest command did (``portrait ingest --json``)."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    kind: str
    source: str
    received: int
    accepted: int
    duplicates: int
    quarantined: int
    seconds: float


class BatchLogEntry(BaseModel):
    """One row of the ingest log: who sent a batch and what became of its records."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    kind: str
    source: str | None
    actor: str | None  # an API key's id, or the CLI/notebook and its OS user
    received: int
    accepted: int
    duplicates: int
    quarantined: int
    started_at: datetime
    finished_at: datetime


class QuarantinedRecord(BaseModel):
    """A rejected record as received, with its reason and a plain explanation and fix."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    kind: str
    source: str | None
    record_index: int | None
    reason_code: str
    detail: str | None
    explanation: str
    raw: str | None
    quarantined_at: datetime


class QuarantineCount(BaseModel):
    """How many records of a kind were quarantined for one reason."""

    model_config = ConfigDict(frozen=True)

    kind: str
    reason_code: str
    count: int
    explanation: str


class IdentityCounts(BaseModel):
    """How far identity resolution has joined identifiers into persons."""

    model_config = ConfigDict(frozen=True)

    merged_people: int
    users_merged_into_another: int
    anonymous_ids_stitched: int
    anonymous_ids_in_conflict: int
    anonymous_only_visitors: int


class WarehouseSummary(BaseModel):
    """What a workspace's warehouse holds: the counts ``portrait summary`` shows."""

    model_config = ConfigDict(frozen=True)

    workspace: str
    users: int
    products: int
    events: int
    orders: int
    first_event: datetime | None
    last_event: datetime | None
    events_by_type: dict[str, int]
    batches: int
    received: int
    accepted: int
    duplicates: int
    quarantined: int
    quarantine_by_reason: dict[str, int]  # "kind: reason_code" -> records
    identity: IdentityCounts
