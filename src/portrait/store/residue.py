"""What in the warehouse still mentions a person (``portrait privacy residue``).

Three searches, each counting rows per place (``table.column``):

- **in clear**: every VARCHAR column of every base table, in every schema (profile snapshots
  included), for each identifier given in clear, as a whole word (so ``u1`` is not found in
  ``u10``, but is in a composite key such as ``campaign/u1/email`` or in a JSON payload);
- **by pseudonym**: the person columns (``store.erasure.PERSON_COLUMNS``) of every table, for
  values whose keyed pseudonym is one of an erasure's tombstones: the identifiers the caller
  no longer knows in clear (a merged user id, a device id) are found by their HMAC, computed
  in the database (HMAC-SHA256 from two SHA-256, the key passed as a parameter);
- **bitmaps**: the person's dense segment id in every stored membership and index bitmap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyroaring import BitMap

from portrait.store.erasure import PERSON_COLUMNS, PSEUDONYM_KIND
from portrait.store.warehouse import Warehouse

WORD_CHARS = "0-9A-Za-z_.@:-"  # characters an identifier may continue with


def _tables(wh: Warehouse) -> list[tuple[str, str, list[str]]]:
    """(schema, table, VARCHAR columns) of every base table of the warehouse."""
    rows = wh.fetchall(
        "SELECT c.table_schema, c.table_name, list(c.column_name ORDER BY c.ordinal_position) "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
        "AND c.data_type = 'VARCHAR' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [(s, t, list(cols)) for s, t, cols in rows]


def _name(schema: str, table: str) -> str:
    return table if schema == "main" else f"{schema}.{table}"


def word_pattern(identifier: str) -> str:
    """A regular expression finding ``identifier`` as a whole word."""
    return f"(^|[^{WORD_CHARS}]){re.escape(identifier)}($|[^{WORD_CHARS}])"


def clear_mentions(wh: Warehouse, identifiers: Sequence[str]) -> dict[str, int]:
    """Rows per ``table.column`` holding one of ``identifiers`` as a whole word."""
    if not identifiers:
        return {}
    params: list[str] = []
    for identifier in identifiers:
        params += [identifier, word_pattern(identifier)]
    found: dict[str, int] = {}
    for schema, table, columns in _tables(wh):
        counts = []
        for c in columns:
            any_id = " OR ".join(
                f'(contains("{c}", ${2 * i + 1}) AND regexp_matches("{c}", ${2 * i + 2}))'
                for i in range(len(identifiers))
            )
            counts.append(f"count(*) FILTER (WHERE {any_id})")
        row = wh.fetchone(f'SELECT {", ".join(counts)} FROM "{schema}"."{table}"', params)
        for column, n in zip(columns, row or (), strict=False):
            if n:
                found[f"{_name(schema, table)}.{column}"] = int(n)
    return found


def _hmac_sql(column: str) -> str:
    inner = f"unhex(sha256($ipad || encode('{PSEUDONYM_KIND}' || chr(0) || \"{column}\")))"
    return f"sha256($opad || {inner})"


def pseudonym_mentions(wh: Warehouse, mac_key: bytes, pseudonyms: Sequence[str]) -> dict[str, int]:
    """Rows per ``table.column`` (person columns only) whose value's keyed pseudonym (kind
    ``erased``, under ``mac_key``) is one of ``pseudonyms``."""
    if not pseudonyms:
        return {}
    block = mac_key.ljust(64, b"\0")  # HMAC-SHA256: a key up to 64 bytes, padded
    params = {
        "ipad": bytes(b ^ 0x36 for b in block),
        "opad": bytes(b ^ 0x5C for b in block),
        "wanted": list(pseudonyms),
    }
    found: dict[str, int] = {}
    for schema, table, columns in _tables(wh):
        mine = [c for c in columns if c in PERSON_COLUMNS]
        if not mine:
            continue
        counts = ", ".join(
            f'count(*) FILTER (WHERE "{c}" IS NOT NULL AND list_contains($wanted, {_hmac_sql(c)}))'
            for c in mine
        )
        with wh.reading() as con:
            row = con.execute(f'SELECT {counts} FROM "{schema}"."{table}"', params).fetchone()
        for column, n in zip(mine, row or (), strict=False):
            if n:
                found[f"{_name(schema, table)}.{column}"] = int(n)
    return found


_BITMAPS = (
    ("segment_members", "member_key", "bitmap"),
    ("segment_index_builds", "build_id", "universe"),
    ("segment_index_tags", "tag_key", "present"),
    ("segment_index_bitmaps", "bitmap_key", "bitmap"),
)


def bitmap_mentions(wh: Warehouse, pid: int) -> dict[str, int]:
    """Stored bitmaps holding the dense segment id ``pid``, per ``table.column``."""
    found: dict[str, int] = {}
    for table, key, column in _BITMAPS:
        n = 0
        for (k,) in wh.fetchall(f"SELECT {key} FROM {table}"):
            blob = wh.fetchone(f"SELECT {column} FROM {table} WHERE {key} = ?", [k])
            if blob is not None and pid in BitMap.deserialize(blob[0]):
                n += 1
        if n:
            found[f"{table}.{column}"] = n
    return found
