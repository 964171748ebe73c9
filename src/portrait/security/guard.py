"""A role applied to the facade: refuse what the role may not call, mask PII.

``Workspace.open(path, role="analyst")`` and the REST API (a view per request, for its key's
role) see the workspace through :class:`RoleView`, which hands out each service wrapped in
:class:`Guarded`. A call is checked against ``roles.OPERATIONS`` (the REST API has checked its
route already, so there it only guards PII), then ``security.policy.PiiPolicy`` refuses what
would show PII in clear to a role without ``pii:read`` and masks the rest of the answer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from portrait.security import roles
from portrait.security.policy import PiiPolicy
from portrait.security.roles import Access

if TYPE_CHECKING:
    import pyarrow as pa

    from portrait.store.keys import KeyStore
    from portrait.store.warehouse import Warehouse
    from portrait.tags.build import BuildResult

T = TypeVar("T")


class Guarded:
    """A service as one role may use it (see the module docstring).

    ``check_operations``: refuse calls the role's permissions do not cover (the Python API);
    False when the caller's route was checked already (the REST API), so only PII is guarded.
    """

    def __init__(
        self, service: Any, name: str, policy: PiiPolicy, check_operations: bool = True
    ) -> None:
        self._service = service
        self._name = name
        self._policy = policy
        self._check = check_operations

    def __getattr__(self, attr: str) -> Any:
        operation = f"{self._name}.{attr}"
        if self._check:
            if attr.startswith("_"):
                roles.require(self._policy.access.role, roles.UNCLASSIFIED, f"use {operation}")
            self._policy.access.check(operation)
        value = getattr(self._service, attr)
        if not callable(value):
            return value
        return self._wrap(operation, value)

    def _wrap(self, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(method)
        policy = self._policy

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            policy.before(operation, bound)
            return policy.after(operation, method(*bound.args, **bound.kwargs))

        return call

    def __repr__(self) -> str:
        return f"<{self._name} as {self._policy.access.role}: {self._service!r}>"


class RoleView:
    """The facade as one role sees it: mixed into ``Workspace`` (``workspace.RoleWorkspace``)
    ahead of it, so every facade method runs with the view as ``self`` and reaches the
    services through :meth:`_service`, wrapped. The state (warehouse, services, settings) is
    the owner's. A method the owner gains that reads the warehouse is refused to every role
    but admin until it is classified in ``roles.OPERATIONS``.

    Whoever can read the workspace folder can open the warehouse itself: in a notebook the
    role guards against mistakes; the boundary is the REST API's keys (and encryption at rest).
    """

    def __init__(  # not the Workspace's: the state is the owner's
        self, owner: Any, role: str, check_operations: bool = True, owns: bool = False
    ) -> None:
        self._owner = owner
        self.access = Access(role)
        self._check = check_operations
        self._owns = owns
        self._policy = PiiPolicy(self.access, lambda: owner.profiles.catalog)

    def __getattr__(self, name: str) -> Any:  # the owner's state: root, settings, actor...
        return getattr(self._owner, name)

    @property
    def role(self) -> str:
        return self.access.role

    def as_role(self, role: str, check_operations: bool = True, owns: bool = False) -> Any:
        """A narrower view only: a role holding a permission this one lacks is refused."""
        wider = roles.permissions_of(role) - roles.permissions_of(self.role)
        if wider:
            roles.require(self.role, sorted(wider)[0], f"act as {role!r}")
        return self._owner.as_role(role, check_operations and self._check)

    def _allow(self, operation: str) -> None:
        if self._check:
            self.access.check(operation)

    def _service(self, name: str, make: Callable[[], T]) -> T:
        service: Any = Guarded(getattr(self._owner, name), name, self._policy, self._check)
        return service

    @property
    def warehouse(self) -> Warehouse:
        self._allow("warehouse")
        return self._owner.warehouse

    @property
    def keystore(self) -> KeyStore:
        return self._service("keystore", lambda: self._owner.keystore)

    def build(self, *args: Any, **kwargs: Any) -> BuildResult:
        self._allow("build")
        return self._owner.build(*args, **kwargs)

    def table(self, name: str) -> pa.Table:
        self._allow("table")
        return self._policy.after("table", self._owner.table(name))

    def verify_key(self, token: str) -> str | None:
        self._allow("verify_key")
        return self._owner.verify_key(token)

    def close(self) -> None:
        if self._owns:
            self._owner.close()
