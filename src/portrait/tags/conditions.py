"""Conditions of the tag language as typed nodes, and the one fold that every reader uses.

A condition is written as a mapping of column (in a fact) or tag (in a rule) to a test; all
entries must hold. ``any``/``all``/``not`` keys combine conditions::

    where: {type: [order, refund], price: {gt: 0, le: $max_price}, not: {channel: null}}

It is read into a tree of four nodes: :class:`AllOf` (a mapping, or an ``all:`` list),
:class:`AnyOf`, :class:`Not`, and :class:`Compare` leaves (one test on one column). The compiler,
the catalog checks and the docs all walk it with :class:`Fold`, so a new node is added in one
place. The tree is written back exactly as it was read (``to_mapping``), so a tag's fingerprint
does not depend on how its conditions are held in memory.

>>> cond = parse_condition({"orders_30d": {"ge": 3}, "any": [{"gender": "F"}, {"age": None}]})
>>> [(leaf.column, leaf.op) for leaf in leaves(cond)]
[('orders_30d', 'ge'), ('gender', 'eq'), ('age', 'is_null')]
>>> to_mapping(cond) == {"orders_30d": {"ge": 3}, "any": [{"gender": "F"}, {"age": None}]}
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

CondOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "is_null"]
COND_OPS: tuple[str, ...] = get_args(CondOp)
COMBINERS = ("any", "all", "not")
# A value a test compares with: a scalar (or ``$param``, read from the tag's ``params``), or a
# list of them. Dates and times are there because YAML reads ``2024-01-01`` as a date.
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | date | datetime | None
Operand = Scalar | list[Scalar]
T = TypeVar("T")


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Compare(Node):
    """One test on one column or tag. ``shorthand`` leaves were written ``col: value``
    (equals), ``col: [...]`` (one of) or ``col: null`` (is null) rather than ``col: {op: v}``."""

    column: str
    op: CondOp
    value: Operand
    shorthand: bool = False

    def resolved(self, params: Mapping[str, Any]) -> Compare:
        """This test with its ``$param`` values read from ``params``; a shorthand's test is
        then the one its value calls for (``col: $p`` with a list ``p`` is "one of")."""
        value = resolve(self.value, params)
        op = self.op
        if self.shorthand and op == "eq":
            op = "in" if isinstance(value, list) else "is_null" if value is None else "eq"
            value = True if value is None else value
        return Compare(column=self.column, op=op, value=value, shorthand=self.shorthand)

    @property
    def params(self) -> list[str]:
        """The ``$param`` names this test reads."""
        values = self.value if isinstance(self.value, list) else [self.value]
        return [v[1:] for v in values if is_param(v)]


class AllOf(Node):
    """Every item holds: a condition mapping (its entries), or an ``all:`` list inside one."""

    items: tuple[ConditionNode, ...]


class AnyOf(Node):
    """At least one item holds (``any:``)."""

    items: tuple[ConditionNode, ...]


class Not(Node):
    """The item does not hold (``not:``); an unknown (null) test counts as not holding."""

    item: ConditionNode


ConditionNode = Compare | AllOf | AnyOf | Not
for _model in (AllOf, AnyOf, Not):
    _model.model_rebuild()


def is_param(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$")


def resolve(value: Any, params: Mapping[str, Any]) -> Any:
    """``value`` with ``$name`` read from ``params`` (in lists too)."""
    if is_param(value):
        return params[value[1:]]
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    return value


# --- the one walk ---------------------------------------------------------------------------
class Fold(Generic[T]):
    """Folds a condition tree bottom-up: each node gets its children's results.

    Subclasses say what a leaf, a conjunction, a disjunction and a negation become (an Ibis
    expression, a line of text, a list of leaves); calling the fold on a tree returns it.
    """

    def compare(self, leaf: Compare) -> T:
        raise NotImplementedError

    def all_of(self, node: AllOf, parts: list[T]) -> T:
        raise NotImplementedError

    def any_of(self, node: AnyOf, parts: list[T]) -> T:
        raise NotImplementedError

    def negate(self, node: Not, part: T) -> T:
        raise NotImplementedError

    def __call__(self, node: ConditionNode) -> T:
        match node:
            case Compare():
                return self.compare(node)
            case AllOf():
                return self.all_of(node, [self(item) for item in node.items])
            case AnyOf():
                return self.any_of(node, [self(item) for item in node.items])
            case Not():
                return self.negate(node, self(node.item))
        raise TypeError(f"not a condition node: {node!r}")


class _Leaves(Fold[list[Compare]]):
    def compare(self, leaf: Compare) -> list[Compare]:
        return [leaf]

    def all_of(self, node: AllOf, parts: list[list[Compare]]) -> list[Compare]:
        return [leaf for part in parts for leaf in part]

    any_of = all_of  # type: ignore[assignment]

    def negate(self, node: Not, part: list[Compare]) -> list[Compare]:
        return part


class _Text(Fold[str]):
    def __init__(self, leaf: Callable[[Compare], str]) -> None:
        self.leaf = leaf

    def compare(self, leaf: Compare) -> str:
        return self.leaf(leaf)

    def all_of(self, node: AllOf, parts: list[str]) -> str:
        return " and ".join(parts)

    def any_of(self, node: AnyOf, parts: list[str]) -> str:
        grouped = [
            f"({part})" if isinstance(item, AllOf) and len(item.items) > 1 else part
            for item, part in zip(node.items, parts, strict=True)
        ]
        return "(" + " or ".join(grouped) + ")"

    def negate(self, node: Not, part: str) -> str:
        return f"not ({part})"


def describe(node: ConditionNode, leaf: Callable[[Compare], str]) -> str:
    """A condition in words, each test written by ``leaf``: ``a = 1 and (b > 2 or c < 3)``."""
    return _Text(leaf)(node)


def leaves(node: ConditionNode | None) -> list[Compare]:
    """Every test of a condition, in the order written."""
    return [] if node is None else _Leaves()(node)


def columns(node: ConditionNode | None) -> set[str]:
    """The columns (or tags) a condition reads."""
    return {leaf.column for leaf in leaves(node)}


# --- reading and writing the mapping form ---------------------------------------------------
def parse_condition(raw: Any) -> ConditionNode:
    """A condition mapping as a tree (a tree is returned as it is)."""
    if isinstance(raw, Node):
        return raw  # type: ignore[return-value]
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"a condition must be a non-empty mapping, got {raw!r}")
    items: list[ConditionNode] = []
    for key, test in raw.items():
        if key in ("any", "all"):
            if not isinstance(test, list) or not test:
                raise ValueError(f"`{key}` takes a list of conditions")
            subs = tuple(parse_condition(sub) for sub in test)
            items.append(AnyOf(items=subs) if key == "any" else AllOf(items=subs))
        elif key == "not":
            items.append(Not(item=parse_condition(test)))
        else:
            items.extend(_tests(str(key), test))
    return AllOf(items=tuple(items))


def _tests(column: str, test: Any) -> list[Compare]:
    if not isinstance(test, dict):
        _check_operand(column, "", test)
        if isinstance(test, list):
            return [Compare(column=column, op="in", value=test, shorthand=True)]
        if test is None:
            return [Compare(column=column, op="is_null", value=True, shorthand=True)]
        return [Compare(column=column, op="eq", value=test, shorthand=True)]
    bad = sorted(str(op) for op in set(test) - set(COND_OPS))
    if bad:
        raise ValueError(f"unknown test {bad} on {column!r}; use {sorted(COND_OPS)}")
    if not test:
        raise ValueError(f"the test on {column!r} is empty; give a value or {{op: value}}")
    out = []
    for op, value in test.items():
        _check_operand(column, op, value)
        out.append(Compare(column=column, op=op, value=value))
    return out


def _check_operand(column: str, op: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    if any(isinstance(v, (dict, list)) for v in values):
        what = f"the test {op} on {column!r}" if op else f"the test on {column!r}"
        raise ValueError(f"{what} compares with a value, a list of values or $param, not {value!r}")


def to_mapping(node: ConditionNode) -> dict[str, Any]:
    """The mapping form of a tree: what ``parse_condition`` read, key for key."""
    if not isinstance(node, AllOf):
        return dict([_entry(node)])
    out: dict[str, Any] = {}
    for item in node.items:
        key, value = _entry(item)
        if key not in out:
            out[key] = value
        elif _more_tests(item, out[key]):  # another test of the same column: {gt: 1, le: 5}
            out[key] = {**out[key], **value}
        else:  # a tree built by hand that no mapping writes: say it as a list
            return {"all": [to_mapping(item) for item in node.items]}
    return out


def _more_tests(item: ConditionNode, written: Any) -> bool:
    return (
        isinstance(item, Compare)
        and not item.shorthand
        and isinstance(written, dict)
        and item.op not in written
    )


def _entry(node: ConditionNode) -> tuple[str, Any]:
    match node:
        case Compare(shorthand=True, op="is_null"):
            return node.column, None
        case Compare(shorthand=True):
            return node.column, node.value
        case Compare():
            return node.column, {node.op: node.value}
        case AllOf():
            return "all", [to_mapping(item) for item in node.items]
        case AnyOf():
            return "any", [to_mapping(item) for item in node.items]
        case Not():
            return "not", to_mapping(node.item)
    raise TypeError(f"not a condition node: {node!r}")


# A condition field of a tag definition: read from its mapping, written back as one.
Condition = Annotated[
    ConditionNode,
    BeforeValidator(parse_condition),
    PlainSerializer(to_mapping, return_type=dict[str, Any]),
]
