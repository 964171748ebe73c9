"""The quarantine: rejected records with their reason (``store.loader`` writes them).

A rejected record may carry personal data (a users record's phone, e-mail, name, birth date;
any record's user and device ids), so its raw payload and its detail (which may quote a
value) are stored sealed, as PII tokens under the workspace key (bound to the column,
``quarantine.raw`` or ``quarantine.detail``, and to the row: its batch and record index). The
identifiers it carries are kept beside it only as keyed pseudonyms (``user_hmac``,
``anonymous_hmac``, ``target_hmac``, ``phone_hmac``, ``email_hmac``), so that erasing a
person finds their rows without decrypting anything (:func:`erase_mentions`). Reading
decrypts (:func:`quarantined`, given the cipher).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from portrait.ingest.reasons import explain
from portrait.ingest.results import QuarantineCount, QuarantinedRecord
from portrait.security.pii import TOKEN_PREFIX, is_token
from portrait.store.warehouse import Warehouse

if TYPE_CHECKING:
    from portrait.security.pii import PiiCipher

RAW, DETAIL = "quarantine.raw", "quarantine.detail"  # what a token is bound to
# pseudonym column -> (the record field it is computed from, the pseudonym's kind)
MENTIONS: dict[str, tuple[str, str]] = {
    "user_hmac": ("user_id", "id"),
    "anonymous_hmac": ("anonymous_id", "id"),
    "target_hmac": ("target_user_id", "id"),  # an event naming another user (a referral...)
    "phone_hmac": ("phone", "phone"),
    "email_hmac": ("email", "email"),
}
_CLEAR = (
    f"((raw IS NOT NULL AND NOT starts_with(raw, '{TOKEN_PREFIX}')) OR "
    f"(detail IS NOT NULL AND NOT starts_with(detail, '{TOKEN_PREFIX}')))"
)
_SEALED_COLUMNS = ("raw", "detail", *MENTIONS)


def _owner(batch_id: str, record_index: int | None) -> str:
    return f"{batch_id}/{record_index}"


def _pseudonym(cipher: PiiCipher, kind: str, value: object) -> str | None:
    if value is None or (text := str(value).strip()) == "":
        return None
    if kind == "phone":
        return cipher.phone_hmac(text)
    return cipher.pseudonym(f"quarantine.{kind}", text.lower() if kind == "email" else text)


def _fields_of(raw: str | None) -> dict[str, Any]:
    """The record's fields when its payload is a JSON object (a cut or unreadable one: none)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def seal_rows(cipher: PiiCipher, batch_ids: Sequence[str], rows: pa.Table) -> pa.Table:
    """``rows`` (``_row``, ``raw``, ``detail`` in clear, and any identifier fields the stage
    has) sealed: ``_row``, ``raw`` and ``detail`` as tokens, and the pseudonym columns."""
    indexes = rows.column("_row").to_pylist()
    raws = rows.column("raw").to_pylist()
    details = rows.column("detail").to_pylist()
    given = {c: rows.column(c).to_pylist() for c in rows.column_names if c not in
             ("_row", "raw", "detail")}  # fmt: skip
    out: dict[str, list[str | None]] = {c: [] for c in _SEALED_COLUMNS}
    for i, (index, raw, detail) in enumerate(zip(indexes, raws, details, strict=True)):
        owner = _owner(batch_ids[i], index)
        out["raw"].append(cipher.encrypt(RAW, owner, raw))
        out["detail"].append(cipher.encrypt(DETAIL, owner, detail))
        parsed: dict[str, Any] | None = None
        for column, (field, kind) in MENTIONS.items():
            if field in given:
                value = given[field][i]
            elif raw and f'"{field}"' in raw:  # a field the stage has no column for
                parsed = _fields_of(raw) if parsed is None else parsed
                value = parsed.get(field)
            else:
                value = None
            out[column].append(_pseudonym(cipher, kind, value))
    return pa.table(
        {"_row": rows.column("_row"), **{c: pa.array(v, pa.string()) for c, v in out.items()}}
    )


