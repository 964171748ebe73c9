"""REST routes that take data in: events, users and products, batched JSON."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import limited_body, responses
from portrait.ingest.reasons import explain
from portrait.workspace import Workspace

router = APIRouter(tags=["ingest"], responses=responses(400, 401, 403, 413, 422))


class RejectedRecord(BaseModel):
    index: int
    reason_code: str
    detail: str | None
    message: str


class IngestResponse(BaseModel):
    batch_id: str
    kind: str
    received: int
    accepted: int
    duplicates: int
    quarantined: int
    rejected: list[RejectedRecord]


def request_body(kind: str) -> dict[str, Any]:
    """The OpenAPI request body of an ingest route: the body is read as raw JSON (so that a
    record that does not check is quarantined, not refused), hence declared by hand."""
    record = {"type": "object", "additionalProperties": True}
    records = {"type": "array", "items": record}
    return {
        "requestBody": {
            "required": True,
            "description": f'A JSON array of {kind} records, or an object {{"{kind}": [...]}}; '
            "see `portrait schema` for the fields.",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            records,
                            {"type": "object", "properties": {kind: records}, "required": [kind]},
                        ]
                    }
                }
            },
        }
    }


async def ingest(request: Request, ws: Workspace, kind: str, caller: Caller) -> IngestResponse:
    body = await limited_body(request, ws.settings.api.max_body_mb)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise HTTPException(400, f"body is not valid JSON: {e}") from e
    if isinstance(payload, dict):
        payload = payload.get(kind, payload.get("records"))
    if not isinstance(payload, list):
        raise HTTPException(
            422, f'send a JSON array of {kind} records, or an object {{"{kind}": [...]}}'
        )
    limit = ws.settings.api.max_batch
    if len(payload) > limit:
        raise HTTPException(
            413,
            f"{len(payload)} records in one request; the limit is "
            f"{limit} (api.max_batch in portrait.toml): split it",
        )
    lines = [orjson.dumps(r).decode() for r in payload]
    committer = request.app.state.committer
    result = await asyncio.wrap_future(
        committer.submit(kind, lines, caller.actor, trusted=caller.can("identity:write"))
    )
    accepted, duplicates = result.accepted, result.duplicates
    if not caller.can("ingest:read"):
        # Whether a record was stored already (an e-mail, a phone, an event id) is stored
        # data: a key that may not read the ingest log learns only what it sent was taken.
        accepted, duplicates = accepted + duplicates, 0
    return IngestResponse(
        batch_id=result.batch_id,
        kind=kind,
        received=result.received,
        accepted=accepted,
        duplicates=duplicates,
        quarantined=result.quarantined,
        rejected=[
            RejectedRecord(
                index=r.index,
                reason_code=r.reason_code,
                detail=r.detail,
                message=explain(r.reason_code, r.detail),
            )
            for r in result.rejections
        ],
    )


@router.post("/v1/events", response_model=IngestResponse, openapi_extra=request_body("events"))
async def post_events(request: Request, ws: WorkspaceDep, caller: Caller) -> IngestResponse:
    """Ingest a batch of events (a JSON array, or ``{"events": [...]}``).

    Every record is accepted, recognised as a duplicate, or quarantined with a reason;
    ``rejected`` lists the quarantined ones by their index in the batch. A key that may
    not read the ingest log (``ingest:read``) gets duplicates counted as accepted.
    """
    return await ingest(request, ws, "events", caller)


@router.post("/v1/users", response_model=IngestResponse, openapi_extra=request_body("users"))
async def post_users(request: Request, ws: WorkspaceDep, caller: Caller) -> IngestResponse:
    """Ingest (upsert) a batch of users."""
    return await ingest(request, ws, "users", caller)


@router.post("/v1/products", response_model=IngestResponse, openapi_extra=request_body("products"))
async def post_products(request: Request, ws: WorkspaceDep, caller: Caller) -> IngestResponse:
    """Ingest (upsert) a batch of products."""
    return await ingest(request, ws, "products", caller)
