"""Segment expressions: a small tree of conditions on tags (``Cond``, ``And``, ``Or``), read from
SQL WHERE syntax by :mod:`portrait.segments.parse`.

>>> from portrait.segments.parse import parse_segment
>>> from portrait.tags.catalog import load_catalog
>>> e = parse_segment("gender = 'F' AND NOT price_sensitive", load_catalog().by_id)
>>> str(e)
"gender = 'F' AND price_sensitive = FALSE"

The tree is in negation normal form: ``NOT`` is pushed down to the conditions (``NOT (a > 1)``
becomes ``a <= 1``, ``NOT (x AND y)`` becomes ``NOT x OR NOT y``). This keeps SQL's three-valued
logic: a condition on a tag with no value (NULL) is never true, negated or not, exactly as in a
``WHERE`` clause, so every condition stands for the set of persons it is true for and ``AND`` /
``OR`` are intersection / union of sets.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

NUMERIC_TYPES = frozenset({"int", "float", "timestamp", "date"})

# op -> the op of its negation (for persons with a value; NULL stays not-true)
NEGATE = {
    "eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le",
    "in": "not_in", "not_in": "in", "is_null": "not_null", "not_null": "is_null",
    "has": "not_has", "not_has": "has", "like": "not_like", "not_like": "like",
    "ilike": "not_ilike", "not_ilike": "ilike",
}  # fmt: skip
SYMBOL = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
LIKE_OPS = frozenset({"like", "not_like", "ilike", "not_ilike"})


class SegmentExpressionError(ValueError):
    """The expression cannot be read or does not fit the tag catalog; the message says why."""


@dataclass(frozen=True)
class Cond:
    """One condition on one tag: ``tag op values``.

    Values are normalised: text for enum/text/top tags, bool, int or float for numbers, an
    aware UTC ``datetime`` for timestamps and a ``date`` for dates.
    """

    tag: str
    type: str
    op: str
    values: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return condition_text(self)


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]

    def __str__(self) -> str:
        return " AND ".join(_wrapped(p, Or) for p in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]

    def __str__(self) -> str:
        return " OR ".join(_wrapped(p, And) for p in self.parts)


Node = Cond | And | Or


def _wrapped(node: Node, inner: type) -> str:
    return f"({node})" if isinstance(node, inner) else str(node)


def conditions(node: Node) -> list[Cond]:
    """Every condition of a tree, left to right."""
    if isinstance(node, Cond):
        return [node]
    return [c for p in node.parts for c in conditions(p)]


def tags_of(node: Node) -> list[str]:
    """The tags an expression reads, in order of first use."""
    return list(dict.fromkeys(c.tag for c in conditions(node)))


# --- text ---------------------------------------------------------------------------------------
def literal_text(value: Any, value_type: str) -> str:
    """A value written as a SQL literal (the inverse of parsing it)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return "'" + value.astimezone(UTC).isoformat() + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def condition_text(c: Cond) -> str:
    lits = [literal_text(v, c.type) for v in c.values]
    if c.op in SYMBOL:
        return f"{c.tag} {SYMBOL[c.op]} {lits[0]}"
    if c.op in ("in", "not_in"):
        word = "IN" if c.op == "in" else "NOT IN"
        return f"{c.tag} {word} ({', '.join(lits)})"
    if c.op in ("is_null", "not_null"):
        return f"{c.tag} IS {'NOT ' if c.op == 'not_null' else ''}NULL"
    if c.op in ("has", "not_has"):
        return f"{lits[0]} {'IN' if c.op == 'has' else 'NOT IN'} {c.tag}"
    word = {"like": "LIKE", "not_like": "NOT LIKE", "ilike": "ILIKE", "not_ilike": "NOT ILIKE"}
    return f"{c.tag} {word[c.op]} {lits[0]}"


def suggest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """The closest valid names (difflib), then names containing ``name``."""
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    lowered = name.lower()
    close += [c for c in choices if lowered in c.lower() and c not in close]
    return close[:n]
