"""Point-in-time training data: profile features as of a date T, labels from the days after T.

Features are the numeric, bool and enum tags of the profile as of T: every tag is computed from
events before local midnight of T only (the tag engine's as-of rule), and tags filled by models
or read from them are left out, since a model's scores are written later than T. Identities are
taken as they were known before T (``identity_as_of``). The profile is read from a build of that
date when it is current (same catalog and time zone, nothing ingested since, no identity link
seen after it); otherwise the catalog is compiled and run in memory, so training leaves no
snapshot and no entry in the build log behind.

Labels come from ``portrait.models.orders.Orders``, the order lines of known persons, in
windows of local days ``[T, T + h)``; ``portrait.models.split.temporal_split`` places the dates
of an honest evaluation on the data. Every query runs in ``portrait.store.features``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import pandas as pd

from portrait.store import features as feature_store
from portrait.store import pii as stored_pii
from portrait.store.pii import BUILD_USERS
from portrait.store.profiles import snapshot_select
from portrait.tags.build import normalized_facts
from portrait.tags.catalog import Catalog, dependencies
from portrait.tags.compile import Sources, compile_facts, compile_rules
from portrait.tags.model import TagDef
from portrait.tags.sources import DAY, AsOf, event_source, user_source, utc_offsets

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

FEATURE_TYPES = ("int", "float", "bool", "enum")


class TrainingDataError(ValueError):
    """The data cannot give what a model asks (too short for a holdout, unknown feature)."""


# --- which tags are features ----------------------------------------------------------------
def model_fed(catalog: Catalog) -> set[str]:
    """Model tags and every tag that reads one, directly or through other tags."""
    fed = {t.id for t in catalog if t.model is not None}
    for t in catalog:  # the catalog is in dependency order
        if dependencies(t) & fed:
            fed.add(t.id)
    return fed


def feature_tags(catalog: Catalog, only: Sequence[str] | None = None) -> list[TagDef]:
    """The tags a model learns from: every numeric, bool and enum tag that is not personal
    data and not fed by a model (``only``: these tags, checked)."""
    fed = model_fed(catalog)
    if only:
        out = []
        for tag_id in only:
            t = catalog.get(tag_id)
            if t.type not in FEATURE_TYPES:
                raise TrainingDataError(
                    f"tag {tag_id!r} is {t.type}; a feature is one of {', '.join(FEATURE_TYPES)}"
                )
            if tag_id in fed:
                raise TrainingDataError(
                    f"tag {tag_id!r} is filled by a model (or reads one): its values are written "
                    "after the training date, so it cannot be a feature"
                )
            out.append(t)
        return out
    return [t for t in catalog if t.type in FEATURE_TYPES and not t.pii and t.id not in fed]


def closure(catalog: Catalog, tags: Iterable[TagDef]) -> Catalog:
    """The sub-catalog that computes ``tags``: them and every tag they read, in order."""
    needed: set[str] = set()
    todo = [t.id for t in tags]
    while todo:
        tag_id = todo.pop()
        if tag_id not in needed:
            needed.add(tag_id)
            todo.extend(dependencies(catalog.get(tag_id)))
    return Catalog(
        tags=[t for t in catalog if t.id in needed],
        groups=catalog.groups,
        groups2=catalog.groups2,
    )


# --- features -----------------------------------------------------------------------------
def local_midnight(ctx: ModelContext, day: date) -> AsOf:
    """Local midnight of ``day`` in the shop's time zone: the as-of point of that date."""
    return AsOf.from_date(datetime(day.year, day.month, day.day), ctx.profiles.timezone)


def _current_snapshot(ctx: ModelContext, day: date, catalog: Catalog) -> str | None:
    """The snapshot of a build of ``day`` that is current (else None)."""
    found = feature_store.day_build(ctx.warehouse, day.isoformat(), local_midnight(ctx, day).epoch)
    if found is None:
        return None
    current = (
        found.catalog_fingerprint == catalog.fingerprint
        and found.timezone == ctx.profiles.timezone
        and found.last_batch == found.latest_batch
        and found.snapshot_stored
        # a build reads today's identity map; as of a past day, that knows links made later
        and not found.links_since
    )
    return found.snapshot if current else None


