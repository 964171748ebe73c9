"""Service errors as HTTP statuses, the same way for every route module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request


def service_call(
    fn: Callable[..., Any],
    *args: Any,
    conflicts: tuple[type[Exception], ...] = (),
    **kwargs: Any,
) -> Any:
    """Run a service call: ``conflicts`` become 409, LookupError 404 (no such thing, no build
    yet), ValueError 422 (a request that does not check)."""
    try:
        return fn(*args, **kwargs)
    except conflicts as e:
        raise HTTPException(409, str(e)) from e
    except LookupError as e:
        raise HTTPException(404, e.args[0] if e.args else str(e)) from e
    except ValueError as e:
        raise HTTPException(422, str(e)) from e


async def limited_body(request: Request, max_mib: float) -> bytes:
    """The request body, refused with 413 as soon as it is over ``max_mib`` MiB (by its
    Content-Length when given, else while it is read), so an oversized upload is never held
    in memory whole."""
    limit = int(max_mib * 2**20)
    too_big = HTTPException(
        413,
        f"the request body is over {max_mib:g} MiB (api.max_body_mb in portrait.toml): "
        "split it into smaller requests",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)
