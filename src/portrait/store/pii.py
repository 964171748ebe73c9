"""The users' PII at rest: sealed in the ingest transaction, sealed once for an older warehouse,
re-sealed on key rotation, opened for the callers that may see it.

The cipher (:class:`portrait.security.pii.PiiCipher`) works on Arrow columns in Python; this
module moves the rows between it and the warehouse. ``pii_key`` records which workspace key the
stored tokens are under (one row), so that opening with another key fails at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from portrait.security.pii import ENCRYPTED_COLUMNS, TOKEN_PREFIX, PiiCipher, phone_digits
from portrait.store import quarantine
from portrait.store.warehouse import Warehouse

_COLS = ", ".join(ENCRYPTED_COLUMNS)
_ANY_VALUE = " OR ".join(f"{c} IS NOT NULL" for c in ENCRYPTED_COLUMNS)
_ANY_CLEAR = " OR ".join(
    f"({c} IS NOT NULL AND NOT starts_with({c}, '{TOKEN_PREFIX}'))" for c in ENCRYPTED_COLUMNS
)
_SET_SEALED = ", ".join(f"{c} = p.{c}" for c in ENCRYPTED_COLUMNS) + ", phone_hash = p.phone_hash"


def seal_stage(con: duckdb.DuckDBPyConnection, cipher: PiiCipher) -> int:
    """Encrypt the PII of the staged users batch (``_stage``, inside the loader's
    transaction) and set each phone's keyed HMAC, before any row reaches a table."""
    rows = con.sql(
        f"SELECT _row, user_id, {_COLS} FROM _stage WHERE _reason IS NULL AND ({_ANY_VALUE})"
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


def seal_clear_rows(wh: Warehouse, cipher: PiiCipher) -> int:
    """Encrypt the users rows an older version stored in clear, replace the unsalted phone
    hashes (in users, identity_phones and the links' evidence) by keyed HMACs, and record the
    key; one transaction. Returns the rows sealed."""
    with wh.transaction() as con:
        rows = con.sql(
            f"SELECT rowid AS _row, user_id, {_COLS} FROM users WHERE {_ANY_CLEAR}"
        ).to_arrow_table()
        if rows.num_rows:
            _write_sealed(con, cipher.protect_users(rows))
            phones = rows.column("phone").to_pylist()
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
    """Re-encrypt every stored PII value (users, quarantined payloads) from ``old``'s key to
    ``new``'s, recompute the phone HMACs and pseudonyms wherever they are kept, and record the
    new key; one transaction."""
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
