"""Personal-data tags (``pii: true``) sealed in the profile snapshots.

A build stores each PII tag's values as PII tokens (:class:`portrait.security.pii.PiiCipher`),
bound to the column ``tag:<tag id>`` and to the row's ``person_id``: a token copied to another
person or tag does not decrypt. The cipher's nonces are deterministic, so an unchanged value
gives the same token in every build (and on either backend). The stored column is VARCHAR;
whoever reads it through :func:`open_columns` gets the tag's declared type back: the value is
sealed as text (dates as ISO text, times as epoch seconds, top-N lists as JSON) and cast back
by DuckDB from that text.

Which columns are PII comes from the catalog (``pii_ids``) where a value is still in clear
(sealing, counting); a sealed column is recognised by its tokens (re-sealing on rotation).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from portrait.security.pii import TOKEN_PREFIX, PiiCipher, PiiDecryptError, is_token
from portrait.store.profiles import STAGING_PREFIX, quoted
from portrait.store.tag_builds import STORED_SNAPSHOTS
from portrait.store.warehouse import Warehouse

if TYPE_CHECKING:
    from portrait.tags.model import TagDef

_TOP_JSON = '[{"key":"VARCHAR","weight":"DOUBLE"}]'
_SQL_TYPES = {"bool": "BOOLEAN", "int": "BIGINT", "float": "DOUBLE", "date": "DATE"}
OPENED_BASE = "_pii_base_open"  # the base snapshot of an incremental build, PII tags opened
_OPENED_VALUES = "_pii_base_values"


def token_column(tag_id: str) -> str:
    """The column name a tag's tokens are bound to (``tag:birth_date``)."""
    return f"tag:{tag_id}"


def _encoded(column: str, data_type: str) -> str:
    """SQL: a stored value as the text that is sealed."""
    if data_type.startswith("TIMESTAMP"):
        return f"CAST(epoch({column}) AS VARCHAR)"
    if data_type.endswith("[]") or data_type.startswith("STRUCT"):
        return f"CAST(to_json({column}) AS VARCHAR)"
    return f"CAST({column} AS VARCHAR)"


def _decoded(column: str, tag_type: str) -> str:
    """SQL: opened text back as the tag's declared type."""
    if tag_type == "top":
        return f"from_json({column}, '{_TOP_JSON}')"
    if tag_type == "timestamp":
        return f"to_timestamp(CAST({column} AS DOUBLE))"
    if tag_type in _SQL_TYPES:
        return f"CAST({column} AS {_SQL_TYPES[tag_type]})"
    return column  # text, enum


def snapshot_tables(wh: Warehouse) -> list[str]:
    """Every stored snapshot (not a build's half-made staging table)."""
    return [
        t for (t,) in wh.fetchall(STORED_SNAPSHOTS)
        if not t.split(".", 1)[1].startswith(STAGING_PREFIX)
    ]  # fmt: skip


def _column_types(wh: Warehouse, table: str) -> dict[str, str]:
    schema, name = table.split(".", 1)
    rows = wh.fetchall(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = ? AND table_name = ?",
        [schema, name],
    )
    return dict(rows)


def _clear_filter(column: str, data_type: str) -> str:
    """SQL: the rows of ``column`` holding a value not sealed yet."""
    if data_type == "VARCHAR":
        return f"{column} IS NOT NULL AND NOT starts_with({column}, '{TOKEN_PREFIX}')"
    return f"{column} IS NOT NULL"


# --- sealing ----------------------------------------------------------------------------------
def _sealed_values(
    wh: Warehouse, table: str, tag_ids: Iterable[str], cipher: PiiCipher, typed_only: bool = False
) -> list[tuple[str, str, pa.Table]]:
    """(tag id, stored type, person_id -> token) of each of ``tag_ids``'s columns of ``table``
    that holds a value in clear (encrypted here, outside any lock); ``typed_only``: only the
    columns still in their own type (a text column in clear is found by scanning it)."""
    types = _column_types(wh, table)
    out = []
    for tag_id in tag_ids:
        data_type = types.get(tag_id)
        if data_type is None or (typed_only and data_type == "VARCHAR"):
            continue
        c = quoted(tag_id)
        rows = wh.arrow(
            f"SELECT person_id, {_encoded(c, data_type)} AS v FROM {table} "
            f"WHERE {_clear_filter(c, data_type)}"
        )
        if data_type == "VARCHAR" and not rows.num_rows:
            continue  # sealed already (or empty and text: nothing to change)
        owners = rows.column("person_id")
        tokens = cipher.encrypt_column(
            token_column(tag_id), owners.to_pylist(), rows.column("v").to_pylist()
        )
        out.append((tag_id, data_type, _tokens(owners, tokens)))
    return out


