"""Rejection rules of the stage query: each a SQL condition, a reason code and a detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portrait.config import IngestSettings
from portrait.ingest.sql import (
    CURRENCY_COLUMN,
    JSON_TEXT,
    READER_DETAIL,
    READER_REASON,
    SourceShape,
    json_object_test,
    lit,
    q,
    wide_integer,
)
from portrait.schema import CANONICAL, EVENT_TYPES, OPEN_MAP_COLUMN, REQUIRED_BY_TYPE
from portrait.schema.tables import SYSTEM_COLUMNS, Column


@dataclass
class Check:
    """A rejection rule: a SQL condition over the typed columns, a reason code, a detail."""

    condition: str
    code: str
    detail: str


# Id columns: short, and never with a NUL inside (max_id_length). Every other text column but
# the long ones is held to max_text_length.
ID_COLUMNS = frozenset(
    {
        "event_id",
        "user_id",
        "anonymous_id",
        "product_id",
        "order_id",
        "campaign_id",
        "coupon_id",
        "target_user_id",
    }
)
LONG_TEXT_COLUMNS = frozenset({"text"})
# Codes of the records a file reader could not read as text (see portrait.ingest.readers).
READER_CODES = ("invalid_utf8", "line_too_long", "nul_character", "control_character")


def can_be_wrong_type(shape: SourceShape, col: Column) -> bool:
    """Whether a present source value can fail to convert to ``col`` (NULL after typing):
    text; floats bound for integer columns; NaN and infinite floats; integers too wide for
    BIGINT; numbers read as epoch times."""
    name = col.name
    if not shape.has(name) or col.sql_type == "VARCHAR":
        return False
    if shape.is_text(name):
        return True
    if not shape.is_numeric(name):
        return False
    if col.sql_type == "TIMESTAMPTZ":
        return True
    if col.sql_type in ("BIGINT", "DOUBLE"):
        return not shape.is_integer(name) or wide_integer(shape, name)
    return False


def keeps_raw(shape: SourceShape, kind: str) -> list[str]:
    """Text source columns whose raw text a check may quote in its detail."""
    table = CANONICAL[kind]
    cols = [
        c.name
        for c in table.columns
        if c.name not in SYSTEM_COLUMNS and can_be_wrong_type(shape, c) and shape.is_text(c.name)
    ]
    name = OPEN_MAP_COLUMN[kind]
    if shape.has(name) and shape.is_text(name):
        cols.append(name)
    return cols


def wrong_type_checks(shape: SourceShape, canonical: list[Column]) -> list[Check]:
    checks = []
    for col in canonical:
        if not can_be_wrong_type(shape, col):
            continue
        if shape.is_text(col.name):
            detail = f"{lit(col.name + ' = ')} || left({q('_raw_' + col.name)}, 200)"
        else:  # a number that is none (NaN, infinite) or does not fit
            detail = lit(f"{col.name}: not a usable {col.sql_type.lower()} value")
        checks.append(
            Check(
                condition=f"({q('_has_' + col.name)} AND {q(col.name)} IS NULL)",
                code="bad_timestamp" if col.sql_type == "TIMESTAMPTZ" else "wrong_type",
                detail=detail,
            )
        )
    return checks


def any_of(code: str, parts: list[tuple[str, str]]) -> Check:
    """One check for several conditions of the same reason, with the detail of the first that
    holds: one branch of the verdict instead of one per column (every row passes each)."""
    condition = "(" + " OR ".join(f"({c})" for c, _ in parts) + ")"
    if len(parts) == 1:
        return Check(condition, code, parts[0][1])
    detail = "(CASE " + " ".join(f"WHEN {c} THEN {d}" for c, d in parts) + " END)"
    return Check(condition, code, detail)


def reader_checks(shape: SourceShape) -> list[Check]:
    """Lines the file reader could not read (marked in the source's reader columns)."""
    if not shape.has(READER_REASON):
        return []
    return [Check(f"({READER_REASON} = {lit(code)})", code, READER_DETAIL) for code in READER_CODES]


def limit_checks(kind: str, shape: SourceShape, settings: IngestSettings) -> list[Check]:
    """Values beyond any sane size: over-long text, NUL characters, lists or objects where a
    single value belongs, and numbers too large to be a price or a quantity."""
    table = CANONICAL[kind]
    text_cols = [
        c.name
        for c in table.columns
        if c.sql_type == "VARCHAR"
        and c.name not in SYSTEM_COLUMNS
        and c.name != OPEN_MAP_COLUMN[kind]
        and shape.has(c.name)
    ]
    json_source = shape.has(JSON_TEXT)
    checks: list[Check] = []
    too_long = []
    for name in text_cols:
        if name in ID_COLUMNS:
            limit = settings.max_id_length
        elif name in LONG_TEXT_COLUMNS:
            limit = settings.max_long_text_length
        else:
            limit = settings.max_text_length
        too_long.append((name, limit))
    too_long.append((OPEN_MAP_COLUMN[kind], settings.max_json_length))
    checks.append(
        any_of(
            "value_too_long",
            [
                (
                    f"strlen({q(name)}) > {limit}",
                    f"{lit(name + ' is ')} || strlen({q(name)}) || "
                    f"{lit(f' bytes (max {limit:,})')}",
                )
                for name, limit in too_long
            ],
        )
    )
    # A NUL inside a value. JSON can only carry one escaped, so a JSON record is searched once
    # for the escape before its fields are; the fields are searched at once, joined.
    if text_cols:
        joined = "concat(" + ", ".join(q(n) for n in text_cols) + ")"
        gate = "contains(_src, '\\u0000') AND " if json_source else ""
        checks.append(
            Check(
                f"({gate}contains({joined}, chr(0)))",
                "nul_character",
                # (which field: the raw payload shows it; naming it here would cost every small
                # batch more planning than the check itself)
                lit("an id or text field contains a NUL character (U+0000)"),
            )
        )
    # A list or an object where an id belongs (JSON records; nested Parquet columns). In JSON,
    # only a record with an id starting with [ or { is parsed again, for all its ids at once.
    ids = [n for n in text_cols if n in ID_COLUMNS]
    if json_source and ids:
        starts = " OR ".join(f"ascii({q(n)}) IN (91, 123)" for n in ids)
        paths = "[" + ", ".join(lit("$." + n) for n in ids) + "]"
        checks.append(
            Check(
                f"(({starts}) AND list_has_any(json_type(_src, {paths}), ['ARRAY', 'OBJECT']))",
                "wrong_type",
                lit("an id is a list or an object, not a value"),
            )
        )
    nested = [n for n in text_cols if not json_source and shape.is_nested(n)]
    if nested:
        checks.append(
            any_of(
                "wrong_type",
                [
                    (f"{q(n)} IS NOT NULL", lit(f"{n} is a list or an object, not a value"))
                    for n in nested
                ],
            )
        )
    # Checked in the workspace currency: a price that converts beyond the limit is too large.
    max_price = f"{float(settings.max_price)!r}"
    rate = rate_expr(shape, settings)
    too_large = []
    for money in ("price", "discount"):
        if shape.has(money):
            value = q(money) if rate == "1.0" else f"({q(money)} * {rate})"
            too_large.append(
                (
                    f"abs({value}) > {max_price}",
                    f"{lit(money + ' = ')} || CAST({q(money)} AS VARCHAR) || "
                    f"{lit(f' (max {settings.max_price:,.0f})')}",
                )
            )
    if shape.has("quantity") and kind == "events":
        too_large.append(
            (
                f"abs(quantity) > {int(settings.max_quantity)}",
                f"'quantity = ' || CAST(quantity AS VARCHAR) || "
                f"{lit(f' (max {settings.max_quantity:,})')}",
            )
        )
    if too_large:
        checks.append(any_of("value_too_large", too_large))
    if kind == "users":
        if shape.has("email"):
            checks.append(
                Check(
                    "(email IS NOT NULL AND NOT regexp_full_match(email, "
                    "'[^@\\s]+@[^@\\s]+\\.[^@\\s]+'))",
                    "invalid_email",
                    "'email = ' || left(email, 200)",
                )
            )
        if shape.has("phone"):
            digits = "length(regexp_replace(phone, '[^0-9]', '', 'g'))"
            checks.append(
                Check(
                    f"(phone IS NOT NULL AND NOT (regexp_full_match(phone, '[0-9+()./ -]+') "
                    f"AND {digits} BETWEEN 5 AND 20))",
                    "invalid_phone",
                    "'phone = ' || left(phone, 200)",
                )
            )
    return checks


def json_check(shape: SourceShape, kind: str) -> list[Check]:
    name = OPEN_MAP_COLUMN[kind]
    if not shape.has(name) or not shape.is_text(name):
        return []
    v = f"NULLIF(TRIM({q('_raw_' + name)}), '')"
    return [
        Check(
            condition=f"({v} IS NOT NULL AND NOT {json_object_test(v)})",
            code="bad_json",
            detail=f"{lit(name + ' = ')} || left({v}, 200)",
        )
    ]


def rate_expr(shape: SourceShape, settings: IngestSettings) -> str:
    """Units of the workspace currency per unit of the record's currency (SQL)."""
    if not shape.has(CURRENCY_COLUMN) or not settings.currency_rates:
        return "1.0"
    whens = " ".join(f"WHEN {lit(k)} THEN {float(r)!r}" for k, r in settings.currency_rates.items())
    return f"(CASE _currency {whens} ELSE 1.0 END)"


def currency_check(shape: SourceShape, settings: IngestSettings) -> list[Check]:
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


def build_checks(
    kind: str, shape: SourceShape, settings: IngestSettings, now: datetime, extras: list[str]
) -> list[Check]:
    table = CANONICAL[kind]
    canonical = [c for c in table.columns if c.name not in SYSTEM_COLUMNS]
    earliest = lit(settings.earliest_valid)
    latest = lit((now + timedelta(hours=settings.max_future_hours)).isoformat())
    plausible = lambda col: (  # noqa: E731
        f"({q(col)} < CAST({earliest} AS TIMESTAMPTZ) OR {q(col)} > CAST({latest} AS TIMESTAMPTZ))"
    )
    # Unreadable lines and unsafe values first: whatever else is wrong with such a record,
    # its reason says what makes it unsafe to store.
    checks: list[Check] = reader_checks(shape) + limit_checks(kind, shape, settings)
    if kind == "events":
        types = ", ".join(lit(t) for t in EVENT_TYPES)
        checks += [
            Check("(user_id IS NULL AND anonymous_id IS NULL)", "missing_identity", "NULL"),
            Check("(type IS NULL)", "missing_type", "NULL"),
            Check(f"(type NOT IN ({types}))", "unknown_event_type", "'type = ' || type"),
            Check("(NOT _has_ts)", "missing_timestamp", "NULL"),
        ]
        checks += wrong_type_checks(shape, canonical)
        checks += [
            Check(plausible("ts"), "implausible_timestamp", "'ts = ' || CAST(ts AS VARCHAR)")
        ]
        checks += currency_check(shape, settings)
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
        checks += wrong_type_checks(shape, canonical)
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
            checks += currency_check(shape, settings)
            checks.append(
                Check("(price < 0)", "negative_price", "'price = ' || CAST(price AS VARCHAR)")
            )
    checks += json_check(shape, kind)
    return checks
