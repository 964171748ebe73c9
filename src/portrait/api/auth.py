"""Who is calling, and may they: every request is checked against the role table.

``enforce`` runs for every route (an app-wide dependency): it finds the permission the route
needs in :data:`portrait.security.roles.ROUTES`, reads the bearer key, looks it up in the
workspace's key file (on each request, so a revoke from any process counts at once) and refuses
with 401 (no or bad key) or 403 (the key's role lacks the permission). A route that is not in
the table is refused to every key but one holding every permission (an admin's). ``Authorized``
is what a route declares to receive the caller (and to show the bearer scheme in OpenAPI).
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from portrait.security import roles

bearer = HTTPBearer(auto_error=False, description="An API key from `portrait keys create`.")


@dataclass(frozen=True)
class Principal:
    """The caller of a request: its key and what the key's role may do."""

    key_id: str
    role: str

    @property
    def permissions(self) -> frozenset[str]:
        return roles.permissions_of(self.role)

    def can(self, permission: str) -> bool:
        return roles.allows(self.role, permission)

    @property
    def actor(self) -> str:
        """How ingest batches record this caller."""
        return f"key:{self.key_id}"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def enforce(request: Request) -> None:
    """The app-wide check (see the module docstring); the caller goes to
    ``request.state.principal`` (None on a public route)."""
    request.state.principal = None
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or request.url.path
    needed = roles.route_permission(request.method, path)
    if needed == roles.PUBLIC:
        return
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(
            "missing API key: send 'Authorization: Bearer <key>' "
            "(make one with `portrait keys create`)"
        )
    key = request.app.state.workspace.authenticate(token)
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    principal = Principal(key.key_id, key.role)
    if not principal.can(needed):
        allowed = ", ".join(roles.roles_with(needed))
        raise HTTPException(
            403,
            f"this key's role {key.role!r} may not do this; it needs {needed!r} "
            f"(roles that have it: {allowed})",
        )
    request.state.principal = principal


def caller(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller ``enforce`` let in."""
    principal = request.state.principal
    if principal is None:  # a public route declared a caller: a mistake in the route
        raise HTTPException(500, "this route is public and has no caller")
    return principal


Authorized = Annotated[Principal, Depends(caller)]