def _tokens(owners: pa.ChunkedArray, tokens: list[str | None]) -> pa.Table:
    return pa.table({"person_id": owners, "token": pa.array(tokens, pa.string())})


def _write_tokens(
    con: duckdb.DuckDBPyConnection, table: str, tag_id: str, data_type: str, tokens: pa.Table
) -> None:
    """The column made VARCHAR (if it was not) and its values replaced by their tokens."""
    c = quoted(tag_id)
    if data_type != "VARCHAR":  # DuckDB alters no column of an indexed table: index made again
        schema, name = table.split(".", 1)
        indexes = con.execute(
            "SELECT index_name, sql FROM duckdb_indexes() WHERE database_name = "
            "current_database() AND schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
        for index, _ in indexes:
            con.execute(f"DROP INDEX {schema}.{quoted(index)}")
        con.execute(f"ALTER TABLE {table} ALTER {c} SET DATA TYPE VARCHAR")
        for _, sql in indexes:
            con.execute(sql)
    name = f"_pii_tokens_{uuid.uuid4().hex[:8]}"
    con.register(name, tokens)
    try:
        con.execute(
            f"UPDATE {table} SET {c} = t.token FROM {name} t WHERE {table}.person_id = t.person_id"
        )
    finally:
        con.unregister(name)


def seal_table(wh: Warehouse, table: str, pii_ids: Collection[str], cipher: PiiCipher) -> int:
    """Seal the PII tag columns of one snapshot (or a build's staging table): every value in
    clear becomes its token, the column VARCHAR. Values sealed."""
    found = _sealed_values(wh, table, pii_ids, cipher)
    if found:
        with wh.transaction() as con:
            for tag_id, data_type, tokens in found:
                _write_tokens(con, table, tag_id, data_type, tokens)
    return sum(t.num_rows for _, _, t in found)


def seal_snapshots(
    wh: Warehouse, pii_ids: Collection[str], cipher: PiiCipher, typed_only: bool = False
) -> int:
    """Seal what an older version stored in clear in every snapshot (one transaction); values
    sealed. With ``typed_only`` (on open) only columns not yet VARCHAR are looked at: one look
    at each snapshot's column types when nothing is to do."""
    found = [
        (s, f)
        for s in snapshot_tables(wh)
        for f in _sealed_values(wh, s, pii_ids, cipher, typed_only)
    ]
    if found:
        with wh.transaction() as con:
            for table, (tag_id, data_type, tokens) in found:
                _write_tokens(con, table, tag_id, data_type, tokens)
    return sum(t.num_rows for _, (_, _, t) in found)


def clear_count(wh: Warehouse, pii_ids: Collection[str]) -> int:
    """PII tag values stored in clear in the snapshots (0 once sealed)."""
    total = 0
    for table in snapshot_tables(wh):
        types = _column_types(wh, table)
        for tag_id in pii_ids:
            if tag_id in types:
                c = quoted(tag_id)
                row = wh.fetchone(
                    f"SELECT count(*) FROM {table} WHERE {_clear_filter(c, types[tag_id])}"
                )
                total += int(row[0]) if row else 0
    return total


def reseal_snapshots(con: duckdb.DuckDBPyConnection, old: PiiCipher, new: PiiCipher) -> int:
    """Re-encrypt every sealed tag column of every snapshot from ``old``'s key to ``new``'s
    (inside the rotation's transaction). A sealed column is one whose values are tokens: the
    catalog is not needed. Values re-sealed."""
    tables = [r[0] for r in con.execute(STORED_SNAPSHOTS).fetchall()]
    total = 0
    for table in tables:
        schema, name = table.split(".", 1)
        columns = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? AND data_type = 'VARCHAR' "
            "AND column_name != 'person_id'",
            [schema, name],
        ).fetchall()
        for (column,) in columns:
            c = quoted(column)
            probe = con.execute(f"SELECT {c} FROM {table} WHERE {c} IS NOT NULL LIMIT 1").fetchall()
            if not probe or not is_token(probe[0][0]):
                continue
            rows = con.sql(
                f"SELECT person_id, {c} AS v FROM {table} WHERE {c} IS NOT NULL"
            ).to_arrow_table()
            owners = rows.column("person_id").to_pylist()
            col = token_column(column)
            clear = old.decrypt_column(col, owners, rows.column("v").to_pylist())
            tokens = _tokens(rows.column("person_id"), new.encrypt_column(col, owners, clear))
            _write_tokens(con, table, column, "VARCHAR", tokens)
            total += rows.num_rows
    return total


