"""What the audit log answers, as models (CLI, REST, notebooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntry(BaseModel):
    """One audited action: who, what, about whom, how many rows, when, from where."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(description="Position in the chain, from 1.")
    at: datetime
    actor: str = Field(description="key:<key id> for REST; cli:<OS user> or local:<OS user>.")
    role: str | None = Field(
        description="The key's role; admin for the local owner (CLI, notebook)."
    )
    via: str = Field(description="rest, cli or python.")
    origin: str = Field(description="The client's address for REST; cli or python otherwise.")
    action: str = Field(examples=["profile.read"])
    command: str = Field(examples=["GET /v1/users/{user_id}/profile", "portrait profile"])
    params: dict[str, Any] = Field(description="The call's parameters, never a secret.")
    persons: list[str] = Field(description="Keyed pseudonyms (HMAC) of the persons concerned.")
    segment: str | None
    rows: int | None = Field(description="How many rows (persons, lines) the action returned.")
    hash: str = Field(description="SHA-256 over the previous entry's hash and this entry.")


class AuditVerification(BaseModel):
    """The chain walked from its start (the first entry, or the anchor a prune left): whether
    every entry's hash holds and the chain ends where the keyed head says."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries: int = Field(description="Entries in the log.")
    verified: int = Field(description="Entries that hold, from the first.")
    broken_at: int | None = Field(description="seq of the first entry that does not hold.")
    head_hash: str | None = Field(description="The last hash that holds.")
    head_seq: int | None = Field(
        None, description="The seq the keyed head records: the last entry written."
    )
    truncated: bool = Field(
        False, description="Entries after the last one were deleted (the head points past it)."
    )
    anchor_seq: int | None = Field(
        None, description="Entries up to this seq were pruned by retention; the chain starts after."
    )
    problem: str | None = Field(None, description="What does not hold, in words.")


class AuditPrune(BaseModel):
    """Audit entries pruned by retention, and the anchor the chain now starts from."""

    model_config = ConfigDict(frozen=True)

    pruned: int = Field(description="Entries deleted.")
    anchor_seq: int | None = Field(description="The last pruned entry's seq.")
    anchor_hash: str | None = Field(description="Its hash: the next entry chains to it.")
