"""The users' PII at rest: sealed in the ingest transaction, sealed once for an older warehouse,
re-sealed on key rotation, opened for the callers that may see it.

The cipher (:class:`portrait.security.pii.PiiCipher`) works on Arrow columns in Python; this
module moves the rows between it and the warehouse. ``pii_key`` records which workspace key the
stored tokens are under (one row), so that opening with another key fails at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from portrait.security.pii import (
    ENCRYPTED_COLUMNS,
    TOKEN_PREFIX,
    PiiCipher,
    is_token,
    phone_digits,
)
from portrait.store import pii_tags, quarantine
from portrait.store.warehouse import Warehouse

_COLS = ", ".join(ENCRYPTED_COLUMNS)
# as text: the birth date of a stage (or of a warehouse not yet widened) is a DATE
_COLS_TEXT = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in ENCRYPTED_COLUMNS)
_ANY_VALUE = " OR ".join(f"{c} IS NOT NULL" for c in ENCRYPTED_COLUMNS)
_ANY_CLEAR = " OR ".join(
    f"({c} IS NOT NULL AND NOT starts_with(CAST({c} AS VARCHAR), '{TOKEN_PREFIX}'))"
    for c in ENCRYPTED_COLUMNS
)
BUILD_USERS = "_build_users"  # a build's view of users, birth dates decrypted (see below)
_BUILD_BIRTHS = "_build_births"
_SET_SEALED = ", ".join(f"{c} = p.{c}" for c in ENCRYPTED_COLUMNS) + ", phone_hash = p.phone_hash"


def seal_stage(con: duckdb.DuckDBPyConnection, cipher: PiiCipher | None) -> int:
    """Encrypt the PII of the staged users batch (``_stage``, inside the loader's
    transaction) and set each phone's keyed HMAC, before any row reaches a table. The stage's
    birth date becomes text first, as it is stored (a token is text); without a cipher (the
    encryption benchmark) that is all."""
    typed = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE database_name = 'temp' "
        "AND table_name = '_stage' AND column_name = 'birth_date'"
    ).fetchall()
    if typed and typed[0][0] != "VARCHAR":
        con.execute("ALTER TABLE _stage ALTER birth_date SET DATA TYPE VARCHAR")
    if cipher is None:
        return 0
    rows = con.sql(
        f"SELECT _row, user_id, {_COLS_TEXT} FROM _stage WHERE _reason IS NULL AND ({_ANY_VALUE})"
    ).to_arrow_table()
    if rows.num_rows == 0:
        return 0
    con.register("_pii_sealed", cipher.protect_users(rows))
    try:
        con.execute(
            f"UPDATE _stage SET {_SET_SEALED} FROM _pii_sealed p WHERE _stage._row = p._row"
        )
    finally:
        con.unregister("_pii_sealed")
    return rows.num_rows


def recorded_key(wh: Warehouse) -> str | None:
    """The id of the key the stored PII is under (None: never recorded, an older warehouse)."""
    if not wh.fetchone("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pii_key'")[0]:
        return None  # an older warehouse open read-only (not migrated)
    row = wh.fetchone("SELECT key_id FROM pii_key")
    return row[0] if row else None


def _record_key(con: duckdb.DuckDBPyConnection, key_id: str) -> None:
    con.execute("DELETE FROM pii_key")
    con.execute("INSERT INTO pii_key VALUES (?, ?)", [key_id, datetime.now(UTC)])


def widen_birth_date(wh: Warehouse) -> bool:
    """Make ``users.birth_date`` text, so that it can hold a token: a warehouse made before
    the birth date was encrypted stores a DATE (its values become ISO text, which
    :func:`seal_clear_rows` then seals). Whether it changed anything."""
    row = wh.fetchone(
        "SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'users' AND column_name = 'birth_date'"
    )
    if row is None or row[0] == "VARCHAR":
        return False
    wh.execute("ALTER TABLE users ALTER birth_date SET DATA TYPE VARCHAR")
    return True


def _clear_part(rows: pa.Table) -> pa.Table:
    """``rows`` with each value that is sealed already (a token) left out (None)."""
    out = {"_row": rows.column("_row"), "user_id": rows.column("user_id")}
    for c in ENCRYPTED_COLUMNS:
        values = rows.column(c).to_pylist()
        out[c] = pa.array([None if is_token(v) else v for v in values], pa.string())
    return pa.table(out)


def _keep_sealed(rows: pa.Table, sealed: pa.Table) -> pa.Table:
    """The new tokens where a value was in clear, the stored token elsewhere (and the stored
    phone hash where the phone was sealed already)."""
    out = {"_row": rows.column("_row")}
    for c in ENCRYPTED_COLUMNS:
        pairs = zip(rows.column(c).to_pylist(), sealed.column(c).to_pylist(), strict=True)
        out[c] = pa.array([old if is_token(old) else new for old, new in pairs], pa.string())
    hashes = zip(rows.column("phone").to_pylist(), rows.column("phone_hash").to_pylist(),
                 sealed.column("phone_hash").to_pylist(), strict=True)  # fmt: skip
    out["phone_hash"] = pa.array([h if is_token(p) else n for p, h, n in hashes], pa.string())
    return pa.table(out)


def seal_clear_rows(wh: Warehouse, cipher: PiiCipher) -> int:
    """Encrypt the users values an older version stored in clear (a row may hold both: the
    birth date was sealed later than the rest), replace the unsalted phone hashes (in users,
    identity_phones and the links' evidence) by keyed HMACs, and record the key; one
    transaction. Returns the rows sealed."""
    with wh.transaction() as con:
        rows = con.sql(
            f"SELECT rowid AS _row, user_id, {_COLS_TEXT}, phone_hash FROM users WHERE {_ANY_CLEAR}"
        ).to_arrow_table()
        if rows.num_rows:
            _write_sealed(con, _keep_sealed(rows, cipher.protect_users(_clear_part(rows))))
            phones = [p for p in rows.column("phone").to_pylist() if not is_token(p)]
            _replace_phone_hashes(
                con,
                {
                    hashlib.sha256(d.encode()).hexdigest(): cipher.phone_hmac(p)
                    for p in phones
                    if (d := phone_digits(p)) is not None
                },
            )
        # a legacy phone hash no stored phone explains cannot be made keyed: dropped
        con.execute(
            "DELETE FROM identity_phones WHERE length(phone_hash) = 64 AND phone_hash "
            "NOT IN (SELECT phone_hash FROM users WHERE phone_hash IS NOT NULL)"
        )
        _record_key(con, cipher.key_id)
    return rows.num_rows


def _replace_phone_hashes(con: duckdb.DuckDBPyConnection, old_to_new: dict[str, str]) -> None:
    """Rewrite phone pseudonyms ``old -> new`` where they are kept besides users."""
    if not old_to_new:
        return
    mapping = pa.table(
        {"old": pa.array(list(old_to_new), pa.string()),
         "new": pa.array(list(old_to_new.values()), pa.string())}
    )  # fmt: skip
    con.register("_phone_map", mapping)
    try:
        con.execute(
            "UPDATE identity_phones SET phone_hash = m.new FROM _phone_map m "
            "WHERE identity_phones.phone_hash = m.old"
        )
        con.execute(
            "UPDATE identity_links SET evidence = m.new FROM _phone_map m "
            "WHERE identity_links.rule = 'same_phone' AND identity_links.evidence = m.old"
        )
    finally:
        con.unregister("_phone_map")


def reseal(wh: Warehouse, old: PiiCipher, new: PiiCipher) -> int:
    """Re-encrypt every stored PII value (users, quarantined payloads, the PII tags of profile
    snapshots) from ``old``'s key to ``new``'s, recompute the phone HMACs and pseudonyms
    wherever they are kept, and record the new key; one transaction."""
    with wh.transaction() as con:
        rows = con.sql(
            f"SELECT rowid AS _row, user_id, {_COLS}, phone_hash FROM users WHERE {_ANY_VALUE}"
        ).to_arrow_table()
        owners = rows.column("user_id").to_pylist()
        clear = {"_row": rows.column("_row"), "user_id": rows.column("user_id")}
        for col in ENCRYPTED_COLUMNS:
            clear[col] = pa.array(
                old.decrypt_column(col, owners, rows.column(col).to_pylist()), pa.string()
            )
        sealed = new.protect_users(pa.table(clear))
        hash_map = {
            h: n
            for h, n in zip(
                rows.column("phone_hash").to_pylist(),
                sealed.column("phone_hash").to_pylist(),
                strict=True,
            )
            if h is not None and n is not None
        }
        if rows.num_rows:
            _write_sealed(con, sealed)
        _replace_phone_hashes(con, hash_map)
        quarantine.reseal(con, old, new)
        pii_tags.reseal_snapshots(con, old, new)  # the PII tags sealed in profile snapshots
        _record_key(con, new.key_id)
    return rows.num_rows


def user_pii(
    wh: Warehouse, cipher: PiiCipher, user_ids: Sequence[str]
) -> dict[str, dict[str, str | None]]:
    """The PII of these users, decrypted (users with none stored are left out)."""
    if not user_ids:
        return {}
    rows = wh.fetchall(
        f"SELECT user_id, {_COLS} FROM users WHERE user_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(user_ids)],
    )
    return {
        r[0]: {c: cipher.decrypt(c, r[0], v) for c, v in zip(ENCRYPTED_COLUMNS, r[1:], strict=True)}
        for r in rows
    }


def stage_build_users(wh: Warehouse, cipher: PiiCipher | None) -> str:
    """For a build, in its session: the users' birth dates decrypted into a temporary table
    of the session's connection (never written to the warehouse file) and a temporary view of
    ``users`` reading them (:data:`BUILD_USERS`, its name). Without a cipher, only dates
    stored in clear are read."""
    rows = wh.fetchall(
        "SELECT user_id, CAST(birth_date AS VARCHAR) FROM users WHERE birth_date IS NOT NULL"
    )
    births = [
        None if is_token(v) and cipher is None else
        date.fromisoformat(cipher.decrypt("birth_date", u, v) if is_token(v) else v)
        for u, v in rows
    ]  # fmt: skip
    table = pa.table(
        {"user_id": pa.array([r[0] for r in rows], pa.string()),
         "birth_date": pa.array(births, pa.date32())}
    )  # fmt: skip
    wh.register("_build_births_arrow", table)
    try:
        wh.execute_local(
            f"CREATE OR REPLACE TEMP TABLE {_BUILD_BIRTHS} AS SELECT * FROM _build_births_arrow"
        )
    finally:
        wh.unregister("_build_births_arrow")
    wh.execute_local(
        f"CREATE OR REPLACE TEMP VIEW {BUILD_USERS} AS SELECT u.* REPLACE (b.birth_date AS "
        f"birth_date) FROM users u LEFT JOIN {_BUILD_BIRTHS} b ON b.user_id = u.user_id"
    )
    return BUILD_USERS


def drop_build_users(wh: Warehouse) -> None:
    wh.execute_local(f"DROP VIEW IF EXISTS {BUILD_USERS}")
    wh.execute_local(f"DROP TABLE IF EXISTS {_BUILD_BIRTHS}")


def clear_value_count(wh: Warehouse) -> int:
    """Users rows holding a PII value in clear (0 once sealed)."""
    row = wh.fetchone(f"SELECT count(*) FROM users WHERE {_ANY_CLEAR}")
    return int(row[0]) if row else 0


def _write_sealed(con: duckdb.DuckDBPyConnection, sealed: pa.Table) -> None:
    """Write sealed users' PII (rows of ``users`` by ``_row``, their rowid) in place."""
    con.register("_pii_sealed", sealed)
    try:
        con.execute(f"UPDATE users SET {_SET_SEALED} FROM _pii_sealed p WHERE users.rowid = p._row")
    finally:
        con.unregister("_pii_sealed")
