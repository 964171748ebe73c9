"""Who is calling, for the audit log: set once per surface, read where entries are written.

The REST server sets the caller of each request (its key, role, client address and route)
with ``set_caller`` in an app-wide dependency; the request's context carries it into the
thread that runs the route. Without one (the CLI, a notebook), the workspace's own caller
counts (``Workspace.audit_caller``: the CLI sets its command there).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditCaller:
    """Who acts and from where."""

    actor: str  # ``key:<key id>`` for REST; ``cli:<OS user>``, ``local:<OS user>`` otherwise
    role: str | None  # the key's role; the local owner (CLI, notebook) is admin
    via: str  # rest, cli or python
    origin: str  # the client's address for REST; ``cli`` or ``python`` otherwise
    command: str | None = None  # ``GET /v1/users/{user_id}/profile``, ``portrait profile``


_caller: ContextVar[AuditCaller | None] = ContextVar("portrait_audit_caller", default=None)


def set_caller(caller: AuditCaller | None) -> None:
    """The caller of what runs from here on in this context (a request's task)."""
    _caller.set(caller)


def current_caller() -> AuditCaller | None:
    """The caller a surface set for this context, if any."""
    return _caller.get()
