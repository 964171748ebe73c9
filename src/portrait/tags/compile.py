"""Compile the catalog into Ibis expressions: pure, so the same expression runs on any engine.

Two stages, so that an incremental build can recompute the first for some persons only:

* ``compile_facts`` — one row per person: every fact tag (aggregates over the person's events
  and their user record). Top-N tags come out flat (``tag__k0``, ``tag__w0``, ...) because Spark
  cannot order a collected list; the store layer folds them into a list when it saves the build.
* ``compile_rules`` — model scores joined in, then every rule computed over the fact row (and,
  for scores, over the whole population), layer by layer in dependency order.

Times are epoch seconds throughout (``timestamp`` tags too), so no engine time zone applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from portrait.tags.catalog import Catalog, dependencies, layers
from portrait.tags.model import TagDef
from portrait.tags.sources import DAY, EVENT_FIELDS, AsOf

RANKED = ("mode", "mode_share", "top")
ZERO_WHEN_EMPTY = {"count", "count_distinct", "distinct_days", "sum"}
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


@dataclass
class Sources:
    """The relations a build reads, as Ibis tables of one backend."""

    events: ir.Table  # tags.sources.event_source
    users: ir.Table  # tags.sources.user_source
    scores: ir.Table | None = None  # model_scores: person_id, tag_id, value (string)


def top_columns(tag: TagDef) -> list[str]:
    """The flat columns a top-N tag is carried in between the engine and the store."""
    return [f"{tag.id}__{p}{i}" for i in range(tag.top_n) for p in ("k", "w")]


# --- conditions and formulas ----------------------------------------------------------------
def param_value(tag: TagDef, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return tag.params[value[1:]]
    if isinstance(value, list):
        return [param_value(tag, v) for v in value]
    return value


def condition(tag: TagDef, cond: dict[str, Any], col: Callable[[str], ir.Value]) -> ir.BooleanValue:
    """A condition mapping compiled to a boolean expression.

    A test on an empty value is null, which filters, CASE branches and ``any`` treat as
    false; ``not`` makes it false first, so that ``not: {x: 5}`` holds for an empty ``x``. The
    expression is left without a blanket COALESCE so that engines can push it into scans.
    """
    parts: list[ir.BooleanValue] = []
    for key, test in cond.items():
        if key == "any":
            subs = [condition(tag, c, col) for c in test]
            parts.append(ibis.or_(*subs) if len(subs) > 1 else subs[0])
        elif key == "all":
            parts.extend(condition(tag, c, col) for c in test)
        elif key == "not":
            parts.append(~condition(tag, test, col).fill_null(False))
        else:
            parts.append(_test(col(key), param_value(tag, test), tag))
    out = parts[0]
    for p in parts[1:]:
        out = out & p
    return out


def _test(value: ir.Value, test: Any, tag: TagDef) -> ir.BooleanValue:
    if isinstance(test, dict):
        out = None
        for op, arg in test.items():
            arg = param_value(tag, arg)
            term = _op(value, op, arg)
            out = term if out is None else out & term
        return out
    if isinstance(test, list):
        return value.isin(test)
    if test is None:
        return value.isnull()
    return value == test


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


def formula(tag: TagDef, node: Any, col: Callable[[str], ir.Value], as_of: AsOf) -> ir.Value:
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
            return a[0].round(int(args[1]))
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


# --- stage 1: facts -------------------------------------------------------------------------
def _window_condition(tag: TagDef, ev: ir.Table, as_of: AsOf) -> ir.BooleanValue:
    parts = []
    if tag.window_days is not None:
        parts.append(ev.t >= as_of.window_start(tag.window_days))
    if tag.fact and tag.fact.where:
        parts.append(condition(tag, tag.fact.where, lambda c: ev[c]))
    if not parts:
        return ibis.literal(True)
    return parts[0] & parts[1] if len(parts) == 2 else parts[0]


def _event_aggregate(tag: TagDef, ev: ir.Table, as_of: AsOf) -> ir.Value:
    f = tag.fact
    assert f is not None
    cond = _window_condition(tag, ev, as_of)
    of = ev[f.of] if f.of else None
    match f.agg:
        case "count":
            return ev.t.count(where=cond)
        case "sum":
            return of.sum(where=cond)
        case "mean":
            return of.mean(where=cond)
        case "min":
            return of.min(where=cond)
        case "max":
            return of.max(where=cond)
        case "first":
            return ev.t.min(where=cond)
        case "last":
            return ev.t.max(where=cond)
        case "share":
            weight = ev[f.of].cast("float64") if f.of else ev.t.notnull().cast("float64")
            hit = condition(tag, f.share_where or {}, lambda c: ev[c])
            num = ibis.ifelse(hit, weight, 0.0).sum(where=cond)
            den = weight.sum(where=cond)
            return num / ibis.ifelse(den == 0, ibis.null("float64"), den)
    raise ValueError(f"{tag.id}: agg {f.agg!r} is not a row aggregate")


DISTINCT = ("count_distinct", "distinct_days")
VIEW_TYPES = ("page_view", "product_view")


def _keyed_column(tag: TagDef) -> str | None:
    """The event column a tag groups by: distinct counts and ranked (mode/top) tags."""
    f = tag.fact
    if f is None or f.source != "events":
        return None
    if f.agg == "distinct_days":
        return "day"
    if f.agg in DISTINCT or f.agg in RANKED:
        return f.of
    return None


def _event_types(tag: TagDef) -> set[str] | None:
    """The event types a fact is limited to by its ``where``, or None when not limited."""
    test = (tag.fact.where or {}).get("type") if tag.fact else None
    if isinstance(test, dict) and set(test) <= {"eq", "in"}:
        test = test.get("eq", test.get("in"))
    if isinstance(test, str):
        return {test}
    if isinstance(test, list) and all(isinstance(x, str) for x in test):
        return set(test)
    return None


def _coarse_filter(tags: list[TagDef], ev: ir.Table, as_of: AsOf) -> list[ir.BooleanValue]:
    """A cheap filter that keeps every event any of ``tags`` may read: the earliest window
    start and the union of their event types (each tag still applies its own condition)."""
    out: list[ir.BooleanValue] = []
    if all(t.window_days is not None for t in tags):
        out.append(ev.t >= min(as_of.window_start(t.window_days) for t in tags))
    types = [_event_types(t) for t in tags]
    if all(x is not None for x in types):
        out.append(ev.type.isin(sorted(set().union(*types))))
    return out


def _keyed_pass(tags: list[TagDef], column: str, ev: ir.Table, as_of: AsOf) -> ir.Table:
    """Every distinct-count and ranked tag over one column, in one grouping by (person, key).

    Grouping the matching events by person and key once serves them all: a distinct count is
    the number of keys a tag's condition held for, a mode or top-N ranks the keys by the tag's
    weight. It replaces one DISTINCT aggregate (or one grouping) per tag, which engines
    evaluate as a separate pass each (Spark expands every row once per distinct aggregate).
    """
    coarse = _coarse_filter(tags, ev, as_of)
    rows = ev.filter(*coarse) if coarse else ev
    sums: dict[str, ir.Value] = {}
    for i, tag in enumerate(tags):
        f = tag.fact
        assert f is not None
        cond = _window_condition(tag, rows, as_of)
        if f.agg in DISTINCT:
            sums[f"_h{i}"] = cond.any()
        else:
            if f.weight_of:
                sums[f"_w{i}"] = rows[f.weight_of].cast("float64").sum(where=cond)
            else:
                sums[f"_w{i}"] = rows.t.count(where=cond).cast("float64")
    g = rows.group_by(["person_id", rows[column].name("_key")]).aggregate(**sums)
    # Ranks and counts are over the known keys only, so the windows sort by weight and key
    # alone; weightless keys rank last and are never taken.
    k = g.filter(g._key.notnull())
    ranks: dict[str, ir.Value] = {}
    for i, tag in enumerate(tags):
        if tag.fact.agg in RANKED:
            w = k[f"_w{i}"].fill_null(0.0)
            ranks[f"_w{i}"] = w
            ranks[f"_r{i}"] = ibis.row_number().over(
                group_by=k.person_id, order_by=[w.desc(), k._key]
            )
    if ranks:
        k = k.mutate(**ranks)
    columns: dict[str, ir.Value] = {}
    for i, tag in enumerate(tags):
        f = tag.fact
        if f.agg in DISTINCT:
            columns[tag.id] = k._key.count(where=k[f"_h{i}"])
            continue
        w, rank = k[f"_w{i}"], k[f"_r{i}"]
        if f.agg == "mode":
            columns[tag.id] = k._key.max(where=(rank == 0) & (w > 0))
            continue
        total = w.sum()
        if f.agg == "mode_share":
            columns[f"_top{i}"] = w.max(where=(rank == 0) & (w > 0))
            columns[f"_known{i}"] = total
            continue
        total = ibis.ifelse(total > 0, total, ibis.null("float64"))
        for j in range(f.n):
            at = (rank == j) & (w > 0)
            columns[f"{tag.id}__k{j}"] = k._key.cast("string").max(where=at)
            columns[f"{tag.id}__w{j}"] = (w.max(where=at) / total).round(FLOAT_DIGITS)
    out = k.group_by("person_id").aggregate(**columns)
    shares = [(i, t) for i, t in enumerate(tags) if t.fact.agg == "mode_share"]
    if not shares:
        return out
    # mode_share is a share of all the weight: units of an unknown brand count against brand
    # concentration, so the unknown key's weight joins the known keys' total
    u = g.filter(g._key.isnull())
    u = u.select(_up=u.person_id, **{f"_unknown{i}": u[f"_w{i}"] for i, _ in shares})
    out = out.left_join(u, out.person_id == u._up)
    values = {}
    for i, tag in shares:
        total = out[f"_known{i}"] + out[f"_unknown{i}"].fill_null(0.0)
        total = ibis.ifelse(total > 0, total, ibis.null("float64"))
        values[tag.id] = (out[f"_top{i}"] / total).round(FLOAT_DIGITS)
    keep = [c for c in columns if not c.startswith("_")]
    return out.select("person_id", *keep, **values)


def event_columns(catalog: Catalog) -> list[str]:
    """The event source columns the fact stage reads (``person_id``, ``t`` and ``type``
    always): what an engine needs to keep of the events for ``compile_facts``, in
    ``EVENT_FIELDS`` order."""
    need = {"person_id", "t", "type"}

    def keys(cond: Any) -> None:
        if isinstance(cond, dict):
            for key, test in cond.items():
                if key in ("any", "all"):
                    for sub in test:
                        keys(sub)
                elif key == "not":
                    keys(test)
                else:
                    need.add(key)

    for tag in catalog:
        f = tag.fact
        if f is None or f.source != "events":
            continue
        need.update(c for c in (f.of, f.weight_of, _keyed_column(tag)) if c)
        keys(f.where)
        keys(f.share_where)
    return [c for c in EVENT_FIELDS if c in need]


def compile_facts(
    catalog: Catalog, src: Sources, as_of: AsOf, persons: ir.Table | None = None
) -> ir.Table:
    """One row per person known before ``as_of`` with every fact tag (stage 1).

    ``persons`` (a table with ``person_id``) limits the rows to those persons.
    """
    ev = src.events.filter(src.events.person_id.notnull(), src.events.t < as_of.epoch)
    us = src.users.filter(src.users.registered_t.isnull() | (src.users.registered_t < as_of.epoch))
    if persons is not None:
        ev = ev.semi_join(persons, ev.person_id == persons.person_id)
        us = us.semi_join(persons, us.person_id == persons.person_id)
    population = ibis.union(ev.select("person_id"), us.select("person_id"), distinct=True)
    keyed: dict[str, list[TagDef]] = {}
    row_tags: list[TagDef] = []
    for t in catalog:
        if t.fact is None or t.fact.source != "events":
            continue
        column = _keyed_column(t)
        if column is None:
            row_tags.append(t)
        else:
            keyed.setdefault(column, []).append(t)
    event_tags = row_tags + [t for tags in keyed.values() for t in tags]
    user_tags = [t for t in catalog if t.fact and t.fact.source == "users"]
    parts: list[ir.Table] = []
    # Row aggregates, one grouping per set of event types: most tags read one type (orders,
    # reviews, messages), so each grouping reads only those rows and evaluates only its own
    # tags' filters, instead of every filter on every event.
    by_types: dict[tuple[str, ...] | None, list[TagDef]] = {}
    for tag in row_tags:
        types = _event_types(tag)
        by_types.setdefault(tuple(sorted(types)) if types else None, []).append(tag)
    # Page and product views are the bulk of a clickstream: groupings that read none of them
    # read a stream without them, so their filters see a fraction of the events.
    rest = ev.filter(~ev.type.isin(VIEW_TYPES))

    def stream(tags: list[TagDef]) -> ir.Table:
        types = [_event_types(t) for t in tags]
        if all(x is not None and not (x & set(VIEW_TYPES)) for x in types):
            return rest
        return ev

    for tags in by_types.values():
        source = stream(tags)
        coarse = _coarse_filter(tags, source, as_of)
        rows = source.filter(*coarse) if coarse else source
        aggs = {}
        for tag in tags:
            value = _event_aggregate(tag, rows, as_of)
            if tag.type == "float":
                value = value.cast("float64").round(FLOAT_DIGITS)
            aggs[tag.id] = value
        parts.append(rows.group_by("person_id").aggregate(**aggs))
    parts.extend(_keyed_pass(tags, column, stream(tags), as_of) for column, tags in keyed.items())
    if user_tags:
        parts.append(us.select("person_id", **{t.id: us[t.fact.of] for t in user_tags}))
    # one chain of joins, each part's key renamed, and a single projection at the end
    wide = population
    keep: list[ir.Value] = [population.person_id]
    for i, part in enumerate(parts):
        part = part.rename({f"_p{i}": "person_id"})
        wide = wide.left_join(part, population.person_id == part[f"_p{i}"])
        keep.extend(part[c] for c in part.columns if c != f"_p{i}")
    wide = wide.select(*keep)
    fills = {t.id: wide[t.id].fill_null(0) for t in event_tags if t.fact.agg in ZERO_WHEN_EMPTY}
    for t in event_tags:
        if t.fact.agg == "mode" and t.type == "int":
            fills[t.id] = wide[t.id].cast("int64")
    # an enum fact holds only its declared values: anything else is unknown (null)
    for t in catalog:
        if t.fact and t.type == "enum" and t.values:
            fills[t.id] = ibis.ifelse(wide[t.id].isin(t.values), wide[t.id], ibis.null("string"))
    return wide.mutate(**fills) if fills else wide


# --- stage 2: models and rules --------------------------------------------------------------
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
        x = col(r.band["of"])
        edges = param_value(tag, r.band["edges"])
        labels = param_value(tag, r.band["labels"])
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
    buckets = int(param_value(tag, r.score.get("buckets", 5)))
    desc = r.score.get("order", "asc") == "desc"

    def scored_in(table: ir.Table) -> ir.BooleanValue:
        scored = table[r.score["of"]].notnull()
        if r.score.get("where"):
            test = condition(tag, r.score["where"], lambda c: table[c])
            scored = scored & test.fill_null(False)
        return scored

    x = wide[r.score["of"]]
    scored = scored_in(wide)
    population = narrow(dependencies(tag))  # the values the thresholds are cut from
    values = population.filter(scored_in(population)).select(_x=population[r.score["of"]])
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


def compile_profile(
    catalog: Catalog, src: Sources, as_of: AsOf, persons: ir.Table | None = None
) -> ir.Table:
    """Both stages: the whole profile table (one row per person) as one expression."""
    return compile_rules(catalog, compile_facts(catalog, src, as_of, persons), as_of, src)
