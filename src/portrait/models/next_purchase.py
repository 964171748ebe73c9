"""Next purchase date from each person's purchase cycle, shrunk toward the population's.

The gaps between a person's purchase days (several orders on one day are one purchase) are
modelled as log-normal: log gap ~ N(mu_i, sigma^2), with the person's own mean mu_i ~ N(mu_0,
tau^2) across the population. sigma^2 (spread within a person) and tau^2 (spread between persons)
are estimated by the method of moments, so a person with few gaps is pulled toward the population
cycle and a person with many keeps their own (empirical-Bayes shrinkage; nobody picks a
shrinkage strength by hand). One-order persons get the population's gap distribution.

The prediction for a horizon H (``options.holdout_days``, default 90) is the median day of the
next purchase *given that it falls in the next H days*: the gap is already longer than the days
since the last purchase (so an overdue person is never predicted in the past), and it ends within
H days of the as-of date. Whether a person buys at all is the CLV model's and the churn model's
question (``expected_purchases_90d``, churn propensity); this one says when. The unbounded
median (no horizon) is reported beside it: it says "much later" for lapsed persons, which is
right for them but wrong for the lapsed persons who do come back.

As of T (``options.as_of``; default: H days before the day after the last order) the model sees
only purchase days before T, as a profile built as of T does. It is scored on the persons who
bought in the window from T to T + H - 1 (or the last order day): mean absolute error in days
between the predicted day and their first purchase in the window, side by side with naive
baselines (last purchase + the population's median gap; the same but never before T; last
purchase + the person's own mean gap, as the ``purchase_cycle_days`` tag; the middle of the
window). The tag ``predicted_next_purchase_date`` is then written from every order up to the last
day, for the H days after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from portrait.models.clv.fitting import ClvError
from portrait.models.clv.train import order_days, parse_day
from portrait.models.registry import ModelCard, TrainOptions, write_scores

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

MODEL = "next-purchase"
TAG = "predicted_next_purchase_date"
DEFAULT_HOLDOUT_DAYS = 90
Progress = Callable[[str], None]


class NextPurchaseError(ClvError):
    """The next-purchase model cannot be trained as asked (a ClvError, as both read the same
    order days and fail the same way when there are none)."""


@dataclass(frozen=True)
class CycleModel:
    """Population parameters of log purchase gaps (in days)."""

    mu0: float  # population mean of the persons' mean log gap
    tau2: float  # variance of the persons' mean log gaps (between persons)
    sigma2: float  # variance of log gaps within a person
    median_gap: float  # the population's median gap in days (for the naive baseline)
    gaps: int  # gaps it was estimated from

    def gap_distribution(self, n: np.ndarray, mean_log: np.ndarray) -> tuple[np.ndarray, ...]:
        """(mean, sd) of the next log gap of persons with ``n`` gaps of mean log ``mean_log``
        (any value when n = 0): the posterior of mu_i plus the spread within a person."""
        precision = 1 / self.tau2 + n / self.sigma2
        mean = (self.mu0 / self.tau2 + n * np.nan_to_num(mean_log) / self.sigma2) / precision
        return mean, np.sqrt(self.sigma2 + 1 / precision)

    def predict_gap(
        self,
        n: np.ndarray,
        mean_log: np.ndarray,
        elapsed: np.ndarray,
        horizon: float | None = None,
    ) -> np.ndarray:
        """Median days from the last purchase to the next one, given ``elapsed`` days without a
        purchase and, with ``horizon``, given that it comes within ``horizon`` more days."""
        mean, sd = self.gap_distribution(n, mean_log)
        # whole days: a purchase on the as-of day is a gap of ``elapsed`` days, so the gap is
        # continuous over [elapsed - 1/2, elapsed + horizon - 1/2) and rounded afterwards
        lower = np.maximum(elapsed - 0.5, 0.5)
        survive = norm.sf((np.log(lower) - mean) / sd)  # P(no purchase before the as-of day)
        if horizon is None:
            target = survive / 2
            upper = np.full_like(lower, np.inf)
        else:
            upper = lower + horizon
            target = (survive + norm.sf((np.log(upper) - mean) / sd)) / 2
        gap = np.exp(mean + sd * norm.isf(np.clip(target, 1e-300, 1.0)))
        # a person so overdue that the model gives the window no mass: the middle of the window
        lost = survive < 1e-300
        middle = lower + (horizon or 0) / 2
        return np.where(lost, middle, np.clip(gap, lower, upper))


def person_gaps(daily: pd.DataFrame, before: date) -> tuple[pd.DataFrame, np.ndarray]:
    """Per person with a purchase day before ``before`` (index person_id): last day, number of
    gaps ``n``, mean and variance of the log gaps, mean gap; and every log gap."""
    days = daily.loc[daily["day"] < pd.Timestamp(before), ["person_id", "day"]]
    days = days.drop_duplicates().sort_values(["person_id", "day"])
    gap = days.groupby("person_id")["day"].diff().dt.days
    days = days.assign(gap=gap, log_gap=np.log(gap))
    grouped = days.groupby("person_id")
    persons = pd.DataFrame(
        {
            "last": grouped["day"].max(),
            "n": grouped["gap"].count(),
            "mean_log": grouped["log_gap"].mean(),
            "var_log": grouped["log_gap"].var(ddof=1),
            "mean_gap": grouped["gap"].mean(),
        }
    )
    return persons, days["log_gap"].dropna().to_numpy(dtype="float64")


def fit_cycles(persons: pd.DataFrame, log_gaps: np.ndarray) -> CycleModel:
    """Method-of-moments estimates of sigma^2, tau^2 and mu_0 from every person's log gaps."""
    if len(log_gaps) < 10:
        raise NextPurchaseError(
            f"only {len(log_gaps)} gaps between purchase days before the as-of date: the "
            "purchase cycle needs repeat buyers (choose a later --as-of or load more history)"
        )
    many = persons[persons["n"] >= 2]
    if len(many):
        sigma2 = float(((many["n"] - 1) * many["var_log"]).sum() / (many["n"] - 1).sum())
    else:
        sigma2 = float(np.var(log_gaps))
    sigma2 = max(sigma2, 1e-4)
    some = persons[persons["n"] >= 1]
    means, n = some["mean_log"].to_numpy(), some["n"].to_numpy(dtype="float64")
    tau2 = max(float(np.var(means) - np.mean(sigma2 / n)), 1e-4)
    weights = 1 / (tau2 + sigma2 / n)
    mu0 = float(np.sum(weights * means) / np.sum(weights))
    return CycleModel(mu0, tau2, sigma2, float(np.median(np.exp(log_gaps))), len(log_gaps))


