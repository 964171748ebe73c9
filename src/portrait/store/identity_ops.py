"""Identity links and the resolved identity map, kept in the warehouse.

The resolution rules live in :mod:`portrait.identity.graph` (pure); this module only reads the
evidence, calls them and writes the result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from portrait.identity.graph import merge_users

# More users than this behind one phone is a placeholder number, not one person.
MAX_USERS_PER_PHONE = 5

# identity.auto_merge: which ingested phones link users into one person.
AUTO_MERGE_MODES = ("trusted", "all", "off")


def record_links_from_events(con: duckdb.DuckDBPyConnection, batch_id: str, now: datetime) -> int:
    """Link every anonymous id to the users it was seen with in the staged batch."""
    return con.execute(
        """
        INSERT INTO identity_links
        SELECT 'anonymous', s.anonymous_id, s.user_id, 'seen_together',
               arg_min(s.event_id, s.ts), min(s.ts), ?, ?
        FROM _stage s
        WHERE s._reason IS NULL AND s.user_id IS NOT NULL AND s.anonymous_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM identity_links l WHERE l.from_kind = 'anonymous'
                          AND l.from_id = s.anonymous_id AND l.to_user_id = s.user_id)
        GROUP BY s.anonymous_id, s.user_id
        """,
        [batch_id, now],
    ).fetchall()[0][0]


def record_phone_links(
    con: duckdb.DuckDBPyConnection,
    batch_id: str,
    now: datetime,
    trusted: bool = True,
    mode: str = "all",
) -> int:
    """Link users who share a phone hash (groups larger than a family are ignored).

    ``mode`` is ``identity.auto_merge``: ``all`` links on every stored phone, whoever sent it;
    ``trusted`` only on phones sent by a trusted sender (the CLI, Python, a key that may merge:
    kept in ``identity_phones``), so an ingest key cannot merge persons by posting a phone;
    ``off`` links nobody. A trusted batch's phones are kept in ``identity_phones`` whatever the
    mode. Runs inside the loader's transaction, with the batch staged in ``_stage``.
    """
    if mode not in AUTO_MERGE_MODES:
        raise ValueError(f"identity.auto_merge is {mode!r}; use one of {AUTO_MERGE_MODES}")
    if trusted:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _trusted_phones AS
            SELECT user_id, phone_hash FROM _stage
            WHERE _reason IS NULL AND phone_hash IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY _row DESC) = 1
            """
        )
        con.execute(
            "DELETE FROM identity_phones WHERE user_id IN (SELECT user_id FROM _trusted_phones)"
        )
        con.execute(
            "INSERT INTO identity_phones SELECT user_id, phone_hash, ?, ? FROM _trusted_phones",
            [batch_id, now],
        )
        con.execute("DROP TABLE _trusted_phones")
    if mode == "off" or (mode == "trusted" and not trusted):
        return 0
    phones = "users" if mode == "all" else "identity_phones"
    return con.execute(
        f"""
        INSERT INTO identity_links
        SELECT 'user', u.user_id, f.first_user, 'same_phone', u.phone_hash, NULL, ?, ?
        FROM {phones} u
        JOIN (SELECT phone_hash, min(user_id) AS first_user FROM {phones}
              WHERE phone_hash IS NOT NULL GROUP BY phone_hash
              HAVING count(*) BETWEEN 2 AND {MAX_USERS_PER_PHONE}) f USING (phone_hash)
        WHERE u.user_id <> f.first_user
          AND NOT EXISTS (SELECT 1 FROM identity_links l WHERE l.from_kind = 'user'
                          AND l.from_id = u.user_id AND l.to_user_id = f.first_user
                          AND l.rule = 'same_phone')
        """,
        [batch_id, now],
    ).fetchall()[0][0]


def add_explicit_merge(
    con: duckdb.DuckDBPyConnection, user_a: str, user_b: str, reason: str
) -> None:
    con.execute(
        "INSERT INTO identity_links VALUES ('user', ?, ?, 'explicit_merge', ?, NULL, NULL, ?)",
        [user_a, user_b, reason, datetime.now(UTC)],
    )


