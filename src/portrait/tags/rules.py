"""Stage 2 of a build: model scores joined in, then every rule over the fact rows (pure).

Rules are computed layer by layer in dependency order; a score rule compares each person with
the whole population, so this stage always runs over everyone.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from portrait.tags.catalog import Catalog, dependencies, layers
from portrait.tags.expressions import (
    FLOAT_DIGITS,
    IBIS_TYPE,
    Sources,
    condition,
    formula,
    param_value,
    top_columns,
)
from portrait.tags.model import DEFAULT_BUCKETS, TagDef
from portrait.tags.sources import AsOf


def compile_rules(catalog: Catalog, facts: ir.Table, as_of: AsOf, src: Sources) -> ir.Table:
    """Model scores and every rule over the fact rows (stage 2); then types are fixed."""
    model_tags = [t for t in catalog if t.model is not None]
    rule_layers = layers(catalog)[1:]

    def narrow(names: set[str]) -> ir.Table:
        """``names`` and only what they read, computed from ``facts`` on their own. A score's
        thresholds read the population's values; read from the wide row, which the rows'
        own rules read too, DuckDB would materialise that whole row (all its columns) for
        them: 25% of this stage at 1M persons."""
        need = set(names)
        for layer in reversed(rule_layers):
            for t in layer:
                if t.id in need:
                    need |= dependencies(t)
        models = [t for t in model_tags if t.id in need]
        table = facts.select("person_id", *[c for c in facts.columns if c in need])
        table = _with_models(table, models, src)
        for layer in rule_layers:
            wanted = [t for t in layer if t.id in need]
            if wanted:
                table = table.mutate(**{t.id: _rule(t, table, as_of, narrow) for t in wanted})
        return table

    wide = _with_models(facts, model_tags, src)
    for layer in rule_layers:
        wide = wide.mutate(**{t.id: _rule(t, wide, as_of, narrow) for t in layer})
    keep = ["person_id"]
    for t in catalog:
        keep += top_columns(t) if t.type == "top" else [t.id]
    return wide.select(*keep)


def _with_models(wide: ir.Table, model_tags: list[TagDef], src: Sources) -> ir.Table:
    """``wide`` with the model tags' latest scores (NULL without a score table)."""
    if not model_tags:
        return wide
    # a top-N model tag is scored as its flat columns (tag__k0, tag__w0, ...), one row each
    columns = {c: (t, c) for t in model_tags for c in _model_columns(t)}
    if src.scores is not None:
        s = src.scores
        pivot = s.group_by("person_id").aggregate(
            **{c: s.value.max(where=s.tag_id == c) for c in columns}
        )
        wide = wide.left_join(pivot, "person_id").select(~ibis.selectors.endswith("_right"))
    else:
        wide = wide.mutate(**{c: ibis.null("string") for c in columns})
    return wide.mutate(**{c: wide[c].cast(_model_type(t, c)) for c, (t, _) in columns.items()})


def _model_columns(tag: TagDef) -> list[str]:
    return top_columns(tag) if tag.type == "top" else [tag.id]


def _model_type(tag: TagDef, column: str) -> str:
    if tag.type != "top":
        return IBIS_TYPE[tag.type]
    return "string" if column.rsplit("__", 1)[1].startswith("k") else "float64"


def _rule(
    tag: TagDef, wide: ir.Table, as_of: AsOf, narrow: Callable[[set[str]], ir.Table]
) -> ir.Value:
    r = tag.rule
    assert r is not None
    out_type = IBIS_TYPE[tag.type]

    def col(name: str) -> ir.Value:
        return wide[name]

    if r.cases is not None:
        branches = [
            (condition(tag, c.when, col), ibis.literal(param_value(tag, c.then), type=out_type))
            for c in r.cases
        ]
        otherwise = param_value(tag, r.otherwise)
        return ibis.cases(*branches, else_=ibis.literal(otherwise, type=out_type))
    if r.compute is not None:
        value = formula(tag, r.compute, col, as_of).cast(out_type)
        return value.round(FLOAT_DIGITS) if tag.type == "float" else value
    if r.band is not None:
        x = col(r.band.of)
        edges = param_value(tag, r.band.edges)
        labels = param_value(tag, r.band.labels)
        branches = [
            (x < e, ibis.literal(lab, type=out_type)) for e, lab in zip(edges, labels, strict=False)
        ]
        return ibis.ifelse(
            x.isnull(),
            ibis.null(out_type),
            ibis.cases(*branches, else_=ibis.literal(labels[-1], type=out_type)),
        )
    return _score(tag, wide, narrow).cast(out_type)


def _score(tag: TagDef, wide: ir.Table, narrow: Callable[[set[str]], ir.Table]) -> ir.Value:
    """A score rule: the population split into ``buckets`` by percent rank of ``of`` (ties
    share a score), scored 1 to ``buckets``; higher values score higher (``order: desc``:
    lower values do).

    The percent rank is counted on the distinct values of ``of`` (how many scored persons
    have a smaller value), and each bucket's lowest value becomes a threshold the person's
    value is compared with: no window over the wide row, which would carry all of its
    columns through a sort. The bucket test is in integers, so no rounding decides an edge.
    """
    r = tag.rule
    assert r is not None and r.score is not None
    spec = r.score
    buckets = int(param_value(tag, spec.buckets or DEFAULT_BUCKETS))
    desc = spec.descending

    def scored_in(table: ir.Table) -> ir.BooleanValue:
        scored = table[spec.of].notnull()
        if spec.where is not None:
            test = condition(tag, spec.where, lambda c: table[c])
            scored = scored & test.fill_null(False)
        return scored

    x = wide[spec.of]
    scored = scored_in(wide)
    population = narrow(dependencies(tag))  # the values the thresholds are cut from
    values = population.filter(scored_in(population)).select(_x=population[spec.of])
    counts = values.group_by("_x").aggregate(_c=values._x.count())
    n = counts._c.sum().over()
    upto = counts._c.cumsum(order_by=counts._x.desc() if desc else counts._x)
    ranked = counts.select(_x=counts._x, _below=upto - counts._c, _n=n)
    edges = {}
    for k in range(1, buckets):
        reached = (ranked._below * buckets >= k * (ranked._n - 1)) & (ranked._n > 1)
        edges[f"_e{k}"] = ranked._x.max(where=reached) if desc else ranked._x.min(where=reached)
    if not edges:
        return ibis.ifelse(scored, 1, ibis.null("int64"))
    bounds = ranked.aggregate(**edges)
    score = ibis.literal(1, type="int64")
    for name in edges:
        edge = bounds[name].as_scalar()
        score = score + (x <= edge if desc else x >= edge).fill_null(False).cast("int64")
    return ibis.ifelse(scored, score, ibis.null("int64"))
