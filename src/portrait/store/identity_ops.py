"""Identity links and the resolved identity map, kept in the warehouse.

The resolution rules live in :mod:`portrait.identity.graph` (pure); this module only reads the
evidence, calls them and writes the result.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from portrait.identity.graph import merge_users
from portrait.store.warehouse import Warehouse

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


def is_known_user(wh: Warehouse, user_id: str) -> bool:
    """Whether a stored user or event carries ``user_id``."""
    row = wh.fetchone(
        "SELECT (SELECT count(*) FROM users WHERE user_id = ?) "
        "+ (SELECT count(*) FROM events WHERE user_id = ?)",
        [user_id, user_id],
    )
    return bool(row and row[0])


def a_merged_person(wh: Warehouse) -> str | None:
    """Some person who merges several user ids (the demo names one to look at)."""
    row = wh.fetchone(
        "SELECT person_id FROM identity_map WHERE id_kind = 'user' "
        "AND identifier <> person_id ORDER BY person_id LIMIT 1"
    )
    return row[0] if row else None


def merge(wh: Warehouse, user_a: str, user_b: str, reason: str) -> None:
    """Record an explicit merge of two users and resolve the identity map again."""
    with wh.transaction() as con:
        add_explicit_merge(con, user_a, user_b, reason)
        rebuild_map(con)


def unmerge(wh: Warehouse, user_id: str, reason: str, actor: str | None) -> list[str]:
    """Keep ``user_id`` apart from every user of its person now and resolve the map again;
    returns those users (none: it was not merged, and nothing changed)."""
    with wh.transaction() as con:
        apart = add_unmerge(con, user_id, reason, actor)
        if apart:
            rebuild_map(con)
    return apart


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