def add_unmerge(
    con: duckdb.DuckDBPyConnection, user_id: str, reason: str, actor: str | None
) -> list[str]:
    """Record that ``user_id`` is apart from every other user of its person now; returns
    those users (none: it was not merged). The caller rebuilds the map."""
    others = [
        r[0]
        for r in con.execute(
            "SELECT identifier FROM identity_map WHERE id_kind = 'user' AND identifier <> ? "
            "AND person_id = (SELECT person_id FROM identity_map "
            "                 WHERE id_kind = 'user' AND identifier = ?) ORDER BY 1",
            [user_id, user_id],
        ).fetchall()
    ]
    now = datetime.now(UTC)
    if others:
        con.executemany(
            "INSERT INTO identity_unmerges VALUES (?, ?, ?, ?, ?)",
            [[user_id, other, reason, actor, now] for other in others],
        )
    return others


def _user_links(con: duckdb.DuckDBPyConnection) -> tuple[list, set, list]:
    """(links, forced, apart) for :func:`portrait.identity.graph.merge_users`: user links
    in the order they were made; the explicit merges made after every unmerge of their users
    (an admin's newer word: they hold across an unmerge); the pairs kept apart."""
    links = con.execute(
        "SELECT from_id, to_user_id, rule, linked_at FROM identity_links "
        "WHERE from_kind = 'user' ORDER BY linked_at, from_id, to_user_id"
    ).fetchall()
    unmerges = con.execute(
        "SELECT user_id, other_user_id, unmerged_at FROM identity_unmerges"
    ).fetchall()
    last_unmerge: dict[str, datetime] = {}
    for a, b, at in unmerges:
        for u in (a, b):
            if u not in last_unmerge or at > last_unmerge[u]:
                last_unmerge[u] = at
    forced = {
        (a, b)
        for a, b, rule, at in links
        if rule == "explicit_merge"
        and any(u in last_unmerge for u in (a, b))
        and all(at > last_unmerge[u] for u in (a, b) if u in last_unmerge)
    }
    return [(a, b) for a, b, _, _ in links], forced, [(a, b) for a, b, _ in unmerges]


