"""The REST API: thin routes over the Workspace facade (OpenAPI at /docs).

One ``APIRouter`` per module (``api/ingest.py``, ``api/profiles.py``, ``api/segments.py``...),
their dependencies from ``api/deps.py``, their errors mapped in ``api/errors.py``, and the role
each route needs in ``portrait.security.roles``. To add a route: write it in its module's
router, classify it in ``roles.ROUTES``, give it a typed ``response_model``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from portrait import __version__
from portrait.api import (
    audit,
    campaign_reports,
    campaigns,
    errors,
    experiments,
    identity,
    ingest,
    ingest_log,
    jobs,
    keys,
    learning,
    models,
    privacy,
    profiles,
    recs,
    retention,
    segments,
)
from portrait.api.auth import enforce
from portrait.api.batcher import GroupCommitter
from portrait.jobs import JobRunner
from portrait.privacy.schedule import RetentionSchedule
from portrait.workspace import Workspace

meta = APIRouter(tags=["meta"])


class Health(BaseModel):
    status: str
    version: str


@meta.get("/v1/health", response_model=Health)
def health() -> Health:
    """Whether the server answers (no key needed)."""
    return Health(status="ok", version=__version__)


# In this order: /v1/campaigns/suggestions before /v1/campaigns/{name}
ROUTERS: tuple[APIRouter, ...] = (
    meta,
    ingest.router,
    ingest_log.router,
    identity.router,
    profiles.router,
    jobs.router,
    keys.router,
    audit.router,
    privacy.router,
    retention.router,
    segments.router,
    models.router,
    learning.router,
    recs.router,
    campaign_reports.router,
    campaigns.router,
    experiments.router,
)


def create_app(workspace: Workspace) -> FastAPI:
    """The FastAPI app serving ``workspace``."""
    committer = GroupCommitter(workspace)
    runner = JobRunner()
    workspace.keystore  # noqa: B018 - the key file exists (and old keys moved) before serving
    workspace.audit  # noqa: B018 - and the audit log, before requests race to open it

    schedule = RetentionSchedule(workspace)  # [retention], daily (portrait.privacy.schedule)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        schedule.start()
        yield
        schedule.close()
        committer.close()
        runner.close()

    app = FastAPI(
        lifespan=lifespan,
        # every route: its permission from portrait.security.roles.ROUTES, checked per request
        # then who calls, for the audit log (portrait.api.audit.audit_caller)
        dependencies=[Depends(enforce), Depends(audit.audit_caller)],
        title="Portrait",
        version=__version__,
        description="User profiles and precision marketing for e-commerce.",
    )
    app.state.workspace = workspace
    app.state.committer = committer  # its ``journeys`` worker runs cart journeys after ingest
    app.state.jobs = runner  # builds, training and clustering, one at a time
    app.state.retention = schedule
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
