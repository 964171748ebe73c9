"""REST routes for segments, registered by `create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from portrait.api.errors import service_call
from portrait.segments.service import SegmentConflictError

MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


class CountRequest(BaseModel):
    expression: str = Field(examples=["gender = 'F' AND rfm_segment IN ('champions', 'loyal')"])
    as_of: str | None = None  # YYYY-MM-DD: the build of that date; default the latest
    engine: str = "auto"  # auto, bitmap or warehouse


class SegmentCreate(BaseModel):
    name: str = Field(examples=["vip_f"])
    expression: str = Field(examples=["gender = 'F' AND m_score >= 4"])
    description: str | None = None
    replace: bool = False


class OverlapRequest(BaseModel):
    names: list[str] = Field(min_length=2, examples=[["rfm_champions", "persona_brand_loyal"]])
    as_of: str | None = None


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return service_call(fn, *args, conflicts=(SegmentConflictError,), **kwargs)


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the segments routes to `app`."""

    @app.post("/v1/segments/count", tags=["segments"])
    def count(body: CountRequest, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """How many persons an expression selects; ``path`` says whether the bitmap index, the
        warehouse, or both answered."""
        return _call(ws.segments.count, body.expression, as_of=body.as_of, engine=body.engine)

    @app.post("/v1/segments", tags=["segments"], status_code=201)
    def create(body: SegmentCreate, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Save a segment (409 if the name is taken, unless ``replace``)."""
        return _call(ws.segments.create, body.name, body.expression, body.description, body.replace)

    @app.get("/v1/segments", tags=["segments"])
    def segments(ws: WorkspaceDep, _: Admin) -> list[dict[str, Any]]:
        """Every saved segment, with its latest size."""
        return _call(ws.segments.list)

    @app.post("/v1/segments/overlap", tags=["segments"])
    def overlap(body: OverlapRequest, ws: WorkspaceDep, _: Admin) -> dict[str, Any]:
        """Pairwise intersections and Jaccard indexes of saved segments."""
        return _call(ws.segments.overlap, body.names, as_of=body.as_of)

    @app.get("/v1/segments/{name}", tags=["segments"])
    def show(
        name: str, ws: WorkspaceDep, _: Admin, by: str | None = None, as_of: str | None = None
    ) -> dict[str, Any]:
        """Size, composition by key tags (or ``by``, comma-separated) on the latest build (of
        ``as_of``), and history."""
        tags = [t.strip() for t in by.split(",") if t.strip()] if by else None
        return _call(ws.segments.show, name, by=tags, as_of=as_of)

    @app.delete("/v1/segments/{name}", tags=["segments"], status_code=204)
    def delete(name: str, ws: WorkspaceDep, _: Admin) -> None:
        """Delete a saved segment (409 for a built-in one)."""
        _call(ws.segments.delete, name)

    @app.get("/v1/segments/{name}/export", tags=["segments"])
    def export(
        name: str,
        ws: WorkspaceDep,
        _: Admin,
        format: Annotated[str, Query(pattern="^(csv|parquet)$")] = "csv",
        tags: str | None = None,
        as_of: str | None = None,
    ) -> FileResponse:
        """The members' user ids (and ``tags``, comma-separated) as a CSV or Parquet file."""
        wanted = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
        folder = Path(tempfile.mkdtemp(prefix="portrait-export-"))
        path = folder / f"{name}.{format}"

        def cleanup() -> None:
            path.unlink(missing_ok=True)
            folder.rmdir()

        try:
            _call(ws.segments.export, name, path, tags=wanted, as_of=as_of, fmt=format)
        except BaseException:
            cleanup()
            raise
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[format],
            filename=path.name,
            background=BackgroundTask(cleanup),
        )
