"""The REST API: thin routes over the Workspace facade (OpenAPI at /docs)."""

# No `from __future__ import annotations` here: FastAPI resolves the dependency aliases
# defined inside create_app() from live annotations.

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from pydantic import BaseModel

from portrait import __version__
from portrait.api import campaign_reports as campaign_report_routes
from portrait.api import campaigns as campaign_routes
from portrait.api import experiments as experiment_routes
from portrait.api import jobs as job_routes
from portrait.api import keys as key_routes
from portrait.api import learning as learning_routes
from portrait.api import models as model_routes
from portrait.api import recs as recs_routes
from portrait.api import segments as segment_routes
from portrait.api.auth import Authorized, Principal, enforce
from portrait.api.batcher import GroupCommitter
from portrait.api.errors import limited_body
from portrait.ingest.reasons import explain
from portrait.jobs import Job, JobRunner
from portrait.tags.build import BuildError, check_build
from portrait.workspace import UnknownIdentifierError, Workspace


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


class MergeRequest(BaseModel):
    user_a: str
    user_b: str
    reason: str = "explicit merge via API"


class UnmergeRequest(BaseModel):
    user_id: str
    reason: str = "explicit unmerge via API"


class BuildRequest(BaseModel):
    as_of: str | None = None  # YYYY-MM-DD; default: the day after the latest event
    backend: str = "duckdb"
    full: bool = False
    with_models: bool = False  # then train every model and build again (model tags filled)


