"""What ingest reports: the batch log, the quarantine and the warehouse summary, as models.

The CLI prints them (``--json``: ``model_dump(mode="json")``), the REST API returns them as its
documented response bodies, and notebooks read their attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class BatchCountError(RuntimeError):
    """A batch's counts do not add up: some record would be lost. The batch is rolled back."""


@dataclass
class Rejection:
    """A record of a batch that went to quarantine: its position and why."""

    index: int
    reason_code: str
    detail: str | None


class BatchResult(IngestedBatch):
    """What happened to every record of one batch (the ``IngestedBatch`` counts always add
    up), with the rejections and timings the service's callers use; not frozen: later steps
    of a load add their timings."""

    model_config = ConfigDict(frozen=False)

    rejections: list[Rejection] = Field(default_factory=list)
    seconds: float = 0.0
    # Seconds spent per step (validate, quarantine, store, identity, commit): where time goes.
    timings: dict[str, float] = Field(default_factory=dict)
    # Positions of the accepted records, when asked for (to split a combined HTTP batch).
    accepted_rows: list[int] | None = None

    def model_post_init(self, context: Any, /) -> None:
        if self.accepted + self.duplicates + self.quarantined != self.received:
            raise BatchCountError(f"counts do not add up for batch {self.batch_id}: {self}")

    def counts(self) -> IngestedBatch:
        """The counts alone (``portrait ingest --json``), seconds to the millisecond."""
        fields = self.model_dump(include=set(IngestedBatch.model_fields))
        return IngestedBatch(**fields | {"seconds": round(self.seconds, 3)})


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
