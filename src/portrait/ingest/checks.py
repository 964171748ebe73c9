"""Rejection rules of the stage query: each a SQL condition, a reason code and a detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portrait.config import IngestSettings
from portrait.ingest.sql import (
    CURRENCY_COLUMN,
    SourceShape,
    json_object_test,
    lit,
    q,
)
from portrait.schema import CANONICAL, EVENT_TYPES, OPEN_MAP_COLUMN, REQUIRED_BY_TYPE
from portrait.schema.tables import SYSTEM_COLUMNS, Column


@dataclass
class Check:
    """A rejection rule: a SQL condition over the typed columns, a reason code, a detail."""

    condition: str
    code: str
    detail: str


def can_be_wrong_type(shape: SourceShape, col: Column) -> bool:
    """Only text sources, and floats bound for integer columns, can fail to convert."""
    if not shape.has(col.name) or col.sql_type == "VARCHAR":
        return False
    if shape.is_text(col.name):
        return True
    return (
        col.sql_type == "BIGINT" and shape.is_numeric(col.name) and not shape.is_integer(col.name)
    )


def keeps_raw(shape: SourceShape, kind: str) -> list[str]:
    """Source columns whose raw text a check may quote in its detail."""
    table = CANONICAL[kind]
    cols = [
        c.name
        for c in table.columns
        if c.name not in SYSTEM_COLUMNS and can_be_wrong_type(shape, c)
    ]
    name = OPEN_MAP_COLUMN[kind]
    if shape.has(name) and shape.is_text(name):
        cols.append(name)
    return cols


def wrong_type_checks(shape: SourceShape, canonical: list[Column]) -> list[Check]:
    return [
        Check(
            condition=f"({q('_has_' + col.name)} AND {q(col.name)} IS NULL)",
            code="bad_timestamp" if col.sql_type == "TIMESTAMPTZ" else "wrong_type",
            detail=f"{lit(col.name + ' = ')} || left({q('_raw_' + col.name)}, 200)",
        )
        for col in canonical
        if can_be_wrong_type(shape, col)
    ]


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
    checks: list[Check] = []
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