def create_app(workspace: Workspace) -> FastAPI:
    """The FastAPI app serving ``workspace``."""
    committer = GroupCommitter(workspace)
    jobs = JobRunner()
    workspace.keystore  # noqa: B018 - the key file exists (and old keys moved) before serving

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        committer.close()
        jobs.close()

    app = FastAPI(
        lifespan=lifespan,
        # every route: its permission from portrait.security.roles.ROUTES, checked per request
        dependencies=[Depends(enforce)],
        title="Portrait",
        version=__version__,
        description="User profiles and precision marketing for e-commerce.",
    )
    app.state.workspace = workspace
    app.state.committer = committer  # its ``journeys`` worker runs cart journeys after ingest
    app.state.jobs = jobs  # builds, training and clustering, one at a time

    def get_workspace(request: Request) -> Workspace:
        return request.app.state.workspace

    WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]

    # The caller of a route. What it may call is the role table's business
    # (portrait.security.roles), not the name of the alias a route declares.
    Ingester = Admin = Authorized

    async def ingest(
        request: Request, ws: Workspace, kind: str, caller: Principal
    ) -> IngestResponse:
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

    @app.get("/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/v1/events", response_model=IngestResponse, tags=["ingest"])
    async def post_events(request: Request, ws: WorkspaceDep, caller: Ingester) -> IngestResponse:
        """Ingest a batch of events (a JSON array, or ``{"events": [...]}``).

        Every record is accepted, recognised as a duplicate, or quarantined with a reason;
        ``rejected`` lists the quarantined ones by their index in the batch. A key that may
        not read the ingest log (``ingest:read``) gets duplicates counted as accepted.
        """
        return await ingest(request, ws, "events", caller)

    @app.post("/v1/users", response_model=IngestResponse, tags=["ingest"])
    async def post_users(request: Request, ws: WorkspaceDep, caller: Ingester) -> IngestResponse:
        """Ingest (upsert) a batch of users."""
        return await ingest(request, ws, "users", caller)

    @app.post("/v1/products", response_model=IngestResponse, tags=["ingest"])
    async def post_products(request: Request, ws: WorkspaceDep, caller: Ingester) -> IngestResponse:
        """Ingest (upsert) a batch of products."""
        return await ingest(request, ws, "products", caller)

    @app.get("/v1/summary", tags=["admin"])
    def summary(ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        return ws.summary()

    @app.get("/v1/batches", tags=["admin"])
    def batches(
        ws: WorkspaceDep, _: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[dict[str, Any]]:
        """The ingest log, newest first, with each batch's counts."""
        return ws.batches(limit=limit)

    @app.get("/v1/quarantine", tags=["admin"])
    def quarantine(
        ws: WorkspaceDep,
        _: Admin,
        reason: str | None = None,
        batch_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        return ws.quarantine(limit=limit, reason=reason, batch_id=batch_id)

    @app.get("/v1/identity/{identifier}", tags=["admin"])
    def identity(identifier: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        try:
            return ws.identity(identifier)
        except UnknownIdentifierError as e:
            raise HTTPException(404, str(e)) from e

    @app.post("/v1/identity/merge", tags=["admin"])
    def merge(body: MergeRequest, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        try:
            return ws.merge_users(body.user_a, body.user_b, body.reason)
        except UnknownIdentifierError as e:
            raise HTTPException(404, str(e)) from e
        except ValueError as e:
            raise HTTPException(422, str(e)) from e

    @app.post("/v1/identity/unmerge", tags=["admin"])
    def unmerge(body: UnmergeRequest, ws: WorkspaceDep, caller: Admin) -> dict[str, Any]:
        """Make a user its own person again, apart from every user it was merged with (by a
        shared phone or explicitly); remembered, so no later ingest or rebuild re-links them
        (a later explicit merge does). Returns the user's identity report."""
        try:
            return ws.unmerge(body.user_id, body.reason, actor=caller.actor)
        except UnknownIdentifierError as e:
            raise HTTPException(404, str(e)) from e
        except ValueError as e:
            raise HTTPException(422, str(e)) from e

    @app.post(
        "/v1/build",
        tags=["profiles"],
        **job_routes.STARTS_JOB,
    )
    async def build(
        body: BuildRequest,
        request: Request,
        response: Response,
        ws: WorkspaceDep,
        _: Admin,
        wait: job_routes.Wait = 0.0,
    ) -> Job:
        """Compute the profile table as of a date (incremental when possible), as a job:
        202 with the job (``GET /v1/jobs/{id}`` follows it). One build runs at a time: the
        same request again gets the running job, another one 409 naming it."""
        try:
            check_build(body.as_of, body.backend)
        except (ValueError, BuildError) as e:
            raise HTTPException(422, str(e)) from e
        params = body.model_dump()

        def work(say: Callable[[str], None]) -> Any:
            return ws.build(
                as_of=body.as_of,
                backend=body.backend,
                full=body.full,
                with_models=body.with_models,
                progress=say,
            )

        return await job_routes.start_job(request, response, "build", params, work, wait)

    @app.get("/v1/builds", tags=["profiles"])
    def builds(
        ws: WorkspaceDep, _: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> list[dict[str, Any]]:
        """The profile build log, newest first."""
        return ws.profile_builds(limit)

    @app.get("/v1/users/{user_id}/profile", tags=["profiles"])
    def user_profile(
        user_id: str,
        ws: WorkspaceDep,
        _: Admin,
        as_of: str | None = None,
        lang: Annotated[str, Query(pattern="^(zh|en)$")] = "en",
        include_empty: bool = False,
    ) -> dict[str, Any]:
        """A person's tags grouped by level-1 and level-2 group, with labels in ``lang``, and
        their latest events. ``as_of`` reads the build of that date."""
        try:
            return ws.profile(user_id, as_of=as_of, lang=lang, include_empty=include_empty)
        except LookupError as e:
            raise HTTPException(404, str(e)) from e
        except ValueError as e:
            raise HTTPException(422, str(e)) from e

    @app.get("/v1/tags", tags=["profiles"])
    def tags(ws: WorkspaceDep, _: Admin, group: str | None = None) -> list[dict[str, Any]]:
        """The tag catalog: each tag's group, kind, type, version and coverage."""
        return [t for t in ws.tags() if group is None or t["group"] == group]

    @app.get("/v1/tags/quality", tags=["profiles"])
    def tags_quality(ws: WorkspaceDep, _: Admin, build_id: str | None = None) -> dict[str, Any]:
        """Coverage, distribution and drift per tag, cross-checks and simulator truth."""
        try:
            return ws.tag_quality(build_id)
        except LookupError as e:
            raise HTTPException(404, str(e)) from e

    @app.get("/v1/tags/{tag_id}", tags=["profiles"])
    def tag(tag_id: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """One tag: its definition, fingerprint, versions and latest statistics."""
        try:
            return ws.tag(tag_id)
        except KeyError as e:
            raise HTTPException(404, e.args[0]) from e

    job_routes.register(app, WorkspaceDep, Admin)
    key_routes.register(app, WorkspaceDep, Admin)
    segment_routes.register(app, WorkspaceDep, Admin)
    model_routes.register(app, WorkspaceDep, Admin)
    learning_routes.register(app, WorkspaceDep, Admin)
    recs_routes.register(app, WorkspaceDep, Admin)
    campaign_report_routes.register(app, WorkspaceDep, Admin)  # before /v1/campaigns/{name}
    campaign_routes.register(app, WorkspaceDep, Admin)
    experiment_routes.register(app, WorkspaceDep, Admin)
    return app
