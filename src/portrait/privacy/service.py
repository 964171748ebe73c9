"""``ws.privacy``: what ``portrait privacy ...`` and ``/v1/privacy/...`` do.

The key and rotation live in :mod:`portrait.security.at_rest`; this service is the one place
the surfaces (CLI, REST, Python) reach them and the other privacy operations through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from portrait.audit.context import AuditCaller
from portrait.audit.recorded import AUDITED, record
from portrait.audit.service import AuditService
from portrait.config import Settings
from portrait.privacy import erasure, retention
from portrait.privacy.results import CompactionResult, ErasureResult, ResidueReport
from portrait.privacy.retention import RetentionReport
from portrait.security import at_rest
from portrait.security.at_rest import KeyRotation, PiiStatus
from portrait.security.pii import PiiCipher
from portrait.security.secrets import WorkspaceSecret
from portrait.store import erasure as erasure_store
from portrait.store.warehouse import Warehouse

# The facade's services that hold persons in memory (the recommender's state, segment indexes,
# campaign audiences): dropped after an erasure, made again when next used.
FORGETFUL = ("recs", "segments", "campaigns")


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
        forgotten: Callable[[], None] | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.settings = settings
        self.root = root
        self._cipher = cipher
        self._set_cipher = set_cipher
        self._audit = audit  # the workspace's audit log (its key follows a rotation)
        self._caller = caller  # who calls, for the audit log (portrait.audit.recorded.caller_of)
        # drops what services hold in memory about persons (the recommender's state, segment
        # indexes), called after an erasure
        self._forgotten = forgotten

    def status(self) -> PiiStatus:
        """Which key the PII is under, where it is read from, how many values are in clear."""
        return at_rest.status(self.warehouse, self._cipher())

    def migrate(self) -> PiiStatus:
        """Seal the users' PII an older version stored in clear (``portrait privacy migrate``)."""
        return at_rest.migrate(self.warehouse, self._cipher())

    def rotate_key(self) -> KeyRotation:
        """A new workspace key: every PII value re-encrypted, every phone HMAC recomputed. The
        audit log's key and the erasure key are sealed under the new key first, so pseudonyms
        and tombstones stay the same."""
        audit = self._audit() if self._audit is not None else None
        current = self._cipher()

        def adopt(secret: WorkspaceSecret) -> None:
            erasure_store.seal_key_for(self.warehouse, current.secret, secret)
            if audit is not None:
                audit.seal_for(secret)

        result, cipher = at_rest.rotate_key(self.warehouse, self.root, current, adopt)
        self._set_cipher(cipher)
        erasure_store.keep_key_of(self.warehouse, cipher.secret)
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

    # --- erasure (right to be forgotten; see docs/privacy.md, "Erasure") ------------------
    def _folder(self) -> Path | None:
        return None if self.warehouse.path is None else self.root

    def forget(
        self, user_id: str, reason: str | None = None, compact: bool = True
    ) -> ErasureResult:
        """Erase the person ``user_id`` belongs to, with every identifier tied to them and
        everything derived (events, profile snapshots, segment bitmaps, scores, campaign
        ledger rows, consents, quarantined records, exports, the recommender's state); later
        records of their ids are refused at ingest. ``compact`` False: the freed bytes stay
        in the file until ``compact()``. Audited (``privacy.erase``, the person by pseudonym).

        >>> ws.privacy.forget("u000042", reason="request 2024-117").identifiers  # doctest: +SKIP
        3
        """
        result = erasure.forget(
            self.warehouse, self._folder(), self._cipher(), user_id, compact=compact
        )
        if self._forgotten is not None:
            self._forgotten()
        if self._audit is not None and self._caller is not None:
            arguments = {"user_id": user_id, "reason": reason, "compact": compact}
            record(self._audit(), self._caller(), "forget", AUDITED["forget"], arguments, result)
        return result

    def residue(self, user_id: str) -> ResidueReport:
        """What the tool still keeps that mentions the person ``user_id`` belongs to (every
        table, bitmap and file): before ``forget`` what it would remove, after it nothing."""
        return erasure.residue(self.warehouse, self._folder(), self._cipher(), user_id)

    def compact(self) -> CompactionResult:
        """Rewrite the warehouse into a fresh file, so the bytes of deleted rows are gone
        (after erasures made with ``compact=False``)."""
        return erasure.compact(self.warehouse)