def insert_rejected(
    con: duckdb.DuckDBPyConnection,
    cipher: PiiCipher | None,
    batch_id: str,
    kind: str,
    source: str,
    started: datetime,
) -> int:
    """Put the staged batch's rejected rows (``_stage``, inside the loader's transaction) in
    quarantine, sealed under ``cipher`` (``None``: in clear, which only the encryption
    benchmark does). Returns the rows quarantined."""
    params = [batch_id, kind, source, started]
    if cipher is None:
        return con.execute(
            "INSERT INTO quarantine (batch_id, kind, source, record_index, reason_code, detail, "
            "raw, quarantined_at) SELECT ?, ?, ?, _row, _reason, _detail, _raw, ? "
            "FROM _stage WHERE _reason IS NOT NULL",
            params,
        ).fetchall()[0][0]
    staged = set(con.sql("SELECT * FROM _stage LIMIT 0").columns)
    ids = [f for f, _ in MENTIONS.values() if f in staged]
    rows = con.sql(
        f"SELECT _row, _raw AS raw, _detail AS detail{''.join(', ' + f for f in ids)} "
        "FROM _stage WHERE _reason IS NOT NULL"
    ).to_arrow_table()
    if rows.num_rows == 0:
        return 0
    con.register("_q_sealed", seal_rows(cipher, [batch_id] * rows.num_rows, rows))
    try:
        return con.execute(
            f"INSERT INTO quarantine (batch_id, kind, source, record_index, reason_code, "
            f"quarantined_at, {', '.join(_SEALED_COLUMNS)}) "
            f"SELECT ?, ?, ?, s._row, s._reason, ?, {', '.join('p.' + c for c in _SEALED_COLUMNS)} "
            "FROM _stage s JOIN _q_sealed p ON p._row = s._row WHERE s._reason IS NOT NULL",
            params,
        ).fetchall()[0][0]
    finally:
        con.unregister("_q_sealed")


def _mention_sets(cipher: PiiCipher, identifiers: Iterable[str]) -> dict[str, list[str]]:
    """Pseudonym column -> the pseudonyms any of ``identifiers`` has in it (an identifier is
    tried as an id, a phone and an e-mail: the caller need not say which it is)."""
    found: dict[str, set[str]] = {c: set() for c in MENTIONS}
    for identifier in identifiers:
        for column, (_, kind) in MENTIONS.items():
            pseudonym = _pseudonym(cipher, kind, identifier)
            if pseudonym is not None:
                found[column].add(pseudonym)
    return {c: sorted(v) for c, v in found.items() if v}


def _mentioning(cipher: PiiCipher, identifiers: Iterable[str]) -> tuple[str, list[Any]] | None:
    sets = _mention_sets(cipher, identifiers)
    if not sets:
        return None
    where = " OR ".join(f"{c} IN (SELECT unnest(?::VARCHAR[]))" for c in sets)
    return where, list(sets.values())


def count_mentions(wh: Warehouse, cipher: PiiCipher, identifiers: Sequence[str]) -> int:
    """Quarantined records that mention any of ``identifiers`` (user or device ids, phones,
    e-mails), found by their keyed pseudonyms."""
    found = _mentioning(cipher, identifiers)
    if found is None:
        return 0
    row = wh.fetchone(f"SELECT count(*) FROM quarantine WHERE {found[0]}", found[1])
    return int(row[0]) if row else 0


def erase_mentions(wh: Warehouse, cipher: PiiCipher, identifiers: Sequence[str]) -> int:
    """Delete the quarantined records that mention any of ``identifiers`` (user or device
    ids, phones, e-mails); returns the rows removed. Inside a caller's ``wh.transaction()``
    it is part of that transaction."""
    found = _mentioning(cipher, identifiers)
    if found is None:
        return 0
    return wh.execute(f"DELETE FROM quarantine WHERE {found[0]}", found[1]).fetchall()[0][0]


def _legacy_rows(con: duckdb.DuckDBPyConnection, where: str) -> pa.Table:
    return con.sql(
        f"SELECT rowid AS _row, batch_id, record_index, raw, detail FROM quarantine WHERE {where}"
    ).to_arrow_table()


def _write_sealed(con: duckdb.DuckDBPyConnection, batch_ids: list[str], rows: pa.Table,
                  cipher: PiiCipher) -> None:  # fmt: skip
    """Seal ``rows`` (by rowid ``_row``, with ``record_index``) in place."""
    keyed = rows.select(["_row", "raw", "detail"]).set_column(
        0, "_row", rows.column("record_index")
    )
    sealed = seal_rows(cipher, batch_ids, keyed).set_column(0, "_row", rows.column("_row"))
    con.register("_q_sealed", sealed)
    try:
        con.execute(
            f"UPDATE quarantine SET {', '.join(f'{c} = p.{c}' for c in _SEALED_COLUMNS)} "
            "FROM _q_sealed p WHERE quarantine.rowid = p._row"
        )
    finally:
        con.unregister("_q_sealed")


