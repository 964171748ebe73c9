"""REST routes for models."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from portrait.api import jobs as job_routes
from portrait.api.deps import Caller, Day, WorkspaceDep
from portrait.api.errors import responses
from portrait.jobs import Job
from portrait.models.registry import ModelCard
from portrait.models.results import ModelSummary
from portrait.models.service import ALL, NotTrainedError, UnknownModelError


class TrainRequest(BaseModel):
    """Options of a training run; each model reads those that apply to it."""

    as_of: Day | None = None  # training date T
    horizon_days: int | None = None
    holdout_days: int | None = None
    calibration_end: Day | None = None
    time_unit: str = "D"
    features: list[str] | None = None
    seed: int = 42


router = APIRouter(tags=["models"], responses=responses(401, 403, 404, 422))


@router.get("/v1/models")
def list_models(ws: WorkspaceDep, _: Caller) -> list[ModelSummary]:
    """The latest card of every model: when trained, headline metric, training time."""
    return ws.models.list()


@router.get("/v1/models/{name}")
def show_model(name: str, ws: WorkspaceDep, _: Caller) -> ModelCard:
    """A model's latest card: data window, features, metrics beside baselines,
    calibration, training time."""
    try:
        return ws.models.show(name)
    except (UnknownModelError, NotTrainedError) as e:
        raise HTTPException(404, str(e)) from e


@router.post(
    "/v1/models/{name}/train",
    **job_routes.STARTS_JOB,
)
async def train_model(
    name: str,
    request: Request,
    response: Response,
    ws: WorkspaceDep,
    _: Caller,
    body: TrainRequest | None = None,
    wait: job_routes.Wait = 0.0,
) -> Job:
    """Train a model (``all``: every model; one that fails is reported, the others
    train) as a job; its result is the model's card, or ``{"models": [outcome, ...]}``
    for ``all``."""
    options = (body or TrainRequest()).model_dump()
    if name != ALL:
        try:
            name = ws.models.resolve(name)
        except UnknownModelError as e:
            raise HTTPException(404, str(e)) from e

    def work(say: Callable[[str], None]) -> Any:
        if name == ALL:
            outcomes = ws.models.train_all(progress=say, **options)
            return {"models": [o.model_dump(mode="json") for o in outcomes]}
        return ws.models.train(name, progress=say, **options).model_dump(mode="json")

    params = {"model": name, **options}
    return await job_routes.start_job(request, response, "train", params, work, wait)
