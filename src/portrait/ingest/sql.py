"""SQL building blocks for the stage query: quoting, source shapes and typed expressions.

Each function returns SQL text that types and cleans one source column; nothing here runs SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from portrait.schema.tables import Column

NUMERIC_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "REAL",
)
INTEGER_PREFIXES = NUMERIC_PREFIXES[:8]
CURRENCY_COLUMN = "currency"
# A JSON source (JSON lines, HTTP) arrives with these columns beside the extracted fields.
JSON_TEXT = "_json"
JSON_OK = "_json_ok"
JSON_EXTRAS = "_extras"
# A file with lines that cannot be read as text arrives with these columns too: the reason
# (invalid_utf8, line_too_long, nul_character), a detail and the line's bytes, escaped, on
# such a row (NULL on the others).
READER_REASON = "_reader_reason"
READER_DETAIL = "_reader_detail"
READER_RAW = "_reader_raw"
JSON_INTERNAL = frozenset(
    {JSON_TEXT, JSON_OK, JSON_EXTRAS, READER_REASON, READER_DETAIL, READER_RAW}
)
# The record's position, named so that no source column (say "_row") can clash with it.
ROW_ALIAS = "__portrait_row"
US = "\x1f"  # separates a reason code from its detail inside the stage query


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class SourceShape:
    """The columns a source relation has, with their DuckDB types."""

    columns: dict[str, str]

    def has(self, name: str) -> bool:
        return name in self.columns

    def type_of(self, name: str) -> str:
        return self.columns[name].upper()

    def is_text(self, name: str) -> bool:
        t = self.type_of(name)
        return t in ("VARCHAR", "JSON") or (t.startswith("VARCHAR") and not self.is_nested(name))

    def is_numeric(self, name: str) -> bool:
        return self.type_of(name).startswith(NUMERIC_PREFIXES)

    def is_integer(self, name: str) -> bool:
        return self.type_of(name).startswith(INTEGER_PREFIXES)

    def is_nested(self, name: str) -> bool:
        t = self.type_of(name)
        return t.startswith(("STRUCT", "MAP", "LIST", "UNION")) or t.endswith("]")


def wide_integer(shape: SourceShape, name: str) -> bool:
    """An integer type whose values may not fit BIGINT."""
    return shape.type_of(name).startswith(("HUGEINT", "UBIGINT", "UHUGEINT"))


# --- typed expressions --------------------------------------------------------------------


def text_expr(shape: SourceShape, name: str) -> str:
    col = f"s.{q(name)}"
    if shape.is_text(name):
        return trimmed(col)
    if shape.is_nested(name):
        return f"CAST(to_json({col}) AS VARCHAR)"
    if shape.is_numeric(name) and not shape.is_integer(name):
        # 12345.0 read from a float column is an id like 12345, not "12345.0" (a huge or
        # infinite float stays as it reads: no integer holds it).
        return (
            f"CASE WHEN {col} = trunc({col}) AND abs({col}) < 1e18 "
            f"THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) ELSE CAST({col} AS VARCHAR) END"
        )
    return f"CAST({col} AS VARCHAR)"


def trimmed(col: str) -> str:
    # Most values need no trimming; testing the ends first avoids copying every string.
    return (
        f"(CASE WHEN starts_with({col}, ' ') OR ends_with({col}, ' ') "
        f"THEN NULLIF(TRIM({col}), '') ELSE NULLIF({col}, '') END)"
    )


def present_expr(shape: SourceShape, name: str) -> str:
    """True when the source gave a non-empty value."""
    col = f"s.{q(name)}"
    if shape.is_text(name):
        return f"{trimmed(col)} IS NOT NULL"
    return f"{col} IS NOT NULL"


def number_expr(shape: SourceShape, name: str, integer: bool) -> str:
    col = f"s.{q(name)}"
    if shape.is_numeric(name):
        if integer and not shape.is_integer(name):
            return f"CASE WHEN {col} = trunc({col}) THEN TRY_CAST({col} AS BIGINT) END"
        if integer:
            # HUGEINT and UBIGINT values can be beyond BIGINT: those become NULL (wrong_type).
            return (
                f"TRY_CAST({col} AS BIGINT)"
                if wide_integer(shape, name)
                else (f"CAST({col} AS BIGINT)")
            )
        if shape.is_integer(name) and not wide_integer(shape, name):
            return f"CAST({col} AS DOUBLE)"
        # NaN and infinities are not numbers a shop can use: NULL (wrong_type).
        return f"CASE WHEN isfinite(CAST({col} AS DOUBLE)) THEN CAST({col} AS DOUBLE) END"
    as_double = f"TRY_CAST(NULLIF(TRIM(CAST({col} AS VARCHAR)), '') AS DOUBLE)"
    if integer:
        return (
            f"CASE WHEN {as_double} = trunc({as_double}) THEN TRY_CAST({as_double} AS BIGINT) END"
        )
    return f"CASE WHEN isfinite({as_double}) THEN {as_double} END"


def timestamp_expr(shape: SourceShape, name: str, tz: str) -> str:
    col = f"s.{q(name)}"
    t = shape.type_of(name)
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return col
    if t.startswith("TIMESTAMP") or t == "DATE":
        return f"timezone({lit(tz)}, CAST({col} AS TIMESTAMP))"
    if shape.is_numeric(name):
        # Epoch seconds, or milliseconds from 1e11 on; beyond 1e15 (or NaN, infinite) it is no
        # time at all (NULL: bad_timestamp).
        x = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN NOT isfinite({x}) OR abs({x}) >= 1e15 THEN NULL "
            f"WHEN abs({x}) >= 100000000000 "
            f"THEN make_timestamptz(CAST({x} * 1000 AS BIGINT)) "
            f"ELSE make_timestamptz(CAST({x} * 1000000 AS BIGINT)) END"
        )
    v = f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
    # A time with a UTC offset: converted when the offset is a real one (-14:00..+14:00,
    # minutes below 60); another (+25:00) makes the time unreadable rather than ignored.
    return (
        f"CASE WHEN regexp_full_match({v}, '-?[0-9]{{1,13}}') THEN "
        f"(CASE WHEN length({v}) >= 12 THEN make_timestamptz(CAST({v} AS BIGINT) * 1000) "
        f"ELSE make_timestamptz(CAST({v} AS BIGINT) * 1000000) END) "
        f"WHEN regexp_matches({v}, '[0-9]:[0-9]{{2}}(:[0-9]{{2}}([.,][0-9]*)?)? ?"
        f"(Z|z|UTC|[+-][0-9:]+)$') "
        f"THEN (CASE WHEN ends_with({v}, 'Z') OR regexp_matches({v}, "
        f"'(z|UTC|[0-9 ][+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)$') "
        f"THEN TRY_CAST({v} AS TIMESTAMPTZ) END) "
        f"ELSE timezone({lit(tz)}, TRY_CAST({v} AS TIMESTAMP)) END"
    )


def date_expr(shape: SourceShape, name: str) -> str:
    col = f"s.{q(name)}"
    t = shape.type_of(name)
    if t == "DATE" or t.startswith("TIMESTAMP"):
        return f"CAST({col} AS DATE)"
    return f"TRY_CAST(NULLIF(TRIM(CAST({col} AS VARCHAR)), '') AS DATE)"


def open_map_expr(shape: SourceShape, name: str, extras: list[str]) -> tuple[str, str | None]:
    """(expression, validity condition) for the JSON properties/attributes column."""
    base = "NULL"
    valid = None
    if shape.has(name):
        base = text_expr(shape, name)
        if shape.is_text(name):
            valid = f"({base} IS NULL OR {json_object_test(base)})"
    if shape.has(JSON_EXTRAS):
        # JSON sources carry their non-canonical keys as one ready-made object.
        guarded = f"CASE WHEN {valid} THEN {base} END" if valid else base
        base = (
            f"CAST(json_merge_patch(coalesce({guarded}, '{{}}'), "
            f"coalesce(s.{JSON_EXTRAS}, '{{}}')) AS VARCHAR)"
        )
        return f"NULLIF({base}, '{{}}')", valid
    if extras:
        pairs = ", ".join(f"{lit(x)}, s.{q(x)}" for x in extras)
        guarded = f"CASE WHEN {valid} THEN {base} END" if valid else base
        base = (
            f"CAST(json_merge_patch(coalesce({guarded}, '{{}}'), "
            f"CAST(json_object({pairs}) AS JSON)) AS VARCHAR)"
        )
    return base, valid


def typed_expr(shape: SourceShape, col: Column, tz: str) -> str:
    if not shape.has(col.name):
        return f"CAST(NULL AS {col.sql_type})"
    if col.sql_type == "VARCHAR":
        return text_expr(shape, col.name)
    if col.sql_type == "DOUBLE":
        return number_expr(shape, col.name, integer=False)
    if col.sql_type == "BIGINT":
        return number_expr(shape, col.name, integer=True)
    if col.sql_type == "TIMESTAMPTZ":
        return timestamp_expr(shape, col.name, tz)
    if col.sql_type == "DATE":
        return date_expr(shape, col.name)
    raise AssertionError(f"no typing rule for {col.sql_type}")


# --- the query ----------------------------------------------------------------------------


def json_object_test(v: str) -> str:
    # json_type() raises on malformed text, so test validity first.
    return f"(CASE WHEN json_valid({v}) THEN json_type({v}) = 'OBJECT' ELSE false END)"
