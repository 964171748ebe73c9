"""The facade: everything the CLI, the REST API and notebooks do goes through ``Workspace``.

>>> ws = Workspace.init("/tmp/shop")                      # doctest: +SKIP
>>> ws.ingest_file("events.parquet")                      # doctest: +SKIP
>>> ws.summary()["events"]                                # doctest: +SKIP
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from portrait.config import (
    CONFIG_FILE,
    WAREHOUSE_FILE,
    ConfigError,
    IngestSettings,
    Settings,
    check_timezone,
    load_settings,
    write_settings,
)
from portrait.datasets.base import DatasetFiles
from portrait.ingest.plan import SourceShape, stage_query
from portrait.ingest.readers import SourceRelation, file_relation, json_relation, record_json
from portrait.ingest.reasons import explain
from portrait.models.service import ModelService
from portrait.schema import CANONICAL
from portrait.security import keys
from portrait.segments.refresh import refresh_segments
from portrait.segments.service import SegmentService
from portrait.store import identity_ops
from portrait.store.keys import KEYS_FILE, ApiKey, KeyStore
from portrait.store.loader import BatchResult, apply_batch
from portrait.store.warehouse import Warehouse
from portrait.tags.build import BuildResult
from portrait.tags.quality import quality_report
from portrait.tags.service import ProfileService

if TYPE_CHECKING:
    from portrait.campaigns.service import CampaignService
    from portrait.recs.serve import RecsService

Progress = Callable[[int, int], None]


class UnknownIdentifierError(LookupError):
    """No user, event or device carries the identifier."""


def check_kind_and_zone(kind: str, timezone: str | None) -> None:
    """Refuse an unknown kind or time zone before anything is read."""
    if kind not in CANONICAL:
        raise ValueError(f"unknown kind {kind!r}; use one of: events, users, products")
    if timezone is not None:
        check_timezone(timezone)


def guess_kind(path: Path) -> str:
    """users*/products* files hold users/products; anything else holds events."""
    stem = path.name.lower()
    for kind in ("users", "products"):
        if stem.startswith(kind):
            return kind
    return "events"


def local_actor(via: str = "local") -> str:
    """Who sends a batch from this machine (the CLI, a notebook): ``via:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return f"{via}:{user}"


