"""REST routes for jobs (long work run in the background).

``POST /v1/build``, ``POST /v1/models/{name}/train`` and ``POST /v1/segments/cluster`` answer
202 with a job; ``GET /v1/jobs/{id}`` gives its state, progress and result. ``?wait=SECONDS``
on a starting route waits up to that long and answers 200 with the finished job (or the error
the work raised, as its HTTP status), else 202 with the job still running.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from portrait.api.deps import Caller
from portrait.api.errors import raise_for, responses
from portrait.jobs import Job, JobConflictError, JobRunner

Wait = Annotated[
    float,
    Query(
        ge=0,
        le=3600,
        description="seconds to wait for the job to finish before answering 202",
    ),
]


# How a route that starts a job is declared: 202 with the job, 200 once it finished in ?wait
STARTS_JOB: dict[str, Any] = {
    "status_code": 202,
    "response_model": Job,
    "responses": {
        200: {"model": Job, "description": "the job finished within ?wait"},
        **responses(409, 500, 501),
    },
}


def runner_of(request: Request) -> JobRunner:
    return request.app.state.jobs


async def start_job(
    request: Request,
    response: Response,
    kind: str,
    params: dict[str, Any],
    work: Callable[[Callable[[str], None]], Any],
    wait: float = 0.0,
) -> Job:
    """Queue ``work`` as a job (or find the same one queued or running) and answer with it."""
    runner = runner_of(request)
    try:
        job, _created = runner.submit(kind, params, work)
    except JobConflictError as e:
        raise HTTPException(409, str(e)) from e
    if wait > 0 and not job.done:
        done = asyncio.shield(asyncio.wrap_future(runner.future(job.job_id)))
        try:
            await asyncio.wait_for(done, timeout=wait)
        except TimeoutError:
            pass
        except Exception as e:  # the work failed: its error as the HTTP status
            raise raise_for(e, f" (job {job.job_id})") from e
        job = runner.get(job.job_id)
    response.status_code = 200 if job.done else 202
    return job


router = APIRouter(tags=["jobs"], responses=responses(401, 403, 404, 422))


@router.get("/v1/jobs", response_model=list[Job])
def list_jobs(
    request: Request, _: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[Job]:
    """The latest jobs, newest first (kept while the server runs)."""
    return runner_of(request).list(limit)


@router.get("/v1/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, request: Request, _: Caller) -> Job:
    """A job's state (queued, running, succeeded, failed), progress and result."""
    try:
        return runner_of(request).get(job_id)
    except KeyError as e:
        raise HTTPException(404, e.args[0]) from e