def identity_as_of(ctx: ModelContext, epoch: int) -> ir.Table:
    """The identity map as it was known before ``epoch``: an id keeps its person only when it
    is the person's own id or the evidence linking it (an anonymous id seen with the user, a
    merge) was first seen before then; links without a time (shared phone, explicit merges)
    count as known. Without this, a visitor who logs in after T would bring their earlier
    anonymous browsing into the profile as of T, and become a person of it, from the future.
    (A chain of links is cut per link: close to, not exactly, the graph of that time.)"""
    m, links = ctx.warehouse.table("identity_map"), ctx.warehouse.table("identity_links")
    known = links.filter(
        links.first_seen.isnull() | (links.first_seen.epoch_seconds() < epoch)
    ).select(k_kind=links.from_kind, k_id=links.from_id)
    known = known.distinct()
    j = m.left_join(known, (m.id_kind == known.k_kind) & (m.identifier == known.k_id))
    j = j.filter((j.identifier == j.person_id) | j.k_id.notnull())
    return j.select("identifier", "id_kind", "person_id", "conflict")


def known_persons(ctx: ModelContext, day: date) -> set[str]:
    """Persons the shop knew before ``day``: with an event before it, or registered before it.
    A user record without a registration time (Ta-Feng's customers) counts from the person's
    first event: such a record exists because the person turned up at some time, and a profile
    as of T must not learn from who will turn up after T."""
    epoch = local_midnight(ctx, day).epoch
    identity = identity_as_of(ctx, epoch)
    t = ctx.warehouse.table
    ev = event_source(t("events"), t("products"), identity, [(-(2**62), 0)])
    us = user_source(t("users"), identity)
    seen = ev.filter(ev.person_id.notnull(), ev.t < epoch).select("person_id")
    registered = us.filter(us.registered_t < epoch).select("person_id")
    return feature_store.person_ids(ctx.warehouse, seen.union(registered, distinct=True))


def _compute_sql(ctx: ModelContext, day: date, catalog: Catalog, tags: Sequence[TagDef]) -> str:
    """SQL of the profile columns ``tags`` as of ``day``, computed by the tag compiler."""
    tz = ctx.profiles.timezone
    point = local_midnight(ctx, day)
    first = feature_store.first_event_time(ctx.warehouse)
    start = int(first.timestamp()) if first is not None else point.epoch
    offsets = utc_offsets(tz, min(start, point.epoch - 400 * DAY), point.epoch)
    t = ctx.warehouse.table
    identity = identity_as_of(ctx, point.epoch)
    src = Sources(
        events=event_source(t("events"), t("products"), identity, offsets),
        users=user_source(t(BUILD_USERS), identity),  # birth dates decrypted (see below)
        scores=None,  # features never read model scores
    )
    sub = closure(catalog, tags)
    facts = normalized_facts(sub, compile_facts(sub, src, point))
    expr = compile_rules(sub, facts, point, src)
    return snapshot_select(tags, f"({ibis.to_sql(expr, dialect='duckdb', pretty=False)}) AS p")


def profile_features(
    ctx: ModelContext, day: date, tags: Sequence[TagDef], catalog: Catalog | None = None
) -> pd.DataFrame:
    """The profile as of ``day`` (only events before it) of the persons known then
    (``known_persons``), one row per person indexed by ``person_id``, one column per tag of
    ``tags``: numbers as floats, bools as 0/1, enums as categoricals over the tag's declared
    values (the same codes at every date)."""
    catalog = catalog or ctx.profiles.catalog
    snapshot = _current_snapshot(ctx, day, catalog)
    if snapshot is not None:
        table = feature_store.snapshot_columns(ctx.warehouse, snapshot, [t.id for t in tags])
    else:  # computed as a build computes it: the birth dates decrypted for the age tags
        stored_pii.stage_build_users(ctx.warehouse, ctx.profiles.pii())
        try:
            sql = _compute_sql(ctx, day, catalog, tags)
            table = feature_store.computed_profile(ctx.warehouse, sql)
        finally:
            stored_pii.drop_build_users(ctx.warehouse)
    frame = table.to_pandas().set_index("person_id")
    frame = frame.loc[frame.index.isin(known_persons(ctx, day))]
    for t in tags:
        if t.type == "enum":
            frame[t.id] = pd.Categorical(frame[t.id], categories=t.values)
        else:
            frame[t.id] = frame[t.id].astype("float64")
    return frame