class Workspace:
    """A folder with ``portrait.toml`` and an embedded warehouse."""

    def __init__(
        self, root: Path, settings: Settings, read_only: bool = False, in_memory: bool = False
    ) -> None:
        self.root = root
        self.settings = settings
        self._read_only = read_only
        # An in-memory warehouse (nothing persisted): for notebooks, tests and benchmarks.
        self._in_memory = in_memory
        self._keystore: KeyStore | None = None
        # Recorded on each ingest batch as who sent it (an HTTP request passes its key's).
        self.actor = local_actor()
        self._warehouse: Warehouse | None = None
        self._profiles: ProfileService | None = None
        self._segments: SegmentService | None = None
        self._models: ModelService | None = None
        # Called after each events batch commits instead of running the cart journeys there
        # (the REST server hands them to a worker thread: ``campaigns.journeys.IngestJourneys``).
        self.on_events_committed: Callable[[BatchResult], None] | None = None

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
        root.mkdir(parents=True, exist_ok=True)
        if not (root / CONFIG_FILE).exists():
            ingest = {"timezone": timezone, "currency": currency.upper() if currency else None}
            settings = Settings(
                name=name or root.name,
                ingest=IngestSettings(**{k: v for k, v in ingest.items() if v is not None}),
            )
            write_settings(root, settings)
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
    ) -> Workspace:
        """Open an existing workspace; a clear error if ``root`` is not one."""
        root = Path(root).resolve()
        return cls(root, load_settings(root), read_only=read_only, in_memory=in_memory)

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            path = None if self._in_memory else self.root / WAREHOUSE_FILE
            wh = Warehouse(path, read_only=self._read_only)
            if not self._read_only:  # a build killed mid-save left its staging table
                from portrait.store.profiles import drop_staging_tables

                drop_staging_tables(wh)
            self._warehouse = wh
        return self._warehouse

    @property
    def keystore(self) -> KeyStore:
        """The API keys (``keys.sqlite``: readable and writable while a server holds the
        warehouse)."""
        if self._keystore is None:
            path = None if self._in_memory else self.root / KEYS_FILE
            self._keystore = KeyStore(path, legacy=self._legacy_keys)
        return self._keystore

    def _legacy_keys(self) -> list[tuple]:
        """Keys an older version kept in the warehouse (copied once into the key file)."""
        if self._in_memory or not (self.root / WAREHOUSE_FILE).exists():
            return []
        return self.warehouse.fetchall(
            "SELECT key_id, secret_hash, role, note, created_at, revoked_at FROM api_keys"
        )

    def close(self) -> None:
        """Close the warehouse and drop every service made over it (their caches belong to
        this warehouse: a reopened one starts them afresh)."""
        campaigns = self.__dict__.pop("_campaigns", None)
        if campaigns is not None:  # an SMTP session or HTTP client a send left open
            from portrait.campaigns.channels import close_all

            close_all(campaigns.channels.values())
        self.__dict__.pop("_recs", None)
        self._profiles = None
        self._segments = None
        self._models = None
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None
        if self._keystore is not None:
            self._keystore.close()
            self._keystore = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ingest -------------------------------------------------------------------------
    def _ingest_relation(
        self,
        rel: SourceRelation,
        kind: str,
        label: str,
        timezone: str | None,
        keep_rejections: int = 0,
        before_commit: Callable[[], None] | None = None,
        want_accepted_rows: bool = False,
        actor: str | None = None,
        trusted: bool = True,
    ) -> BatchResult:
        wh = self.warehouse
        with wh.lock:
            cols = [c for c in wh.columns_of(rel.sql) if c[0] not in rel.hidden]
            plan = stage_query(
                kind,
                SourceShape(dict(cols)),
                self.settings.ingest,
                timezone=timezone,
                row_number_sql=rel.row_number_sql,
                source=rel.sql,
            )
            result = apply_batch(
                wh,
                plan,
                label,
                keep_rejections=keep_rejections,
                before_commit=before_commit,
                want_accepted_rows=want_accepted_rows,
                actor=actor or self.actor,
                trusted=trusted,
                auto_merge=self.settings.identity.auto_merge,
            )
        if kind == "events":  # the batch is committed: carts may have waited long enough
            if self.on_events_committed is not None:
                self.on_events_committed(result)
            else:
                from portrait.campaigns.journeys import after_ingest

                after_ingest(self, result)
        return result

    def ingest_file(
        self,
        path: str | Path,
        kind: str | None = None,
        timezone: str | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> BatchResult:
        """Validate, clean and store one file (Parquet, CSV or JSON lines) as one batch."""
        path = Path(path).resolve()
        kind = kind or guess_kind(path)
        check_kind_and_zone(kind, timezone)
        rel = file_relation(path, kind, self.settings.ingest)
        return self._ingest_relation(rel, kind, str(path), timezone, before_commit=before_commit)

    def ingest_files(
        self,
        paths: Iterable[str | Path],
        kind: str | None = None,
        timezone: str | None = None,
        progress: Callable[[Path, BatchResult], None] | None = None,
    ) -> list[BatchResult]:
        """Ingest several files, each its own all-or-nothing batch."""
        results = []
        for p in paths:
            r = self.ingest_file(p, kind, timezone)
            results.append(r)
            if progress:
                progress(Path(p), r)
        return results

    def ingest_records(
        self,
        records: Sequence[Any],
        kind: str = "events",
        timezone: str | None = None,
        source: str = "http",
        keep_rejections: int = 100_000,
        actor: str | None = None,
        trusted: bool = True,
    ) -> BatchResult:
        """Ingest a batch of records (dicts, or anything JSON) through the same path as files.

        Each record is serialised to JSON and validated like a JSON-lines file, so a record
        that is not an object is quarantined rather than crashing the batch. ``actor`` is
        recorded as the batch's sender (default ``self.actor``); ``trusted``: whether the
        users' phones may link persons (``identity.auto_merge = 'trusted'``).
        """
        lines = [record_json(r) for r in records]
        return self.ingest_json_lines(
            lines, kind, timezone, source, keep_rejections, actor=actor, trusted=trusted
        )

    def ingest_json_lines(
        self,
        lines: Sequence[str],
        kind: str = "events",
        timezone: str | None = None,
        source: str = "http",
        keep_rejections: int = 100_000,
        want_accepted_rows: bool = False,
        actor: str | None = None,
        trusted: bool = True,
    ) -> BatchResult:
        """Ingest records given as JSON texts (one record each); ``actor`` and ``trusted`` as
        in :meth:`ingest_records`."""
        check_kind_and_zone(kind, timezone)
        name = "_json_batch"
        wh = self.warehouse
        with wh.lock:
            wh.register(name, pa.table({"line": pa.array(list(lines), pa.string())}))
            try:
                rel = json_relation(name, "line", "row_number() OVER () - 1", kind)
                return self._ingest_relation(
                    rel,
                    kind,
                    source,
                    timezone,
                    keep_rejections,
                    want_accepted_rows=want_accepted_rows,
                    actor=actor,
                    trusted=trusted,
                )
            finally:
                wh.unregister(name)

    def ingest_dataset(
        self,
        files: DatasetFiles,
        progress: Callable[[Path, BatchResult], None] | None = None,
    ) -> list[BatchResult]:
        """Ingest an adapter's or the simulator's files, users first; attach side tables."""
        results = []
        for kind, path in files.in_ingest_order():
            r = self.ingest_file(path, kind, timezone="UTC")
            results.append(r)
            if progress:
                progress(path, r)
        for name, path in files.extra.items():
            self.warehouse.execute(
                f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM read_parquet(?)',
                [str(path)],
            )
        return results

    def simulate(
        self,
        users: int = 5000,
        days: int = 90,
        seed: int = 42,
        progress: Progress | None = None,
        ingest_progress: Callable[[Path, BatchResult], None] | None = None,
    ) -> tuple[DatasetFiles, list[BatchResult]]:
        """Generate a demo shop into ``sources/`` and ingest it (ground truth included)."""
        from portrait.datasets.simulator import simulate

        out = self.root / "sources" / f"simulated-u{users}-d{days}-s{seed}"
        files = simulate(out, users=users, days=days, seed=seed, progress=progress)
        return files, self.ingest_dataset(files, progress=ingest_progress)

    def load_dataset(
        self,
        name: str,
        path: str | Path | None = None,
        full: bool = False,
        progress: Callable[[Path, BatchResult], None] | None = None,
    ) -> tuple[DatasetFiles, list[BatchResult]]:
        """Convert a public data set into canonical files and ingest them."""
        from portrait.datasets.registry import convert_dataset

        out = self.root / "sources" / name
        files = convert_dataset(name, out, Path(path) if path else None, full=full)
        others = self._other_sources(out)
        if others:
            files.notes.insert(
                0,
                (
                    f"warning: this workspace also holds {', '.join(others)}; public data sets "
                    "reuse the same ids (e.g. CDNOW's and Online Retail's customer numbers "
                    "overlap), so use one workspace per data set"
                ),
            )
        return files, self.ingest_dataset(files, progress=progress)

    def _other_sources(self, out: Path) -> list[str]:
        """Names of other data sets or simulated shops already ingested here."""
        rows = self.warehouse.fetchall(
            "SELECT DISTINCT source FROM ingest_batches WHERE starts_with(source, ?)",
            [str(self.root / "sources") + "/"],
        )
        names = {Path(r[0]).parent.name for r in rows}
        return sorted(names - {out.name})

    # --- reading ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts of what the warehouse holds: the main job's report."""
        wh = self.warehouse
        one = lambda sql: wh.fetchone(sql)[0]  # noqa: E731
        by_type = dict(wh.fetchall("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"))
        by_reason = dict(
            wh.fetchall(
                "SELECT kind || ': ' || reason_code, count(*) FROM quarantine "
                "GROUP BY 1 ORDER BY 2 DESC"
            )
        )
        batches = wh.fetchone(
            "SELECT count(*), coalesce(sum(received), 0), coalesce(sum(accepted), 0), "
            "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) FROM ingest_batches"
        )
        identity = wh.fetchone(
            """SELECT
                 (SELECT count(DISTINCT person_id) FROM identity_map WHERE id_kind = 'user'
                    AND person_id IN (SELECT person_id FROM identity_map WHERE id_kind = 'user'
                                      AND identifier <> person_id)),
                 (SELECT count(*) FROM identity_map WHERE id_kind = 'user'
                    AND identifier <> person_id),
                 (SELECT count(*) FROM identity_map WHERE id_kind = 'anonymous'),
                 (SELECT count(*) FROM identity_map WHERE id_kind = 'anonymous' AND conflict),
                 (SELECT count(DISTINCT anonymous_id) FROM events WHERE user_id IS NULL
                    AND anonymous_id NOT IN (SELECT identifier FROM identity_map
                                             WHERE id_kind = 'anonymous'))"""
        )
        span = wh.fetchone("SELECT min(ts), max(ts) FROM events")
        return {
            "workspace": str(self.root),
            "users": one("SELECT count(*) FROM users"),
            "products": one("SELECT count(*) FROM products"),
            "events": one("SELECT count(*) FROM events"),
            "orders": one("SELECT count(DISTINCT order_id) FROM events WHERE type = 'order'"),
            "first_event": span[0].isoformat() if span[0] else None,
            "last_event": span[1].isoformat() if span[1] else None,
            "events_by_type": by_type,
            "batches": batches[0],
            "received": batches[1],
            "accepted": batches[2],
            "duplicates": batches[3],
            "quarantined": batches[4],
            "quarantine_by_reason": by_reason,
            "identity": {
                "merged_people": identity[0],
                "users_merged_into_another": identity[1],
                "anonymous_ids_stitched": identity[2],
                "anonymous_ids_in_conflict": identity[3],
                "anonymous_only_visitors": identity[4],
            },
        }

    def quarantine(
        self,
        limit: int = 50,
        reason: str | None = None,
        batch_id: str | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Quarantined records, newest first, each with a plain explanation and fix."""
        where, params = [], []
        for col, val in (("reason_code", reason), ("batch_id", batch_id), ("kind", kind)):
            if val:
                where.append(f"{col} = ?")
                params.append(val)
        sql = (
            "SELECT batch_id, kind, source, record_index, reason_code, detail, raw, "
            "quarantined_at FROM quarantine"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY quarantined_at DESC, record_index LIMIT ?"
        )
        rows = self.warehouse.fetchall(sql, [*params, limit])
        return [
            {
                "batch_id": r[0],
                "kind": r[1],
                "source": r[2],
                "record_index": r[3],
                "reason_code": r[4],
                "detail": r[5],
                "explanation": explain(r[4], r[5]),
                "raw": r[6],
                "quarantined_at": r[7].isoformat(),
            }
            for r in rows
        ]

    def quarantine_counts(self) -> list[dict[str, Any]]:
        rows = self.warehouse.fetchall(
            "SELECT kind, reason_code, count(*) FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC"
        )
        return [
            {"kind": k, "reason_code": c, "count": n, "explanation": explain(c)} for k, c, n in rows
        ]

    def batches(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.warehouse.fetchall(
            "SELECT batch_id, kind, source, actor, received, accepted, duplicates, quarantined, "
            "started_at, finished_at FROM ingest_batches ORDER BY started_at DESC LIMIT ?",
            [limit],
        )
        cols = [
            "batch_id",
            "kind",
            "source",
            "actor",
            "received",
            "accepted",
            "duplicates",
            "quarantined",
            "started_at",
            "finished_at",
        ]
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def table(self, name: str) -> pa.Table:
        """A whole warehouse table or view as Arrow (for notebooks)."""
        return self.warehouse.to_arrow(self.warehouse.table(name))

    # --- identity -----------------------------------------------------------------------
    def identity(self, identifier: str) -> dict[str, Any]:
        """The person behind a user or anonymous id: all identifiers, links and conflicts."""
        wh = self.warehouse
        with wh.reading() as con:
            report = identity_ops.identity_report(con, identifier)
        if report is None:
            raise UnknownIdentifierError(
                f"no user, event or device has the id {identifier!r}; check the id "
                "(`portrait identity show` takes a user_id or an anonymous_id)"
            )
        return report

    def merge_users(self, user_a: str, user_b: str, reason: str = "explicit merge") -> dict:
        """Record that two user ids are one person; returns the merged person's report."""
        wh = self.warehouse
        for u in (user_a, user_b):
            if (
                not wh.fetchone("SELECT count(*) FROM users WHERE user_id = ?", [u])[0]
                and not wh.fetchone("SELECT count(*) FROM events WHERE user_id = ?", [u])[0]
            ):
                raise UnknownIdentifierError(f"unknown user id {u!r}: no user or event has it")
        if user_a == user_b:
            raise ValueError("cannot merge a user with itself")
        with wh.transaction() as con:
            identity_ops.add_explicit_merge(con, user_a, user_b, reason)
            identity_ops.rebuild_map(con)
        return self.identity(user_a)

    def unmerge(
        self, user_id: str, reason: str = "explicit unmerge", actor: str | None = None
    ) -> dict[str, Any]:
        """Make ``user_id`` its own person again, apart from every user its person holds now
        (linked by a shared phone or an explicit merge). Remembered: no later ingest or
        rebuild links them again; only a later explicit merge does. Returns its report."""
        wh = self.warehouse
        known = wh.fetchone(
            "SELECT (SELECT count(*) FROM users WHERE user_id = ?) "
            "+ (SELECT count(*) FROM events WHERE user_id = ?)",
            [user_id, user_id],
        )[0]
        if not known:
            raise UnknownIdentifierError(f"unknown user id {user_id!r}: no user or event has it")
        with wh.transaction() as con:
            apart = identity_ops.add_unmerge(con, user_id, reason, actor or self.actor)
            if not apart:
                raise ValueError(
                    f"{user_id!r} is not merged with another user; nothing to unmerge "
                    "(`portrait identity show` lists its links)"
                )
            identity_ops.rebuild_map(con)
        return self.identity(user_id)

    # --- API keys -----------------------------------------------------------------------
    # Kept in keys.sqlite, not the warehouse: the CLI manages keys while a server runs, and a
    # revoke counts from the server's next request (see ``portrait.store.keys``).
    def create_key(self, role: str, note: str | None = None) -> keys.NewKey:
        """Make an API key; its token is returned once and only its hash is stored."""
        return self.keystore.create(role, note)

    def authenticate(self, token: str) -> ApiKey | None:
        """The key (id and role) of a valid, unrevoked token; None otherwise."""
        return self.keystore.verify(token)

    def verify_key(self, token: str) -> str | None:
        """The role of a valid, unrevoked token; None otherwise."""
        key = self.keystore.verify(token)
        return None if key is None else key.role

    def list_keys(self) -> list[dict[str, Any]]:
        """Every API key, oldest first, with its role, note and times (never a secret)."""
        return self.keystore.list()

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key: every request with it fails from now on (KeyError if none active)."""
        self.keystore.revoke(key_id)

    # --- profiles (tags) ----------------------------------------------------------------
    @property
    def profiles(self) -> ProfileService:
        """Profile building and reading (see ``portrait.tags.service``)."""
        if self._profiles is None:
            self._profiles = ProfileService(
                self.warehouse, self.settings, self.root, after_snapshot=[refresh_segments]
            )
        return self._profiles

    @property
    def segments(self) -> SegmentService:
        """Segments over tags (see ``portrait.segments.service``)."""
        if self._segments is None:
            self._segments = SegmentService(self.warehouse, lambda: self.profiles.catalog)
        return self._segments

    @property
    def models(self) -> ModelService:
        """Predictive models that fill model tags (see ``portrait.models.service``)."""
        if self._models is None:
            self._models = ModelService(self.warehouse, self.profiles, self.root)
        return self._models

    @property
    def recs(self) -> RecsService:
        """Recommendations served from this workspace (see ``portrait.recs.serve``)."""
        service = self.__dict__.get("_recs")
        if service is None:
            from portrait.recs.serve import RecsService

            service = self.__dict__["_recs"] = RecsService(self)
        return service

    @property
    def campaigns(self) -> CampaignService:
        """Campaigns, consent and the send ledger (see ``portrait.campaigns.service``)."""
        service = self.__dict__.get("_campaigns")
        if service is None:
            from portrait.campaigns.service import CampaignService

            service = self.__dict__["_campaigns"] = CampaignService(
                self.warehouse,
                self.settings,
                self.segments,
                self.profiles,
                recommend=lambda user_id, k: self.recs.recommend(user_id, k=k),
            )
        return service

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
        ``with_models``: then train every model and build again, so model tags are filled."""
        if with_models:
            result = self.models.build_with_models(as_of, backend, full, progress)
        else:
            result = self.profiles.build(as_of=as_of, backend=backend, full=full, progress=progress)
        from portrait.campaigns.journeys import after_build

        after_build(self, result)  # triggered journeys see the new profiles
        return result

    def profile(
        self,
        identifier: str,
        as_of: str | date | None = None,
        lang: str = "en",
        include_empty: bool = False,
    ) -> dict[str, Any]:
        """A person's tags grouped by the hierarchy, with labels and a recent timeline."""
        return self.profiles.profile(identifier, as_of, lang=lang, include_empty=include_empty)

    def profile_table(
        self, as_of: str | date | None = None, tags: list[str] | None = None
    ) -> pa.Table:
        """The profile table (one row per person) as Arrow; ``.to_pandas()`` for pandas."""
        return self.profiles.frame(as_of, tags)

    def tags(self) -> list[dict[str, Any]]:
        """The tag catalog with versions and coverage."""
        return self.profiles.tags()

    def tag(self, tag_id: str) -> dict[str, Any]:
        """One tag's definition, versions and statistics."""
        return self.profiles.tag(tag_id)

    def tag_quality(self, build_id: str | None = None) -> dict[str, Any]:
        """Coverage, distributions, drift, cross-checks and (simulator) truth scores."""
        return quality_report(self.warehouse, self.profiles.catalog, build_id)

    def profile_builds(self, limit: int = 20) -> list[dict[str, Any]]:
        """The build log, newest first."""
        return self.profiles.builds(limit)


__all__ = ["ConfigError", "UnknownIdentifierError", "Workspace", "guess_kind"]
