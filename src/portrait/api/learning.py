"""REST routes for learned clusters and the validation report, registered by `create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from portrait.models import clusters
from portrait.validate import workspace_report


class ClusterRequest(BaseModel):
    k: int | None = Field(default=None, ge=2, description="null: choose k from the data")
    method: str = Field(default="kmeans", pattern="^(kmeans|gmm)$")
    features: list[str] | None = None  # numeric tags; default the shopping-style tags
    min_orders: int = Field(default=3, ge=1)
    k_max: int = Field(default=8, ge=2, le=20)
    seed: int = 42


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the clustering and validation routes to `app`."""

    @app.post("/v1/segments/cluster", tags=["segments"])
    def cluster(body: ClusterRequest, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Learn behavioural clusters, describe them and save them as segments cluster_1..k
        (rebuilds the profile so ``behaviour_cluster`` is filled)."""
        try:
            return clusters.cluster_segments(ws, **body.model_dump())
        except LookupError as e:
            raise HTTPException(404, e.args[0] if e.args else str(e)) from e
        except ValueError as e:
            raise HTTPException(422, str(e)) from e

    @app.get("/v1/validate", tags=["models"])
    def validate(ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Personas and category affinity against the simulator's truth, clusters (adjusted
        Rand index) and every model's held-out metrics beside its baseline."""
        return workspace_report(ws)
