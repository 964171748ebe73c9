"""A tag checked against the rest of the catalog, once every file is parsed.

Each tag file is validated on its own (``portrait.tags.model``); what needs the whole catalog
is checked here: the columns and tags a tag names exist, the ``$params`` it reads are declared,
a test on an enum tag names its values, a formula is well formed, and what a rule yields fits
its type. The first problem found is returned as a sentence that says the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portrait.tags.conditions import ConditionNode, is_param, leaves
from portrait.tags.model import OPERATORS, FactTag, RuleTag, TagDef, dependencies
from portrait.tags.sources import EVENT_FIELDS, USER_FIELDS


class Problem(Exception):
    """The first thing wrong with a tag (its message says the fix)."""


def reference_problem(tag: TagDef, by_id: Mapping[str, TagDef]) -> str | None:
    """What is wrong with ``tag`` given the catalog ``by_id``, or None."""
    try:
        _References(tag, by_id).check()
    except Problem as p:
        return str(p)
    return None


class _References:
    def __init__(self, tag: TagDef, by_id: Mapping[str, TagDef]) -> None:
        self.tag = tag
        self.by_id = by_id

    def check(self) -> None:
        tag = self.tag
        if isinstance(tag, FactTag):
            self.fact(tag)
        if isinstance(tag, RuleTag):
            self.rule(tag)
        if tag.cross_check is not None and tag.cross_check not in self.by_id:
            raise Problem(f"cross_check names unknown tag {tag.cross_check!r}")

    def param(self, value: Any) -> Any:
        """``value`` with a ``$param`` read from the tag's params (in lists too)."""
        if isinstance(value, list):
            return [self.param(v) for v in value]
        if is_param(value):
            name = value[1:]
            if name not in self.tag.params:
                raise Problem(f"{value} is not in `params`; add `params: {{{name}: ...}}`")
            return self.tag.params[name]
        return value

    # --- facts ------------------------------------------------------------------------------
    def fact(self, tag: FactTag) -> None:
        f = tag.fact
        columns = EVENT_FIELDS if f.source == "events" else USER_FIELDS
        known = ", ".join(sorted(columns))
        for col in (f.of, f.weight_of):
            if col is not None and col not in columns:
                raise Problem(f"{f.source} have no column {col!r}; columns are: {known}")
        for cond in (f.where, f.share_where):
            for leaf in leaves(cond):
                if leaf.column not in columns:
                    raise Problem(
                        f"condition on unknown column {leaf.column!r}; columns are: {known}"
                    )
                self.param(leaf.value)

    # --- rules ------------------------------------------------------------------------------
    def rule(self, tag: RuleTag) -> None:
        r = tag.rule
        for dep in sorted(dependencies(tag)):
            if dep not in self.by_id:
                raise Problem(f"reads unknown tag {dep!r}; define it or fix the name")
        for case in r.cases or []:
            self.condition(case.when)
            self.output(self.param(case.then))
        if r.cases is not None:
            self.output(self.param(r.otherwise))
        if r.compute is not None:
            self.formula(r.compute)
        if r.score is not None:
            self.param(r.score.buckets)
            if r.score.where is not None:
                self.condition(r.score.where)
        if r.band is not None:
            labels, edges = self.param(r.band.labels), self.param(r.band.edges)
            if len(labels) != len(edges) + 1:
                raise Problem(f"band has {len(edges)} edges and needs {len(edges) + 1} labels")
            for label in labels:
                self.output(label)

    def condition(self, cond: ConditionNode) -> None:
        """A condition on tags: each exists, can be compared, and an enum's values fit."""
        for leaf in leaves(cond):
            target = self.by_id[leaf.column]
            if target.type == "top":
                raise Problem(f"tag {leaf.column!r} is a top-N list and cannot be compared")
            value = self.param(leaf.value)
            if target.type != "enum":
                continue
            allowed = set(target.values or [])
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item not in allowed:
                    raise Problem(
                        f"{leaf.column!r} never takes {item!r}; it takes {sorted(allowed)}"
                    )

    def formula(self, node: Any) -> None:
        if isinstance(node, str):
            if is_param(node):
                self.param(node)
            elif node not in self.by_id:
                raise Problem(f"formula reads unknown tag {node!r}")
            return
        if isinstance(node, dict):
            if len(node) != 1:
                raise Problem(f"a formula node has one operator, got {sorted(node)}")
            op, args = next(iter(node.items()))
            if op not in OPERATORS:
                raise Problem(f"unknown operator {op!r}; use one of {sorted(OPERATORS)}")
            args = args if isinstance(args, list) else [args]
            arity = OPERATORS[op]
            if arity is not None and len(args) != arity:
                raise Problem(f"{op} takes {arity} argument(s), got {len(args)}")
            for a in args:
                self.formula(a)
            return
        if not isinstance(node, (int, float, bool)):
            raise Problem(f"a formula leaf is a tag, a number or $param, got {node!r}")

    def output(self, value: Any) -> None:
        """A value the rule yields fits its type."""
        tag = self.tag
        if value is None:
            return
        if tag.type == "enum" and value not in (tag.values or []):
            raise Problem(f"value {value!r} is not among its `values` {tag.values}")
        if tag.type == "bool" and not isinstance(value, bool):
            raise Problem(f"a bool tag yields true or false, not {value!r}")
