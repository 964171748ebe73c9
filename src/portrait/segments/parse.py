"""Read a segment expression (SQL WHERE syntax over tags) with sqlglot, and check each tag,
operator and value against the tag catalog, into the tree of :mod:`portrait.segments.expr`.

>>> from portrait.tags.catalog import load_catalog
>>> str(parse_segment("days_since_last_order BETWEEN 8 AND 30", load_catalog().by_id))
'days_since_last_order >= 8 AND days_since_last_order <= 30'

Errors say what is wrong and how to write it instead (an unknown tag names the closest ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from portrait.segments.expr import (
    NEGATE,
    NUMERIC_TYPES,
    SYMBOL,
    And,
    Cond,
    Node,
    Or,
    SegmentExpressionError,
    suggest,
)
from portrait.tags.model import TagDef, dependencies

MAX_LENGTH = 20_000
FLIP = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le", "eq": "eq", "ne": "ne"}
COMPARE = {exp.EQ: "eq", exp.NEQ: "ne", exp.LT: "lt", exp.LTE: "le", exp.GT: "gt", exp.GTE: "ge"}


def parse_segment(text: str, tags: Mapping[str, TagDef]) -> Node:
    """Parse and check a segment expression against ``tags`` (tag id -> definition)."""
    if not isinstance(text, str) or not text.strip():
        raise SegmentExpressionError("the segment expression is empty; write e.g. gender = 'F'")
    if len(text) > MAX_LENGTH:
        raise SegmentExpressionError(
            f"the segment expression is {len(text):,} characters; the limit is {MAX_LENGTH:,}"
        )
    try:
        tree = sqlglot.parse_one(text, read="duckdb", into=exp.Condition)
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        where = f" at column {first['col']}" if first.get("col") else ""
        near = f" near {first['highlight']!r}" if first.get("highlight") else ""
        raise SegmentExpressionError(
            f"cannot read the segment expression{where}{near}: "
            f"{first.get('description', str(e))}; write a SQL WHERE condition such as "
            "gender = 'F' AND orders_30d > 0"
        ) from None
    except TokenError as e:
        raise SegmentExpressionError(
            f"cannot read the segment expression: {e} (is a quote not closed?)"
        ) from None
    try:
        return _Reader(tags).node(tree, negate=False)
    except RecursionError:
        raise SegmentExpressionError("the segment expression is nested too deeply") from None


def _did_you_mean(found: list[str], quote: bool = False) -> str:
    if not found:
        return ""
    shown = [f"'{f}'" if quote else f for f in found]
    return f"; did you mean {' or '.join(shown) if len(shown) < 3 else ', '.join(shown)}?"


class _Reader:
    """Turns a sqlglot tree into ``Node``s, checking each tag, operator and value."""

    def __init__(self, tags: Mapping[str, TagDef]) -> None:
        self.tags = tags

    # --- structure ----------------------------------------------------------------------
    def node(self, e: exp.Expression, negate: bool) -> Node:
        if isinstance(e, exp.Paren):
            return self.node(e.this, negate)
        if isinstance(e, exp.Not):
            return self.node(e.this, not negate)
        if isinstance(e, exp.And | exp.Or):
            is_and = isinstance(e, exp.And) != negate  # De Morgan
            parts: list[Node] = []
            for side in (e.this, e.expression):
                part = self.node(side, negate)
                same = And if is_and else Or
                parts.extend(part.parts if isinstance(part, same) else [part])
            return And(tuple(parts)) if is_and else Or(tuple(parts))
        if e.args.get("negate"):  # sqlglot marks some negations on the node: x NOT LIKE 'a%'
            negate = not negate
        if type(e) in COMPARE:
            return self.compare(e, COMPARE[type(e)], negate)
        if isinstance(e, exp.Between):
            return self.between(e, negate)
        if isinstance(e, exp.In):
            return self.in_list(e, negate)
        if isinstance(e, exp.Is):
            return self.is_test(e, negate)
        if isinstance(e, exp.Like | exp.ILike):
            op = "like" if isinstance(e, exp.Like) else "ilike"
            return self.like(e, NEGATE[op] if negate else op)
        if isinstance(e, exp.Column):  # a yes/no tag on its own: `price_sensitive`
            tag = self.tag(e)
            if tag.type != "bool":
                raise SegmentExpressionError(
                    f"{tag.id} is {_a(tag.type)} tag, not a yes/no one; compare it with a "
                    f"value, e.g. {_example(tag)}"
                )
            return Cond(tag.id, tag.type, "eq", (not negate,))
        if isinstance(e, exp.Boolean):
            raise SegmentExpressionError(
                "a segment needs a condition on a tag; TRUE or FALSE alone selects everyone or "
                "no one"
            )
        raise SegmentExpressionError(
            f"{_sql(e)!r} is not a condition this language has: use =, !=, <, <=, >, >=, "
            "BETWEEN, IN, IS [NOT] NULL, LIKE, 'key' IN list_tag, AND, OR, NOT and parentheses"
        )

    # --- conditions ---------------------------------------------------------------------
    def compare(self, e: exp.Expression, op: str, negate: bool) -> Node:
        left, right = e.this, e.expression
        if not isinstance(left, exp.Column) and isinstance(right, exp.Column):
            left, right, op = right, left, FLIP[op]  # 30 >= days_since_x
        tag = self.tag(left, context=e)
        if isinstance(right, exp.Column):
            self.not_a_tag_comparison(tag, right)
        if isinstance(right, exp.Null):
            raise SegmentExpressionError(
                f"{_sql(e)!r} is never true (a comparison with NULL is NULL); write "
                f"{tag.id} IS NULL or {tag.id} IS NOT NULL"
            )
        if tag.type == "top":
            raise SegmentExpressionError(_list_tag_hint(tag, _sql(e), right))
        if op not in ("eq", "ne") and tag.type not in NUMERIC_TYPES:
            raise SegmentExpressionError(
                f"{SYMBOL[op]} does not apply to {tag.id} ({_a(tag.type)} tag: its values have "
                f"no order); use = , != or IN, e.g. {_example(tag)}"
            )
        value = self.value(tag, right)
        return Cond(tag.id, tag.type, NEGATE[op] if negate else op, (value,))

    def between(self, e: exp.Between, negate: bool) -> Node:
        tag = self.tag(e.this, context=e)
        if tag.type not in NUMERIC_TYPES:
            raise SegmentExpressionError(
                f"BETWEEN applies to numbers, dates and times; {tag.id} is {_a(tag.type)} tag"
            )
        low, high = self.value(tag, e.args["low"]), self.value(tag, e.args["high"])
        if negate:  # NOT BETWEEN: below the low end or above the high end
            return Or((Cond(tag.id, tag.type, "lt", (low,)), Cond(tag.id, tag.type, "gt", (high,))))
        return And((Cond(tag.id, tag.type, "ge", (low,)), Cond(tag.id, tag.type, "le", (high,))))

    def in_list(self, e: exp.In, negate: bool) -> Node:
        subject, items = e.this, list(e.expressions)
        field = e.args.get("field")
        if e.args.get("query") is not None:
            raise SegmentExpressionError("subqueries are not allowed in a segment expression")
        # 'beauty' IN category_affinity (membership in a top-N list tag)
        list_side = field if field is not None else (items[0] if len(items) == 1 else None)
        if not isinstance(subject, exp.Column) and isinstance(list_side, exp.Column):
            tag = self.tag(list_side, context=e)
            if tag.type != "top":
                raise SegmentExpressionError(
                    f"{_sql(e)!r}: 'value' IN tag tests membership in a top-N list tag, and "
                    f"{tag.id} is {_a(tag.type)} tag; write {tag.id} = {_sql(subject)}"
                )
            key = self.text_value(tag, subject, what="a key")
            return Cond(tag.id, tag.type, "not_has" if negate else "has", (key,))
        tag = self.tag(subject, context=e)
        if tag.type == "top":
            raise SegmentExpressionError(_list_tag_hint(tag, _sql(e), items[0] if items else None))
        if not items:
            raise SegmentExpressionError(f"{_sql(e)!r}: IN needs at least one value")
        values: list[Any] = []
        for item in items:
            if isinstance(item, exp.Column):
                self.not_a_tag_comparison(tag, item)
            if isinstance(item, exp.Null):
                raise SegmentExpressionError(
                    f"{_sql(e)!r}: NULL in an IN list never matches; add OR {tag.id} IS NULL"
                )
            values.append(self.value(tag, item))
        values = list(dict.fromkeys(values))
        return Cond(tag.id, tag.type, "not_in" if negate else "in", tuple(values))

    def is_test(self, e: exp.Is, negate: bool) -> Node:
        tag = self.tag(e.this, context=e)
        target = e.expression
        if isinstance(target, exp.Null):
            return Cond(tag.id, tag.type, "not_null" if negate else "is_null")
        if isinstance(target, exp.Boolean) and tag.type == "bool":
            wanted = target.this is True
            if not negate:  # IS TRUE: true, and not NULL
                return Cond(tag.id, tag.type, "eq", (wanted,))
            # IS NOT TRUE: false or NULL
            return Or(
                (Cond(tag.id, tag.type, "eq", (not wanted,)), Cond(tag.id, tag.type, "is_null"))
            )
        raise SegmentExpressionError(
            f"{_sql(e)!r}: IS takes NULL (or TRUE/FALSE for a yes/no tag); use = for values"
        )

    def like(self, e: exp.Expression, op: str) -> Node:
        tag = self.tag(e.this, context=e)
        if tag.type not in ("text", "enum"):
            raise SegmentExpressionError(
                f"LIKE matches text; {tag.id} is {_a(tag.type)} tag"
                + (f" ({_list_tag_hint(tag, _sql(e))})" if tag.type == "top" else "")
            )
        pattern = e.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise SegmentExpressionError(f"{_sql(e)!r}: LIKE takes a quoted pattern such as 'Sh%'")
        return Cond(tag.id, tag.type, op, (pattern.this,))

    # --- names and values ---------------------------------------------------------------
    def tag(self, e: exp.Expression, context: exp.Expression | None = None) -> TagDef:
        if not isinstance(e, exp.Column):
            where = f" in {_sql(context)!r}" if context is not None else ""
            raise SegmentExpressionError(
                f"expected a tag name{where}, found {_sql(e)!r}; conditions read "
                "tag op value, e.g. orders_30d > 0"
            )
        if e.table:
            raise SegmentExpressionError(
                f"{_sql(e)!r}: write tag names alone, without a table or prefix"
            )
        ident = e.this
        name = ident.this if ident.quoted else ident.this.lower()
        tag = self.tags.get(name)
        if tag is None:
            found = suggest(name, sorted(self.tags))
            raise SegmentExpressionError(
                f"unknown tag {name!r}{_did_you_mean(found)} (`portrait tags list` shows every tag)"
            )
        if tag.pii:
            raise SegmentExpressionError(_sealed(tag, self.tags))
        return tag

    def not_a_tag_comparison(self, tag: TagDef, other: exp.Column) -> None:
        name = other.this.this
        if other.this.quoted and name not in self.tags:
            raise SegmentExpressionError(
                f'"{name}" is in double quotes, which SQL reads as a name; write text values '
                f"in single quotes: {tag.id} = '{name}'"
            )
        if name not in self.tags:  # a bare word: most often a text value without its quotes
            raise SegmentExpressionError(
                f"{name} is not a tag; write text values in single quotes: {tag.id} = '{name}'"
            )
        raise SegmentExpressionError(
            f"{tag.id} is compared with the tag {name}; compare a tag with a value, not with "
            "another tag"
        )

    def value(self, tag: TagDef, e: exp.Expression) -> Any:
        if tag.type in ("enum", "text"):
            return self.text_value(tag, e, what="a value")
        if tag.type == "bool":
            if isinstance(e, exp.Boolean):
                return e.this is True
            raise SegmentExpressionError(
                f"{tag.id} is a yes/no tag; compare it with TRUE or FALSE, not {_sql(e)}"
            )
        if tag.type in ("int", "float"):
            number = _number(e)
            if number is None:
                raise SegmentExpressionError(
                    f"{tag.id} is a number ({tag.type}); compare it with a number, not {_sql(e)}"
                )
            return number
        return self.time_value(tag, e)

    def text_value(self, tag: TagDef, e: exp.Expression, what: str) -> str:
        if isinstance(e, exp.Literal) and e.is_string:
            value = e.this
        elif isinstance(e, exp.Column) and e.this.quoted:
            raise SegmentExpressionError(
                f'"{e.this.this}" is in double quotes, which SQL reads as a name; write text '
                f"values in single quotes: '{e.this.this}'"
            )
        else:
            raise SegmentExpressionError(
                f"{tag.id} takes text; write {what} in single quotes, e.g. {_example(tag)} "
                f"(found {_sql(e)})"
            )
        if tag.type == "enum" and tag.values and value not in tag.values:
            found = suggest(value, list(tag.values))
            raise SegmentExpressionError(
                f"{tag.id} has no value {value!r}{_did_you_mean(found, quote=True) or '.'} "
                f"Its values: {', '.join(tag.values)}"
            )
        return value

    def time_value(self, tag: TagDef, e: exp.Expression) -> date | datetime:
        text = None
        if isinstance(e, exp.Literal) and e.is_string:
            text = e.this
        elif isinstance(e, exp.Cast) and isinstance(e.this, exp.Literal) and e.this.is_string:
            text = e.this.this  # DATE '2025-01-01', TIMESTAMP '...'
        if text is None:
            raise SegmentExpressionError(
                f"{tag.id} is a {tag.type}; compare it with a quoted ISO "
                f"{'date' if tag.type == 'date' else 'date or time'} such as '2025-01-31'"
                f", not {_sql(e)}"
            )
        try:
            if tag.type == "date":
                return date.fromisoformat(text)
            when = datetime.fromisoformat(text)
        except ValueError:
            example = "'2025-01-31'" if tag.type == "date" else "'2025-01-31' or '2025-01-31T08:00'"
            raise SegmentExpressionError(
                f"{text!r} is not {'a date' if tag.type == 'date' else 'a date or time'} for "
                f"{tag.id}; write it as {example}"
            ) from None
        # A time without a zone is UTC, as the warehouse reads it.
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _number(e: exp.Expression) -> int | float | None:
    sign = 1
    while isinstance(e, exp.Neg):
        sign, e = -sign, e.this
    if isinstance(e, exp.Paren):
        return _number(e.this)
    if not isinstance(e, exp.Literal) or e.is_string:
        return None
    text = e.this
    try:
        value: int | float = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
    return sign * value


def _sql(e: exp.Expression) -> str:
    return e.sql(dialect="duckdb")


def _a(value_type: str) -> str:
    names = {
        "enum": "an enum", "text": "a text", "bool": "a yes/no", "int": "an integer",
        "float": "a number", "timestamp": "a timestamp", "date": "a date", "top": "a top-N list",
    }  # fmt: skip
    return names.get(value_type, f"a {value_type}")


def _example(tag: TagDef) -> str:
    if tag.type == "enum" and tag.values:
        return f"{tag.id} = '{tag.values[0]}'"
    if tag.type == "bool":
        return f"{tag.id} = TRUE"
    if tag.type == "top":
        return f"'some_key' IN {tag.id}"
    if tag.type in ("timestamp", "date"):
        return f"{tag.id} >= '2025-01-01'"
    if tag.type in ("int", "float"):
        return f"{tag.id} > 0"
    return f"{tag.id} = 'some value'"


def _list_tag_hint(tag: TagDef, text: str, key: exp.Expression | None = None) -> str:
    k = _sql(key) if isinstance(key, exp.Literal) and key.is_string else "'some_key'"
    return (
        f"{text!r}: {tag.id} is a top-N list of keys; test membership as "
        f"{k} IN {tag.id} (or {k} NOT IN {tag.id}, {tag.id} IS NULL)"
    )


def _sealed(tag: TagDef, tags: Mapping[str, TagDef]) -> str:
    """Why a personal-data tag cannot be segmented on, and the tags derived from it instead."""
    derived, grew = {tag.id}, True
    while grew:  # the tags that read it, directly or through another (age_band reads age)
        more = {t.id for t in tags.values() if dependencies(t) & derived} - derived
        derived, grew = derived | more, bool(more)
    instead = sorted(derived - {tag.id})
    hint = f"; segment on {' or '.join(instead)} instead" if instead else ""
    return f"{tag.id} is personal data stored encrypted (a token per person){hint}"