def seal_clear_rows(wh: Warehouse, cipher: PiiCipher) -> int:
    """Seal the records an older version quarantined in clear (their identifiers read from
    the payload); one transaction. Returns the rows sealed."""
    if not clear_count(wh):
        return 0
    with wh.transaction() as con:
        rows = _legacy_rows(con, _CLEAR)
        _write_sealed(con, rows.column("batch_id").to_pylist(), rows, cipher)
    return rows.num_rows


def reseal(con: duckdb.DuckDBPyConnection, old: PiiCipher, new: PiiCipher) -> int:
    """Re-encrypt every quarantined payload from ``old``'s key to ``new``'s and recompute
    the pseudonyms (inside the rotation's transaction). Returns the rows resealed."""
    rows = _legacy_rows(con, "raw IS NOT NULL OR detail IS NOT NULL")
    if rows.num_rows == 0:
        return 0
    batch_ids = rows.column("batch_id").to_pylist()
    owners = [_owner(b, i) for b, i in zip(batch_ids, rows.column("record_index").to_pylist(),
                                            strict=True)]  # fmt: skip
    clear = {
        "raw": [_open(old, RAW, o, t) for o, t in zip(owners, rows.column("raw").to_pylist(),
                                                      strict=True)],
        "detail": [_open(old, DETAIL, o, t) for o, t in zip(
            owners, rows.column("detail").to_pylist(), strict=True)],
    }  # fmt: skip
    for name, values in clear.items():
        rows = rows.set_column(
            rows.schema.get_field_index(name), name, pa.array(values, pa.string())
        )
    _write_sealed(con, batch_ids, rows, new)
    return rows.num_rows


def _open(cipher: PiiCipher | None, column: str, owner: str, value: str | None) -> str | None:
    """A stored payload or detail in clear (one stored in clear as it is; a sealed one
    without the cipher: None)."""
    if not is_token(value):
        return value
    return None if cipher is None else cipher.decrypt(column, owner, value)


def clear_count(wh: Warehouse) -> int:
    """Quarantined records whose payload or detail is stored in clear (0 once sealed)."""
    row = wh.fetchone(f"SELECT count(*) FROM quarantine WHERE {_CLEAR}")
    return int(row[0]) if row else 0


def quarantined(
    wh: Warehouse,
    limit: int = 50,
    reason: str | None = None,
    batch_id: str | None = None,
    kind: str | None = None,
    cipher: PiiCipher | None = None,
) -> list[QuarantinedRecord]:
    """Quarantined records, newest first, optionally of one reason, batch or kind; their
    payloads and details decrypted with ``cipher`` (without it, sealed ones are left out)."""
    where, params = [], []
    for col, val in (("reason_code", reason), ("batch_id", batch_id), ("kind", kind)):
        if val:
            where.append(f"{col} = ?")
            params.append(val)
    sql = (
        "SELECT batch_id, kind, source, record_index, reason_code, detail, raw, "
        "quarantined_at FROM quarantine"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY quarantined_at DESC, record_index LIMIT ?"
    )
    records = []
    for r in wh.fetchall(sql, [*params, limit]):
        owner = _owner(r[0], r[3])
        detail = _open(cipher, DETAIL, owner, r[5])
        records.append(
            QuarantinedRecord(
                batch_id=r[0],
                kind=r[1],
                source=r[2],
                record_index=r[3],
                reason_code=r[4],
                detail=detail,
                explanation=explain(r[4], detail),
                raw=_open(cipher, RAW, owner, r[6]),
                quarantined_at=r[7],
            )
        )
    return records


def quarantine_counts(wh: Warehouse) -> list[QuarantineCount]:
    """Records per kind and reason, the most frequent first."""
    rows = wh.fetchall(
        "SELECT kind, reason_code, count(*) FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC"
    )
    return [
        QuarantineCount(kind=k, reason_code=c, count=n, explanation=explain(c)) for k, c, n in rows
    ]


def counts_by_reason(wh: Warehouse) -> dict[str, int]:
    """``"kind: reason_code"`` -> records, the most frequent first (for the summary)."""
    return dict(
        wh.fetchall(
            "SELECT kind || ': ' || reason_code, count(*) FROM quarantine "
            "GROUP BY 1 ORDER BY 2 DESC"
        )
    )