# --- opening ----------------------------------------------------------------------------------
def _opened_text(
    table: pa.Table, tag: TagDef, owner: str, cipher: PiiCipher | None
) -> pa.Array | None:
    """A sealed column's values decrypted to their text (None: the column is not sealed)."""
    column = table.column(tag.id)
    if not pa.types.is_string(column.type):
        return None  # an older snapshot's clear value, in its own type
    values = column.to_pylist()
    if not any(is_token(v) for v in values):
        return None if tag.type in ("text", "enum") else pa.array(values, pa.string())
    if cipher is None:
        raise PiiDecryptError(
            f"{tag.id} is personal data stored encrypted; it cannot be read without the "
            "workspace key (read it through the workspace)"
        )
    owners = table.column(owner).to_pylist()
    name = token_column(tag.id)
    opened = [cipher.decrypt(name, o, v) if is_token(v) else v
              for o, v in zip(owners, values, strict=True)]  # fmt: skip
    return pa.array(opened, pa.string())


def open_columns(
    wh: Warehouse,
    table: pa.Table,
    tags: Iterable[TagDef],
    cipher: PiiCipher | None,
    owner: str = "person_id",
) -> pa.Table:
    """``table`` (rows of a snapshot, with the ``owner`` column naming each row's person) with
    its sealed PII tag columns decrypted and cast back to the tags' declared types."""
    opened: dict[str, pa.Array] = {}
    kinds: dict[str, str] = {}
    for tag in tags:
        if tag.pii and tag.id in table.column_names:
            text = _opened_text(table, tag, owner, cipher)
            if text is not None:
                opened[tag.id], kinds[tag.id] = text, tag.type
    if not opened:
        return table
    name = f"_pii_open_{uuid.uuid4().hex[:8]}"
    select = ", ".join(f"{_decoded(quoted(k), kinds[k])} AS {quoted(k)}" for k in opened)
    with wh.reading() as con:
        con.register(name, pa.table(opened))
        try:
            typed = con.sql(f"SELECT {select} FROM {name}").to_arrow_table()
        finally:
            con.unregister(name)
    for tag_id in opened:
        table = table.set_column(table.column_names.index(tag_id), tag_id, typed.column(tag_id))
    return table


def open_row(
    wh: Warehouse, row: dict[str, object], tags: Sequence[TagDef], cipher: PiiCipher | None
) -> dict[str, object]:
    """One snapshot row (a dict, with ``person_id``) with its PII tags opened."""
    pii = [t for t in tags if t.pii and row.get(t.id) is not None]
    if not pii:
        return row
    one = pa.table({"person_id": [row["person_id"]], **{t.id: [row[t.id]] for t in pii}})
    opened = open_columns(wh, one, pii, cipher).to_pylist()[0]
    return {**row, **{t.id: opened[t.id] for t in pii}}


def stage_open_base(
    wh: Warehouse, snapshot: str, tags: Sequence[TagDef], cipher: PiiCipher | None
) -> str:
    """For an incremental build, in its session: the base snapshot with its PII tags opened
    (a temporary table of the opened values and a temporary view over the snapshot reading
    them; never in the warehouse file). Its name; the snapshot itself when nothing is sealed."""
    types = _column_types(wh, snapshot)
    pii = [t for t in tags if t.pii and types.get(t.id) == "VARCHAR"]
    if not pii:
        return snapshot
    cols = ", ".join(quoted(t.id) for t in pii)
    rows = wh.arrow(f"SELECT person_id, {cols} FROM {snapshot}")
    opened = open_columns(wh, rows, pii, cipher)
    wh.register("_pii_base_arrow", opened)
    try:
        wh.execute_local(
            f"CREATE OR REPLACE TEMP TABLE {_OPENED_VALUES} AS SELECT * FROM _pii_base_arrow"
        )
    finally:
        wh.unregister("_pii_base_arrow")
    replaced = ", ".join(f"v.{quoted(t.id)} AS {quoted(t.id)}" for t in pii)
    wh.execute_local(
        f"CREATE OR REPLACE TEMP VIEW {OPENED_BASE} AS SELECT s.* REPLACE ({replaced}) "
        f"FROM {snapshot} s LEFT JOIN {_OPENED_VALUES} v ON v.person_id = s.person_id"
    )
    return OPENED_BASE


def drop_open_base(wh: Warehouse) -> None:
    wh.execute_local(f"DROP VIEW IF EXISTS {OPENED_BASE}")
    wh.execute_local(f"DROP TABLE IF EXISTS {_OPENED_VALUES}")
