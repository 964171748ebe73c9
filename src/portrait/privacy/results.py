"""What erasure, the residue check and compaction answer (``ws.privacy``, CLI, REST)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field


class ErasedFile(BaseModel):
    """A file erasure changed."""

    path: str
    action: Literal["rewritten", "deleted", "token"] = Field(
        description="rewritten without the person's rows; deleted (no row left); token: the "
        "person's entry replaced by an unlinkable token (the recommender's id map)"
    )
    rows_removed: int = 0


class ErasureResult(BaseModel):
    """``ws.privacy.forget``: what was removed and what was kept, naming no identifier."""

    erasure_id: str
    already_erased: bool = Field(
        False, description="the user id was erased before: nothing was left to remove"
    )
    identifiers: int = Field(
        0, description="identifiers erased (user ids, merged user ids, device ids)"
    )
    pseudonyms: list[str] = Field(
        default_factory=list,
        description="the keyed HMACs of the identifiers (the tombstones that refuse them)",
    )
    shared_devices: int = Field(
        0,
        description="device ids also seen with other persons: their events without a user id "
        "were removed, the ids themselves kept for the others",
    )
    removed: dict[str, int] = Field(default_factory=dict, description="rows removed per table")
    kept_anonymous: dict[str, int] = Field(
        default_factory=dict,
        description="campaign rows kept under a random token, and the outcome events kept "
        "under it, so campaign reports do not change",
    )
    bitmaps_updated: int = Field(0, description="segment membership bitmaps the person left")
    index_dropped: bool = Field(
        False, description="the segment bitmap index was dropped (made again when next needed)"
    )
    quarantine_removed: int = 0
    files: list[ErasedFile] = Field(default_factory=list)
    compaction: Literal["rewritten", "skipped", "in memory"] = Field(
        "skipped",
        description="rewritten: the database copied into a fresh file (the freed bytes gone); "
        "skipped: --no-compact (run `portrait privacy compact`)",
    )
    seconds: dict[str, float] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rows_removed(self) -> int:
        return sum(self.removed.values())


class ResidueHit(BaseModel):
    """One place that still mentions the person."""

    place: str = Field(description="table.column, a bitmap table, or a file path")
    kind: Literal["table", "bitmap", "file"]
    count: int = Field(description="rows, bitmaps or occurrences")
    found_by: Literal["id", "pseudonym", "pid", "freed blocks"] = Field(
        description="id: the identifier in clear; pseudonym: a value whose keyed HMAC is a "
        "tombstone; pid: the person's dense segment id; freed blocks: the warehouse file was "
        "not rewritten since the erasure (`portrait privacy compact`)"
    )


class ResidueReport(BaseModel):
    """``ws.privacy.residue``: what the tool still keeps that mentions a person."""

    erased: bool = Field(description="the user id is under a tombstone (erased)")
    erasure_id: str | None = None
    searched_in_clear: int = Field(description="identifiers searched in clear")
    searched_by_pseudonym: int = Field(description="identifiers searched by keyed HMAC")
    hits: list[ResidueHit] = Field(default_factory=list)
    seconds: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return sum(h.count for h in self.hits)


class CompactionResult(BaseModel):
    """``ws.privacy.compact``: the warehouse rewritten into a fresh file."""

    path: str | None
    bytes_before: int
    bytes_after: int
    seconds: float
