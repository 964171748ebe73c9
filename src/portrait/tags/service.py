"""What the facade offers on profiles: build, look up a person, describe the catalog.

``Workspace`` delegates here; the CLI and the REST routes call ``Workspace``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from portrait.config import Settings
from portrait.store import pii_tags, tag_builds, tag_stats
from portrait.store import profiles as store
from portrait.store.tag_builds import BuildRow
from portrait.store.tag_stats import TagStats
from portrait.store.warehouse import Warehouse
from portrait.tags.build import Builder, BuildError, BuildResult
from portrait.tags.catalog import Catalog, dependencies, load_catalog
from portrait.tags.model import TagDef
from portrait.tags.quality import builds_with_live, quality_report
from portrait.tags.results import (
    BuildLogEntry,
    ProfileGroup,
    ProfilePublic,
    ProfileSubgroup,
    ProfileTag,
    QualityReport,
    TagDetail,
    TagSummary,
    TimelineEvent,
)
from portrait.tags.sources import AsOf

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher

LANGS = ("zh", "en")


class ProfileNotFoundError(LookupError):
    """No profile for this id (unknown person, or no build yet)."""


class NoBuildError(LookupError):
    """Nothing has been built (for that date)."""


def no_build_error(wh: Warehouse, day: date | None) -> NoBuildError:
    """Why there is no build to read (of ``day``), naming the dates that can be read."""
    dates = tag_builds.stored_dates(wh)
    if not dates:
        when, hint = (f" as of {day}", f" --as-of {day}") if day else ("", "")
        return NoBuildError(f"no profile build{when} yet; run `portrait build{hint}` first")
    kept = ", ".join(dates[:10]) + (f" and {len(dates) - 10} more" if len(dates) > 10 else "")
    return NoBuildError(
        f"no profile build as of {day} is stored; builds are kept as of {kept} (the live "
        f"profile is {dates[0]}); read one of those, or run `portrait build --as-of {day}`"
    )


def parse_day(text: str | date | None) -> date | None:
    if text is None or isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write it as YYYY-MM-DD") from None


# What else a build makes from its snapshot before it is done (the segment index and the saved
# segments' members: ``portrait.segments.refresh.refresh_segments``), given by the Workspace so
# that tags never import what is built on them. A step may add warnings and timings to the result.
AfterSnapshot = Callable[["ProfileService", BuildResult, Callable[[str], None] | None], object]


class ProfileService:
    """Profiles of one workspace."""

    def __init__(
        self,
        wh: Warehouse,
        settings: Settings,
        root: Path,
        after_snapshot: Sequence[AfterSnapshot] = (),
        pii: Callable[[], PiiCipher | None] = lambda: None,
    ) -> None:
        self.wh = wh
        self.settings = settings
        self.root = root
        self.after_snapshot = tuple(after_snapshot)
        # the cipher (the current one) a build opens the birth dates and seals the PII tags
        # with, and reads open the PII tags with
        self.pii = pii
        self._catalog: Catalog | None = None

    @property
    def timezone(self) -> str:
        return self.settings.shop_timezone

    @property
    def catalog(self) -> Catalog:
        """The built-in tags plus the workspace's own (``tags/*.yaml``), loaded once."""
        if self._catalog is None:
            self._catalog = load_catalog(self.root / self.settings.profile.tags_dir)
        return self._catalog

    def reload_catalog(self) -> Catalog:
        self._catalog = None
        return self.catalog

    # --- building -----------------------------------------------------------------------
    def build(
        self,
        as_of: str | date | None = None,
        backend: str = "duckdb",
        full: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> BuildResult:
        day = parse_day(as_of)
        if not self.wh.build_lock.acquire(blocking=False):
            raise BuildError(
                "a build is already running in this workspace; wait for it to finish "
                "(the server's GET /v1/jobs shows it)"
            )
        try:  # a connection of its own: readers and ingest go on while it computes
            with self.wh.session():
                return self._build(day, backend, full, progress)
        finally:
            self.wh.build_lock.release()

    def _build(
        self,
        day: date | None,
        backend: str,
        full: bool,
        progress: Callable[[str], None] | None,
    ) -> BuildResult:
        builder = Builder(
            self.wh, self.catalog, self.timezone, keep=self.settings.profile.keep_snapshots,
            cipher=self.pii(),
        )  # fmt: skip
        result = builder.run(as_of=day, backend=backend, full=full, progress=progress)
        if result.mode == "unchanged":  # the last build stands, its segment index with it
            return result
        for step in self.after_snapshot:  # still under the build lock, in this session
            step(self, result, progress)
        return result

    def builds(self, limit: int = 20) -> list[BuildLogEntry]:
        """The build log, latest finished first, the live build marked."""
        return builds_with_live(self.wh, limit)

    def live_build(self) -> BuildLogEntry | None:
        """The build reads without a date answer from (the newest date's latest)."""
        row = tag_builds.live_build(self.wh)
        return None if row is None else BuildLogEntry(**row.model_dump(), live=True)

    def _build_for(self, as_of: str | date | None) -> BuildRow:
        """The live build, or the latest build of ``as_of``."""
        day = parse_day(as_of)
        found = tag_builds.build_of(self.wh, day.isoformat() if day else None)
        if found is None:
            raise no_build_error(self.wh, day)
        return found

    # --- reading ------------------------------------------------------------------------
    def frame(self, as_of: str | date | None = None, tags: list[str] | None = None) -> pa.Table:
        """The profile table (one row per person) as Arrow, optionally only some tags."""
        build = self._build_for(as_of)
        for t in tags or []:
            self.catalog.get(t)
        rows = store.read_snapshot(self.wh, build.snapshot, tags)
        return pii_tags.open_columns(self.wh, rows, self.catalog, self.pii())  # PII tags opened

    def profile(
        self,
        identifier: str,
        as_of: str | date | None = None,
        lang: str = "en",
        include_empty: bool = False,
        timeline: int = 10,
    ) -> ProfilePublic:
        """One person's tags grouped by level-1 and level-2 group, with a recent timeline."""
        if lang not in LANGS:
            raise ValueError(f"unknown language {lang!r}; use zh or en")
        build = self._build_for(as_of)
        person = store.resolve_person(self.wh, identifier) or identifier
        row = store.profile_row(self.wh, build.snapshot, person)
        if row is None:
            raise ProfileNotFoundError(
                f"no profile for {identifier!r} in the build as of {build.as_of}; check the "
                "id, or run `portrait build` if the user is new"
            )
        row = pii_tags.open_row(self.wh, row, list(self.catalog), self.pii())
        versions = tag_builds.build_versions(self.wh, build.build_id)
        groups, empty = self._groups(row, versions, lang, include_empty)
        point = AsOf.from_date(datetime.combine(build.as_of, datetime.min.time()), build.timezone)
        events = store.recent_events(self.wh, person, point.epoch, timeline)
        return ProfilePublic(
            identifier=identifier,
            person_id=person,
            as_of=str(build.as_of),
            build_id=build.build_id,
            lang=lang,
            empty_tags=empty,
            groups=groups,
            timeline=[TimelineEvent(**{k: _plain(v) for k, v in e.items()}) for e in events],
        )

    def _groups(
        self, row: dict[str, Any], versions: dict[str, int], lang: str, include_empty: bool
    ) -> tuple[list[ProfileGroup], int]:
        """The row's tags by level-1 and level-2 group (in catalog order); how many empty."""
        grouped: dict[str, dict[str, list[ProfileTag]]] = {}
        empty = 0
        for tag in self.catalog:
            value = row.get(tag.id)
            if value is None and not include_empty:
                empty += 1
                continue
            grouped.setdefault(tag.group, {}).setdefault(tag.group2 or "", []).append(
                ProfileTag(
                    id=tag.id,
                    label=getattr(tag, lang),
                    value=_plain(value),
                    type=tag.type,
                    version=versions.get(tag.id),
                    pii=tag.pii,
                )
            )
        groups = [
            ProfileGroup(
                id=group_id,
                label=self._group_label(group_id, lang),
                groups=[self._subgroup(sub, tags, lang) for sub, tags in subs.items()],
            )
            for group_id, subs in grouped.items()
        ]
        return groups, empty

    def _group_label(self, group_id: str, lang: str) -> str:
        g = self.catalog.groups.get(group_id)
        return getattr(g, lang) if g else group_id

    def _subgroup(self, group_id: str, tags: list[ProfileTag], lang: str) -> ProfileSubgroup:
        labels = self.catalog.groups2.get(group_id, {})
        label = labels.get(lang) if group_id else None
        return ProfileSubgroup(id=group_id or None, label=label, tags=tags)

    # --- the catalog --------------------------------------------------------------------
    def tags(self) -> list[TagSummary]:
        """Every tag with its group, kind, type, version and coverage in the live build."""
        stats, versions = self._live_stats()
        return [
            TagSummary(**self._describe(t, stats.get(t.id), versions.get(t.id)))
            for t in self._ordered()
        ]

    def tag(self, tag_id: str) -> TagDetail:
        """One tag in full: definition, fingerprint, versions and the live build's statistics."""
        t = self.catalog.get(tag_id)
        stats, versions = self._live_stats()
        return TagDetail(
            **self._describe(t, stats.get(t.id), versions.get(t.id)),
            description=t.description,
            definition=t.definition(),
            fingerprint=t.fingerprint,
            file=t.file,
            refresh=t.refresh,
            cross_check=t.cross_check,
            stats=stats.get(t.id),
            versions=tag_builds.tag_versions(self.wh, tag_id),
            depends_on=sorted(dependencies(t)),
        )

    def quality(self, build_id: str | None = None) -> QualityReport:
        """The quality report of a build (default: the live one); see ``tags.quality``."""
        return quality_report(self.wh, self.catalog, build_id)

    def _live_stats(self) -> tuple[dict[str, TagStats], dict[str, int]]:
        live = tag_builds.live_build(self.wh)
        if live is None:
            return {}, {}
        pii = {t.id for t in self.catalog if t.pii}  # coverage only: values are persons'
        stats = tag_stats.stats(self.wh, live.build_id, pii)
        return stats, tag_builds.build_versions(self.wh, live.build_id)

    def _ordered(self) -> list[TagDef]:
        order = {g: i for i, g in enumerate(self.catalog.groups)}
        return sorted(self.catalog, key=lambda t: (order.get(t.group, 99), t.group2 or "", t.id))

    def _describe(self, t: TagDef, stats: TagStats | None, version: int | None) -> dict[str, Any]:
        return {
            "id": t.id,
            "zh": t.zh,
            "en": t.en,
            "group": t.group,
            "group2": t.group2,
            "kind": t.kind,
            "type": t.type,
            "values": t.values,
            "window": t.window,
            "pii": t.pii,
            "version": version,
            "coverage": None if stats is None else round(stats.coverage, 4),
        }


def _plain(value: Any) -> Any:
    """JSON-friendly value: dates and times as ISO text, floats rounded for display."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
