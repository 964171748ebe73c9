"""While `portrait serve` holds a workspace, the CLI hands long work to it.

DuckDB lets one process open the warehouse file, so a `portrait build` run beside a server
cannot open it. The server announces itself in ``serve.json`` in the workspace (its address
and process id, readable by the workspace's owner only); the CLI finds it there, makes a
short-lived admin key in the key file (which both processes share), starts the job over
HTTP, follows its progress and revokes the key when the job is done.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SERVER_FILE = "serve.json"


class HandoffError(RuntimeError):
    """The server could not take the job, or the job failed there."""


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int


@contextmanager
def announce(root: Path, url: str) -> Iterator[Path]:
    """Write ``serve.json`` while the server runs (removed when it stops)."""
    path = root / SERVER_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "pid": os.getpid()}, f)
    try:
        yield path
    finally:
        with suppress(FileNotFoundError):
            path.unlink()


def running_server(root: Path) -> ServerInfo | None:
    """The server serving ``root``, if one announced itself and its process is alive."""
    try:
        data = json.loads((root / SERVER_FILE).read_text())
        info = ServerInfo(str(data["url"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return info


def run_remote_job(
    info: ServerInfo,
    token: str,
    path: str,
    body: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    poll: float = 0.5,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Start a job at ``path`` on the server and follow it to its end; the finished job."""
    say = progress or (lambda _m: None)
    headers = {"Authorization": f"Bearer {token}"}
    own = client is None
    http = client or httpx.Client(base_url=info.url, timeout=30)
    try:
        r = http.post(path, json=body, headers=headers)
        if r.status_code not in (200, 202):
            raise HandoffError(f"the server at {info.url} refused the job: {_detail(r)}")
        job = r.json()
        seen = None
        while job["state"] not in ("succeeded", "failed"):
            time.sleep(poll)
            r = http.get(f"/v1/jobs/{job['job_id']}", headers=headers)
            if r.status_code != 200:
                raise HandoffError(f"lost track of job {job['job_id']}: {_detail(r)}")
            job = r.json()
            if job.get("message") and job["message"] != seen:
                seen = job["message"]
                say(seen)
        if job["state"] == "failed":
            raise HandoffError(f"{job['error']} (job {job['job_id']} on {info.url})")
        return job
    except httpx.HTTPError as e:
        raise HandoffError(f"cannot reach the server at {info.url}: {e}") from e
    finally:
        if own:
            http.close()


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail", r.text))
    except ValueError:
        return f"HTTP {r.status_code}: {r.text[:200]}"
