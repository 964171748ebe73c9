"""Who is who: read a person's identity report, merge two users, undo a merge.

The rules live in :mod:`portrait.identity.graph`; the reads and writes in
:mod:`portrait.store.identity_ops` and :mod:`portrait.store.identity_report`. The facade
(``Workspace.identity``, ``merge_users``, ``unmerge``) passes through to this service.
"""

from __future__ import annotations

from collections.abc import Callable

from portrait.identity.results import IdentityReport
from portrait.store import identity_ops
from portrait.store.identity_report import identity_report
from portrait.store.warehouse import Warehouse


class UnknownIdentifierError(LookupError):
    """No user, event or device carries the identifier."""


class IdentityService:
    """Identity resolution over one warehouse."""

    def __init__(
        self, warehouse: Warehouse, default_actor: Callable[[], str | None] = lambda: None
    ) -> None:
        self.wh = warehouse
        self.default_actor = default_actor  # who unmerges, when a call does not say

    def report(self, identifier: str) -> IdentityReport:
        """The person behind a user or anonymous id: all identifiers, links and conflicts."""
        report = identity_report(self.wh, identifier)
        if report is None:
            raise UnknownIdentifierError(
                f"no user, event or device has the id {identifier!r}; check the id "
                "(`portrait identity show` takes a user_id or an anonymous_id)"
            )
        return report

    def merge(self, user_a: str, user_b: str, reason: str = "explicit merge") -> IdentityReport:
        """Record that two user ids are one person; the merged person's report."""
        for u in (user_a, user_b):
            self._check_known(u)
        if user_a == user_b:
            raise ValueError("cannot merge a user with itself")
        identity_ops.merge(self.wh, user_a, user_b, reason)
        return self.report(user_a)

    def unmerge(
        self, user_id: str, reason: str = "explicit unmerge", actor: str | None = None
    ) -> IdentityReport:
        """Make ``user_id`` its own person again, apart from every user its person holds now
        (linked by a shared phone or an explicit merge). Remembered: no later ingest or
        rebuild links them again; only a later explicit merge does. Its report."""
        self._check_known(user_id)
        if not identity_ops.unmerge(self.wh, user_id, reason, actor or self.default_actor()):
            raise ValueError(
                f"{user_id!r} is not merged with another user; nothing to unmerge "
                "(`portrait identity show` lists its links)"
            )
        return self.report(user_id)

    def example_person(self) -> str | None:
        """Some person who merges several user ids (for a walkthrough to point at)."""
        return identity_ops.a_merged_person(self.wh)

    def _check_known(self, user_id: str) -> None:
        if not identity_ops.is_known_user(self.wh, user_id):
            raise UnknownIdentifierError(f"unknown user id {user_id!r}: no user or event has it")
