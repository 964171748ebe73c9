"""REST routes for learned clusters and the validation report."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from portrait.api import jobs as job_routes
from portrait.api.deps import Caller, WorkspaceDep
from portrait.api.errors import responses
from portrait.jobs import Job
from portrait.models import clusters
from portrait.validate import ValidationReport, workspace_report


class ClusterRequest(BaseModel):
    k: int | None = Field(default=None, ge=2, description="null: choose k from the data")
    method: str = Field(default="kmeans", pattern="^(kmeans|gmm)$")
    features: list[str] | None = None  # numeric tags; default the shopping-style tags
    min_orders: int = Field(default=3, ge=1)
    k_max: int = Field(default=8, ge=2, le=20)
    seed: int = 42


router = APIRouter(responses=responses(401, 403, 404, 422))


@router.post(
    "/v1/segments/cluster",
    **job_routes.STARTS_JOB,
)
async def cluster(
    body: ClusterRequest,
    request: Request,
    response: Response,
    ws: WorkspaceDep,
    _: Caller,
    wait: job_routes.Wait = 0.0,
) -> Job:
    """Learn behavioural clusters, describe them and save them as segments cluster_1..k
    (rebuilds the profile so ``behaviour_cluster`` is filled), as a job."""
    params = body.model_dump()

    def work(say: Callable[[str], None]) -> Any:
        return clusters.cluster_segments(ws, **params)

    return await job_routes.start_job(request, response, "cluster", params, work, wait)


@router.get("/v1/validate")
def validate(ws: WorkspaceDep, _: Caller) -> ValidationReport:
    """Personas and category affinity against the simulator's truth, clusters (adjusted
    Rand index) and every model's held-out metrics beside its baseline."""
    return workspace_report(ws)