def rebuild_map(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute identity_map from all links and unmerges (inside the caller's
    transaction)."""
    user_links, forced, apart = _user_links(con)
    involved = sorted({u for pair in user_links for u in pair})
    rank: dict[str, tuple] = {}
    if involved:
        rows = con.execute(
            "SELECT user_id, registered_at FROM users WHERE user_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [involved],
        ).fetchall()
        rank = {u: ((0, r.isoformat()) if r is not None else (1,)) for u, r in rows}
    person = merge_users(user_links, rank, apart=apart, forced=forced)
    user_map = pa.table(
        {
            "identifier": pa.array(list(person), pa.string()),
            "person_id": pa.array(list(person.values()), pa.string()),
        }
    )
    con.register("_user_map", user_map)
    try:
        con.execute("DELETE FROM identity_map")
        con.execute(
            "INSERT INTO identity_map SELECT identifier, 'user', person_id, false FROM _user_map"
        )
        con.execute(
            """
            INSERT INTO identity_map
            WITH a AS (
              SELECT l.from_id AS anon, coalesce(m.person_id, l.to_user_id) AS person,
                     min(coalesce(l.first_seen, l.linked_at)) AS first_seen
              FROM identity_links l LEFT JOIN _user_map m ON m.identifier = l.to_user_id
              WHERE l.from_kind = 'anonymous' GROUP BY 1, 2)
            SELECT anon, 'anonymous', arg_min(person, first_seen), count(*) > 1
            FROM a GROUP BY anon
            """
        )
    finally:
        con.unregister("_user_map")


def refresh_anonymous(con: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """Re-resolve only the anonymous ids that gained links in ``batch_id``.

    Events never add user-to-user links, so the people stay as they are and only the devices
    seen in the batch need their person again; a full rebuild per HTTP commit would grow with
    every device ever seen.
    """
    touched = (
        "SELECT DISTINCT from_id FROM identity_links WHERE batch_id = ? AND from_kind = 'anonymous'"
    )
    con.execute(
        f"DELETE FROM identity_map WHERE id_kind = 'anonymous' AND identifier IN ({touched})",
        [batch_id],
    )
    con.execute(
        f"""
        INSERT INTO identity_map
        WITH a AS (
          SELECT l.from_id AS anon, coalesce(m.person_id, l.to_user_id) AS person,
                 min(coalesce(l.first_seen, l.linked_at)) AS first_seen
          FROM identity_links l
          LEFT JOIN identity_map m ON m.id_kind = 'user' AND m.identifier = l.to_user_id
          WHERE l.from_kind = 'anonymous' AND l.from_id IN ({touched})
          GROUP BY 1, 2)
        SELECT anon, 'anonymous', arg_min(person, first_seen), count(*) > 1
        FROM a GROUP BY anon
        """,
        [batch_id],
    )


def identity_report(con: duckdb.DuckDBPyConnection, identifier: str) -> dict[str, Any] | None:
    """Everything known about the person behind ``identifier`` (a user or anonymous id)."""
    rows = con.execute(
        "SELECT person_id FROM identity_map WHERE identifier = ? ORDER BY id_kind DESC LIMIT 1",
        [identifier],
    ).fetchall()
    if rows:
        person = rows[0][0]
    else:
        known = con.execute(
            "SELECT (SELECT count(*) FROM users WHERE user_id = ?) + "
            "(SELECT count(*) FROM events WHERE user_id = ?)",
            [identifier, identifier],
        ).fetchall()[0][0]
        anon = con.execute(
            "SELECT count(*) FROM events WHERE anonymous_id = ?", [identifier]
        ).fetchall()[0][0]
        if not known and not anon:
            return None
        if not known:
            return {
                "person_id": None,
                "identifier": identifier,
                "anonymous_only": True,
                "identifiers": [
                    {
                        "identifier": identifier,
                        "kind": "anonymous",
                        "events": anon,
                        "conflict": False,
                    }
                ],
                "links": [],
                "conflicts": [],
                "unmerges": [],
            }
        person = identifier
    members = con.execute(
        "SELECT identifier, id_kind, conflict FROM identity_map WHERE person_id = ? "
        "UNION SELECT ?, 'user', false ORDER BY 2 DESC, 1",
        [person, person],
    ).fetchall()
    users = [m[0] for m in members if m[1] == "user"]
    anons = [m[0] for m in members if m[1] == "anonymous"]
    counts = dict(
        con.execute(
            "SELECT 'user:' || user_id, count(*) FROM events WHERE user_id IN "
            "(SELECT unnest(?::VARCHAR[])) GROUP BY 1 UNION ALL "
            "SELECT 'anonymous:' || anonymous_id, count(*) FROM events WHERE anonymous_id IN "
            "(SELECT unnest(?::VARCHAR[])) GROUP BY 1",
            [users, anons or [""]],
        ).fetchall()
    )
    links = con.execute(
        "SELECT from_kind, from_id, to_user_id, rule, evidence, first_seen, batch_id, linked_at "
        "FROM identity_links WHERE from_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR to_user_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY linked_at, from_id",
        [users + anons, users],
    ).fetchall()
    linked_users = sorted({u for r in links if r[0] == "user" for u in (r[1], r[2])})
    person_of = dict(
        con.execute(
            "SELECT identifier, person_id FROM identity_map WHERE id_kind = 'user' "
            "AND identifier IN (SELECT unnest(?::VARCHAR[]))",
            [linked_users or [""]],
        ).fetchall()
    )
    unmerges = con.execute(
        "SELECT user_id, other_user_id, reason, actor, unmerged_at FROM identity_unmerges "
        "WHERE user_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR other_user_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY unmerged_at, 1, 2",
        [users, users],
    ).fetchall()
    conflicts = con.execute(
        "SELECT from_id, list(DISTINCT to_user_id ORDER BY to_user_id) FROM identity_links "
        "WHERE from_kind = 'anonymous' AND from_id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY from_id HAVING count(DISTINCT to_user_id) > 1",
        [anons or [""]],
    ).fetchall()
    return {
        "person_id": person,
        "identifier": identifier,
        "anonymous_only": False,
        "identifiers": [
            {
                "identifier": m[0],
                "kind": m[1],
                "conflict": bool(m[2]),
                "events": counts.get(f"{m[1]}:{m[0]}", 0),
            }
            for m in members
        ],
        "links": [
            {
                "from_kind": r[0],
                "from_id": r[1],
                "to_user_id": r[2],
                "rule": r[3],
                "evidence": r[4],
                "first_seen": r[5].isoformat() if r[5] else None,
                "batch_id": r[6],
                "linked_at": r[7].isoformat(),
                # false: a user link an unmerge set aside (its users are two persons)
                "in_effect": r[0] != "user"
                or person_of.get(r[1], r[1]) == person_of.get(r[2], r[2]),
            }
            for r in links
        ],
        "conflicts": [{"anonymous_id": c[0], "seen_with_users": list(c[1])} for c in conflicts],
        "unmerges": [
            {
                "user_id": u[0],
                "apart_from": u[1],
                "reason": u[2],
                "actor": u[3],
                "unmerged_at": u[4].isoformat(),
            }
            for u in unmerges
        ],
    }
