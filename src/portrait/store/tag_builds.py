"""The build log: ``tag_builds`` (one row per build), ``tag_versions`` (a new version of a tag
whenever its definition changes) and ``tag_build_tags`` (which version each build used).

The *live* build is the latest build of the newest date whose snapshot is still stored: what
every read without a date answers from. Snapshot tables themselves are ``store.profiles``'.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from portrait.store.warehouse import Warehouse
from portrait.tags.model import TagDef

STORED_SNAPSHOTS = (  # duckdb_tables(): a third of information_schema's time
    "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
    "WHERE schema_name = 'snapshots' AND NOT temporary"
)
# builds whose snapshot is still stored, the newest date first (the latest build of a date is
# the one its snapshot holds)
_READABLE = f"FROM tag_builds WHERE snapshot IN ({STORED_SNAPSHOTS}) "
_NEWEST_FIRST = "ORDER BY as_of DESC, finished_at DESC"
# the builds that were live when they were made: none made before them had a later date
WAS_LIVE = """SELECT build_id FROM (
    SELECT build_id, as_of, max(as_of) OVER (
        ORDER BY finished_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS newest_before
    FROM tag_builds) WHERE newest_before IS NULL OR as_of >= newest_before"""


class BuildRow(BaseModel):
    """One build of the log, as reads need it."""

    model_config = ConfigDict(frozen=True)

    build_id: str
    as_of: date
    timezone: str
    backend: str
    mode: str
    catalog_fingerprint: str
    snapshot: str
    persons: int
    recomputed: int
    events_seen: int
    started_at: datetime
    finished_at: datetime
    seconds: float


# the columns reads select, in BuildRow's order
BUILD_COLUMNS = tuple(BuildRow.model_fields)


class BaseBuild(BaseModel):
    """What an incremental build needs of the build it starts from."""

    model_config = ConfigDict(frozen=True)

    build_id: str
    epoch: int
    snapshot_table: str
    last_batch: str | None
    started: datetime
    inputs: str | None
    identity_digest: str | None


class BuildLogRecord(BuildRow):
    """A finished build, as written to ``tag_builds``: the columns reads use (``BuildRow``)
    and those only a later incremental build needs."""

    as_of: str  # type: ignore[assignment]  # the local date as text, as the plan holds it
    as_of_epoch: int
    last_batch: str | None
    identity_digest: str | None = None  # set when saved (of the identity map it used)
    finished_at: datetime | None = None  # type: ignore[assignment]  # set when saved
    inputs_digest: str


class TagVersion(BaseModel):
    """One version of a tag's definition."""

    model_config = ConfigDict(frozen=True)

    version: int
    fingerprint: str
    definition: dict[str, Any]
    created_at: datetime


def _row(row: tuple | None) -> BuildRow | None:
    return BuildRow(**dict(zip(BUILD_COLUMNS, row, strict=True))) if row else None


# --- writing --------------------------------------------------------------------------------
def insert_build(wh: Warehouse, record: BuildLogRecord) -> None:
    """Log a finished build (inside the transaction that saves its snapshot)."""
    fields = list(BuildLogRecord.model_fields)
    wh.execute(
        f"INSERT INTO tag_builds ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
        [getattr(record, f) for f in fields],
    )


def record_versions(
    wh: Warehouse, tags: Sequence[TagDef], build_id: str, now: datetime
) -> dict[str, int]:
    """Give each changed definition a new version; link the build to the versions it used."""
    current = {
        r[0]: (r[1], r[2])
        for r in wh.fetchall(
            "SELECT tag_id, max(version), arg_max(fingerprint, version) FROM tag_versions "
            "GROUP BY tag_id"
        )
    }
    used: dict[str, int] = {}
    for t in tags:
        version, fp = current.get(t.id, (0, None))
        if fp != t.fingerprint:
            version += 1
            wh.execute(
                "INSERT INTO tag_versions VALUES (?, ?, ?, ?, ?)",
                [t.id, version, t.fingerprint, json.dumps(t.definition(), ensure_ascii=False), now],
            )
        used[t.id] = version
    wh.executemany(
        "INSERT INTO tag_build_tags VALUES (?, ?, ?)", [[build_id, k, v] for k, v in used.items()]
    )
    return used


# --- reading --------------------------------------------------------------------------------
def builds(wh: Warehouse, limit: int = 20, as_of: str | None = None) -> list[BuildRow]:
    """Builds, latest finished first (only those of ``as_of`` when given)."""
    where = "WHERE as_of = CAST(? AS DATE)" if as_of else ""
    rows = wh.fetchall(
        f"SELECT {', '.join(BUILD_COLUMNS)} FROM tag_builds {where} "
        "ORDER BY finished_at DESC LIMIT ?",
        [as_of, limit] if as_of else [limit],
    )
    return [BuildRow(**dict(zip(BUILD_COLUMNS, r, strict=True))) for r in rows]


def live_build(wh: Warehouse) -> BuildRow | None:
    """The live build: the latest of the newest date with a stored snapshot (None before any)."""
    columns = ", ".join(BUILD_COLUMNS)
    return _row(wh.fetchone(f"SELECT {columns} {_READABLE}{_NEWEST_FIRST} LIMIT 1"))


def build_of(wh: Warehouse, as_of: str | None = None) -> BuildRow | None:
    """The build a read answers from: the live one, or with ``as_of`` the latest build of that
    date (None when that date's snapshot is not stored)."""
    if as_of is None:
        return live_build(wh)
    return _row(
        wh.fetchone(
            f"SELECT {', '.join(BUILD_COLUMNS)} {_READABLE}AND as_of = CAST(? AS DATE) "
            f"{_NEWEST_FIRST} LIMIT 1",
            [as_of],
        )
    )


def stored_dates(wh: Warehouse) -> list[str]:
    """The dates whose profile can be read (their snapshot is stored), newest first."""
    rows = wh.fetchall(f"SELECT DISTINCT as_of {_READABLE}ORDER BY as_of DESC")
    return [str(r[0]) for r in rows]


def is_newest(wh: Warehouse, as_of: str) -> bool:
    """Whether a build of ``as_of`` made now is live: no stored build has a later date."""
    row = wh.fetchone(f"SELECT count(*) {_READABLE}AND as_of > CAST(? AS DATE)", [as_of])
    return row is None or row[0] == 0


def snapshots_by_recency(wh: Warehouse) -> list[str]:
    """Every snapshot a build wrote, the most recently built first."""
    rows = wh.fetchall(
        "SELECT snapshot, max(finished_at) AS f FROM tag_builds GROUP BY snapshot ORDER BY f DESC"
    )
    return [r[0] for r in rows]


def base_build(wh: Warehouse, fingerprint: str, timezone: str, epoch: int) -> BaseBuild | None:
    """The build an incremental build may start from: of the same catalog and time zone, of a
    date not after ``epoch``, the newest such date (the live build, for a build of the newest
    date; never a past date's build made after it), its snapshot still holding it."""
    row = wh.fetchone(
        "SELECT build_id, as_of_epoch, snapshot, last_batch, started_at, inputs_digest, "
        f"identity_digest FROM tag_builds b WHERE snapshot IN ({STORED_SNAPSHOTS}) "
        "AND catalog_fingerprint = ? AND timezone = ? AND as_of_epoch <= ? "
        "AND build_id = (SELECT arg_max(build_id, finished_at) FROM tag_builds "
        "                WHERE snapshot = b.snapshot) "
        "ORDER BY as_of_epoch DESC, finished_at DESC LIMIT 1",
        [fingerprint, timezone, epoch],
    )
    if row is None:
        return None
    fields = ("build_id", "epoch", "snapshot_table", "last_batch", "started", "inputs")
    return BaseBuild(**dict(zip(fields, row[:6], strict=True)), identity_digest=row[6])


def tag_versions(wh: Warehouse, tag_id: str) -> list[TagVersion]:
    """Every version of a tag's definition, the latest first."""
    rows = wh.fetchall(
        "SELECT version, fingerprint, definition, created_at FROM tag_versions "
        "WHERE tag_id = ? ORDER BY version DESC",
        [tag_id],
    )
    return [
        TagVersion(version=v, fingerprint=f, definition=json.loads(d), created_at=c)
        for v, f, d, c in rows
    ]


def build_versions(wh: Warehouse, build_id: str) -> dict[str, int]:
    """Tag id -> the version of it a build computed."""
    rows = wh.fetchall("SELECT tag_id, version FROM tag_build_tags WHERE build_id = ?", [build_id])
    return dict(rows)
