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
* e-mails are lower-cased; phones' last 11 digits are matched by a keyed HMAC, and phone,
  e-mail, name and address are encrypted, by the loader before any row is stored
  (``store.pii.seal_stage``; the plain hash computed here only stands in until then);
* a missing event_id is replaced by a deterministic hash of the record's content;
* source columns that are not canonical are kept inside the JSON properties/attributes column;
* everything else that is wrong is rejected with a reason (see :mod:`portrait.ingest.reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from portrait.config import IngestSettings
from portrait.ingest.checks import (
    Check,
    build_checks,
    can_be_wrong_type,
    keeps_raw,
    rate_expr,
    reader_checks,
)
from portrait.ingest.sql import (
    CURRENCY_COLUMN,
    JSON_EXTRAS,
    JSON_INTERNAL,
    JSON_OK,
    JSON_TEXT,
    READER_DETAIL,
    READER_RAW,
    READER_REASON,
    ROW_ALIAS,
    US,
    SourceShape,
    lit,
    open_map_expr,
    present_expr,
    q,
    typed_expr,
)
from portrait.schema import CANONICAL, OPEN_MAP_COLUMN
from portrait.schema.tables import SYSTEM_COLUMNS, Column

__all__ = [
    "JSON_EXTRAS",
    "JSON_OK",
    "JSON_TEXT",
    "SourceSchemaError",
    "SourceShape",
    "StagePlan",
    "lit",
    "q",
    "stage_query",
]


class SourceSchemaError(ValueError):
    """A source lacks a column without which none of its records can be used."""


@dataclass
class StagePlan:
    """The compiled query and what went into it."""

    kind: str
    sql: str
    present: list[str]
    extras: list[str] = field(default_factory=list)


# --- typed expressions --------------------------------------------------------------------


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
            typed[col.name], _ = open_map_expr(shape, col.name, extras)
        else:
            typed[col.name] = typed_expr(shape, col, tz)
    if kind == "events" and shape.has("type"):
        typed["type"] = f"lower({typed['type']})"
    checks = build_checks(kind, shape, settings, now, extras)

    t_cols = [f"{expr} AS {q(name)}" for name, expr in typed.items()]
    if shape.has(CURRENCY_COLUMN):
        t_cols.append(
            f"upper(NULLIF(TRIM(CAST(s.{q(CURRENCY_COLUMN)} AS VARCHAR)), '')) AS _currency"
        )
    # Whether the source gave a value: needed only where a value can fail to convert.
    t_cols += [
        f"({present_expr(shape, c)}) AS {q('_has_' + c)}"
        for c in [*(c.name for c in canonical if can_be_wrong_type(shape, c)), "ts"]
        if shape.has(c) and c != map_col and (c != "ts" or kind == "events")
    ]
    t_cols += [f"CAST(s.{q(c)} AS VARCHAR) AS {q('_raw_' + c)}" for c in keeps_raw(shape, kind)]
    if shape.has(READER_REASON):
        t_cols += [f"s.{c} AS {c}" for c in (READER_REASON, READER_DETAIL, READER_RAW)]
    if shape.has(JSON_TEXT):
        raw_src = f"s.{JSON_TEXT}"
        t_cols.append(f"s.{JSON_OK} AS {JSON_OK}")
        # After the reader's checks: a line it could not read is not JSON either.
        first = len(reader_checks(shape))
        checks.insert(first, Check(f"(NOT {JSON_OK})", "not_an_object", "left(_src, 200)"))
        raw_json = "_src"
    else:
        raw_src = (
            "{"
            + ", ".join(f"{lit(c)}: s.{q(c)}" for c in shape.columns if c not in JSON_INTERNAL)
            + "}"
        )
        raw_json = "CAST(to_json(_src) AS VARCHAR)"
    if shape.has(READER_REASON):  # a line that could not be read: its bytes, escaped
        raw_json = f"coalesce({READER_RAW}, {raw_json})"
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
  NULLIF(left(substr(_verdict, strpos(_verdict, {lit(US)}) + 1), 500), '') AS _detail,
  CASE WHEN _verdict IS NOT NULL THEN {bounded(raw_json, settings.max_raw_length)} END AS _raw
FROM c"""
    return StagePlan(
        kind=kind,
        sql=sql,
        present=[c for c in shape.columns if c in canonical_names],
        extras=extras,
    )


def bounded(text_sql: str, limit: int) -> str:
    """``text_sql`` cut to ``limit`` characters, saying how long it was when cut."""
    return (
        f"(CASE WHEN length({text_sql}) > {limit} THEN left({text_sql}, {limit}) || "
        f"'... [cut: ' || length({text_sql}) || ' characters in all]' ELSE {text_sql} END)"
    )


def _clean_outputs(
    kind: str, shape: SourceShape, settings: IngestSettings, canonical: list[Column]
) -> dict[str, str]:
    out = {c.name: q(c.name) for c in canonical}
    rate = rate_expr(shape, settings)
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
