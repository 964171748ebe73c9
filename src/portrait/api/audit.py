"""REST routes for the audit log (permission ``audit:read``), and who each request's entries
name.

``audit_caller`` runs for every route, after :func:`portrait.api.auth.enforce`: it sets the
request's caller (key id, role, client address, route) for the entries the facade writes while
the route runs (see :mod:`portrait.audit.recorded`), so no route records anything itself.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated

from fastapi import APIRouter, Query, Request

from portrait.api.deps import Caller, DayQuery, WorkspaceDep
from portrait.api.errors import responses
from portrait.audit.context import AuditCaller, set_caller
from portrait.audit.results import AuditEntry, AuditVerification

router = APIRouter(tags=["audit"], responses=responses(401, 403, 422))


async def audit_caller(request: Request) -> None:
    """The caller of this request, for the audit log. Async, so that it sets the request's
    own context, which the thread running a sync route inherits."""
    principal = getattr(request.state, "principal", None)
    if principal is None:  # a public route: it audits nothing
        set_caller(None)
        return
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or request.url.path
    origin = request.client.host if request.client else "unknown"
    command = f"{request.method} {path}"
    set_caller(AuditCaller(principal.actor, principal.role, "rest", origin, command))


@router.get("/v1/audit")
def entries(
    ws: WorkspaceDep,
    _: Caller,
    person: Annotated[
        str | None, Query(description="A user, anonymous or person id (looked up by pseudonym).")
    ] = None,
    since: DayQuery = None,
    action: Annotated[str | None, Query(examples=["profile.read"])] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AuditEntry]:
    """Audit entries, newest first: who read or changed what, about which persons (by keyed
    pseudonym), how many rows, when and from where."""
    return ws.audit.entries(person=person, since=since, action=action, limit=limit)


@router.get("/v1/audit/verify")
def verify(ws: WorkspaceDep, _: Caller) -> AuditVerification:
    """Walk the hash chain: ``ok``, or ``broken_at`` the first entry that does not hold."""
    return ws.audit.verify()
