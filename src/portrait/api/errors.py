"""Errors as HTTP answers, one way for every route.

A service raises a domain error; :func:`install` maps it to its status in ONE place
(:data:`STATUS_OF`): a missing thing (``LookupError``) is 404, a request that does not check
(``ValueError``) 422, a clash with the state (``ConflictError`` and the domain conflicts) 409,
what the key's role may not see (``roles.AccessDenied``: a PII tag in an export) 403.
Every error answer has the same body, :class:`ErrorBody` (``detail`` says what is wrong and how
to fix it), and every route documents the statuses it can answer with (:func:`responses`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from portrait.errors import ConflictError
from portrait.security.roles import AccessDenied


class FieldError(BaseModel):
    """One part of a request that does not check."""

    loc: list[str | int] = Field(description="where: body/query/path, then the field")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error answer: what is wrong and how to fix it."""

    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="request validation (422): each field that does not check"
    )


WHY: dict[int, str] = {
    400: "the body is not valid JSON",
    401: "no API key, or an invalid or revoked one",
    403: "the key's role may not do this",
    404: "no such thing (or no profile build yet)",
    409: "clashes with the current state (a name taken, a job running, not trained yet)",
    413: "the request is too large (api.max_body_mb, api.max_batch)",
    422: "the request does not check (a field, a date, an expression)",
    500: "a job's work failed unexpectedly",
    501: "an optional extra (e.g. PySpark) is not installed",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of error statuses ``codes`` (each with :class:`ErrorBody`)."""
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in codes}


def status_of(error: BaseException) -> int | None:
    """The HTTP status of a domain error; None for an error that is a bug (500)."""
    if isinstance(error, AccessDenied):  # what the route's permission does not cover (PII)
        return 403
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, LookupError):
        return 404
    if isinstance(error, ValueError):
        return 422
    if isinstance(error, ImportError):
        return 501
    return None


def _message(error: BaseException) -> str:
    # KeyError's str() adds quotes around its message
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _msg(err: dict[str, Any]) -> str:
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def _field_message(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {_msg(err)}"


def install(app: FastAPI) -> None:
    """Map domain errors and request validation errors to :class:`ErrorBody` answers."""

    async def domain_error(request: Request, error: Exception) -> JSONResponse:
        status = status_of(error)
        if status is None:
            raise error
        return JSONResponse({"detail": _message(error)}, status_code=status)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [
            FieldError(loc=list(e.get("loc", ())), msg=_msg(e), type=str(e.get("type")))
            for e in error.errors()
        ]
        detail = "; ".join(_field_message(e) for e in error.errors()) or "invalid request"
        body = ErrorBody(detail=detail, errors=errors)
        return JSONResponse(body.model_dump(mode="json"), status_code=422)

    for kind in (AccessDenied, ConflictError, LookupError, ValueError, ImportError):
        app.add_exception_handler(kind, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


def raise_for(error: BaseException, suffix: str = "") -> HTTPException:
    """An HTTPException for a domain error raised where a handler cannot see it (a job's
    work, awaited in a route); unknown errors are 500 with their type."""
    status = status_of(error) or 500
    text = f"{_message(error)}{suffix}"
    if status == 500:
        text = f"{type(error).__name__}: {text}"
    return HTTPException(status, text)


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
