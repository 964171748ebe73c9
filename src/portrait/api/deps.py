"""What routes declare to receive: the workspace, the caller, and checked common parameters.

Every route module imports its dependencies from here (``WorkspaceDep``, ``Caller``), as the
FastAPI full-stack template does with ``SessionDep``/``CurrentUser``; the app stores the
workspace on ``app.state`` and :func:`portrait.api.auth.enforce` has checked the caller's role
before a route runs.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator, Field

from portrait.api.auth import Authorized, Principal
from portrait.workspace import Workspace


def get_workspace(request: Request) -> Workspace:
    """The workspace the app serves, as the caller's role sees it: :func:`enforce` has checked
    the route, so the view only guards PII (masked, or refused, for a role without
    ``pii:read``; see ``portrait.security.guard``)."""
    workspace: Workspace = request.app.state.workspace
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return workspace
    return workspace.as_role(principal.role, check_operations=False)


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
# The caller of a route. What it may call is the role table's business
# (portrait.security.roles), not the name of the alias a route declares.
Caller = Authorized

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
DATE_HELP = "a date, YYYY-MM-DD"


def _iso_moment(value: Any) -> Any:
    """Refuse what pydantic would read as seconds since 1970 (``as_of=240``): a moment is
    written as ISO 8601 text."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", value)
    ):
        raise ValueError("write the moment as ISO 8601, e.g. 2024-05-01T12:00:00+08:00")
    return value


def _iso_day(value: Any) -> Any:
    """A day is written YYYY-MM-DD and exists (``2024-02-30`` is refused)."""
    if value is None:
        return value
    if not isinstance(value, str) or not re.fullmatch(DATE_PATTERN, value):
        raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date of the calendar; write it as YYYY-MM-DD"
        ) from None
    return value


# A day in a body field or (DayQuery) a query string: the build of that date.
Day = Annotated[
    str,
    BeforeValidator(_iso_day),
    Field(description=DATE_HELP, json_schema_extra={"pattern": DATE_PATTERN}),
]
DayQuery = Annotated[Day | None, Query(description=DATE_HELP)]
# A moment in ISO 8601 (never a number read as an epoch).
Moment = Annotated[datetime, BeforeValidator(_iso_moment)]

__all__ = ["Caller", "Day", "DayQuery", "Moment", "Principal", "WorkspaceDep", "get_workspace"]
