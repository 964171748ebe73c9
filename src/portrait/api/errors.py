"""Service errors as HTTP statuses, the same way for every route module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException


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
