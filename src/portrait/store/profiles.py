"""Profile snapshots: one wide table per build date, the views on the live one, and reads of a
person's profile. The build log is ``store.tag_builds``'; tag statistics ``store.tag_stats``'.

A build writes one wide table per build date, ``snapshots.profile_YYYYMMDD`` (one row per
person, one column per tag). The *live* build is the latest build of the newest date whose
snapshot is stored (``live_build``): what every read without a date answers from, and what the
``profile`` view points at. A build of an earlier date is kept beside it, read by its date.
The engine hands over flat columns (epoch seconds for times, ``tag__k0``/``tag__w0`` for top-N
lists); ``snapshot_select`` turns them into the stored types. ``tag_values`` is the long view of the
current profile: one row per (person, tag) with a value, and the version that produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from portrait.store import tag_builds
from portrait.store.tag_builds import STORED_SNAPSHOTS
from portrait.store.warehouse import Warehouse
from portrait.tags.model import TagDef


def snapshot_name(as_of_text: str) -> str:
    return "snapshots.profile_" + as_of_text.replace("-", "")


def quoted(name: str) -> str:
    """A column name quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


def snapshot_select(tags: Sequence[TagDef], relation: str) -> str:
    """SELECT turning the engine's flat columns into stored types (lists, timestamps)."""
    cols = ["person_id"]
    for t in tags:
        if t.type == "top":
            n = t.top_n
            items = ", ".join(
                f"{{'key': {quoted(f'{t.id}__k{i}')}, "
                f"'weight': CAST({quoted(f'{t.id}__w{i}')} AS DOUBLE)}}"
                for i in range(n)
            )
            cols.append(
                f"CASE WHEN {quoted(f'{t.id}__k0')} IS NULL THEN NULL "
                f"ELSE list_filter([{items}], lambda x: x.key IS NOT NULL) END AS {quoted(t.id)}"
            )
        elif t.type == "timestamp":
            cols.append(f"to_timestamp(CAST({quoted(t.id)} AS BIGINT)) AS {quoted(t.id)}")
        else:
            sql_type = {
                "bool": "BOOLEAN",
                "int": "BIGINT",
                "float": "DOUBLE",
                "enum": "VARCHAR",
                "text": "VARCHAR",
                "date": "DATE",
            }[t.type]
            cols.append(f"CAST({quoted(t.id)} AS {sql_type}) AS {quoted(t.id)}")
    return f"SELECT {', '.join(cols)} FROM {relation}"


def flat_select(tags: Sequence[TagDef], relation: str, fact_ids: set[str]) -> str:
    """The inverse of ``snapshot_select`` for fact tags: a stored snapshot as engine columns."""
    cols = ["person_id"]
    for t in tags:
        if t.id not in fact_ids:
            continue
        if t.type == "top":
            n = t.top_n
            for i in range(n):
                cols.append(f"{quoted(t.id)}[{i + 1}].key AS {quoted(f'{t.id}__k{i}')}")
                cols.append(f"{quoted(t.id)}[{i + 1}].weight AS {quoted(f'{t.id}__w{i}')}")
        elif t.type == "timestamp":
            cols.append(f"CAST(epoch({quoted(t.id)}) AS BIGINT) AS {quoted(t.id)}")
        else:
            cols.append(quoted(t.id))
    return f"SELECT {', '.join(cols)} FROM {relation}"


def point_current(wh: Warehouse, tags: Sequence[TagDef], snapshot: str, build_id: str) -> None:
    """Point ``profile`` and ``tag_values`` at a build's snapshot."""
    wh.execute(f"CREATE OR REPLACE VIEW profile AS SELECT * FROM {snapshot}")
    parts = []
    for t in tags:
        value = (
            f"CAST(to_json({quoted(t.id)}) AS VARCHAR)"
            if t.type == "top"
            else f"CAST({quoted(t.id)} AS VARCHAR)"
        )
        parts.append(
            f"SELECT person_id, '{t.id}' AS tag_id, {value} AS value FROM {snapshot} "
            f"WHERE {quoted(t.id)} IS NOT NULL"
        )
    body = (
        " UNION ALL ".join(parts)
        if parts
        else "SELECT NULL AS person_id, NULL AS tag_id, NULL AS value"
    )
    wh.execute(
        "CREATE OR REPLACE VIEW tag_values AS "
        f"SELECT v.person_id, v.tag_id, v.value, b.version, '{build_id}' AS build_id "
        f"FROM ({body}) v JOIN tag_build_tags b "
        f"ON b.build_id = '{build_id}' AND b.tag_id = v.tag_id"
    )


STAGING_PREFIX = "_staging_"


def drop_staging_tables(wh: Warehouse) -> list[str]:
    """Drop the half-built snapshots (``snapshots._staging_*``) a build left behind when it
    died; call only when no build is running."""
    names = [
        r[0]
        for r in wh.fetchall(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'snapshots' "
            "AND starts_with(table_name, ?) AND NOT temporary",
            [STAGING_PREFIX],
        )
    ]
    for name in names:
        wh.execute(f"DROP TABLE IF EXISTS snapshots.{quoted(name)}")
    return names


def drop_old_snapshots(wh: Warehouse, keep: int) -> list[str]:
    """Drop snapshot tables beyond the ``keep`` most recently built dates, never the live one."""
    existing = {r[0] for r in wh.fetchall(STORED_SNAPSHOTS)}
    live = tag_builds.live_build(wh)
    dropped = []
    for snapshot in tag_builds.snapshots_by_recency(wh)[keep:]:
        if snapshot in existing and (live is None or snapshot != live.snapshot):
            wh.execute(f"DROP TABLE {snapshot}")
            dropped.append(snapshot)
    return dropped


