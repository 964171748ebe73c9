"""The one validation and cleaning path, compiled to a single set-based SQL query.

Files (CSV, Parquet, JSON lines) and HTTP batches all arrive as a relation named by the caller
(``src``). :func:`stage_query` turns it into rows holding the cleaned canonical columns plus
``_reason``/``_detail`` (why a row is rejected, NULL when it is fine) and ``_raw`` (the record
as received, kept for quarantine). Validation runs in bulk inside the database; no per-row
Python runs on the file path.

Cleaning rules (each has a known-answer test in tests/ingest/test_cleaning.py):

* text fields are trimmed; empty strings become NULL; event types are lower-cased;
* timestamps with an offset are converted to UTC; naive ones are read in the source's time zone
  (``[ingest] timezone`` or ``--timezone``); epoch seconds and milliseconds are accepted;
* prices in another currency (a ``currency`` column) are converted to the workspace currency;
* an ``order`` line with a negative quantity is a return: it becomes a ``refund`` event with the
  positive quantity, marked ``{"cleaned": "negative_quantity_order"}`` in properties;
* gender is normalised to F/M/U (the unrecognised raw value is kept in attributes);
* e-mails are lower-cased; phones get a SHA-256 hash of their last 11 digits for matching;
* a missing event_id is replaced by a deterministic hash of the record's content;
* source columns that are not canonical are kept inside the JSON properties/attributes column;
* everything else that is wrong is rejected with a reason (see :mod:`portrait.ingest.reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from portrait.config import IngestSettings
from portrait.schema import CANONICAL, EVENT_TYPES, OPEN_MAP_COLUMN, REQUIRED_BY_TYPE
from portrait.schema.tables import SYSTEM_COLUMNS, Column

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
JSON_INTERNAL = frozenset({JSON_TEXT, JSON_OK, JSON_EXTRAS})
# The record's position, named so that no source column (say "_row") can clash with it.
ROW_ALIAS = "__portrait_row"
US = "\x1f"  # separates a reason code from its detail inside the stage query


class SourceSchemaError(ValueError):
    """A source lacks a column without which none of its records can be used."""


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
        return self.type_of(name) in ("VARCHAR", "JSON") or self.type_of(name).startswith("VARCHAR")

    def is_numeric(self, name: str) -> bool:
        return self.type_of(name).startswith(NUMERIC_PREFIXES)

    def is_integer(self, name: str) -> bool:
        return self.type_of(name).startswith(INTEGER_PREFIXES)


@dataclass
class Check:
    """A rejection rule: a SQL condition over the typed columns, a reason code, a detail."""

    condition: str
    code: str
    detail: str


@dataclass
class StagePlan:
    """The compiled query and what went into it."""

    kind: str
    sql: str
    present: list[str]
    extras: list[str] = field(default_factory=list)


# --- typed expressions --------------------------------------------------------------------


def _text(shape: SourceShape, name: str) -> str:
    col = f"s.{q(name)}"
    if shape.is_text(name):
        return _trimmed(col)
    if shape.type_of(name).startswith(("STRUCT", "MAP", "LIST")) or shape.type_of(name).endswith(
        "[]"
    ):
        return f"CAST(to_json({col}) AS VARCHAR)"
    if shape.is_numeric(name) and not shape.is_integer(name):
        # 12345.0 read from a float column is an id like 12345, not "12345.0".
        return (
            f"CASE WHEN {col} = trunc({col}) THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) "
            f"ELSE CAST({col} AS VARCHAR) END"
        )
    return f"CAST({col} AS VARCHAR)"


def _trimmed(col: str) -> str:
    # Most values need no trimming; testing the ends first avoids copying every string.
    return (
        f"(CASE WHEN starts_with({col}, ' ') OR ends_with({col}, ' ') "
        f"THEN NULLIF(TRIM({col}), '') ELSE NULLIF({col}, '') END)"
    )


def _raw_present(shape: SourceShape, name: str) -> str:
    """True when the source gave a non-empty value."""
    col = f"s.{q(name)}"
    if shape.is_text(name):
        return f"{_trimmed(col)} IS NOT NULL"
    return f"{col} IS NOT NULL"


def _number(shape: SourceShape, name: str, integer: bool) -> str:
    col = f"s.{q(name)}"
    if shape.is_numeric(name):
        if integer and not shape.is_integer(name):
            return f"CASE WHEN {col} = trunc({col}) THEN CAST({col} AS BIGINT) END"
        return f"CAST({col} AS {'BIGINT' if integer else 'DOUBLE'})"
    as_double = f"TRY_CAST(NULLIF(TRIM(CAST({col} AS VARCHAR)), '') AS DOUBLE)"
    if integer:
        return (
            f"CASE WHEN {as_double} = trunc({as_double}) THEN TRY_CAST({as_double} AS BIGINT) END"
        )
    return f"CASE WHEN isfinite({as_double}) THEN {as_double} END"


def _timestamp(shape: SourceShape, name: str, tz: str) -> str:
    col = f"s.{q(name)}"
    t = shape.type_of(name)
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return col
    if t.startswith("TIMESTAMP") or t == "DATE":
        return f"timezone({lit(tz)}, CAST({col} AS TIMESTAMP))"
    if shape.is_numeric(name):
        return (
            f"CASE WHEN abs({col}) >= 100000000000 "
            f"THEN make_timestamptz(CAST({col} * 1000 AS BIGINT)) "
            f"ELSE make_timestamptz(CAST({col} * 1000000 AS BIGINT)) END"
        )
    v = f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
    return (
        f"CASE WHEN regexp_full_match({v}, '-?[0-9]{{1,13}}') THEN "
        f"(CASE WHEN length({v}) >= 12 THEN make_timestamptz(CAST({v} AS BIGINT) * 1000) "
        f"ELSE make_timestamptz(CAST({v} AS BIGINT) * 1000000) END) "
        f"WHEN regexp_matches({v}, '[0-9]:[0-9]{{2}}(:[0-9]{{2}}([.,][0-9]*)?)? ?"
        f"(Z|z|UTC|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') "
        f"THEN TRY_CAST({v} AS TIMESTAMPTZ) "
        f"ELSE timezone({lit(tz)}, TRY_CAST({v} AS TIMESTAMP)) END"
    )


def _date(shape: SourceShape, name: str) -> str:
    col = f"s.{q(name)}"
    t = shape.type_of(name)
    if t == "DATE" or t.startswith("TIMESTAMP"):
        return f"CAST({col} AS DATE)"
    return f"TRY_CAST(NULLIF(TRIM(CAST({col} AS VARCHAR)), '') AS DATE)"


def _open_map(shape: SourceShape, name: str, extras: list[str]) -> tuple[str, str | None]:
    """(expression, validity condition) for the JSON properties/attributes column."""
    base = "NULL"
    valid = None
    if shape.has(name):
        base = _text(shape, name)
        if shape.is_text(name):
            valid = f"({base} IS NULL OR {_json_object_test(base)})"
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


def _typed(shape: SourceShape, col: Column, tz: str) -> str:
    if not shape.has(col.name):
        return f"CAST(NULL AS {col.sql_type})"
    if col.sql_type == "VARCHAR":
        return _text(shape, col.name)
    if col.sql_type == "DOUBLE":
        return _number(shape, col.name, integer=False)
    if col.sql_type == "BIGINT":
        return _number(shape, col.name, integer=True)
    if col.sql_type == "TIMESTAMPTZ":
        return _timestamp(shape, col.name, tz)
    if col.sql_type == "DATE":
        return _date(shape, col.name)
    raise AssertionError(f"no typing rule for {col.sql_type}")


# --- the query ----------------------------------------------------------------------------


def stage_query(
    kind: str,
    shape: SourceShape,
    settings: IngestSettings,
    timezone: str | None = None,
    now: datetime | None = None,
    row_number_sql: str = "row_number() OVER () - 1",
    source: str = "src",
) -> StagePlan:
    """Compile the validation/cleaning query for ``source`` (a relation of ``kind``).

    ``row_number_sql`` gives each record its 0-based position in the source (the file path
    uses the reader's own row numbers, which are free).
    """
    if kind not in CANONICAL:
        raise ValueError(f"unknown kind {kind!r}; use one of {sorted(CANONICAL)}")
    table = CANONICAL[kind]
    key = table.key
    if not shape.has(key) and kind != "events":
        raise SourceSchemaError(
            f"the {kind} source has no {key!r} column (it has: {', '.join(shape.columns)}); "
            f"rename the id column to {key!r}"
        )
    if kind == "events":
        missing = [c for c in ("ts", "type") if not shape.has(c)]
        if missing or not (shape.has("user_id") or shape.has("anonymous_id")):
            need = missing + (
                []
                if shape.has("user_id") or shape.has("anonymous_id")
                else ["user_id or anonymous_id"]
            )
            raise SourceSchemaError(
                f"the events source lacks {', '.join(need)} (it has: {', '.join(shape.columns)});"
                " rename the source columns to the canonical names (see `portrait schema`)"
            )
    tz = timezone or settings.timezone
    now = now or datetime.now(UTC)
    canonical = [c for c in table.columns if c.name not in SYSTEM_COLUMNS]
    canonical_names = {c.name for c in table.columns}
    map_col = OPEN_MAP_COLUMN[kind]
    extras = [
        c
        for c in shape.columns
        if c not in canonical_names and c != CURRENCY_COLUMN and c not in JSON_INTERNAL
    ]
    typed: dict[str, str] = {}
    for col in canonical:
        if col.name == map_col:
            typed[col.name], _ = _open_map(shape, col.name, extras)
        else:
            typed[col.name] = _typed(shape, col, tz)
    if kind == "events" and shape.has("type"):
        typed["type"] = f"lower({typed['type']})"
    checks = _checks(kind, shape, settings, now, extras)

    t_cols = [f"{expr} AS {q(name)}" for name, expr in typed.items()]
    if shape.has(CURRENCY_COLUMN):
        t_cols.append(
            f"upper(NULLIF(TRIM(CAST(s.{q(CURRENCY_COLUMN)} AS VARCHAR)), '')) AS _currency"
        )
    # Whether the source gave a value: needed only where a value can fail to convert.
    t_cols += [
        f"({_raw_present(shape, c)}) AS {q('_has_' + c)}"
        for c in [*_keeps_raw(shape, kind), "ts"]
        if shape.has(c) and c != map_col and (c != "ts" or kind == "events")
    ]
    t_cols += [f"CAST(s.{q(c)} AS VARCHAR) AS {q('_raw_' + c)}" for c in _keeps_raw(shape, kind)]
    if shape.has(JSON_TEXT):
        raw_src = f"s.{JSON_TEXT}"
        t_cols.append(f"s.{JSON_OK} AS {JSON_OK}")
        checks.insert(0, Check(f"(NOT {JSON_OK})", "not_an_object", "left(_src, 200)"))
        raw_json = "_src"
    else:
        raw_src = (
            "{"
            + ", ".join(f"{lit(c)}: s.{q(c)}" for c in shape.columns if c not in JSON_INTERNAL)
            + "}"
        )
        raw_json = "CAST(to_json(_src) AS VARCHAR)"
    t_cols.append(f"{raw_src} AS _src")
    # One CASE chain gives "code<US>detail" for the first failing check: a single pass over
    # the conditions (and half the expressions to plan, which small HTTP batches notice).
    verdict = (
        "CASE "
        + " ".join(
            f"WHEN {c.condition} THEN {lit(c.code + US)} || coalesce({c.detail}, '')"
            for c in checks
        )
        + " END"
    )
    out_cols = _clean_outputs(kind, shape, settings, canonical)
    select_t = ",\n    ".join(t_cols)
    sql = f"""
WITH s AS (SELECT {row_number_sql} AS {ROW_ALIAS}, * FROM {source}),
t AS (
  SELECT s.{ROW_ALIAS} AS _row,
    {select_t}
  FROM s
),
c AS (SELECT t.*, {verdict} AS _verdict FROM t)
SELECT _row,
  {", ".join(f"{expr} AS {q(name)}" for name, expr in out_cols.items())},
  split_part(_verdict, {lit(US)}, 1) AS _reason,
  NULLIF(substr(_verdict, strpos(_verdict, {lit(US)}) + 1), '') AS _detail,
  CASE WHEN _verdict IS NOT NULL THEN {raw_json} END AS _raw
FROM c"""
    return StagePlan(
        kind=kind,
        sql=sql,
        present=[c for c in shape.columns if c in canonical_names],
        extras=extras,
    )


def _can_be_wrong_type(shape: SourceShape, col: Column) -> bool:
    """Only text sources, and floats bound for integer columns, can fail to convert."""
    if not shape.has(col.name) or col.sql_type == "VARCHAR":
        return False
    if shape.is_text(col.name):
        return True
    return (
        col.sql_type == "BIGINT" and shape.is_numeric(col.name) and not shape.is_integer(col.name)
    )


def _keeps_raw(shape: SourceShape, kind: str) -> list[str]:
    """Source columns whose raw text a check may quote in its detail."""
    table = CANONICAL[kind]
    cols = [
        c.name
        for c in table.columns
        if c.name not in SYSTEM_COLUMNS and _can_be_wrong_type(shape, c)
    ]
    name = OPEN_MAP_COLUMN[kind]
    if shape.has(name) and shape.is_text(name):
        cols.append(name)
    return cols


def _json_object_test(v: str) -> str:
    # json_type() raises on malformed text, so test validity first.
    return f"(CASE WHEN json_valid({v}) THEN json_type({v}) = 'OBJECT' ELSE false END)"


def _wrong_type_checks(shape: SourceShape, canonical: list[Column]) -> list[Check]:
    return [
        Check(
            condition=f"({q('_has_' + col.name)} AND {q(col.name)} IS NULL)",
            code="bad_timestamp" if col.sql_type == "TIMESTAMPTZ" else "wrong_type",
            detail=f"{lit(col.name + ' = ')} || left({q('_raw_' + col.name)}, 200)",
        )
        for col in canonical
        if _can_be_wrong_type(shape, col)
    ]


def _json_check(shape: SourceShape, kind: str) -> list[Check]:
    name = OPEN_MAP_COLUMN[kind]
    if not shape.has(name) or not shape.is_text(name):
        return []
    v = f"NULLIF(TRIM({q('_raw_' + name)}), '')"
    return [
        Check(
            condition=f"({v} IS NOT NULL AND NOT {_json_object_test(v)})",
            code="bad_json",
            detail=f"{lit(name + ' = ')} || left({v}, 200)",
        )
    ]


def _currency_check(shape: SourceShape, settings: IngestSettings) -> list[Check]:
    if not shape.has(CURRENCY_COLUMN):
        return []
    known = [settings.currency.upper(), *settings.currency_rates]
    known_sql = ", ".join(map(lit, known))
    return [
        Check(
            condition=f"(_currency IS NOT NULL AND _currency NOT IN ({known_sql}))",
            code="unknown_currency",
            detail="'currency = ' || _currency",
        )
    ]


def _checks(
    kind: str, shape: SourceShape, settings: IngestSettings, now: datetime, extras: list[str]
) -> list[Check]:
    table = CANONICAL[kind]
    canonical = [c for c in table.columns if c.name not in SYSTEM_COLUMNS]
    earliest = lit(settings.earliest_valid)
    latest = lit((now + timedelta(hours=settings.max_future_hours)).isoformat())
    plausible = lambda col: (  # noqa: E731
        f"({q(col)} < CAST({earliest} AS TIMESTAMPTZ) OR {q(col)} > CAST({latest} AS TIMESTAMPTZ))"
    )
    checks: list[Check] = []
    if kind == "events":
        types = ", ".join(lit(t) for t in EVENT_TYPES)
        checks += [
            Check("(user_id IS NULL AND anonymous_id IS NULL)", "missing_identity", "NULL"),
            Check("(type IS NULL)", "missing_type", "NULL"),
            Check(f"(type NOT IN ({types}))", "unknown_event_type", "'type = ' || type"),
            Check("(NOT _has_ts)", "missing_timestamp", "NULL"),
        ]
        checks += _wrong_type_checks(shape, canonical)
        checks += [
            Check(plausible("ts"), "implausible_timestamp", "'ts = ' || CAST(ts AS VARCHAR)")
        ]
        checks += _currency_check(shape, settings)
        checks += [
            Check("(price < 0)", "negative_price", "'price = ' || CAST(price AS VARCHAR)"),
            Check(
                "(discount < 0 OR discount > coalesce(price, discount))",
                "bad_discount",
                "'discount = ' || CAST(discount AS VARCHAR)",
            ),
            Check(
                "(quantity = 0 OR (quantity < 0 AND type <> 'order'))",
                "bad_quantity",
                "'quantity = ' || CAST(quantity AS VARCHAR)",
            ),
            Check(
                "(rating NOT BETWEEN 1 AND 5)",
                "bad_rating",
                "'rating = ' || CAST(rating AS VARCHAR)",
            ),
        ]
        for etype, fields in REQUIRED_BY_TYPE.items():
            for f in fields:
                checks.append(
                    Check(
                        f"(type = {lit(etype)} AND {q(f)} IS NULL)",
                        "missing_field",
                        lit(f"{etype} needs {f}"),
                    )
                )
    else:
        key = table.key
        checks.append(Check(f"({q(key)} IS NULL)", f"missing_{key}", "NULL"))
        checks += _wrong_type_checks(shape, canonical)
        for col in canonical:
            if col.sql_type == "TIMESTAMPTZ" and shape.has(col.name):
                checks.append(
                    Check(
                        plausible(col.name),
                        "implausible_timestamp",
                        f"'{col.name} = ' || CAST({q(col.name)} AS VARCHAR)",
                    )
                )
        if kind == "users" and shape.has("birth_date"):
            oldest = now.date().replace(year=now.year - 120)
            checks.append(
                Check(
                    f"(birth_date > CAST({lit(now.date().isoformat())} AS DATE) OR "
                    f"birth_date < CAST({lit(oldest.isoformat())} AS DATE))",
                    "implausible_birth_date",
                    "'birth_date = ' || CAST(birth_date AS VARCHAR)",
                )
            )
        if kind == "products":
            checks += _currency_check(shape, settings)
            checks.append(
                Check("(price < 0)", "negative_price", "'price = ' || CAST(price AS VARCHAR)")
            )
    checks += _json_check(shape, kind)
    return checks


def _rate_expr(shape: SourceShape, settings: IngestSettings) -> str:
    if not shape.has(CURRENCY_COLUMN) or not settings.currency_rates:
        return "1.0"
    whens = " ".join(f"WHEN {lit(k)} THEN {float(r)!r}" for k, r in settings.currency_rates.items())
    return f"(CASE _currency {whens} ELSE 1.0 END)"


def _clean_outputs(
    kind: str, shape: SourceShape, settings: IngestSettings, canonical: list[Column]
) -> dict[str, str]:
    out = {c.name: q(c.name) for c in canonical}
    rate = _rate_expr(shape, settings)
    if rate != "1.0":
        for money in ("price", "discount"):
            if money in out:
                out[money] = f"{q(money)} * {rate}"
    if kind == "events":
        is_return = "(type = 'order' AND quantity < 0)"
        out["type"] = f"CASE WHEN {is_return} THEN 'refund' ELSE type END"
        out["quantity"] = f"CASE WHEN {is_return} THEN -quantity ELSE quantity END"
        out["properties"] = (
            f"CASE WHEN {is_return} THEN CAST(json_merge_patch(coalesce(properties, '{{}}'), "
            f'\'{{"cleaned": "negative_quantity_order"}}\') AS VARCHAR) ELSE properties END'
        )
        content = ", ".join(
            f"coalesce(CAST({q(c.name)} AS VARCHAR), '')" for c in canonical if c.name != "event_id"
        )
        out["event_id"] = f"coalesce(event_id, 'h:' || md5(concat_ws('|', {content})))"
    if kind == "users":
        g = "lower(gender)"
        out["gender"] = (
            f"CASE WHEN gender IS NULL THEN NULL "
            f"WHEN {g} IN ('f', 'female', 'woman', 'w', '女', '女性') THEN 'F' "
            f"WHEN {g} IN ('m', 'male', 'man', '男', '男性') THEN 'M' ELSE 'U' END"
        )
        out["attributes"] = (
            f"CASE WHEN gender IS NOT NULL AND {g} NOT IN ('f', 'female', 'woman', 'w', '女', "
            f"'女性', 'm', 'male', 'man', '男', '男性', 'u', 'unknown', 'other') "
            f"THEN CAST(json_merge_patch(coalesce(attributes, '{{}}'), "
            f"json_object('gender_raw', gender)) AS VARCHAR) ELSE attributes END"
        )
        out["email"] = "lower(email)"
        out["language"] = "lower(left(language, 2))"
        digits = "regexp_replace(phone, '[^0-9]', '', 'g')"
        out["phone_hash"] = f"CASE WHEN length({digits}) >= 5 THEN sha256(right({digits}, 11)) END"
    return out
