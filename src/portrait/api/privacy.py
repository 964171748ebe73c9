"""REST routes for erasure on request (permission ``privacy:erase``): ``DELETE
/v1/users/{user_id}`` erases the person, ``GET /v1/privacy/residue/{user_id}`` says what still
mentions them, ``POST /v1/privacy/compact`` rewrites the warehouse file after erasures made
with ``compact=false``. See docs/privacy.md, "Erasure".
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated

from fastapi import APIRouter, Query

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.privacy.results import CompactionResult, ErasureResult, ResidueReport

router = APIRouter(tags=["privacy"], responses=responses(401, 403, 422))


@router.delete("/v1/users/{user_id}", responses=responses(404, 409))
def forget(
    user_id: str,
    ws: WorkspaceDep,
    _: Caller,
    reason: Annotated[
        str | None, Query(max_length=500, description="Why (e.g. the request's reference).")
    ] = None,
    compact: Annotated[
        bool, Query(description="Rewrite the warehouse file now (false: later, in one go).")
    ] = True,
) -> ErasureResult:
    """Erase the person this user id belongs to (right to be forgotten): every identifier
    tied to them and everything derived; later data for their ids is refused. The answer
    names no identifier, only their keyed pseudonyms (404: an id never seen nor erased; 409:
    a profile build is running)."""
    return ws.privacy.forget(user_id, reason=reason, compact=compact)


@router.get("/v1/privacy/residue/{user_id}")
def residue(user_id: str, ws: WorkspaceDep, _: Caller) -> ResidueReport:
    """What the tool still keeps that mentions this person (every table, bitmap and file):
    before an erasure, what it would remove; after it, nothing."""
    return ws.privacy.residue(user_id)


@router.post("/v1/privacy/compact", responses=responses(409))
def compact(ws: WorkspaceDep, _: Caller) -> CompactionResult:
    """Rewrite the warehouse into a fresh file, so the bytes of deleted rows are gone."""
    return ws.privacy.compact()
