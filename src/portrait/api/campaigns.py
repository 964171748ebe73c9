"""REST routes for campaigns."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import email
import email.policy
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import limited_body, responses
from portrait.campaigns.results import (
    CampaignPublic,
    CampaignSummary,
    ConsentImport,
    ConsentState,
    Dispatched,
    DryRun,
    InboxMessage,
    JourneyStarted,
    Launched,
    Stopped,
    UpliftCheck,
)
from portrait.consent.settings import check_purpose


class ConsentBody(BaseModel):
    granted: bool
    source: str = "api"


class ReadBody(BaseModel):
    message_ids: list[str] | None = None  # None: all of the user's messages


class Deleted(BaseModel):
    deleted: str  # the draft's name


class Marked(BaseModel):
    marked: int  # messages newly marked read


CSV_HELP = (
    "send the CSV (columns user_id, channel or purpose, granted[, source]) as the request body "
    "(Content-Type: text/csv) or upload it as multipart/form-data in a field named file"
)


def consent_csv(content_type: str, body: bytes) -> tuple[str, str]:
    """The CSV text of a consent import and what to call it: a multipart upload's ``file``
    field (else its first part) and its file name, or the whole body. Parsed with the standard
    library's e-mail parser, so no multipart package is needed."""
    label = "request body"
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        msg = email.message_from_bytes(head + body, policy=email.policy.HTTP)
        parts = list(msg.iter_parts()) if msg.is_multipart() else []
        named = [p for p in parts if p.get_param("name", header="content-disposition") == "file"]
        if not parts:
            raise HTTPException(422, f"the multipart body has no parts: {CSV_HELP}")
        part = (named or parts)[0]
        body = part.get_payload(decode=True) or b""
        label = part.get_filename() or "upload"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(422, f"the CSV is not UTF-8 text ({e}); save it as UTF-8") from e
    if not text.strip():
        raise HTTPException(422, f"empty CSV: {CSV_HELP}")
    return text, label


router = APIRouter(tags=["campaigns"], responses=responses(401, 403, 404, 409, 422))
# a name taken, a campaign in a state that forbids it (launched, stopped, a draft)
CONFLICT = responses(409)


@router.post("/v1/campaigns", responses=CONFLICT)
def create_campaign(
    ws: WorkspaceDep,
    _: Caller,
    definition: Annotated[dict[str, Any], Body(description="A campaign definition.")],
    replace: bool = False,
) -> CampaignPublic:
    """Validate (templates included) and store a draft; ``replace`` (query or a
    ``"replace": true`` field) overwrites a draft of the same name."""
    replace = bool(definition.pop("replace", replace))
    return ws.campaigns.create(definition, replace=replace)


@router.get("/v1/campaigns")
def list_campaigns(ws: WorkspaceDep, _: Caller) -> list[CampaignSummary]:
    """Every campaign with its status and send counts."""
    return ws.campaigns.list()


@router.post("/v1/campaigns/dispatch")
def dispatch(ws: WorkspaceDep, _: Caller) -> Dispatched:
    """Send every queued message that is due (consent, caps and budget checked now)."""
    return ws.campaigns.dispatch()


@router.get("/v1/campaigns/{name}")
def show_campaign(name: str, ws: WorkspaceDep, _: Caller) -> CampaignPublic:
    """Definition, persons per arm, sends per status, suppressions by reason."""
    return ws.campaigns.show(name)


@router.delete("/v1/campaigns/{name}", responses=CONFLICT)
def delete_campaign(name: str, ws: WorkspaceDep, _: Caller) -> Deleted:
    """Delete a draft (409 for a launched campaign)."""
    ws.campaigns.delete(name)
    return Deleted(deleted=name)


@router.post("/v1/campaigns/{name}/stop", responses=CONFLICT)
def stop_campaign(name: str, ws: WorkspaceDep, _: Caller) -> Stopped:
    """Stop a campaign for good; queued sends are withdrawn (409 for a draft)."""
    return ws.campaigns.stop(name)


@router.post("/v1/campaigns/{name}/launch", responses=CONFLICT)
def launch_campaign(
    name: str, ws: WorkspaceDep, _: Caller, dry_run: Annotated[bool, Query()] = False
) -> Launched | DryRun | JourneyStarted:
    """Assign the audience and queue the sends; ``dry_run`` only says what would happen. A
    campaign with a trigger starts its journey instead (``JourneyStarted``)."""
    return ws.campaigns.launch(name, dry_run=dry_run)


@router.get("/v1/campaigns/{name}/uplift")
def uplift_check(
    name: str,
    ws: WorkspaceDep,
    _: Caller,
    method: Annotated[
        Literal["class_transformation", "two_model", "x_learner"], Query()
    ] = "class_transformation",
    learner: Annotated[Literal["lightgbm", "logistic"], Query()] = "lightgbm",
) -> UpliftCheck:
    """How well an uplift model learnt from this past campaign ranks persons: fitted on half
    of its persons, judged on the other half (Qini AUC, uplift in the top 30%)."""
    return ws.campaigns.uplift_check(name, method, learner)


@router.put("/v1/users/{user_id}/consent/{channel}")
def put_consent(
    user_id: str, channel: str, body: ConsentBody, ws: WorkspaceDep, _: Caller
) -> ConsentState:
    """Record a user's yes or no for a channel (email, sms, push, in_app)."""
    return ws.set_consent(user_id, channel, body.granted, body.source)


@router.put("/v1/users/{user_id}/purposes/{purpose}")
def put_purpose(
    user_id: str, purpose: str, body: ConsentBody, ws: WorkspaceDep, _: Caller
) -> ConsentState:
    """Record a user's yes or no for a purpose: marketing (campaign messages, exports for
    activation), personalisation (recommendations from their own data) or analytics (exports
    stating purpose analytics). Persons with no answer get the ``[consent]`` default."""
    return ws.set_consent(user_id, check_purpose(purpose), body.granted, body.source)


@router.get("/v1/users/{user_id}/consent")
def get_consent(user_id: str, ws: WorkspaceDep, _: Caller) -> ConsentState:
    """The user's consent per channel and per purpose (recorded, or the default)."""
    return ws.campaigns.consent(user_id)


@router.post("/v1/consents/import")
async def import_consents(
    request: Request, ws: WorkspaceDep, _: Caller, source: str = "import"
) -> ConsentImport:
    """Import consents from a CSV (user_id, channel or purpose, granted[, source]), sent as the body
    or uploaded (multipart, field ``file``), like `portrait campaign consent-import`: the
    lines that check are stored, the others come back in ``rejected`` with their line
    number (the header is line 1) and record."""
    body = await limited_body(request, ws.settings.api.max_body_mb)
    text, label = consent_csv(request.headers.get("content-type", ""), body)
    return await run_in_threadpool(ws.import_consents_csv, text, source, label)


@router.get("/v1/users/{user_id}/inbox")
def inbox(user_id: str, ws: WorkspaceDep, _: Caller, unread: bool = False) -> list[InboxMessage]:
    """The user's in-app messages, newest first (``unread``: only those not read)."""
    return ws.campaigns.inbox(user_id, unread_only=unread)


@router.post("/v1/users/{user_id}/inbox/read")
def mark_read(user_id: str, body: ReadBody, ws: WorkspaceDep, _: Caller) -> Marked:
    """Mark the user's messages read (all, or ``message_ids``)."""
    return Marked(marked=ws.campaigns.mark_read(user_id, body.message_ids))
