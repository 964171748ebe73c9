"""Conditions and formulas of a tag as Ibis expressions, and what both compile stages share.

Pure: nothing here runs a query. A condition is compiled by one :class:`~portrait.tags.
conditions.Fold` over its tree; a formula (``compute``) by a walk over its operators.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from portrait.tags.conditions import AllOf, AnyOf, Compare, ConditionNode, Fold, Not, resolve
from portrait.tags.model import TagDef
from portrait.tags.sources import DAY, AsOf

IBIS_TYPE = {
    "bool": "boolean",
    "int": "int64",
    "float": "float64",
    "enum": "string",
    "text": "string",
    "timestamp": "int64",
    "date": "date",
}
FLOAT_DIGITS = 6  # floats are rounded so that engines summing in another order still agree
Column = Callable[[str], ir.Value]


@dataclass
class Sources:
    """The relations a build reads, as Ibis tables of one backend."""

    events: ir.Table  # tags.sources.event_source
    users: ir.Table  # tags.sources.user_source
    scores: ir.Table | None = None  # model_scores: person_id, tag_id, value (string)


def top_columns(tag: TagDef) -> list[str]:
    """The flat columns a top-N tag is carried in between the engine and the store."""
    return [f"{tag.id}__{p}{i}" for i in range(tag.top_n) for p in ("k", "w")]


def param_value(tag: TagDef, value: Any) -> Any:
    """``value`` with ``$name`` read from the tag's ``params`` (in lists too)."""
    return resolve(value, tag.params)


# --- conditions -----------------------------------------------------------------------------
class _Boolean(Fold[ir.BooleanValue]):
    def __init__(self, params: Mapping[str, Any], col: Column) -> None:
        self.params = params
        self.col = col

    def compare(self, leaf: Compare) -> ir.BooleanValue:
        leaf = leaf.resolved(self.params)
        return _op(self.col(leaf.column), leaf.op, leaf.value)

    def all_of(self, node: AllOf, parts: list[ir.BooleanValue]) -> ir.BooleanValue:
        out = parts[0]
        for p in parts[1:]:
            out = out & p
        return out

    def any_of(self, node: AnyOf, parts: list[ir.BooleanValue]) -> ir.BooleanValue:
        return ibis.or_(*parts) if len(parts) > 1 else parts[0]

    def negate(self, node: Not, part: ir.BooleanValue) -> ir.BooleanValue:
        return ~part.fill_null(False)


def condition(tag: TagDef, cond: ConditionNode, col: Column) -> ir.BooleanValue:
    """A condition compiled to a boolean expression over the columns ``col`` gives.

    A test on an empty value is null, which filters, CASE branches and ``any`` treat as
    false; ``not`` makes it false first, so that ``not: {x: 5}`` holds for an empty ``x``. The
    expression is left without a blanket COALESCE so that engines can push it into scans.
    """
    return _Boolean(tag.params, col)(cond)


def _op(value: ir.Value, op: str, arg: Any) -> ir.BooleanValue:
    match op:
        case "eq":
            return value.isnull() if arg is None else value == arg
        case "ne":
            return value.notnull() if arg is None else value != arg
        case "gt":
            return value > arg
        case "ge":
            return value >= arg
        case "lt":
            return value < arg
        case "le":
            return value <= arg
        case "in":
            return value.isin(arg)
        case "not_in":
            return ~value.isin(arg)
        case "is_null":
            return value.isnull() if arg else value.notnull()
    raise ValueError(f"unknown test {op!r}")


# --- formulas -------------------------------------------------------------------------------
def formula(tag: TagDef, node: Any, col: Column, as_of: AsOf) -> ir.Value:
    """A rule's ``compute`` tree compiled to an expression."""
    if isinstance(node, bool):
        return ibis.literal(node)
    if isinstance(node, (int, float)):
        return ibis.literal(node)
    if isinstance(node, str):
        return ibis.literal(param_value(tag, node)) if node.startswith("$") else col(node)
    op, args = next(iter(node.items()))
    a = [formula(tag, x, col, as_of) for x in (args if isinstance(args, list) else [args])]
    match op:
        case "add":
            return _fold(a, lambda x, y: x + y)
        case "mul":
            return _fold(a, lambda x, y: x * y)
        case "sub":
            return a[0] - a[1]
        case "neg":
            return -a[0]
        case "div":
            den = a[1].cast("float64")
            return a[0].cast("float64") / ibis.ifelse(den == 0, ibis.null("float64"), den)
        case "coalesce":
            return ibis.coalesce(*a)
        case "least":
            return _null_if_any_null(a, ibis.least(*a))
        case "greatest":
            return _null_if_any_null(a, ibis.greatest(*a))
        case "round":
            return a[0].round(int(param_value(tag, args[1])))
        case "to_float":
            return a[0].cast("float64")
        case "is_null":
            return a[0].isnull()
        case "not_null":
            return a[0].notnull()
        case "days_since":
            return ((as_of.epoch - a[0]) / DAY).floor().cast("int64")
        case "days_between":
            return ((a[1] - a[0]) / DAY).floor().cast("int64")
        case "age_years":
            d = a[0]
            later = (as_of.month * 100 + as_of.day) < (d.month() * 100 + d.day())
            return (as_of.year - d.year() - later.cast("int64")).cast("int64")
    raise ValueError(f"unknown operator {op!r}")


def _null_if_any_null(args: list[ir.Value], value: ir.Value) -> ir.Value:
    """Engines skip nulls in least/greatest; in a formula, like +, an unknown gives unknown."""
    unknown = ibis.or_(*(x.isnull() for x in args))
    return ibis.ifelse(unknown, ibis.null(value.type()), value)


def _fold(values: list[ir.Value], f: Callable[[Any, Any], Any]) -> ir.Value:
    out = values[0]
    for v in values[1:]:
        out = f(out, v)
    return out