def predict(daily: pd.DataFrame, as_of: date, horizon: int) -> tuple[CycleModel, pd.DataFrame]:
    """Fit on purchase days before ``as_of`` and predict each buyer's next purchase day.

    Returns the model and a frame (index person_id) with last, n, mean_gap, elapsed, the
    predicted day within the horizon (``predicted``) and the unbounded one (``unbounded``).
    """
    persons, log_gaps = person_gaps(daily, as_of)
    model = fit_cycles(persons, log_gaps)
    elapsed = (pd.Timestamp(as_of) - persons["last"]).dt.days.to_numpy(dtype="float64")
    n = persons["n"].to_numpy(dtype="float64")
    mean_log = persons["mean_log"].to_numpy()
    out = persons.assign(elapsed=elapsed)
    for column, h in (("predicted", horizon), ("unbounded", None)):
        gap = model.predict_gap(n, mean_log, elapsed, h)
        out[column] = out["last"] + pd.to_timedelta(np.round(gap), unit="D")
    return model, out


def evaluate(
    model: CycleModel, predicted: pd.DataFrame, daily: pd.DataFrame, start: date, end: date
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Errors in days on the persons who bought between ``start`` and ``end`` (inclusive)."""
    window = daily[(daily["day"] >= pd.Timestamp(start)) & (daily["day"] <= pd.Timestamp(end))]
    first_in_window = window.groupby("person_id")["day"].min()
    scored = predicted.join(first_in_window.rename("actual"), how="inner")
    if scored.empty:
        return {"persons_scored": len(predicted), "buyers_in_window": 0}, []
    t0 = pd.Timestamp(start)
    population = scored["last"] + pd.Timedelta(days=round(model.median_gap))
    own = np.where(scored["n"] > 0, scored["mean_gap"].fillna(model.median_gap), model.median_gap)
    middle = t0 + pd.Timedelta(days=(pd.Timestamp(end) - t0).days // 2)
    candidates = {
        "model": scored["predicted"],
        "model_unbounded": scored["unbounded"],
        "baseline_last_plus_median_gap": population,
        "baseline_last_plus_median_gap_not_before_as_of": population.where(population >= t0, t0),
        "baseline_last_plus_own_mean_gap": scored["last"] + pd.to_timedelta(np.round(own), "D"),
        "baseline_window_middle": pd.Series(middle, index=scored.index),
    }
    errors = {k: (v - scored["actual"]).dt.days.abs() for k, v in candidates.items()}
    repeat = scored["n"] > 0
    mae = {k: round(float(err.mean()), 2) for k, err in errors.items()}
    best_baseline = min((k for k in mae if k.startswith("baseline")), key=mae.get)
    metrics: dict[str, Any] = {
        "persons_scored": len(predicted),
        "buyers_in_window": len(scored),
        "buyers_share": round(len(scored) / max(len(predicted), 1), 4),
        "repeat_buyers_in_window": int(repeat.sum()),
        "population_median_gap_days": round(model.median_gap, 1),
        "mae_days": mae,
        "median_ae_days": {k: round(float(err.median()), 1) for k, err in errors.items()},
        "mae_days_repeat_buyers": (
            {k: round(float(err[repeat].mean()), 2) for k, err in errors.items()}
            if repeat.any()
            else {}
        ),
        "naive_baseline": "baseline_last_plus_median_gap",
        "best_baseline": best_baseline,
        "mae_change_vs_naive_pct": round(
            100 * (mae["model"] / max(mae["baseline_last_plus_median_gap"], 1e-9) - 1), 1
        ),
        "mae_change_vs_best_baseline_pct": round(
            100 * (mae["model"] / max(mae[best_baseline], 1e-9) - 1), 1
        ),
    }
    metrics["key"] = {
        "name": "MAE in days, buyers in the window",
        "model": mae["model"],
        "baseline": mae[best_baseline],
        "baseline_name": best_baseline,
        "naive_baseline": mae["baseline_last_plus_median_gap"],
    }
    return metrics, _calibration(predicted, scored, t0)


def _calibration(
    predicted: pd.DataFrame, scored: pd.DataFrame, t0: pd.Timestamp, bins: int = 8
) -> list[dict[str, Any]]:
    """Per bin of predicted days from T: share who bought in the window, and for those buyers
    the mean predicted and actual days from T."""
    ahead = (predicted["predicted"] - t0).dt.days.to_numpy(dtype="float64")
    edges = np.unique(np.quantile(ahead, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, ahead, side="right") - 1, 0, max(len(edges) - 2, 0))
    bought = predicted.index.isin(scored.index)
    actual_ahead = (scored["actual"] - t0).dt.days.reindex(predicted.index).to_numpy()
    out = []
    for b in sorted(set(which.tolist())):
        mask = which == b
        buyers = mask & bought
        out.append(
            {
                "bin": int(b) + 1,
                "predicted_days_from": int(ahead[mask].min()),
                "predicted_days_to": int(ahead[mask].max()),
                "persons": int(mask.sum()),
                "bought_in_window_share": round(float(bought[mask].mean()), 4),
                "buyers_predicted_days_mean": (
                    round(float(ahead[buyers].mean()), 1) if buyers.any() else None
                ),
                "buyers_actual_days_mean": (
                    round(float(actual_ahead[buyers].mean()), 1) if buyers.any() else None
                ),
            }
        )
    return out


def train(ctx: ModelContext, options: TrainOptions, progress: Progress) -> ModelCard:
    """Fit the purchase-cycle model as of T, evaluate it on the window after T, and write
    ``predicted_next_purchase_date`` from every order (``portrait models train next-purchase``)."""
    tick = time.perf_counter()
    progress("reading order days")
    daily, anonymous = order_days(ctx)
    first_day = daily["day"].min().date()
    last_day = daily["day"].max().date()
    holdout_days = DEFAULT_HOLDOUT_DAYS if options.holdout_days is None else options.holdout_days
    if holdout_days < 1:
        raise NextPurchaseError(f"holdout days {holdout_days}: need at least 1")
    default_as_of = last_day + timedelta(days=1) - timedelta(days=holdout_days)
    as_of = parse_day(options.as_of, "as-of date", default_as_of)
    after_last = last_day + timedelta(days=1)
    if not first_day < as_of <= after_last:
        raise NextPurchaseError(
            f"as-of date {as_of} is outside the orders: choose a day after {first_day} and no "
            f"later than {after_last} (the profile as of a day sees the days before it)"
        )
    has_holdout = as_of <= last_day
    window_end = min(last_day, as_of + timedelta(days=holdout_days - 1))
    # the evaluated window is shorter than H when the orders end sooner
    horizon = (window_end - as_of).days + 1 if has_holdout else holdout_days
    progress(f"fitting purchase cycles as of {as_of}")
    model, predicted = predict(daily, as_of, horizon)
    metrics: dict[str, Any] = {}
    calibration: list[dict[str, Any]] = []
    notes = [
        "a purchase is a person's purchase day; gaps are days between consecutive purchase days",
        "prediction: median of a log-normal next gap given the days already passed without a "
        f"purchase and given a purchase within {holdout_days} days of the as-of date; a "
        "person's mean log gap is shrunk toward the population's by empirical Bayes",
    ]
    if has_holdout:
        progress(f"scoring buyers of {as_of} .. {window_end}")
        metrics, calibration = evaluate(model, predicted, daily, as_of, window_end)
    else:
        notes.append("no holdout: the as-of date is after the last order day")
    if anonymous:
        notes.append(f"{anonymous:,} order lines of unknown persons (anonymous) left out")
    progress("predicting from every order for the tag")
    final_model, final = predict(daily, after_last, holdout_days)
    written = write_scores(
        ctx.warehouse,
        MODEL,
        final.index.tolist(),
        {TAG: [d.date().isoformat() for d in final["predicted"]]},
    )
    return ModelCard(
        model=MODEL,
        algorithm="log-normal purchase cycle, empirical-Bayes shrinkage, conditional median",
        dataset=str(ctx.root),
        training_seconds=round(time.perf_counter() - tick, 3),
        data_window={
            "first_order": first_day.isoformat(),
            "as_of": as_of.isoformat(),
            "holdout_start": as_of.isoformat() if has_holdout else None,
            "holdout_end": window_end.isoformat() if has_holdout else None,
            "scored_as_of": after_last.isoformat(),
            "horizon_days": holdout_days,
        },
        features=["days between purchase days", "days since the last purchase"],
        params={
            "as_of": _params(model),
            "scoring": _params(final_model),
        },
        metrics=metrics,
        calibration=calibration,
        tags_written=written,
        notes=notes,
    )


def _params(model: CycleModel) -> dict[str, float]:
    return {
        "mu0": round(model.mu0, 5),
        "tau2": round(model.tau2, 5),
        "sigma2": round(model.sigma2, 5),
        "population_cycle_days": round(float(np.exp(model.mu0)), 2),
        "median_gap_days": round(model.median_gap, 2),
        "gaps": model.gaps,
        "shrinkage_gaps": round(model.sigma2 / model.tau2, 3),  # gaps that weigh as much as prior
    }
