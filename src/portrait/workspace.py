"""The facade: everything the CLI, the REST API and notebooks do goes through ``Workspace``.

>>> ws = Workspace.init("/tmp/shop")                      # doctest: +SKIP
>>> ws.ingest_file("events.parquet")                      # doctest: +SKIP
>>> ws.summary().events                                   # doctest: +SKIP

The facade opens the workspace (settings, warehouse, key file), makes each service over them on
first use, and lists what a caller can do: most methods pass straight through to a service
(``delegate``), whose docstring and signature they carry. What runs after an ingest or a build
(campaign journeys...) is listed in :mod:`portrait.hooks`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import pyarrow as pa

from portrait import hooks
from portrait.audit.recorded import audited, caller_of, recorder
from portrait.audit.service import AuditService, open_audit
from portrait.config import WAREHOUSE_FILE, ConfigError, Settings, create_settings, load_settings
from portrait.identity.service import IdentityService, UnknownIdentifierError
from portrait.ingest.service import IngestService, guess_kind, local_actor
from portrait.models.service import ModelService
from portrait.privacy.service import FORGETFUL, PrivacyService
from portrait.security.at_rest import open_cipher
from portrait.security.guard import RoleView
from portrait.security.pii import PiiCipher
from portrait.security.roles import Access
from portrait.segments.refresh import refresh_segments
from portrait.segments.service import SegmentService
from portrait.store.keys import KEYS_FILE, KeyStore, warehouse_keys
from portrait.store.loader import BatchResult
from portrait.store.profiles import drop_staging_tables
from portrait.store.warehouse import Warehouse
from portrait.tags.build import BuildResult
from portrait.tags.service import ProfileService

if TYPE_CHECKING:
    from portrait.audit.context import AuditCaller
    from portrait.campaigns.results import ConsentImport, ConsentState
    from portrait.campaigns.service import CampaignService
    from portrait.recs.serve import RecsService

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")


def delegate(
    service: str, method: Callable[Concatenate[S, P], T]
) -> Callable[Concatenate[Workspace, P], T]:
    """A facade method that calls ``method`` on the facade's service ``service``, with its
    signature and docstring: the facade stays a table of contents, the work is in the service."""

    @functools.wraps(method)
    def call(self: Workspace, *args: P.args, **kwargs: P.kwargs) -> T:
        return getattr(getattr(self, service), method.__name__)(*args, **kwargs)

    return call


class Workspace:
    """A folder with ``portrait.toml``, an embedded warehouse and a file of API keys."""

    def __init__(
        self, root: Path, settings: Settings, read_only: bool = False, in_memory: bool = False
    ) -> None:
        self.root = root
        self.settings = settings
        self._read_only = read_only
        self._in_memory = in_memory  # nothing persisted: for notebooks, tests and benchmarks
        self._keystore: KeyStore | None = None
        # Recorded on each ingest batch as who sent it (an HTTP request passes its key's).
        self.actor = local_actor()
        self._warehouse: Warehouse | None = None
        self._cipher: PiiCipher | None = None  # see ``pii``
        self._services: dict[str, Any] = {}  # see ``_service``
        self._making = threading.RLock()  # one copy of a service, though threads ask at once
        # Called after each events batch commits instead of the after-ingest hooks (the REST
        # server hands them to a worker thread: ``campaigns.journeys.IngestJourneys``).
        self.on_events_committed: Callable[[BatchResult], None] | None = None
        # Who the audit log records when no REST request calls (the CLI's command); None:
        # this process's user, via python (see ``portrait.audit.recorded.caller_of``)
        self.audit_caller: AuditCaller | None = None

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        root: str | Path,
        name: str | None = None,
        timezone: str | None = None,
        currency: str | None = None,
    ) -> Workspace:
        """Create a workspace in ``root`` (made if missing); an existing one is opened."""
        root = Path(root).resolve()
        create_settings(root, name=name, timezone=timezone, currency=currency)
        root.chmod(0o700)  # the warehouse, its WAL and the key files: for their owner only
        ws = cls.open(root)
        ws.warehouse  # noqa: B018 - creates the tables now
        ws.keystore  # noqa: B018 - and the key file
        return ws

    @classmethod
    def open(
        cls,
        root: str | Path,
        read_only: bool = False,
        in_memory: bool = False,
        role: str = "admin",
    ) -> Workspace:
        """Open an existing workspace; a clear error if ``root`` is not one. ``role``: what
        the caller may do (``portrait.security.roles``; the owner of a local workspace is
        admin); another role refuses what it may not call and sees PII masked.

        >>> Workspace.open("/tmp/shop", role="analyst").profile("u1")  # doctest: +SKIP
        """
        root = Path(root).resolve()
        ws = cls(root, load_settings(root), read_only=read_only, in_memory=in_memory)
        return ws.as_role(role, owns=True)

    # The role of a workspace opened without one: its owner's.
    role = "admin"

    def as_role(self, role: str, check_operations: bool = True, owns: bool = False) -> Workspace:
        """This workspace as ``role`` sees it (itself for admin): a view sharing its warehouse
        and services. ``check_operations`` False: only PII is guarded (the REST API checked
        the route); ``owns``: closing the view closes this workspace."""
        return self if Access(role).full else RoleWorkspace(self, role, check_operations, owns)

    @property
    def warehouse(self) -> Warehouse:
        """The warehouse, opened (and migrated) on first use."""
        if self._warehouse is None:
            with self._making:  # opened once, though threads ask at once
                if self._warehouse is not None:
                    return self._warehouse
                path = None if self._in_memory else self.root / WAREHOUSE_FILE
                wh = Warehouse(path, read_only=self._read_only)
                if not self._read_only:  # a build killed mid-save left its staging table
                    drop_staging_tables(wh)
                # the key checked (an older warehouse's clear PII sealed) before any other use
                self._cipher = open_cipher(wh, self.root, self._in_memory)
                self._warehouse = wh
        return self._warehouse

    @property
    def pii(self) -> PiiCipher:
        """The cipher of the users' PII under the workspace secret (``secret.key`` or
        ``$PORTRAIT_SECRET_KEY``; see ``portrait.security.at_rest``)."""
        self.warehouse  # noqa: B018 - opening it reads and checks the key
        assert self._cipher is not None
        return self._cipher

    @property
    def keystore(self) -> KeyStore:
        """The API keys (``keys.sqlite``: readable and writable while a server holds the
        warehouse, so the CLI manages keys while a server runs; see ``portrait.store.keys``)."""
        if self._keystore is None:
            path = None if self._in_memory else self.root / KEYS_FILE
            self._keystore = KeyStore(path, legacy=self._legacy_keys)
        return self._keystore

    def _legacy_keys(self) -> list[tuple]:
        """Keys an older version kept in the warehouse (copied once into the key file)."""
        if self._in_memory or not (self.root / WAREHOUSE_FILE).exists():
            return []
        return warehouse_keys(self.warehouse)

    def close(self) -> None:
        """Close the warehouse and drop every service made over it (their caches belong to
        this warehouse: a reopened one starts them afresh)."""
        campaigns = self._services.get("campaigns")
        if campaigns is not None:  # an SMTP session or HTTP client a send left open
            from portrait.campaigns.channels import close_all

            close_all(campaigns.channels.values())
        if "audit" in self._services:
            self._services["audit"].log.close()
        self._services.clear()  # made again, over the reopened warehouse, when next used
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None
            self._cipher = None
        if self._keystore is not None:
            self._keystore.close()
            self._keystore = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- services -----------------------------------------------------------------------
    def _service(self, name: str, make: Callable[[], T]) -> T:
        """The service ``name``, made on first use over this warehouse (dropped on close)."""
        with self._making:  # a service's make() may ask for another: re-entrant
            if name not in self._services:
                self._services[name] = make()
            return self._services[name]

    @property
    def ingest(self) -> IngestService:
        """Ingest, and what it did (see ``portrait.ingest.service``)."""
        return self._service("ingest", lambda: IngestService(
            self.warehouse, self.settings, self.root, self._events_committed, self._actor,
            cipher=lambda: self.pii,
        ))  # fmt: skip

    @property
    def identities(self) -> IdentityService:
        """Who is who (see ``portrait.identity.service``)."""
        return self._service("identities", lambda: IdentityService(self.warehouse, self._actor))

    @property
    def profiles(self) -> ProfileService:
        """Profile building and reading (see ``portrait.tags.service``)."""
        return self._service("profiles", lambda: ProfileService(
            self.warehouse, self.settings, self.root, after_snapshot=[refresh_segments],
            pii=lambda: self.pii,
        ))  # fmt: skip

    @property
    def segments(self) -> SegmentService:
        """Segments over tags (see ``portrait.segments.service``)."""
        return self._service("segments", lambda: SegmentService(
            self.warehouse, lambda: self.profiles.catalog, self.settings, pii=lambda: self.pii,
        ))  # fmt: skip

    @property
    def models(self) -> ModelService:
        """Predictive models that fill model tags (see ``portrait.models.service``)."""
        return self._service(
            "models", lambda: ModelService(self.warehouse, self.profiles, self.root)
        )

    @property
    def recs(self) -> RecsService:
        """Recommendations served from this workspace (see ``portrait.recs.serve``)."""
        from portrait.recs.serve import RecsService

        return self._service(
            "recs", lambda: RecsService(self.warehouse, self.root, consent=self.settings)
        )

    @property
    def campaigns(self) -> CampaignService:
        """Campaigns, consent and the send ledger (see ``portrait.campaigns.service``)."""
        from portrait.campaigns.service import CampaignService

        return self._service("campaigns", lambda: CampaignService(
            self.warehouse, self.settings, self.segments, self.profiles,
            recommend=lambda user_id, k: self.recs.recommend(user_id, k=k),
            pii=lambda: self.pii, recorded=recorder(self),
        ))  # fmt: skip

    @property
    def privacy(self) -> PrivacyService:
        """The PII key, erasure, residue and retention (see ``portrait.privacy``)."""
        return self._service(
            "privacy",
            lambda: PrivacyService(
                self.warehouse,
                self.settings,
                self.root,
                cipher=lambda: self.pii,
                set_cipher=lambda cipher: setattr(self, "_cipher", cipher),
                audit=lambda: self.audit,
                caller=lambda: caller_of(self),
                forgotten=lambda: [self._services.pop(s, None) for s in FORGETFUL],
            ),
        )

    @property
    def audit(self) -> AuditService:
        """The audit log: entries, verify (see ``portrait.audit``); opening it records a
        change of ``portrait.toml`` (``portrait.audit.settings_change``)."""
        return self._service("audit", lambda: open_audit(self.root, self._in_memory, self.settings))

    def _actor(self) -> str:
        return self.actor

    def _events_committed(self, result: BatchResult) -> None:
        if self.on_events_committed is not None:  # the server runs the hooks elsewhere
            self.on_events_committed(result)
        else:
            hooks.run_after_ingest(self, result)

    # --- ingest -------------------------------------------------------------------------
    ingest_file = delegate("ingest", IngestService.file)
    ingest_files = delegate("ingest", IngestService.files)
    ingest_records = delegate("ingest", IngestService.records)
    ingest_json_lines = delegate("ingest", IngestService.json_lines)
    ingest_dataset = delegate("ingest", IngestService.dataset)
    simulate = delegate("ingest", IngestService.simulate)
    load_dataset = delegate("ingest", IngestService.load_dataset)

    # --- what ingest did ----------------------------------------------------------------
    summary = delegate("ingest", IngestService.summary)
    batches = delegate("ingest", IngestService.batches)
    quarantine = audited("quarantine", delegate("ingest", IngestService.quarantine))
    quarantine_counts = delegate("ingest", IngestService.quarantine_counts)

    def table(self, name: str) -> pa.Table:
        """A whole warehouse table or view as Arrow (for notebooks)."""
        return self.warehouse.to_arrow(self.warehouse.table(name))

    # --- identity -----------------------------------------------------------------------
    # (audited: each call that returns is recorded, see ``portrait.audit.recorded``)
    identity = audited("identity", delegate("identities", IdentityService.report))
    merge_users = audited("merge_users", delegate("identities", IdentityService.merge))
    unmerge = audited("unmerge", delegate("identities", IdentityService.unmerge))

    # --- privacy (see docs/privacy.md) ---------------------------------------------------
    pii_status = delegate("privacy", PrivacyService.status)
    migrate_pii = delegate("privacy", PrivacyService.migrate)
    rotate_key = audited("rotate_key", delegate("privacy", PrivacyService.rotate_key))

    # --- API keys -----------------------------------------------------------------------
    create_key = audited("create_key", delegate("keystore", KeyStore.create))
    authenticate = delegate("keystore", KeyStore.verify)
    list_keys = delegate("keystore", KeyStore.list)
    revoke_key = audited("revoke_key", delegate("keystore", KeyStore.revoke))

    def verify_key(self, token: str) -> str | None:
        """The role of a valid, unrevoked token; None otherwise."""
        key = self.keystore.verify(token)
        return None if key is None else key.role

    # --- profiles (tags) ----------------------------------------------------------------
    def build(
        self,
        as_of: str | date | None = None,
        backend: str = "duckdb",
        full: bool = False,
        progress: Callable[[str], None] | None = None,
        with_models: bool = False,
    ) -> BuildResult:
        """Compute every tag into a profile snapshot as of a date (default: after the last
        event); incremental when only some persons changed since the last build.
        ``with_models``: then train every model and build again, so model tags are filled.
        Then the after-build hooks run (see ``portrait.hooks``)."""
        if with_models:
            result = self.models.build_with_models(as_of, backend, full, progress)
        else:
            result = self.profiles.build(as_of=as_of, backend=backend, full=full, progress=progress)
        hooks.run_after_build(self, result)
        return result

    profile = audited("profile", delegate("profiles", ProfileService.profile))
    profile_table = audited("profile_table", delegate("profiles", ProfileService.frame))
    tags = delegate("profiles", ProfileService.tags)
    tag = delegate("profiles", ProfileService.tag)
    profile_builds = delegate("profiles", ProfileService.builds)

    # --- segment members and consent (audited) -----------------------------------------
    segment_members = audited("segment_members", delegate("segments", SegmentService.members))
    export_segment = audited("export_segment", delegate("segments", SegmentService.export))

    @functools.partial(audited, "set_consent")
    def set_consent(
        self, user_id: str, channel: str, granted: bool, source: str = "api"
    ) -> ConsentState:
        """Record a user's yes or no for a channel or purpose (``CampaignService.set_consent``)."""
        return self.campaigns.set_consent(user_id, channel, granted, source)

    @functools.partial(audited, "import_consents")
    def import_consents(self, path: str | Path, source: str = "import") -> ConsentImport:
        """Import consents from a CSV file (``CampaignService.import_consents``)."""
        return self.campaigns.import_consents(path, source)

    @functools.partial(audited, "import_consents_csv")
    def import_consents_csv(
        self, text: str, source: str = "import", label: str = "request body"
    ) -> ConsentImport:
        """Import consents from CSV text (``POST /v1/consents/import``)."""
        return self.campaigns.import_consents_csv(text, source, label)

    tag_quality = delegate("profiles", ProfileService.quality)


class RoleWorkspace(RoleView, Workspace):
    """A workspace as one role sees it (``Workspace.as_role``; see ``security.guard``)."""


__all__ = ["ConfigError", "UnknownIdentifierError", "Workspace", "guess_kind", "local_actor"]
