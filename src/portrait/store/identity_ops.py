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


def record_phone_links(con: duckdb.DuckDBPyConnection, batch_id: str, now: datetime) -> int:
    """Link users who share a phone hash (groups larger than a family are ignored)."""
    return con.execute(
        f"""
        INSERT INTO identity_links
        SELECT 'user', u.user_id, f.first_user, 'same_phone', u.phone_hash, NULL, ?, ?
        FROM users u
        JOIN (SELECT phone_hash, min(user_id) AS first_user FROM users
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


def rebuild_map(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute identity_map from all links (inside the caller's transaction)."""
    user_links = con.execute(
        "SELECT from_id, to_user_id FROM identity_links WHERE from_kind = 'user'"
    ).fetchall()
    involved = sorted({u for pair in user_links for u in pair})
    rank: dict[str, tuple] = {}
    if involved:
        rows = con.execute(
            "SELECT user_id, registered_at FROM users WHERE user_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [involved],
        ).fetchall()
        rank = {u: ((0, r.isoformat()) if r is not None else (1,)) for u, r in rows}
    person = merge_users(user_links, rank)
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
            }
            for r in links
        ],
        "conflicts": [{"anonymous_id": c[0], "seen_with_users": list(c[1])} for c in conflicts],
    }
