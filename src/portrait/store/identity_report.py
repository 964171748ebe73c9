"""Read everything the warehouse knows about one person: the identity report."""

from __future__ import annotations

from typing import Any

import duckdb

from portrait.identity.results import (
    IdentifierInfo,
    IdentityConflict,
    IdentityLink,
    IdentityReport,
    Unmerge,
)
from portrait.store.warehouse import Warehouse


def identity_report(wh: Warehouse, identifier: str) -> IdentityReport | None:
    """Everything known about the person behind ``identifier`` (a user or anonymous id);
    None when no user, event or device has it."""
    with wh.reading() as con:
        return _report(con, identifier)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def _report(con: duckdb.DuckDBPyConnection, identifier: str) -> IdentityReport | None:
    rows = _rows(
        con,
        "SELECT person_id FROM identity_map WHERE identifier = ? ORDER BY id_kind DESC LIMIT 1",
        [identifier],
    )
    if rows:
        return _person_report(con, identifier, rows[0][0])
    known = _rows(
        con,
        "SELECT (SELECT count(*) FROM users WHERE user_id = ?) + "
        "(SELECT count(*) FROM events WHERE user_id = ?)",
        [identifier, identifier],
    )[0][0]
    if known:
        return _person_report(con, identifier, identifier)
    anon = _rows(con, "SELECT count(*) FROM events WHERE anonymous_id = ?", [identifier])[0][0]
    if not anon:
        return None
    return IdentityReport(
        person_id=None,
        identifier=identifier,
        anonymous_only=True,
        identifiers=[
            IdentifierInfo(identifier=identifier, kind="anonymous", events=anon, conflict=False)
        ],
        links=[],
        conflicts=[],
        unmerges=[],
    )


def _person_report(con: duckdb.DuckDBPyConnection, identifier: str, person: str) -> IdentityReport:
    members = _rows(
        con,
        "SELECT identifier, id_kind, conflict FROM identity_map WHERE person_id = ? "
        "UNION SELECT ?, 'user', false ORDER BY 2 DESC, 1",
        [person, person],
    )
    users = [m[0] for m in members if m[1] == "user"]
    anons = [m[0] for m in members if m[1] == "anonymous"]
    counts = dict(
        _rows(
            con,
            "SELECT 'user:' || user_id, count(*) FROM events WHERE user_id IN "
            "(SELECT unnest(?::VARCHAR[])) GROUP BY 1 UNION ALL "
            "SELECT 'anonymous:' || anonymous_id, count(*) FROM events WHERE anonymous_id IN "
            "(SELECT unnest(?::VARCHAR[])) GROUP BY 1",
            [users, anons or [""]],
        )
    )
    return IdentityReport(
        person_id=person,
        identifier=identifier,
        anonymous_only=False,
        identifiers=[
            IdentifierInfo(
                identifier=m[0],
                kind=m[1],
                conflict=bool(m[2]),
                events=counts.get(f"{m[1]}:{m[0]}", 0),
            )
            for m in members
        ],
        links=_links(con, users, anons),
        conflicts=_conflicts(con, anons),
        unmerges=_unmerges(con, users),
    )


def _links(
    con: duckdb.DuckDBPyConnection, users: list[str], anons: list[str]
) -> list[IdentityLink]:
    links = _rows(
        con,
        "SELECT from_kind, from_id, to_user_id, rule, evidence, first_seen, batch_id, linked_at "
        "FROM identity_links WHERE from_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR to_user_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY linked_at, from_id",
        [users + anons, users],
    )
    linked_users = sorted({u for r in links if r[0] == "user" for u in (r[1], r[2])})
    person_of = dict(
        _rows(
            con,
            "SELECT identifier, person_id FROM identity_map WHERE id_kind = 'user' "
            "AND identifier IN (SELECT unnest(?::VARCHAR[]))",
            [linked_users or [""]],
        )
    )
    return [
        IdentityLink(
            from_kind=r[0],
            from_id=r[1],
            to_user_id=r[2],
            rule=r[3],
            evidence=r[4],
            first_seen=r[5],
            batch_id=r[6],
            linked_at=r[7],
            in_effect=r[0] != "user" or person_of.get(r[1], r[1]) == person_of.get(r[2], r[2]),
        )
        for r in links
    ]


def _conflicts(con: duckdb.DuckDBPyConnection, anons: list[str]) -> list[IdentityConflict]:
    rows = _rows(
        con,
        "SELECT from_id, list(DISTINCT to_user_id ORDER BY to_user_id) FROM identity_links "
        "WHERE from_kind = 'anonymous' AND from_id IN (SELECT unnest(?::VARCHAR[])) "
        "GROUP BY from_id HAVING count(DISTINCT to_user_id) > 1",
        [anons or [""]],
    )
    return [IdentityConflict(anonymous_id=c[0], seen_with_users=list(c[1])) for c in rows]


def _unmerges(con: duckdb.DuckDBPyConnection, users: list[str]) -> list[Unmerge]:
    rows = _rows(
        con,
        "SELECT user_id, other_user_id, reason, actor, unmerged_at FROM identity_unmerges "
        "WHERE user_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR other_user_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY unmerged_at, 1, 2",
        [users, users],
    )
    return [
        Unmerge(user_id=u[0], apart_from=u[1], reason=u[2], actor=u[3], unmerged_at=u[4])
        for u in rows
    ]
