"""Bring data in: files, records, public data sets and the simulated shop, each batch all or
nothing; and read back what ingest did (the batch log, the quarantine, the summary).

Every way in goes through one path: a source becomes a relation (``readers``), the relation a
staging query that validates and cleans every record (``plan``), and the query one batch that
the store applies in a transaction (``store.loader``). The facade (``Workspace.ingest_file``
and friends) passes through to this service.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from portrait.config import Settings, check_timezone
from portrait.datasets.base import DatasetFiles
from portrait.ingest.plan import stage_query
from portrait.ingest.readers import SourceRelation, file_relation, json_relation, record_json
from portrait.ingest.results import (
    BatchLogEntry,
    QuarantineCount,
    QuarantinedRecord,
    WarehouseSummary,
)
from portrait.schema import CANONICAL
from portrait.security.pii import PiiCipher
from portrait.store import ingest_log, loader, quarantine, summary
from portrait.store.loader import BatchResult
from portrait.store.warehouse import Warehouse

Progress = Callable[[int, int], None]
FileProgress = Callable[[Path, BatchResult], None]
JSON_BATCH_TABLE = "_json_batch"


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


class IngestService:
    """Ingest into one warehouse under one workspace's settings.

    ``after_events`` runs after each events batch commits (the facade's after-ingest hooks,
    see :mod:`portrait.hooks`). Each batch records its sender: the ``actor`` a call gives,
    else ``default_actor()`` (the facade's: the CLI and its OS user, a notebook...).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        settings: Settings,
        root: Path,
        after_events: Callable[[BatchResult], None] | None = None,
        default_actor: Callable[[], str | None] = lambda: None,
        cipher: Callable[[], PiiCipher | None] = lambda: None,
    ) -> None:
        self.wh = warehouse
        self.settings = settings
        self.root = root
        self.after_events = after_events
        self.default_actor = default_actor
        # the cipher that encrypts users' PII before it is stored (the workspace's current
        # one; None only in the encryption benchmark)
        self.cipher = cipher

    # --- ways in ------------------------------------------------------------------------
    def _ingest(
        self,
        rel: SourceRelation,
        kind: str,
        label: str,
        timezone: str | None,
        actor: str | None,
        **apply: Any,
    ) -> BatchResult:
        plan_for = partial(
            stage_query,
            kind,
            settings=self.settings.ingest,
            timezone=timezone,
            row_number_sql=rel.row_number_sql,
            source=rel.sql,
        )
        result = loader.ingest_relation(
            self.wh,
            rel,
            plan_for,
            label,
            actor=actor or self.default_actor(),
            auto_merge=self.settings.identity.auto_merge,
            cipher=self.cipher(),
            **apply,
        )
        if kind == "events" and self.after_events is not None:
            self.after_events(result)  # committed: carts may have waited long enough
        return result

    def file(
        self,
        path: str | Path,
        kind: str | None = None,
        timezone: str | None = None,
        before_commit: Callable[[], None] | None = None,
        actor: str | None = None,
    ) -> BatchResult:
        """Validate, clean and store one file (Parquet, CSV or JSON lines) as one batch."""
        path = Path(path).resolve()
        kind = kind or guess_kind(path)
        check_kind_and_zone(kind, timezone)
        rel = file_relation(path, kind, self.settings.ingest)
        return self._ingest(rel, kind, str(path), timezone, actor, before_commit=before_commit)

    def files(
        self,
        paths: Iterable[str | Path],
        kind: str | None = None,
        timezone: str | None = None,
        progress: FileProgress | None = None,
        actor: str | None = None,
    ) -> list[BatchResult]:
        """Ingest several files, each its own all-or-nothing batch."""
        results = []
        for p in paths:
            results.append(self.file(p, kind, timezone, actor=actor))
            if progress:
                progress(Path(p), results[-1])
        return results

    def records(
        self,
        records: Sequence[Any],
        kind: str = "events",
        timezone: str | None = None,
        source: str = "http",
        keep_rejections: int = 100_000,
        actor: str | None = None,
        trusted: bool = True,
    ) -> BatchResult:
        """Ingest records (dicts, or anything JSON) through the same path as files: each is
        serialised to JSON and validated like a JSON-lines file's line, so a record that is not
        an object is quarantined. ``actor`` is the batch's sender; ``trusted`` whether its
        users' phones may link persons (``identity.auto_merge = 'trusted'``)."""
        lines = [record_json(r) for r in records]
        return self.json_lines(
            lines, kind, timezone, source, keep_rejections, actor=actor, trusted=trusted
        )

    def json_lines(
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
        in :meth:`records`; ``want_accepted_rows``: return the accepted records' positions."""
        check_kind_and_zone(kind, timezone)
        with loader.registered_lines(self.wh, lines, JSON_BATCH_TABLE) as name:
            rel = json_relation(name, "line", "row_number() OVER () - 1", kind)
            return self._ingest(
                rel,
                kind,
                source,
                timezone,
                actor,
                keep_rejections=keep_rejections,
                want_accepted_rows=want_accepted_rows,
                trusted=trusted,
            )

    def dataset(
        self, files: DatasetFiles, progress: FileProgress | None = None, actor: str | None = None
    ) -> list[BatchResult]:
        """Ingest an adapter's or the simulator's files, users first; attach side tables."""
        results = []
        for kind, path in files.in_ingest_order():
            results.append(self.file(path, kind, timezone="UTC", actor=actor))
            if progress:
                progress(path, results[-1])
        for name, path in files.extra.items():
            loader.attach_parquet(self.wh, name, path)
        return results

    def simulate(
        self,
        users: int = 5000,
        days: int = 90,
        seed: int = 42,
        progress: Progress | None = None,
        ingest_progress: FileProgress | None = None,
        actor: str | None = None,
    ) -> tuple[DatasetFiles, list[BatchResult]]:
        """Generate a demo shop into ``sources/`` and ingest it (ground truth included)."""
        from portrait.datasets.simulator import simulate  # the demo shop is a data set too

        out = self.root / "sources" / f"simulated-u{users}-d{days}-s{seed}"
        files = simulate(out, users=users, days=days, seed=seed, progress=progress)
        return files, self.dataset(files, progress=ingest_progress, actor=actor)

    def load_dataset(
        self,
        name: str,
        path: str | Path | None = None,
        full: bool = False,
        progress: FileProgress | None = None,
        actor: str | None = None,
    ) -> tuple[DatasetFiles, list[BatchResult]]:
        """Convert a public data set into canonical files and ingest them."""
        from portrait.datasets.registry import convert_dataset

        out = self.root / "sources" / name
        files = convert_dataset(name, out, Path(path) if path else None, full=full)
        others = self.other_sources(out)
        if others:
            files.notes.insert(
                0,
                f"warning: this workspace also holds {', '.join(others)}; public data sets "
                "reuse the same ids (e.g. CDNOW's and Online Retail's customer numbers "
                "overlap), so use one workspace per data set",
            )
        return files, self.dataset(files, progress=progress, actor=actor)

    def other_sources(self, out: Path) -> list[str]:
        """Names of other data sets or simulated shops already ingested here."""
        sources = ingest_log.sources_under(self.wh, str(self.root / "sources") + "/")
        return sorted({Path(s).parent.name for s in sources} - {out.name})

    # --- what ingest did ----------------------------------------------------------------
    def summary(self) -> WarehouseSummary:
        """Counts of what the warehouse holds: the main job's report."""
        return summary.warehouse_summary(self.wh, str(self.root))

    def batches(self, limit: int = 20) -> list[BatchLogEntry]:
        """The ingest log, newest first."""
        return ingest_log.recent_batches(self.wh, limit)

    def quarantine(
        self,
        limit: int = 50,
        reason: str | None = None,
        batch_id: str | None = None,
        kind: str | None = None,
    ) -> list[QuarantinedRecord]:
        """Quarantined records, newest first, each with a plain explanation and fix (the
        payloads, sealed at rest, decrypted)."""
        return quarantine.quarantined(self.wh, limit, reason, batch_id, kind, self.cipher())

    def quarantine_counts(self) -> list[QuarantineCount]:
        """Quarantined records per kind and reason, with what each reason means."""
        return quarantine.quarantine_counts(self.wh)
