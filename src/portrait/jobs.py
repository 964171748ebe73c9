"""Long work (a profile build, model training, cluster learning) as jobs run one at a time.

A request that starts long work gets a job id at once; ``JobRunner`` runs the jobs in order in a
worker thread of its own, records each one's state (queued, running, succeeded, failed), its
progress messages and its result, and keeps the latest ``keep`` jobs. One job runs at a time, so
a build never races another build or a training run, and the requests that read meanwhile are
answered from the last committed state (see ``portrait.store.warehouse``).

>>> runner = JobRunner()                                          # doctest: +SKIP
>>> job, created = runner.submit("build", {"as_of": None}, lambda progress: {...})
>>> runner.get(job.job_id).state                                  # doctest: +SKIP
'running'
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from portrait.errors import ConflictError

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "succeeded", "failed"]
Work = Callable[[Callable[[str], None]], Any]
MAX_MESSAGES = 200


class JobConflictError(ConflictError, RuntimeError):
    """A job of the same kind with other parameters is queued or running."""

    def __init__(self, running: Job) -> None:
        self.running = running
        super().__init__(
            f"a {running.kind} job is already {running.state} ({running.job_id}, "
            f"parameters {running.params}); wait for it (GET /v1/jobs/{running.job_id}) "
            "and ask again"
        )


class Job(BaseModel):
    """What a job is doing or did."""

    job_id: str
    kind: str = Field(description="build, train or cluster")
    params: dict[str, Any] = Field(default_factory=dict)
    state: JobState = "queued"
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: list[str] = Field(default_factory=list, description="progress messages, in order")
    message: str | None = Field(None, description="the latest progress message")
    result: Any = Field(None, description="the work's result once it succeeded")
    error: str | None = Field(None, description="why it failed")
    error_type: str | None = Field(None, description="the error's kind (e.g. BuildError)")

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")


class JobRunner:
    """Runs submitted work one job at a time, in submission order."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._futures: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, Work] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="portrait-jobs", daemon=True)
        self._thread.start()

    def submit(
        self, kind: str, params: dict[str, Any], work: Work, unique: bool = True
    ) -> tuple[Job, bool]:
        """Queue ``work`` (called with a progress callback); return the job and whether it is
        new. With ``unique``, a queued or running job of the same kind and parameters is
        returned instead of a new one, and one with other parameters raises
        ``JobConflictError``."""
        with self._lock:
            if unique:
                for job in self._jobs.values():
                    if job.kind == kind and not job.done:
                        if job.params == params:
                            return job.model_copy(deep=True), False
                        raise JobConflictError(job.model_copy(deep=True))
            job = Job(
                job_id=f"{kind}-{uuid.uuid4().hex[:12]}",
                kind=kind,
                params=params,
                created_at=datetime.now(UTC),
            )
            self._jobs[job.job_id] = job
            self._futures[job.job_id] = Future()
            self._trim()
        self._queue.put((job.job_id, work))
        return job.model_copy(deep=True), True

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id!r} (jobs are kept while the server runs)")
            return job.model_copy(deep=True)

    def list(self, limit: int = 50) -> list[Job]:
        """The latest jobs, newest first."""
        with self._lock:
            jobs = list(self._jobs.values())[-limit:]
            return [j.model_copy(deep=True) for j in reversed(jobs)]

    def future(self, job_id: str) -> Future:
        """Done when the job is: its result is the work's result, or the error it raised."""
        with self._lock:
            fut = self._futures.get(job_id)
        if fut is None:
            raise KeyError(f"no job {job_id!r}")
        return fut

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is done (or ``timeout`` seconds pass); return its state."""
        fut = self.future(job_id)
        with contextlib.suppress(TimeoutError):
            fut.exception(timeout=timeout)
        return self.get(job_id)

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the running job; jobs still queued are failed."""
        self._queue.put(None)
        self._thread.join(timeout=timeout)

    # --- the worker -------------------------------------------------------------------------
    def _trim(self) -> None:
        done = [k for k, j in self._jobs.items() if j.done]
        for key in done[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[key]
            self._futures.pop(key, None)

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs[job_id]
            for k, v in changes.items():
                setattr(job, k, v)

    def _say(self, job_id: str, message: str) -> None:
        with self._lock:
            job = self._jobs[job_id]
            job.message = message
            job.progress.append(message)
            del job.progress[:-MAX_MESSAGES]

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._fail_queued("the server stopped before this job started")
                return
            job_id, work = item
            self._update(job_id, state="running", started_at=datetime.now(UTC))
            try:
                result = work(lambda m, j=job_id: self._say(j, m))
                if isinstance(result, BaseModel):
                    result = result.model_dump(mode="json")
                elif hasattr(result, "as_dict"):
                    result = result.as_dict()
                self._update(
                    job_id, state="succeeded", result=result, finished_at=datetime.now(UTC)
                )
                self._future_done(job_id, result=result)
            except Exception as e:  # the job fails; the runner goes on
                if not isinstance(e, (ValueError, LookupError, RuntimeError)):
                    log.exception("job %s failed", job_id)
                self._update(
                    job_id,
                    state="failed",
                    error=str(e),
                    error_type=type(e).__name__,
                    finished_at=datetime.now(UTC),
                )
                self._future_done(job_id, error=e)

    def _future_done(
        self, job_id: str, result: Any = None, error: BaseException | None = None
    ) -> None:
        with self._lock:
            fut = self._futures.get(job_id)
        if fut is None or fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def _fail_queued(self, why: str) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._update(item[0], state="failed", error=why, finished_at=datetime.now(UTC))
                self._future_done(item[0], error=RuntimeError(why))
