"""REST routes for models, registered by `create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from portrait.api import jobs as job_routes
from portrait.jobs import Job
from portrait.models.service import ALL, NotTrainedError, UnknownModelError


class TrainRequest(BaseModel):
    """Options of a training run; each model reads those that apply to it."""

    as_of: str | None = None  # training date T, YYYY-MM-DD
    horizon_days: int | None = None
    holdout_days: int | None = None
    calibration_end: str | None = None
    time_unit: str = "D"
    features: list[str] | None = None
    seed: int = 42


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the models routes to `app`."""

    @app.get("/v1/models", tags=["models"])
    def list_models(ws: WorkspaceDep, _: Admin) -> list[dict[str, Any]]:
        """The latest card of every model: when trained, headline metric, training time."""
        return ws.models.list()

    @app.get("/v1/models/{name}", tags=["models"])
    def show_model(name: str, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """A model's latest card: data window, features, metrics beside baselines,
        calibration, training time."""
        try:
            return ws.models.show(name)
        except (UnknownModelError, NotTrainedError) as e:
            raise HTTPException(404, str(e)) from e

    @app.post(
        "/v1/models/{name}/train",
        tags=["models"],
        **job_routes.STARTS_JOB,
    )
    async def train_model(
        name: str,
        request: Request,
        response: Response,
        ws: WorkspaceDep,
        _: Admin,
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
                return {"models": [o.as_dict() for o in outcomes]}
            return ws.models.train(name, progress=say, **options).model_dump(mode="json")

        params = {"model": name, **options}
        return await job_routes.start_job(request, response, "train", params, work, wait)
