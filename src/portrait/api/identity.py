"""REST routes for identity: who an identifier belongs to, merging and unmerging persons."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from fastapi import APIRouter
from pydantic import BaseModel

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.identity.results import IdentityReport

router = APIRouter(tags=["admin"], responses=responses(401, 403, 404, 422))


class MergeRequest(BaseModel):
    user_a: str
    user_b: str
    reason: str = "explicit merge via API"


class UnmergeRequest(BaseModel):
    user_id: str
    reason: str = "explicit unmerge via API"


@router.get("/v1/identity/{identifier}")
def identity(identifier: str, ws: WorkspaceDep, _: Caller) -> IdentityReport:
    """The person behind a user or anonymous id: every identifier, link and conflict."""
    return ws.identity(identifier)


@router.post("/v1/identity/merge")
def merge(body: MergeRequest, ws: WorkspaceDep, _: Caller) -> IdentityReport:
    """Record that two user ids are one person; returns the merged person's report."""
    return ws.merge_users(body.user_a, body.user_b, body.reason)


@router.post("/v1/identity/unmerge")
def unmerge(body: UnmergeRequest, ws: WorkspaceDep, caller: Caller) -> IdentityReport:
    """Make a user its own person again, apart from every user it was merged with (by a
    shared phone or explicitly); remembered, so no later ingest or rebuild re-links them
    (a later explicit merge does). Returns the user's identity report."""
    return ws.unmerge(body.user_id, body.reason, actor=caller.actor)
