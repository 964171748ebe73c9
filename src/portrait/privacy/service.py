"""``ws.privacy``: what ``portrait privacy ...`` and ``/v1/privacy/...`` do.

The key and rotation live in :mod:`portrait.security.at_rest`; this service is the one place
the surfaces (CLI, REST, Python) reach them and the other privacy operations through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from portrait.audit.context import AuditCaller
from portrait.audit.service import AuditService
from portrait.config import Settings
from portrait.privacy import retention
from portrait.privacy.retention import RetentionReport
from portrait.security import at_rest
from portrait.security.at_rest import KeyRotation, PiiStatus
from portrait.security.pii import PiiCipher
from portrait.store.warehouse import Warehouse


class PrivacyService:
    """Privacy operations over one warehouse and its workspace folder."""

    def __init__(
        self,
        warehouse: Warehouse,
        settings: Settings,
        root: Path,
        cipher: Callable[[], PiiCipher],
        set_cipher: Callable[[PiiCipher], None],
        audit: Callable[[], AuditService] | None = None,
        caller: Callable[[], AuditCaller] | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.settings = settings
        self.root = root
        self._cipher = cipher
        self._set_cipher = set_cipher
        self._audit = audit  # the workspace's audit log (its key follows a rotation)
        self._caller = caller  # who calls, for the audit log (portrait.audit.recorded.caller_of)

    def status(self) -> PiiStatus:
        """Which key the PII is under, where it is read from, how many values are in clear."""
        return at_rest.status(self.warehouse, self._cipher())

    def migrate(self) -> PiiStatus:
        """Seal the users' PII an older version stored in clear (``portrait privacy migrate``)."""
        return at_rest.migrate(self.warehouse, self._cipher())

    def rotate_key(self) -> KeyRotation:
        """A new workspace key: every PII value re-encrypted, every phone HMAC recomputed. The
        audit log's key is sealed under the new key first, so its pseudonyms stay the same."""
        audit = self._audit() if self._audit is not None else None
        adopt = audit.seal_for if audit is not None else None
        result, cipher = at_rest.rotate_key(self.warehouse, self.root, self._cipher(), adopt)
        self._set_cipher(cipher)
        if audit is not None:
            audit.keep_seal_of(cipher.secret)
        return result

    def retain(self, dry_run: bool = False) -> RetentionReport:
        """Apply ``[retention]`` of portrait.toml: delete, per class, what is older than its
        limit (``dry_run``: only say what would go and the oldest date that stays).

        >>> ws.privacy.retain(dry_run=True).classes  # doctest: +SKIP
        """
        if self._audit is None or self._caller is None:
            raise RuntimeError("retention needs the workspace's audit log (ws.privacy has it)")
        return retention.retain(
            self.warehouse, self.settings.retention, self._audit(), self._caller(), dry_run
        )