def stage_snapshot(wh: Warehouse, staging: str, tags: Sequence[TagDef], relation: str) -> None:
    """The engine's flat profile rows (``relation``: a table or a subquery) as a staging
    snapshot in stored types, on the build's own connection."""
    wh.execute_local(f"CREATE TABLE {staging} AS " + snapshot_select(tags, relation))


def stage_arrow_snapshot(
    wh: Warehouse, staging: str, tags: Sequence[TagDef], rows: pa.Table
) -> None:
    """Rows an engine computed elsewhere (Spark) as a staging snapshot."""
    wh.register("_engine_profile", rows)
    try:
        stage_snapshot(wh, staging, tags, "_engine_profile")
    finally:
        wh.unregister("_engine_profile")


def save_snapshot(wh: Warehouse, staging: str, snapshot: str) -> None:
    """A staging snapshot becomes a date's snapshot (replacing it), indexed by person."""
    name = snapshot.split(".")[1]
    wh.execute(f"DROP TABLE IF EXISTS {snapshot}")
    wh.execute(f"ALTER TABLE {staging} RENAME TO {name}")
    # point lookups by person (profile API) use this index
    wh.execute(f"CREATE INDEX idx_{name} ON {snapshot} (person_id)")


def row_count(wh: Warehouse, table: str) -> int:
    """Rows of a snapshot (or staging) table: the persons it holds."""
    return wh.fetchone(f"SELECT count(*) FROM {table}")[0]


# --- reading --------------------------------------------------------------------------------
# Kept for store modules that read the build log through this one (store/segments.py,
# store/recs.py): new code reads ``store.tag_builds``, whose rows are typed.
BUILD_COLUMNS = tag_builds.BUILD_COLUMNS
WAS_LIVE = tag_builds.WAS_LIVE


def live_build(wh: Warehouse) -> dict[str, Any] | None:
    """``tag_builds.live_build`` as a mapping (for callers not yet reading typed rows)."""
    row = tag_builds.live_build(wh)
    return None if row is None else row.model_dump()


def build_of(wh: Warehouse, as_of: str | None = None) -> dict[str, Any] | None:
    """``tag_builds.build_of`` as a mapping (for callers not yet reading typed rows)."""
    row = tag_builds.build_of(wh, as_of)
    return None if row is None else row.model_dump()


def read_snapshot(wh: Warehouse, snapshot: str, tags: Sequence[str] | None = None) -> pa.Table:
    """A snapshot as Arrow: every column, or ``person_id`` and ``tags``."""
    cols = ", ".join(["person_id", *(quoted(t) for t in tags)]) if tags else "*"
    return wh.arrow(f"SELECT {cols} FROM {snapshot}")


def resolve_person(wh: Warehouse, identifier: str) -> str | None:
    """The person behind a user id or anonymous id (the id itself when it is a person)."""
    row = wh.fetchone(
        "SELECT person_id FROM identity_map WHERE identifier = ? "
        "ORDER BY id_kind = 'user' DESC LIMIT 1",
        [identifier],
    )
    return row[0] if row else None


def profile_row(wh: Warehouse, snapshot: str, person_id: str) -> dict[str, Any] | None:
    """One person's row of a snapshot, as a dict."""
    with wh.reading() as con:
        cur = con.execute(f"SELECT * FROM {snapshot} WHERE person_id = ?", [person_id])
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def recent_events(
    wh: Warehouse, person_id: str, before_epoch: int, limit: int = 10
) -> list[dict[str, Any]]:
    """A person's latest events before a time, with the product's title and category."""
    cols = (
        "ts",
        "type",
        "product_id",
        "title",
        "category",
        "quantity",
        "price",
        "query",
        "channel",
    )
    ids = wh.fetchall(
        "SELECT id_kind, identifier FROM identity_map WHERE person_id = ?", [person_id]
    )
    users = [i for k, i in ids if k == "user"] or [person_id]
    anons = [i for k, i in ids if k == "anonymous"]
    # One equality scan per stored id: DuckDB pushes `col = constant` into the scan and skips
    # row groups by their min/max, where an IN (subquery) would join all events (300 ms on
    # 10M events against 19 ms). UNION drops an event found by both of its ids.
    scans = [
        (col, ident)
        for col, idents in (("user_id", users), ("anonymous_id", anons))
        for ident in idents
    ]
    union = " UNION ".join(
        "SELECT event_id, ts, type, product_id, quantity, price, query, channel "
        f"FROM events WHERE {col} = ? AND ts < to_timestamp(?)"
        for col, _ in scans
    )
    params: list[Any] = []
    for _, ident in scans:
        params += [ident, before_epoch]
    rows = wh.fetchall(
        f"""SELECT e.ts, e.type, e.product_id, p.title, p.category_l1, e.quantity, e.price,
                  e.query, e.channel
           FROM ({union}) e LEFT JOIN products p USING (product_id)
           ORDER BY e.ts DESC, e.event_id LIMIT ?""",
        [*params, limit],
    )
    return [{k: v for k, v in zip(cols, r, strict=True) if v is not None} for r in rows]


def has_table(wh: Warehouse, name: str) -> bool:
    return bool(
        wh.fetchone("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[
            0
        ]
    )
