"""Erasing one person from the warehouse (``ws.privacy.forget``), in one transaction.

The person is the canonical person a user id resolves to (``identity_map``); their identifiers
are every user id and anonymous (device) id mapped to them, and anonymous ids only seen with
their user ids. :func:`erase` then, inside one transaction:

- keeps what campaign reports read of them (``erased_campaign_events``) and replaces them in
  the campaign ledger (assignments, sends, journey entries) by a random token no identifier
  maps to: address, rendered message and provider id dropped, a queued send withdrawn;
- gives their dense segment id (``segment_person_ids``) to the token (a pid is never reused),
  removes it from every stored membership bitmap (sizes fixed) and drops the bitmap index
  (derived from the snapshots: the next count or build makes it again without them);
- deletes every row of every table (snapshots of every build included) whose person column
  (``PERSON_COLUMNS``) holds one of the identifiers, and the events only a shared device id
  (seen with several persons) ties to them;
- records each identifier's keyed pseudonym (tombstone) so ingest refuses it from then on.

Quarantined records are the quarantine module's (``erase_mentions``, after the commit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

import duckdb
import pyarrow as pa
from pyroaring import BitMap

from portrait.security import erasure_key
from portrait.store.erasure_ledger import IDS as _IDS
from portrait.store.erasure_ledger import keep_campaign_events, new_token, tokenize
from portrait.store.warehouse import Warehouse

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher
    from portrait.security.secrets import WorkspaceSecret

# Columns that name a person by one of their identifiers, in any table.
PERSON_COLUMNS = (
    "person_id", "user_id", "anonymous_id", "identifier", "from_id", "to_user_id",
    "other_user_id",
)  # fmt: skip
# Columns of someone else's row that refer to the person (a referral's target, a data set's
# ground truth): the reference is cleared, the row kept.
REFERENCE_COLUMNS = ("target_user_id", "same_person_as")
# Tables whose rows are kept under the person's token rather than deleted.
TOKENIZED = ("campaign_assignments", "campaign_sends", "journey_entries", "segment_person_ids")
INDEX_TABLES = ("segment_index_bitmaps", "segment_index_tags", "segment_index_builds")


@dataclass
class Person:
    """Who an erasure is about: the canonical person and every identifier tied to them."""

    person_id: str
    user_ids: list[str]
    anonymous_ids: list[str]
    shared_anonymous: list[str] = field(default_factory=list)  # seen with other persons too
    pids: list[int] = field(default_factory=list)  # dense segment ids (the canonical's first)

    @property
    def pid(self) -> int | None:
        return self.pids[0] if self.pids else None

    @property
    def identifiers(self) -> list[str]:
        return sorted({self.person_id, *self.user_ids, *self.anonymous_ids})


@dataclass
class Erased:
    """What :func:`erase` removed: rows per table, and what it kept under the token."""

    removed: dict[str, int]
    tokenized: dict[str, int]
    bitmaps_updated: int
    index_dropped: bool
    quarantine: int = 0


def resolve(wh: Warehouse, user_id: str) -> Person | None:
    """The person ``user_id`` (or an anonymous id) belongs to, with every identifier tied to
    them; None when the warehouse does not know it."""
    row = wh.fetchone(
        "SELECT person_id FROM identity_map WHERE identifier = ? AND (id_kind = 'user' OR "
        "NOT conflict) ORDER BY id_kind = 'user' DESC LIMIT 1",
        [user_id],
    )
    if row is not None:
        person = row[0]
    elif wh.fetchone(
        "SELECT 1 FROM users WHERE user_id = $1 UNION ALL SELECT 1 FROM events "
        "WHERE user_id = $1 OR anonymous_id = $1 LIMIT 1",
        [user_id],
    ):
        person = user_id
    else:
        return None
    mapped = wh.fetchall(
        "SELECT identifier, id_kind, conflict FROM identity_map WHERE person_id = ?", [person]
    )
    users = {person, *(i for i, k, _ in mapped if k == "user")}
    if user_id not in {i for i, *_ in mapped} and user_id != person:
        users.add(user_id)
    anonymous = {i for i, k, c in mapped if k == "anonymous" and not c}
    shared = {i for i, k, c in mapped if k == "anonymous" and c}
    # devices seen with their user ids that no one else's map claims
    with_ids(wh, sorted(users))
    try:
        seen = wh.fetchall(
            f"SELECT DISTINCT e.anonymous_id FROM events e JOIN {_IDS} i ON e.user_id = i.id "
            "WHERE e.anonymous_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM identity_map m "
            "WHERE m.id_kind = 'anonymous' AND m.identifier = e.anonymous_id "
            "AND m.person_id <> ?)",
            [person],
        )
    finally:
        wh.unregister(_IDS)
    anonymous |= {r[0] for r in seen} - shared
    found = Person(person, sorted(users), sorted(anonymous - users), sorted(shared))
    # a dense id of each id that was a person of its own in a build (before a merge, say)
    rows = wh.fetchall(
        "SELECT pid FROM segment_person_ids WHERE list_contains(?, person_id) "
        "ORDER BY person_id <> ?, pid",
        [found.identifiers, person],
    )
    found.pids = [int(r[0]) for r in rows]
    return found


def with_ids(wh: Warehouse, ids: list[str]) -> None:
    wh.register(_IDS, pa.table({"id": pa.array(ids, pa.string())}))


_TABLES_WITH = (
    "SELECT c.table_schema, c.table_name, list(c.column_name ORDER BY c.ordinal_position) "
    "FROM information_schema.columns c JOIN information_schema.tables t "
    "USING (table_catalog, table_schema, table_name) "
    "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
    "AND list_contains(?, c.column_name) AND c.data_type = 'VARCHAR' "
    "GROUP BY 1, 2 ORDER BY 1, 2"
)


def person_tables(
    con: duckdb.DuckDBPyConnection, names: Sequence[str] = PERSON_COLUMNS
) -> list[tuple[str, list[str]]]:
    """Every base table (any schema) with columns of these ``names``: (qualified name, them)."""
    rows = con.execute(_TABLES_WITH, [list(names)]).fetchall()
    return [(f'"{s}"."{t}"', list(cols)) for s, t, cols in rows]


def _drop_pids(con: duckdb.DuckDBPyConnection, pids: list[int]) -> int:
    """Remove ``pids`` from every stored membership bitmap (fixing sizes); bitmaps changed."""
    if not pids:
        return 0
    changed = 0
    keys = [r[0] for r in con.execute("SELECT member_key FROM segment_members").fetchall()]
    for key in keys:
        blob = con.execute(
            "SELECT bitmap FROM segment_members WHERE member_key = ?", [key]
        ).fetchall()[0][0]
        members = BitMap.deserialize(blob)
        if not any(pid in members for pid in pids):
            continue
        members.difference_update(BitMap(pids))
        con.execute(
            "UPDATE segment_members SET bitmap = ?, size = ? WHERE member_key = ?",
            [members.serialize(), len(members), key],
        )
        changed += 1
    return changed


def erase(
    wh: Warehouse,
    person: Person,
    pseudonyms: list[tuple[str, str]],
    key_id: str,
    erasure_id: str,
    inside: Callable[[], int] | None = None,
) -> Erased:
    """Erase ``person`` (see the module docstring) in one transaction; ``pseudonyms``:
    (keyed pseudonym, id kind) of each identifier, stored as tombstones; ``inside`` runs in
    the transaction too (the quarantine's own erasure) and returns the rows it removed."""
    now = datetime.now(UTC)
    token = new_token()
    ids = person.identifiers
    removed: dict[str, int] = {}
    with wh.transaction() as con:
        con.register(_IDS, pa.table({"id": pa.array(ids, pa.string())}))
        try:
            kept = keep_campaign_events(con, person.person_id, token)
            tokenized = tokenize(con, token)
            tokenized["erased_campaign_events"] = kept
            bitmaps = _drop_pids(con, person.pids)
            index_dropped = bool(person.pids)
            if index_dropped:  # derived: made again, without the person, when next needed
                for table in INDEX_TABLES:
                    con.execute(f"DELETE FROM {table}")
            if person.shared_anonymous:  # a shared device's events without a user: theirs
                removed["events (shared device)"] = con.execute(
                    "DELETE FROM events WHERE user_id IS NULL AND anonymous_id IN "
                    f"({', '.join('?' for _ in person.shared_anonymous)})",
                    person.shared_anonymous,
                ).fetchall()[0][0]
                removed["identity_map (shared device)"] = con.execute(
                    "DELETE FROM identity_map WHERE person_id = ?", [person.person_id]
                ).fetchall()[0][0]
            for table, columns in person_tables(con):
                if table.split(".")[-1].strip('"') in TOKENIZED:
                    continue
                where = " OR ".join(f"{c} IN (SELECT id FROM {_IDS})" for c in columns)
                n = con.execute(f"DELETE FROM {table} WHERE {where}").fetchall()[0][0]
                if n:
                    removed[table.replace('"', "").removeprefix("main.")] = n
            for table, columns in person_tables(con, REFERENCE_COLUMNS):
                for c in columns:
                    n = con.execute(
                        f'UPDATE {table} SET "{c}" = NULL WHERE "{c}" IN (SELECT id FROM {_IDS})'
                    ).fetchall()[0][0]
                    if n:
                        name = table.replace('"', "").removeprefix("main.")
                        removed[f"{name}.{c} (reference cleared)"] = n
            in_quarantine = inside() if inside is not None else 0
            con.executemany(
                "INSERT INTO erased_identifiers VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [[h, kind, erasure_id, key_id, now] for h, kind in pseudonyms],
            )
            con.execute(
                "INSERT INTO erasures VALUES (?, ?, ?, ?, ?, NULL)",
                [
                    erasure_id,
                    len(pseudonyms),
                    person.pid,
                    sum(removed.values()) + in_quarantine,
                    now,
                ],
            )
        finally:
            con.unregister(_IDS)
    return Erased(removed, tokenized, bitmaps, index_dropped, in_quarantine)


def mark_compacted(wh: Warehouse) -> None:
    """The file was rewritten: no freed block holds any earlier erasure's bytes."""
    wh.execute("UPDATE erasures SET compacted_at = now() WHERE compacted_at IS NULL")


# --- tombstones ---------------------------------------------------------------------------
class Erasure(NamedTuple):
    """An erasure an identifier's tombstone belongs to."""

    erasure_id: str
    pid: int | None  # the person's dense segment id, if they had one
    compacted: bool  # the file was rewritten since (no freed block holds their bytes)


def erasure_of(wh: Warehouse, pseudonym: str) -> Erasure | None:
    """The erasure of an identifier's pseudonym, if it was erased."""
    row = wh.fetchone(
        "SELECT i.erasure_id, e.pid, e.compacted_at IS NOT NULL FROM erased_identifiers i "
        "JOIN erasures e USING (erasure_id) WHERE i.pseudonym = ?",
        [pseudonym],
    )
    if row is None:
        return None
    return Erasure(row[0], None if row[1] is None else int(row[1]), bool(row[2]))


def erased_among(wh: Warehouse, cipher: PiiCipher | None, identifiers: list[str]) -> set[str]:
    """Those of ``identifiers`` that belong to an erased person (by their tombstones)."""
    key = None if cipher is None else tombstone_key(wh, cipher.secret)
    if key is None or not identifiers:
        return set()
    by_pseudonym = {erasure_key.pseudonym(key, i): i for i in set(identifiers)}
    found = wh.fetchall(
        "SELECT pseudonym FROM erased_identifiers WHERE list_contains(?, pseudonym)",
        [list(by_pseudonym)],
    )
    return {by_pseudonym[r[0]] for r in found}


def erasure_pseudonyms(wh: Warehouse, erasure_id: str) -> list[str]:
    return [
        r[0]
        for r in wh.fetchall(
            "SELECT pseudonym FROM erased_identifiers WHERE erasure_id = ? ORDER BY 1",
            [erasure_id],
        )
    ]


PSEUDONYM_KIND = erasure_key.KIND  # the kind of keyed pseudonym tombstones are under


# --- the erasure key (tombstones' HMAC key, sealed under each workspace key) ----------------
def _seals(run: Callable[..., list[tuple]]) -> dict[str, bytes]:
    return {k: bytes(v) for k, v in run("SELECT key_id, sealed FROM erasure_keys")}


def tombstone_key(wh: Warehouse, secret: WorkspaceSecret, create: bool = False) -> bytes | None:
    """The erasure key, unsealed with the workspace ``secret``; made by the first erasure
    (``create``), None before it."""
    seals = _seals(wh.fetchall)
    if seals:
        return erasure_key.unseal(seals, secret)
    if not create:
        return None
    key = erasure_key.new_erasure_key()
    wh.execute(
        "INSERT INTO erasure_keys VALUES (?, ?, now())",
        [secret.key_id, erasure_key.seal(key, secret)],
    )
    return key


def seal_key_for(wh: Warehouse, current: WorkspaceSecret, new: WorkspaceSecret) -> None:
    """Seal the erasure key under a rotation's ``new`` workspace key too (before it replaces
    ``current``)."""
    key = tombstone_key(wh, current)
    if key is not None:
        wh.execute(
            "INSERT OR REPLACE INTO erasure_keys VALUES (?, ?, now())",
            [new.key_id, erasure_key.seal(key, new)],
        )


def keep_key_of(wh: Warehouse, secret: WorkspaceSecret) -> None:
    """Drop the seals under every workspace key but ``secret``'s (after a rotation)."""
    wh.execute("DELETE FROM erasure_keys WHERE key_id <> ?", [secret.key_id])


_REFUSED_CLEARED = ("user_id", "anonymous_id", "phone", "phone_hash", "email", "name", "address")


def refuse_erased(con: duckdb.DuckDBPyConnection, cipher: PiiCipher | None) -> int:
    """Inside the loader's transaction: staged records (``_stage``) of an erased identifier
    are rejected with reason ``erased_person``, their payload, detail, identifiers and PII
    cleared so the quarantine keeps nothing of them. Returns how many."""
    if cipher is None:
        return 0
    if not con.execute("SELECT count(*) > 0 FROM erased_identifiers").fetchall()[0][0]:
        return 0
    key = erasure_key.unseal(_seals(lambda sql: con.execute(sql).fetchall()), cipher.secret)
    staged = set(con.sql("SELECT * FROM _stage LIMIT 0").columns)
    columns = [c for c in ("user_id", "anonymous_id") if c in staged]
    if not columns:
        return 0
    values = [
        r[0]
        for r in con.execute(
            " UNION ".join(
                f"SELECT {c} FROM _stage WHERE _reason IS NULL AND {c} IS NOT NULL" for c in columns
            )
        ).fetchall()
    ]
    hashed = pa.table(
        {
            "id": pa.array(values, pa.string()),
            "pseudonym": pa.array([erasure_key.pseudonym(key, v) for v in values]),
        }
    )
    con.register("_erase_check", hashed)
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _erased_hits AS SELECT c.id FROM _erase_check c "
            "JOIN erased_identifiers e USING (pseudonym)"
        )
    finally:
        con.unregister("_erase_check")
    clear = ", ".join(f"{c} = NULL" for c in _REFUSED_CLEARED if c in staged)
    refused = con.execute(
        f"UPDATE _stage SET _reason = 'erased_person', _detail = NULL, _raw = NULL, {clear} "
        "WHERE _reason IS NULL AND ("
        + " OR ".join(f"{c} IN (SELECT id FROM _erased_hits)" for c in columns)
        + ")"
    ).fetchall()[0][0]
    con.execute("DROP TABLE _erased_hits")
    return int(refused)
