"""REST routes for profiles and tags: build, the build log, a person's profile, the catalog."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from portrait.api import jobs as job_routes
from portrait.api.deps import Caller, Day, DayQuery, WorkspaceDep
from portrait.api.errors import responses
from portrait.jobs import Job
from portrait.tags.build import BuildError, check_build
from portrait.tags.results import BuildLogEntry, ProfilePublic, QualityReport, TagDetail, TagSummary

router = APIRouter(tags=["profiles"], responses=responses(401, 403, 404, 422))


class BuildRequest(BaseModel):
    as_of: Day | None = None  # default: the day after the latest event
    backend: str = "duckdb"
    full: bool = False
    with_models: bool = False  # then train every model and build again (model tags filled)


@router.post("/v1/build", **job_routes.STARTS_JOB)
async def build(
    body: BuildRequest,
    request: Request,
    response: Response,
    ws: WorkspaceDep,
    _: Caller,
    wait: job_routes.Wait = 0.0,
) -> Job:
    """Compute the profile table as of a date (incremental when possible), as a job:
    202 with the job (``GET /v1/jobs/{id}`` follows it). One build runs at a time: the
    same request again gets the running job, another one 409 naming it."""
    try:
        check_build(body.as_of, body.backend)
    except BuildError as e:
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


@router.get("/v1/builds")
def builds(
    ws: WorkspaceDep, _: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[BuildLogEntry]:
    """The profile build log, newest first."""
    return ws.profile_builds(limit)


@router.get("/v1/users/{user_id}/profile")
def user_profile(
    user_id: str,
    ws: WorkspaceDep,
    _: Caller,
    as_of: DayQuery = None,
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "en",
    include_empty: bool = False,
) -> ProfilePublic:
    """A person's tags grouped by level-1 and level-2 group, with labels in ``lang``, and
    their latest events. ``as_of`` reads the build of that date."""
    return ws.profile(user_id, as_of=as_of, lang=lang, include_empty=include_empty)


@router.get("/v1/tags")
def tags(ws: WorkspaceDep, _: Caller, group: str | None = None) -> list[TagSummary]:
    """The tag catalog: each tag's group, kind, type, version and coverage."""
    return [t for t in ws.tags() if group is None or t.group == group]


@router.get("/v1/tags/quality")
def tags_quality(ws: WorkspaceDep, _: Caller, build_id: str | None = None) -> QualityReport:
    """Coverage, distribution and drift per tag, cross-checks and simulator truth."""
    return ws.tag_quality(build_id)


@router.get("/v1/tags/{tag_id}")
def tag(tag_id: str, ws: WorkspaceDep, _: Caller) -> TagDetail:
    """One tag: its definition, fingerprint, versions and latest statistics."""
    return ws.tag(tag_id)
