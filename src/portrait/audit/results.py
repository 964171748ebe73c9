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
    """The chain walked from the first entry: whether every entry's hash holds."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries: int = Field(description="Entries in the log.")
    verified: int = Field(description="Entries that hold, from the first.")
    broken_at: int | None = Field(description="seq of the first entry that does not hold.")
    head_hash: str | None = Field(
        description="The last hash that holds: note it elsewhere to detect a cut tail."
    )
