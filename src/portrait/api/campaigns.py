"""REST routes for campaigns, registered by `create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import email
import email.policy
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from portrait.api.errors import limited_body, service_call
from portrait.campaigns.service import CampaignConflictError


class ConsentBody(BaseModel):
    granted: bool
    source: str = "api"


class ReadBody(BaseModel):
    message_ids: list[str] | None = None  # None: all of the user's messages


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return service_call(fn, *args, conflicts=(CampaignConflictError,), **kwargs)


CSV_HELP = (
    "send the CSV (columns user_id, channel, granted[, source]) as the request body "
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


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the campaigns routes to `app`."""

    @app.post("/v1/campaigns", tags=["campaigns"])
    def create_campaign(
        ws: WorkspaceDep,
        _: Admin,
        definition: Annotated[dict[str, Any], Body(description="A campaign definition.")],
        replace: bool = False,
    ) -> dict[str, Any]:
        """Validate (templates included) and store a draft; ``replace`` (query or a
        ``"replace": true`` field) overwrites a draft of the same name."""
        replace = bool(definition.pop("replace", replace))
        return _call(ws.campaigns.create, definition, replace=replace)

    @app.get("/v1/campaigns", tags=["campaigns"])
    def list_campaigns(ws: WorkspaceDep, _: Admin) -> list[dict[str, Any]]:
        """Every campaign with its status and send counts."""
        return _call(ws.campaigns.list)

    @app.post("/v1/campaigns/dispatch", tags=["campaigns"])
    def dispatch(ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Send every queued message that is due (consent, caps and budget checked now)."""
        return _call(ws.campaigns.dispatch)

    @app.get("/v1/campaigns/{name}", tags=["campaigns"])
    def show_campaign(name: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Definition, persons per arm, sends per status, suppressions by reason."""
        return _call(ws.campaigns.show, name)

    @app.delete("/v1/campaigns/{name}", tags=["campaigns"])
    def delete_campaign(name: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Delete a draft (409 for a launched campaign)."""
        _call(ws.campaigns.delete, name)
        return {"deleted": name}

    @app.post("/v1/campaigns/{name}/stop", tags=["campaigns"])
    def stop_campaign(name: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Stop a campaign for good; queued sends are withdrawn (409 for a draft)."""
        return _call(ws.campaigns.stop, name)

    @app.post("/v1/campaigns/{name}/launch", tags=["campaigns"])
    def launch_campaign(
        name: str, ws: WorkspaceDep, _: Admin, dry_run: Annotated[bool, Query()] = False
    ) -> dict[str, Any]:
        """Assign the audience and queue the sends; ``dry_run`` only says what would happen."""
        return _call(ws.campaigns.launch, name, dry_run=dry_run)

    @app.get("/v1/campaigns/{name}/uplift", tags=["campaigns"])
    def uplift_check(
        name: str,
        ws: WorkspaceDep,
        _: Admin,
        method: Annotated[
            Literal["class_transformation", "two_model", "x_learner"], Query()
        ] = "class_transformation",
        learner: Annotated[Literal["lightgbm", "logistic"], Query()] = "lightgbm",
    ) -> dict[str, Any]:
        """How well an uplift model learnt from this past campaign ranks persons: fitted on half
        of its persons, judged on the other half (Qini AUC, uplift in the top 30%)."""
        return _call(ws.campaigns.uplift_check, name, method, learner)

    @app.put("/v1/users/{user_id}/consent/{channel}", tags=["campaigns"])
    def put_consent(
        user_id: str, channel: str, body: ConsentBody, ws: WorkspaceDep, _: Admin
    ) -> dict[str, Any]:
        """Record a user's yes or no for a channel (email, sms, push, in_app)."""
        return _call(ws.campaigns.set_consent, user_id, channel, body.granted, body.source)

    @app.get("/v1/users/{user_id}/consent", tags=["campaigns"])
    def get_consent(user_id: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """The user's consent per channel (recorded, or the default)."""
        return _call(ws.campaigns.consent, user_id)

    @app.post("/v1/consents/import", tags=["campaigns"])
    async def import_consents(
        request: Request, ws: WorkspaceDep, _: Admin, source: str = "import"
    ) -> dict[str, Any]:
        """Import consents from a CSV (user_id, channel, granted[, source]), sent as the body
        or uploaded (multipart, field ``file``), like `portrait campaign consent-import`: the
        lines that check are stored, the others come back in ``rejected`` with their line
        number (the header is line 1) and record."""
        body = await limited_body(request, ws.settings.api.max_body_mb)
        text, label = consent_csv(request.headers.get("content-type", ""), body)
        return await run_in_threadpool(_call, ws.campaigns.import_consents_csv, text, source, label)

    @app.get("/v1/users/{user_id}/inbox", tags=["campaigns"])
    def inbox(
        user_id: str, ws: WorkspaceDep, _: Admin, unread: bool = False
    ) -> list[dict[str, Any]]:
        """The user's in-app messages, newest first (``unread``: only those not read)."""
        return _call(ws.campaigns.inbox, user_id, unread_only=unread)

    @app.post("/v1/users/{user_id}/inbox/read", tags=["campaigns"])
    def mark_read(user_id: str, body: ReadBody, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Mark the user's messages read (all, or ``message_ids``)."""
        return {"marked": _call(ws.campaigns.mark_read, user_id, body.message_ids)}
