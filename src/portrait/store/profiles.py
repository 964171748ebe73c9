"""Profile storage: build snapshots, the build log, tag versions and per-build tag statistics.

A build writes one wide table per build date, ``snapshots.profile_YYYYMMDD`` (one row per
person, one column per tag). The *live* build is the latest build of the newest date whose
snapshot is stored (``live_build``): what every read without a date answers from, and what the
``profile`` view points at. A build of an earlier date is kept beside it, read by its date.
The engine hands over flat columns (epoch seconds for times, ``tag__k0``/``tag__w0`` for top-N
lists); ``snapshot_select`` turns them into the stored types. ``tag_values`` is the long view of the
current profile: one row per (person, tag) with a value, and the version that produced it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from portrait.store.warehouse import Warehouse
from portrait.tags.model import TagDef

NUMERIC = {"int", "float", "timestamp"}
CATEGORICAL = {"enum", "bool", "text"}


def snapshot_name(as_of_text: str) -> str:
    return "snapshots.profile_" + as_of_text.replace("-", "")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def snapshot_select(tags: Sequence[TagDef], relation: str) -> str:
    """SELECT turning the engine's flat columns into stored types (lists, timestamps)."""
    cols = ["person_id"]
    for t in tags:
        if t.type == "top":
            n = t.top_n
            items = ", ".join(
                f"{{'key': {_q(f'{t.id}__k{i}')}, 'weight': CAST({_q(f'{t.id}__w{i}')} AS DOUBLE)}}"
                for i in range(n)
            )
            cols.append(
                f"CASE WHEN {_q(f'{t.id}__k0')} IS NULL THEN NULL "
                f"ELSE list_filter([{items}], lambda x: x.key IS NOT NULL) END AS {_q(t.id)}"
            )
        elif t.type == "timestamp":
            cols.append(f"to_timestamp(CAST({_q(t.id)} AS BIGINT)) AS {_q(t.id)}")
        else:
            sql_type = {
                "bool": "BOOLEAN",
                "int": "BIGINT",
                "float": "DOUBLE",
                "enum": "VARCHAR",
                "text": "VARCHAR",
                "date": "DATE",
            }[t.type]
            cols.append(f"CAST({_q(t.id)} AS {sql_type}) AS {_q(t.id)}")
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
                cols.append(f"{_q(t.id)}[{i + 1}].key AS {_q(f'{t.id}__k{i}')}")
                cols.append(f"{_q(t.id)}[{i + 1}].weight AS {_q(f'{t.id}__w{i}')}")
        elif t.type == "timestamp":
            cols.append(f"CAST(epoch({_q(t.id)}) AS BIGINT) AS {_q(t.id)}")
        else:
            cols.append(_q(t.id))
    return f"SELECT {', '.join(cols)} FROM {relation}"


def record_versions(wh: Warehouse, tags: Sequence[TagDef], build_id: str, now: Any) -> dict:
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
    wh.con.executemany(
        "INSERT INTO tag_build_tags VALUES (?, ?, ?)", [[build_id, k, v] for k, v in used.items()]
    )
    return used


