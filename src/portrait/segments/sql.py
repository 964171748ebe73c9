"""A checked segment expression as DuckDB SQL over a profile snapshot (the warehouse path).

The SQL is generated from the checked tree, never passed through from the user: literals are
typed by the tag (a timestamp compares with a ``TIMESTAMPTZ`` literal, a date with a ``DATE``),
so the warehouse and the bitmap index answer the same question.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from portrait.segments.expr import SYMBOL, And, Cond, Node, Or
from portrait.store.segments import quote_name

LIKE_WORDS = {"like": "LIKE", "not_like": "NOT LIKE", "ilike": "ILIKE", "not_ilike": "NOT ILIKE"}


def sql_literal(value: Any, value_type: str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.astimezone(UTC).isoformat()}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def where_sql(node: Node, prefix: str = "") -> str:
    """The condition as SQL; ``prefix`` qualifies the columns (e.g. ``s.``)."""
    if isinstance(node, And):
        return "(" + " AND ".join(where_sql(p, prefix) for p in node.parts) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(where_sql(p, prefix) for p in node.parts) + ")"
    return condition_sql(node, prefix)


def condition_sql(c: Cond, prefix: str = "") -> str:
    col = prefix + quote_name(c.tag)
    lits = [sql_literal(v, c.type) for v in c.values]
    if c.op in SYMBOL:
        return f"({col} {SYMBOL[c.op]} {lits[0]})"
    if c.op in ("in", "not_in"):
        return f"({col} {'IN' if c.op == 'in' else 'NOT IN'} ({', '.join(lits)}))"
    if c.op == "is_null":
        return f"({col} IS NULL)"
    if c.op == "not_null":
        return f"({col} IS NOT NULL)"
    if c.op in ("has", "not_has"):
        # NULL (no list) stays NULL under NOT, so 'k' NOT IN tag needs a list without 'k'
        test = f"list_contains(list_transform({col}, lambda x: x.key), {lits[0]})"
        return f"({test})" if c.op == "has" else f"(NOT {test})"
    return f"({col} {LIKE_WORDS[c.op]} {lits[0]})"
