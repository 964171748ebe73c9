"""Stage 1 of a build: every fact tag, one row per person, as one Ibis expression (pure).

Aggregates over a person's events and columns of their user record. Top-N tags come out flat
(``tag__k0``, ``tag__w0``, ...) because Spark cannot order a collected list; the store layer
folds them into a list when it saves the build. The expression is shaped for speed: one
grouping per set of event types, one grouping per key column for every distinct-count and
ranked tag (see ``_keyed_pass``), and views of pages kept out of groupings that do not read them.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from portrait.tags.catalog import Catalog
from portrait.tags.conditions import AllOf, Compare
from portrait.tags.conditions import columns as condition_columns
from portrait.tags.expressions import FLOAT_DIGITS, Sources, condition
from portrait.tags.model import TagDef
from portrait.tags.sources import EVENT_FIELDS, AsOf

RANKED = ("mode", "mode_share", "top")
ZERO_WHEN_EMPTY = {"count", "count_distinct", "distinct_days", "sum"}


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
            assert f.share_where is not None  # a share fact has one (model.FactDef)
            hit = condition(tag, f.share_where, lambda c: ev[c])
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
    """The event types a fact is limited to by its ``where`` (a test of ``type`` at its top
    level, by equality or one of a list), or None when not limited."""
    where = tag.fact.where if tag.fact else None
    if not isinstance(where, AllOf):
        return None
    tests = {
        leaf.op: leaf.value
        for item in where.items
        if isinstance(item, Compare) and item.column == "type"
        for leaf in [item.resolved(tag.params)]
    }
    if not tests or not set(tests) <= {"eq", "in"}:
        return None
    test = tests.get("eq", tests.get("in"))
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
    for tag in catalog:
        f = tag.fact
        if f is None or f.source != "events":
            continue
        need.update(c for c in (f.of, f.weight_of, _keyed_column(tag)) if c)
        need |= condition_columns(f.where) | condition_columns(f.share_where)
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