def point_current(wh: Warehouse, tags: Sequence[TagDef], snapshot: str, build_id: str) -> None:
    """Point ``profile`` and ``tag_values`` at a build's snapshot."""
    wh.execute(f"CREATE OR REPLACE VIEW profile AS SELECT * FROM {snapshot}")
    parts = []
    for t in tags:
        value = (
            f"CAST(to_json({_q(t.id)}) AS VARCHAR)"
            if t.type == "top"
            else f"CAST({_q(t.id)} AS VARCHAR)"
        )
        parts.append(
            f"SELECT person_id, '{t.id}' AS tag_id, {value} AS value FROM {snapshot} "
            f"WHERE {_q(t.id)} IS NOT NULL"
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


def compute_stats(wh: Warehouse, tags: Sequence[TagDef], snapshot: str, build_id: str) -> None:
    """Coverage and distribution of every tag of a snapshot, in a few passes."""
    persons = wh.fetchone(f"SELECT count(*) FROM {snapshot}")[0]
    aggs = []
    for t in tags:
        c = _q(t.id)
        if t.type == "top":
            aggs.append(f"count({c})")
            aggs += ["NULL", "NULL", "NULL", "NULL", "NULL"]
            continue
        aggs.append(f"count({c})")
        if t.type in NUMERIC:
            x = f"epoch({c})" if t.type == "timestamp" else f"CAST({c} AS DOUBLE)"
            aggs += [f"avg({x})", f"stddev_samp({x})", f"min({x})", f"median({x})", f"max({x})"]
        else:
            aggs += ["NULL", "NULL", "NULL", "NULL", "NULL"]
    row = wh.fetchone(f"SELECT {', '.join(aggs) or '1'} FROM {snapshot}") if tags else ()
    records = []
    for i, t in enumerate(tags):
        non_null, mean, sd, lo, med, hi = row[i * 6 : i * 6 + 6]
        dist = None
        if t.type in CATEGORICAL and non_null:
            dist = _distribution(wh, snapshot, _q(t.id), non_null)
        elif t.type == "top" and non_null:
            dist = _distribution(wh, snapshot, f"{_q(t.id)}[1].key", non_null)
        cov = non_null / persons if persons else 0.0
        records.append([build_id, t.id, persons, non_null, cov, mean, sd, lo, med, hi, dist])
    wh.con.executemany("INSERT INTO tag_stats VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", records)


def _distribution(wh: Warehouse, snapshot: str, expr: str, non_null: int, k: int = 12) -> str:
    rows = wh.fetchall(
        f"SELECT CAST({expr} AS VARCHAR) AS v, count(*) AS n FROM {snapshot} "
        f"WHERE {expr} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT {k}"
    )
    return json.dumps({str(v): round(n / non_null, 6) for v, n in rows}, ensure_ascii=False)


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
        wh.execute(f"DROP TABLE IF EXISTS snapshots.{_q(name)}")
    return names


def drop_old_snapshots(wh: Warehouse, keep: int) -> list[str]:
    """Drop snapshot tables beyond the ``keep`` most recently built dates, never the live one."""
    rows = wh.fetchall(
        "SELECT snapshot, max(finished_at) AS f FROM tag_builds GROUP BY snapshot ORDER BY f DESC"
    )
    dropped = []
    existing = {r[0] for r in wh.fetchall(STORED_SNAPSHOTS)}
    live = live_build(wh)
    for snapshot, _ in rows[keep:]:
        if snapshot in existing and (live is None or snapshot != live["snapshot"]):
            wh.execute(f"DROP TABLE {snapshot}")
            dropped.append(snapshot)
    return dropped


# --- reading --------------------------------------------------------------------------------
BUILD_COLUMNS = (
    "build_id", "as_of", "timezone", "backend", "mode", "catalog_fingerprint", "snapshot",
    "persons", "recomputed", "events_seen", "started_at", "finished_at", "seconds",
)  # fmt: skip


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


def builds(wh: Warehouse, limit: int = 20, as_of: str | None = None) -> list[dict[str, Any]]:
    """Builds, latest finished first (only those of ``as_of`` when given); ``live`` marks the
    live one."""
    where = "WHERE as_of = CAST(? AS DATE)" if as_of else ""
    rows = wh.fetchall(
        f"SELECT {', '.join(BUILD_COLUMNS)} FROM tag_builds {where} "
        "ORDER BY finished_at DESC LIMIT ?",
        [as_of, limit] if as_of else [limit],
    )
    live = live_build(wh) if rows else None
    out = [dict(zip(BUILD_COLUMNS, r, strict=True)) for r in rows]
    for b in out:
        b["live"] = live is not None and b["build_id"] == live["build_id"]
    return out


def live_build(wh: Warehouse) -> dict[str, Any] | None:
    """The live build: the latest of the newest date with a stored snapshot (None before any)."""
    row = wh.fetchone(f"SELECT {', '.join(BUILD_COLUMNS)} {_READABLE}{_NEWEST_FIRST} LIMIT 1")
    return dict(zip(BUILD_COLUMNS, row, strict=True)) if row else None


def build_of(wh: Warehouse, as_of: str | None = None) -> dict[str, Any] | None:
    """The build a read answers from: the live one, or with ``as_of`` the latest build of that
    date (None when that date's snapshot is not stored)."""
    if as_of is None:
        return live_build(wh)
    row = wh.fetchone(
        f"SELECT {', '.join(BUILD_COLUMNS)} {_READABLE}AND as_of = CAST(? AS DATE) "
        f"{_NEWEST_FIRST} LIMIT 1",
        [as_of],
    )
    return dict(zip(BUILD_COLUMNS, row, strict=True)) if row else None


def stored_dates(wh: Warehouse) -> list[str]:
    """The dates whose profile can be read (their snapshot is stored), newest first."""
    rows = wh.fetchall(f"SELECT DISTINCT as_of {_READABLE}ORDER BY as_of DESC")
    return [str(r[0]) for r in rows]


def is_newest(wh: Warehouse, as_of: str) -> bool:
    """Whether a build of ``as_of`` made now is live: no stored build has a later date."""
    row = wh.fetchone(f"SELECT count(*) {_READABLE}AND as_of > CAST(? AS DATE)", [as_of])
    return row is None or row[0] == 0


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


def stats(wh: Warehouse, build_id: str) -> dict[str, dict[str, Any]]:
    """Per-tag statistics of a build."""
    cols = (
        "persons",
        "non_null",
        "coverage",
        "mean",
        "stddev",
        "min",
        "p50",
        "max",
        "distribution",
    )
    rows = wh.fetchall(
        f"SELECT tag_id, {', '.join(cols)} FROM tag_stats WHERE build_id = ?", [build_id]
    )
    out = {}
    for r in rows:
        d = dict(zip(cols, r[1:], strict=True))
        d["distribution"] = json.loads(d["distribution"]) if d["distribution"] else None
        out[r[0]] = d
    return out


def tag_versions(wh: Warehouse, tag_id: str) -> list[dict[str, Any]]:
    rows = wh.fetchall(
        "SELECT version, fingerprint, definition, created_at FROM tag_versions "
        "WHERE tag_id = ? ORDER BY version DESC",
        [tag_id],
    )
    return [
        {"version": v, "fingerprint": f, "definition": json.loads(d), "created_at": c}
        for v, f, d, c in rows
    ]


def build_versions(wh: Warehouse, build_id: str) -> dict[str, int]:
    rows = wh.fetchall("SELECT tag_id, version FROM tag_build_tags WHERE build_id = ?", [build_id])
    return dict(rows)


def agreement(wh: Warehouse, snapshot: str, a: str, b: str) -> tuple[int, float | None]:
    """Persons with both tags set, and the share on which they agree."""
    n, same = wh.fetchone(
        f"SELECT count(*), avg(CASE WHEN CAST({_q(a)} AS VARCHAR) = CAST({_q(b)} AS VARCHAR) "
        f"THEN 1.0 ELSE 0.0 END) FROM {snapshot} WHERE {_q(a)} IS NOT NULL AND {_q(b)} IS NOT NULL"
    )
    return n, same


# --- simulator ground truth -----------------------------------------------------------------
def has_table(wh: Warehouse, name: str) -> bool:
    return bool(
        wh.fetchone("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])[
            0
        ]
    )


def persona_confusion(
    wh: Warehouse, snapshot: str, tag: str, label: str
) -> tuple[int, int, int, int, int, int]:
    """(truth users, with evidence, tp, fp, fn among those with evidence, truth positives)."""
    return wh.fetchone(
        f"""SELECT count(*),
                   count(p.{_q(tag)}),
                   count(*) FILTER (p.{_q(tag)} AND list_contains(t.personas, ?)),
                   count(*) FILTER (p.{_q(tag)} AND NOT list_contains(t.personas, ?)),
                   count(*) FILTER (NOT p.{_q(tag)} AND list_contains(t.personas, ?)),
                   count(*) FILTER (list_contains(t.personas, ?))
            FROM truth_users t JOIN {snapshot} p ON p.person_id = t.user_id""",
        [label, label, label, label],
    )


def affinity_hits(
    wh: Warehouse, snapshot: str, tag: str, min_orders: int
) -> tuple[int, float | None, float | None]:
    """Users with min_orders+ orders; share whose true top category is in the tag's top-N
    list, and share for whom it is the first."""
    return wh.fetchone(
        f"""SELECT count(*),
                   avg(CASE WHEN list_contains(list_transform(p.{_q(tag)}, lambda x: x.key),
                                               t.top_category) THEN 1.0 ELSE 0.0 END),
                   avg(CASE WHEN p.{_q(tag)}[1].key = t.top_category THEN 1.0 ELSE 0.0 END)
            FROM truth_users t JOIN {snapshot} p ON p.person_id = t.user_id
            WHERE p.orders_total >= ?""",
        [min_orders],
    )
