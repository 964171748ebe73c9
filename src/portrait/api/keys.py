"""REST routes for API keys (permission ``keys:manage``).

Keys live in the workspace's key file, so these, the CLI (`portrait keys ...`) and a notebook
all see the same keys at once, and a revoke counts from the next request.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.security.keys import ROLES, InvalidRoleError
from portrait.store.keys import KeyPublic


class KeyCreate(BaseModel):
    role: str = Field(examples=["ingest"], description=f"One of: {', '.join(ROLES)}.")
    note: str | None = Field(default=None, description="What the key is for.")


class KeyCreated(BaseModel):
    """A new key: its ``token`` is in this answer only (only its hash is stored)."""

    key_id: str
    role: str
    note: str | None
    token: str


class KeyRevoked(BaseModel):
    key_id: str
    revoked: bool


router = APIRouter(tags=["keys"], responses=responses(401, 403, 404, 422))


@router.get("/v1/keys")
def list_keys(ws: WorkspaceDep, _: Caller) -> list[KeyPublic]:
    """Every key with its role, note and times (never a secret), oldest first."""
    return ws.list_keys()


@router.post("/v1/keys", status_code=201)
def create_key(body: KeyCreate, ws: WorkspaceDep, _: Caller) -> KeyCreated:
    """Make a key. ``token`` is in this answer only: only its hash is stored."""
    try:
        k = ws.create_key(body.role, body.note)
    except InvalidRoleError as e:
        raise HTTPException(422, str(e)) from e
    return KeyCreated(key_id=k.key_id, role=k.role, note=body.note, token=k.token)


@router.delete("/v1/keys/{key_id}")
def revoke_key(key_id: str, ws: WorkspaceDep, _: Caller) -> KeyRevoked:
    """Revoke a key: every request with it fails from the next one (404 if no such
    active key)."""
    try:
        ws.revoke_key(key_id)
    except KeyError as e:
        raise HTTPException(404, e.args[0]) from e
    return KeyRevoked(key_id=key_id, revoked=True)
