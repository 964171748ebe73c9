"""Point-in-time training data: profile features as of a date T, labels from the days after T.

Features are the numeric, bool and enum tags of the profile as of T: every tag is computed from
events before local midnight of T only (the tag engine's as-of rule), and tags filled by models
or read from them are left out, since a model's scores are written later than T. Identities are
taken as they were known before T (``identity_as_of``). The profile is read from a build of that
date when it is current (same catalog and time zone, nothing ingested since, no identity link
seen after it); otherwise the catalog is compiled and run in memory, so training leaves no
snapshot and no entry in the build log behind.

Labels come from :class:`Orders`, the order lines of known persons, in windows of local days
``[T, T + h)``. :func:`temporal_split` places the dates of an honest evaluation on the data:

* train at ``T1``: features before T1, labels from ``[T1, T1 + h)``;
* evaluate at ``T2 = end - holdout`` (``T2 >= T1 + h``): features before T2, labels from
  ``[T2, T2 + h)``, a period the trained model never saw;
* refit at ``end - h`` (the latest window with a whole label window after it) and score
  everyone as of ``end``, the day after the last event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from portrait.store.profiles import snapshot_select
from portrait.tags.build import default_as_of, normalized_facts
from portrait.tags.catalog import Catalog, dependencies
from portrait.tags.compile import Sources, compile_facts, compile_rules
from portrait.tags.model import TagDef
from portrait.tags.sources import DAY, AsOf, event_source, user_source, utc_offsets

if TYPE_CHECKING:
    from portrait.workspace import Workspace

FEATURE_TYPES = ("int", "float", "bool", "enum")
MIN_HISTORY_DAYS = 30  # events needed before the training date


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


# --- dates --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemporalSplit:
    """The dates of one training run (see the module docstring)."""

    first_day: date  # the first event's local day
    end: date  # the day after the last event: the scoring date
    horizon_days: int
    train_at: date
    test_at: date

    @property
    def refit_at(self) -> date:
        return self.end - timedelta(days=self.horizon_days)

    def label_window(self, at: date) -> tuple[date, date]:
        return at, at + timedelta(days=self.horizon_days)

    def describe(self) -> dict[str, Any]:
        """The data window, as a model card records it (label windows: [from, to) in days)."""
        h = timedelta(days=self.horizon_days)
        return {
            "events_from": self.first_day.isoformat(),
            "events_until": self.end.isoformat(),
            "horizon_days": self.horizon_days,
            "train_features_before": self.train_at.isoformat(),
            "train_labels": [self.train_at.isoformat(), (self.train_at + h).isoformat()],
            "holdout_features_before": self.test_at.isoformat(),
            "holdout_labels": [self.test_at.isoformat(), (self.test_at + h).isoformat()],
            "refit_features_before": self.refit_at.isoformat(),
            "refit_labels": [self.refit_at.isoformat(), self.end.isoformat()],
            "scored_as_of": self.end.isoformat(),
            "scheme": (
                "temporal holdout: fit on features before T1 with labels from [T1, T1+h); "
                "metrics on features before T2 with labels from [T2, T2+h), T2 >= T1+h; "
                "the written scores come from the same recipe refit at end-h and applied "
                "to the profile as of end"
            ),
        }


def parse_day(text: str | date | None, what: str) -> date | None:
    if text is None or isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TrainingDataError(f"{what} {text!r} is not a date; write it as YYYY-MM-DD") from None


def data_days(ws: Workspace) -> tuple[date, date]:
    """(first event's local day, the day after the last event)."""
    tz = ws.profiles.timezone
    first = ws.warehouse.fetchone("SELECT min(ts) FROM events")[0]
    if first is None:
        raise TrainingDataError("no events yet: ingest or load data before training a model")
    a = AsOf.from_epoch(int(first.timestamp()), tz)
    return date(a.year, a.month, a.day), default_as_of(ws.warehouse, tz)


def fitting_horizon(first_day: date, end: date, preferred: int, shortest: int = 14) -> int:
    """``preferred`` when the data hold a temporal holdout with it, else the longest horizon
    that fits (at least ``shortest``; a shorter one could not tell a churner from a pause)."""
    fits = ((end - first_day).days - MIN_HISTORY_DAYS) // 2
    return preferred if fits >= preferred else max(fits, shortest)


def temporal_split(
    first_day: date,
    end: date,
    horizon_days: int,
    holdout_days: int | None = None,
    as_of: str | date | None = None,
    min_history_days: int = MIN_HISTORY_DAYS,
) -> TemporalSplit:
    """Place the training and evaluation dates, or say clearly why the data are too short."""
    h = horizon_days
    if h < 1:
        raise TrainingDataError(f"horizon of {h} days: it must be at least 1 day")
    holdout = holdout_days or h
    if holdout < h:
        raise TrainingDataError(
            f"a held-out period of {holdout} days cannot hold a whole label window of {h} days; "
            f"use --holdout-days {h} or more"
        )
    span = (end - first_day).days
    needed = min_history_days + h + holdout
    test_at = end - timedelta(days=holdout)
    train_at = parse_day(as_of, "as-of date") or test_at - timedelta(days=h)
    if span < needed:
        raise TrainingDataError(
            f"too little data for a temporal holdout: it needs at least {needed} days of events "
            f"({min_history_days} of history, a {h}-day label window to train on and a "
            f"{holdout}-day held-out period), and the events span {span} days "
            f"({first_day} .. {end - timedelta(days=1)}); use a shorter --horizon-days "
            f"(at most {max((span - min_history_days) // 2, 0)} here)"
        )
    if train_at + timedelta(days=h) > test_at:
        raise TrainingDataError(
            f"as-of date {train_at}: its label window runs into the held-out period from "
            f"{test_at}; choose {test_at - timedelta(days=h)} or earlier"
        )
    if (train_at - first_day).days < min_history_days:
        raise TrainingDataError(
            f"as-of date {train_at} leaves {(train_at - first_day).days} days of history before "
            f"it; a model needs at least {min_history_days} (events start {first_day})"
        )
    return TemporalSplit(first_day, end, h, train_at, test_at)


# --- features -----------------------------------------------------------------------------
def _current_snapshot(ws: Workspace, day: date, catalog: Catalog) -> str | None:
    """The snapshot of a build of ``day`` that is current (else None)."""
    wh = ws.warehouse
    row = wh.fetchone(
        "SELECT snapshot, catalog_fingerprint, timezone, last_batch FROM tag_builds "
        "WHERE as_of = CAST(? AS DATE) ORDER BY finished_at DESC LIMIT 1",
        [day.isoformat()],
    )
    if row is None:
        return None
    snapshot, fingerprint, tz, last_batch = row
    latest_batch = wh.fetchone("SELECT arg_max(batch_id, finished_at) FROM ingest_batches")[0]
    exists = wh.fetchone(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'snapshots' "
        "AND table_name = ?",
        [snapshot.split(".")[1]],
    )[0]
    # a build reads today's identity map; as of a past day, that knows links made later
    point = AsOf.from_date(datetime(day.year, day.month, day.day), ws.profiles.timezone)
    later_links = wh.fetchone(
        "SELECT count(*) FROM identity_links WHERE first_seen >= to_timestamp(?)", [point.epoch]
    )[0]
    current = (
        fingerprint == catalog.fingerprint
        and tz == ws.profiles.timezone
        and last_batch == latest_batch
        and exists
        and not later_links
    )
    return snapshot if current else None


def identity_as_of(ws: Workspace, epoch: int) -> ir.Table:
    """The identity map as it was known before ``epoch``: an id keeps its person only when it
    is the person's own id or the evidence linking it (an anonymous id seen with the user, a
    merge) was first seen before then; links without a time (shared phone, explicit merges)
    count as known. Without this, a visitor who logs in after T would bring their earlier
    anonymous browsing into the profile as of T, and become a person of it, from the future.
    (A chain of links is cut per link: close to, not exactly, the graph of that time.)"""
    m, links = ws.warehouse.table("identity_map"), ws.warehouse.table("identity_links")
    known = links.filter(
        links.first_seen.isnull() | (links.first_seen.epoch_seconds() < epoch)
    ).select(k_kind=links.from_kind, k_id=links.from_id)
    known = known.distinct()
    j = m.left_join(known, (m.id_kind == known.k_kind) & (m.identifier == known.k_id))
    j = j.filter((j.identifier == j.person_id) | j.k_id.notnull())
    return j.select("identifier", "id_kind", "person_id", "conflict")


def known_persons(ws: Workspace, day: date) -> set[str]:
    """Persons the shop knew before ``day``: with an event before it, or registered before it.
    A user record without a registration time (Ta-Feng's customers) counts from the person's
    first event: such a record exists because the person turned up at some time, and a profile
    as of T must not learn from who will turn up after T."""
    wh = ws.warehouse
    epoch = AsOf.from_date(datetime(day.year, day.month, day.day), ws.profiles.timezone).epoch
    identity = identity_as_of(ws, epoch)
    t = wh.table
    ev = event_source(t("events"), t("products"), identity, [(-(2**62), 0)])
    us = user_source(t("users"), identity)
    seen = ev.filter(ev.person_id.notnull(), ev.t < epoch).select("person_id")
    registered = us.filter(us.registered_t < epoch).select("person_id")
    sql = ibis.to_sql(seen.union(registered, distinct=True), dialect="duckdb")
    return {r[0] for r in wh.fetchall(str(sql))}


def _compute_sql(ws: Workspace, day: date, catalog: Catalog, tags: Sequence[TagDef]) -> str:
    """SQL of the profile columns ``tags`` as of ``day``, computed by the tag compiler."""
    wh, tz = ws.warehouse, ws.profiles.timezone
    point = AsOf.from_date(datetime(day.year, day.month, day.day), tz)
    first = wh.fetchone("SELECT min(ts) FROM events")[0]
    start = int(first.timestamp()) if first is not None else point.epoch
    offsets = utc_offsets(tz, min(start, point.epoch - 400 * DAY), point.epoch)
    t = wh.table
    identity = identity_as_of(ws, point.epoch)
    src = Sources(
        events=event_source(t("events"), t("products"), identity, offsets),
        users=user_source(t("users"), identity),
        scores=None,  # features never read model scores
    )
    sub = closure(catalog, tags)
    facts = normalized_facts(sub, compile_facts(sub, src, point))
    expr = compile_rules(sub, facts, point, src)
    return snapshot_select(tags, f"({ibis.to_sql(expr, dialect='duckdb', pretty=False)}) AS p")


def profile_features(
    ws: Workspace, day: date, tags: Sequence[TagDef], catalog: Catalog | None = None
) -> pd.DataFrame:
    """The profile as of ``day`` (only events before it) of the persons known then
    (``known_persons``), one row per person indexed by ``person_id``, one column per tag of
    ``tags``: numbers as floats, bools as 0/1, enums as categoricals over the tag's declared
    values (the same codes at every date)."""
    catalog = catalog or ws.profiles.catalog
    wh = ws.warehouse
    snapshot = _current_snapshot(ws, day, catalog)
    if snapshot is not None:
        cols = ", ".join(f'"{t.id}"' for t in tags)
        table = wh.arrow(f"SELECT person_id, {cols} FROM {snapshot}")
    else:
        sql = _compute_sql(ws, day, catalog, tags)
        with wh.reading() as con:
            # as in a build: each grouping filters its own rows; pushing the OR of all their
            # filters into the shared event CTE costs more than it saves
            con.execute("SET disabled_optimizers = 'cte_filter_pusher'")
            try:
                table = con.sql(sql).to_arrow_table()
            finally:
                con.execute("RESET disabled_optimizers")
    frame = table.to_pandas().set_index("person_id")
    frame = frame.loc[frame.index.isin(known_persons(ws, day))]
    for t in tags:
        if t.type == "enum":
            frame[t.id] = pd.Categorical(frame[t.id], categories=t.values)
        else:
            frame[t.id] = frame[t.id].astype("float64")
    return frame


# --- orders (labels) ----------------------------------------------------------------------
class Orders:
    """The order lines of known persons (person, epoch seconds, order, category), kept in a
    temporary table for one training run: ``with Orders(ws) as orders: ...``."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.tz = ws.profiles.timezone
        self.table = f"_model_orders_{uuid.uuid4().hex[:8]}"
        wh, t = ws.warehouse, ws.warehouse.table
        # the UTC offsets only set local calendar fields, which labels do not read
        events = event_source(t("events"), t("products"), t("identity_map"), [(-(2**62), 0)])
        events = events.filter(events.type == "order", events.person_id.notnull())
        sql = ibis.to_sql(
            events.select("person_id", "t", "order_id", "category_l1"), dialect="duckdb"
        )
        wh.execute(f"CREATE TEMP TABLE {self.table} AS {sql}")

    def close(self) -> None:
        self.ws.warehouse.execute(f"DROP TABLE IF EXISTS {self.table}")

    def __enter__(self) -> Orders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def epoch(self, day: date) -> int:
        """Local midnight of ``day`` in epoch seconds."""
        return AsOf.from_date(datetime(day.year, day.month, day.day), self.tz).epoch

    def _frame(self, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        wh = self.ws.warehouse
        with wh.lock:
            return wh.con.execute(sql, list(params)).df()

    def last_order(self, before: date) -> pd.Series:
        """Epoch seconds of each person's last order before ``before`` (buyers only)."""
        df = self._frame(
            f"SELECT person_id, max(t) AS last_t FROM {self.table} WHERE t < ? GROUP BY 1",
            [self.epoch(before)],
        )
        return df.set_index("person_id")["last_t"].astype("float64")

    def recent_orders(self, before: date, days: int) -> pd.Series:
        """Each buyer's distinct orders in the ``days`` days before ``before``."""
        df = self._frame(
            f"SELECT person_id, count(DISTINCT order_id) AS n FROM {self.table} "
            "WHERE t >= ? AND t < ? GROUP BY 1",
            [self.epoch(before - timedelta(days=days)), self.epoch(before)],
        )
        return df.set_index("person_id")["n"].astype("float64")

    def buyers(self, start: date, end: date) -> set[str]:
        """Persons with an order in the local days ``[start, end)``."""
        df = self._frame(
            f"SELECT DISTINCT person_id FROM {self.table} WHERE t >= ? AND t < ?",
            [self.epoch(start), self.epoch(end)],
        )
        return set(df["person_id"])

    def category_buyers(self, start: date, end: date) -> pd.DataFrame:
        """(person_id, category) pairs with an order line of the category in ``[start, end)``."""
        return self._frame(
            f"SELECT DISTINCT person_id, category_l1 AS category FROM {self.table} "
            "WHERE t >= ? AND t < ? AND category_l1 IS NOT NULL",
            [self.epoch(start), self.epoch(end)],
        )

    def category_history(self, before: date, categories: Sequence[str]) -> pd.DataFrame:
        """Per (person, category) of ``categories``, from order lines before ``before``:
        orders with the category in the last 30/90/365 days and in all, days since the last
        one, and the category's share of the person's order lines."""
        cut = self.epoch(before)
        windows = ", ".join(
            f"count(DISTINCT order_id) FILTER (t >= {self.epoch(before - timedelta(days=d))}) "
            f"AS orders_{d}d"
            for d in (30, 90, 365)
        )
        return self._frame(
            f"""WITH lines AS (SELECT * FROM {self.table} WHERE t < ?),
                     per_person AS (SELECT person_id, count(*) AS lines FROM lines GROUP BY 1)
                SELECT l.person_id, l.category_l1 AS category, {windows},
                       count(DISTINCT order_id) AS orders_total,
                       floor((? - max(t)) / {DAY}) AS days_since_last,
                       count(*) / any_value(p.lines) AS share
                FROM lines l JOIN per_person p USING (person_id)
                WHERE l.category_l1 IN (SELECT unnest(?))
                GROUP BY 1, 2""",
            [cut, cut, list(categories)],
        )

    def top_categories(self, start: date, end: date) -> pd.Series:
        """Buyers per category in ``[start, end)``, most bought first."""
        df = self._frame(
            f"SELECT category_l1 AS category, count(DISTINCT person_id) AS buyers "
            f"FROM {self.table} WHERE t >= ? AND t < ? AND category_l1 IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            [self.epoch(start), self.epoch(end)],
        )
        return df.set_index("category")["buyers"]


def days_since(last_t: pd.Series, at_epoch: int, index: pd.Index) -> np.ndarray:
    """Whole days from each person's ``last_t`` to ``at_epoch``, aligned to ``index``
    (NaN for persons without one)."""
    return np.floor((at_epoch - last_t.reindex(index).to_numpy()) / DAY)
