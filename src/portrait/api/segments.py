"""REST routes for segments."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from portrait.api.deps import Caller, Day, DayQuery, WorkspaceDep
from portrait.api.errors import responses
from portrait.segments.results import Overlap, SegmentCount, SegmentDetail, SegmentPublic

MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


class CountRequest(BaseModel):
    expression: str = Field(examples=["gender = 'F' AND rfm_segment IN ('champions', 'loyal')"])
    as_of: Day | None = None  # the build of that date; default the latest
    engine: str = "auto"  # auto, bitmap or warehouse


class SegmentCreate(BaseModel):
    name: str = Field(examples=["vip_f"])
    expression: str = Field(examples=["gender = 'F' AND m_score >= 4"])
    description: str | None = None
    replace: bool = False


class OverlapRequest(BaseModel):
    names: list[str] = Field(min_length=2, examples=[["rfm_champions", "persona_brand_loyal"]])
    as_of: Day | None = None


router = APIRouter(tags=["segments"], responses=responses(401, 403, 404, 409, 422))


@router.post("/v1/segments/count")
def count(body: CountRequest, ws: WorkspaceDep, _: Caller) -> SegmentCount:
    """How many persons an expression selects; ``path`` says whether the bitmap index, the
    warehouse, or both answered."""
    return ws.segments.count(body.expression, as_of=body.as_of, engine=body.engine)


@router.post("/v1/segments", status_code=201, responses=responses(409))
def create(body: SegmentCreate, ws: WorkspaceDep, _: Caller) -> SegmentDetail:
    """Save a segment (409 if the name is taken, unless ``replace``)."""
    return ws.segments.create(body.name, body.expression, body.description, body.replace)


@router.get("/v1/segments")
def segments(ws: WorkspaceDep, _: Caller) -> list[SegmentPublic]:
    """Every saved segment, with its latest size."""
    return ws.segments.list()


@router.post("/v1/segments/overlap")
def overlap(body: OverlapRequest, ws: WorkspaceDep, _: Caller) -> Overlap:
    """Pairwise intersections and Jaccard indexes of saved segments."""
    return ws.segments.overlap(body.names, as_of=body.as_of)


@router.get("/v1/segments/{name}")
def show(
    name: str, ws: WorkspaceDep, _: Caller, by: str | None = None, as_of: DayQuery = None
) -> SegmentDetail:
    """Size, composition by key tags (or ``by``, comma-separated) on the latest build (of
    ``as_of``), and history."""
    tags = [t.strip() for t in by.split(",") if t.strip()] if by else None
    return ws.segments.show(name, by=tags, as_of=as_of)


@router.delete("/v1/segments/{name}", status_code=204, responses=responses(409))
def delete(name: str, ws: WorkspaceDep, _: Caller) -> None:
    """Delete a saved segment (409 for a built-in one)."""
    ws.segments.delete(name)


@router.get(
    "/v1/segments/{name}/export",
    response_class=FileResponse,
    responses={
        200: {
            "description": "the members as a file (format csv or parquet)",
            "content": {media: {} for media in MEDIA_TYPES.values()},
        }
    },
)
def export(
    name: str,
    ws: WorkspaceDep,
    _: Caller,
    format: Annotated[str, Query(pattern="^(csv|parquet)$")] = "csv",
    tags: str | None = None,
    as_of: DayQuery = None,
    purpose: Annotated[
        str | None, Query(description="Why: needed to export a personal-data (pii) tag.")
    ] = None,
) -> FileResponse:
    """The members' user ids (and ``tags``, comma-separated) as a CSV or Parquet file. A PII
    tag needs ``purpose`` and a key whose role may read PII (403 otherwise)."""
    wanted = [t.strip() for t in tags.split(",") if t.strip()] if tags else None
    folder = Path(tempfile.mkdtemp(prefix="portrait-export-"))
    path = folder / f"{name}.{format}"

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        folder.rmdir()

    try:
        ws.export_segment(name, path, tags=wanted, as_of=as_of, fmt=format, purpose=purpose)
    except BaseException:
        cleanup()
        raise
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[format],
        filename=path.name,
        background=BackgroundTask(cleanup),
    )
