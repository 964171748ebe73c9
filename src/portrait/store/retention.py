"""Retention's statements: what is older than a cutoff in each class of data, and deleting it.

Each class has a ``*_older`` (rows that would go, and the oldest date that stays) and a
``delete_*`` run by ``portrait.privacy.retention`` under the build lock, each in one
transaction. Profile snapshots go through the build log's own bookkeeping: a dropped
snapshot's build stays in ``tag_builds`` (the log) but is no longer readable, exactly as when
``profile.keep_snapshots`` drops one after a build; its segment index goes with it
(``segment_index.stale_indexes``) and so do the segment memberships stored for it (who was in
which segment at that date is part of what the snapshot kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from portrait.store import segment_index, tag_builds
from portrait.store.warehouse import Warehouse

# sends no dispatch will touch again; queued and claimed ones stay whatever their age
FINAL_SENDS = "status IN ('sent', 'failed', 'suppressed')"
SEND_TIME = "coalesce(sent_at, updated_at)"


def _older(wh: Warehouse, table: str, column: str, where: str, cutoff: datetime):
    row = wh.fetchone(
        f"SELECT count(*) FILTER (WHERE {column} < ?), min({column}) FILTER (WHERE {column} >= ?)"
        f" FROM {table} WHERE {where}",
        [cutoff, cutoff],
    )
    return int(row[0]), row[1]


# --- events ---------------------------------------------------------------------------------
def events_older(wh: Warehouse, cutoff: datetime) -> tuple[int, datetime | None]:
    """Events dated before ``cutoff``, and the earliest event time that stays."""
    return _older(wh, "events", "ts", "true", cutoff)


def delete_events(wh: Warehouse, cutoff: datetime) -> int:
    """Delete the events dated before ``cutoff``. The next profile build is then a full one:
    an incremental build keeps the facts of persons with nothing new from the build before,
    which counted the deleted events (emptying ``profile_identity``, the identity map the
    live build used, leaves no build to start from)."""
    with wh.transaction() as con:
        deleted = con.execute("DELETE FROM events WHERE ts < ?", [cutoff]).fetchone()[0]
        if deleted:
            con.execute("DELETE FROM profile_identity")
    return int(deleted)


# --- quarantine -----------------------------------------------------------------------------
def quarantine_older(wh: Warehouse, cutoff: datetime) -> tuple[int, datetime | None]:
    return _older(wh, "quarantine", "quarantined_at", "true", cutoff)


def delete_quarantine(wh: Warehouse, cutoff: datetime) -> int:
    """Delete the records quarantined before ``cutoff`` (the batches keep their counts)."""
    with wh.transaction() as con:
        row = con.execute("DELETE FROM quarantine WHERE quarantined_at < ?", [cutoff]).fetchone()
    return int(row[0])


# --- campaign sends -------------------------------------------------------------------------
def sends_older(wh: Warehouse, cutoff: datetime) -> tuple[int, datetime | None]:
    return _older(wh, "campaign_sends", SEND_TIME, FINAL_SENDS, cutoff)


def delete_sends(wh: Warehouse, cutoff: datetime) -> int:
    """Delete the sends in a final state last touched before ``cutoff``."""
    with wh.transaction() as con:
        row = con.execute(
            f"DELETE FROM campaign_sends WHERE {FINAL_SENDS} AND {SEND_TIME} < ?", [cutoff]
        ).fetchone()
    return int(row[0])


# --- profile snapshots ----------------------------------------------------------------------
def snapshots_beyond(
    wh: Warehouse, before: date | None, keep: int | None
) -> list[tuple[str, date, int]]:
    """The stored snapshots retention drops, as (table, build date, persons): those of a date
    before ``before``, and those beyond the ``keep`` newest dates; never the live one."""
    live = tag_builds.live_build(wh)
    stored = wh.fetchall(
        f"SELECT snapshot, max(as_of) FROM tag_builds WHERE snapshot IN "
        f"({tag_builds.STORED_SNAPSHOTS}) GROUP BY snapshot ORDER BY max(as_of) DESC"
    )
    out = []
    for rank, (snapshot, as_of) in enumerate(stored):
        if live is not None and snapshot == live.snapshot:
            continue
        if (before is not None and as_of < before) or (keep is not None and rank >= keep):
            persons = wh.fetchone(f"SELECT count(*) FROM {snapshot}")[0]
            out.append((snapshot, as_of, int(persons)))
    return out


def oldest_snapshot_kept(wh: Warehouse, dropped: Sequence[str]) -> date | None:
    rows = wh.fetchall(
        f"SELECT DISTINCT snapshot, as_of FROM tag_builds WHERE snapshot IN "
        f"({tag_builds.STORED_SNAPSHOTS})"
    )
    kept = [as_of for snapshot, as_of in rows if snapshot not in dropped]
    return min(kept, default=None)


def drop_snapshots(wh: Warehouse, snapshots: Sequence[str]) -> int:
    """Drop snapshot tables, then the segment index and the memberships of every build whose
    snapshot is gone; returns the memberships deleted."""
    with wh.transaction() as con:
        for snapshot in snapshots:
            con.execute(f"DROP TABLE IF EXISTS {snapshot}")
        row = con.execute(
            f"DELETE FROM segment_members WHERE build_id IN (SELECT build_id FROM tag_builds "
            f"WHERE snapshot NOT IN ({tag_builds.STORED_SNAPSHOTS}))"
        ).fetchone()
    for stale in segment_index.stale_indexes(wh):
        segment_index.drop_index(wh, stale)
    return int(row[0])
