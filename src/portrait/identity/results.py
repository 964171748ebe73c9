"""What identity resolution reports about one person, as models (CLI, REST, notebooks)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class IdentifierInfo(BaseModel):
    """One identifier of a person: a user id or a device's anonymous id."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    kind: str  # 'user' or 'anonymous'
    conflict: bool  # an anonymous id seen with several persons
    events: int


class IdentityLink(BaseModel):
    """A piece of evidence that two identifiers are one person, and whether it holds now."""

    model_config = ConfigDict(frozen=True)

    from_kind: str
    from_id: str
    to_user_id: str
    rule: str  # 'seen_together', 'same_phone', 'explicit_merge'
    evidence: str | None
    first_seen: datetime | None
    batch_id: str | None
    linked_at: datetime
    in_effect: bool  # false: a user link an unmerge set aside (its users are two persons)


class IdentityConflict(BaseModel):
    """A shared device: it never merges the users it was seen with."""

    model_config = ConfigDict(frozen=True)

    anonymous_id: str
    seen_with_users: list[str]


class Unmerge(BaseModel):
    """Two users kept apart: links between them are ignored until an explicit merge."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    apart_from: str
    reason: str | None
    actor: str | None
    unmerged_at: datetime


class IdentityReport(BaseModel):
    """Who an identifier belongs to: the person, all its identifiers, links and why."""

    model_config = ConfigDict(frozen=True)

    person_id: str | None  # None: an anonymous visitor never linked to a user
    identifier: str
    anonymous_only: bool
    identifiers: list[IdentifierInfo]
    links: list[IdentityLink]
    conflicts: list[IdentityConflict]
    unmerges: list[Unmerge]
