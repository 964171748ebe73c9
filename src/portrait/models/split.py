"""The dates of an honest evaluation: where training, the held-out period and the final refit
sit on the data (:func:`temporal_split`), as the module docstring of ``portrait.models.features``
describes:

* train at ``T1``: features before T1, labels from ``[T1, T1 + h)``;
* evaluate at ``T2 = end - holdout`` (``T2 >= T1 + h``): features before T2, labels from
  ``[T2, T2 + h)``, a period the trained model never saw;
* refit at ``end - h`` (the latest window with a whole label window after it) and score
  everyone as of ``end``, the day after the last event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from portrait.models.features import TrainingDataError
from portrait.store import features as feature_store
from portrait.tags.build import default_as_of
from portrait.tags.sources import AsOf

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

MIN_HISTORY_DAYS = 30  # events needed before the training date


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


def data_days(ctx: ModelContext) -> tuple[date, date]:
    """(first event's local day, the day after the last event)."""
    tz = ctx.profiles.timezone
    first = feature_store.first_event_time(ctx.warehouse)
    if first is None:
        raise TrainingDataError("no events yet: ingest or load data before training a model")
    a = AsOf.from_epoch(int(first.timestamp()), tz)
    return date(a.year, a.month, a.day), default_as_of(ctx.warehouse, tz)


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
