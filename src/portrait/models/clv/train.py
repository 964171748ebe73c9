"""The CLV trainer (``portrait models train clv``): reads the workspace's order days, fits
BG/NBD and Gamma-Gamma on the calibration period, scores the held-out period after it, and
writes the model tags ``predicted_clv`` and ``expected_purchases_90d``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd

from portrait.models.clv.bgnbd import BGNBDParams, fit_bgnbd
from portrait.models.clv.evaluate import holdout_metrics
from portrait.models.clv.fitting import ClvError
from portrait.models.clv.gamma_gamma import (
    GammaGammaParams,
    customer_lifetime_value,
    fit_gamma_gamma,
)
from portrait.models.clv.summary import rfm_summary
from portrait.models.registry import ModelCard, TrainOptions, write_scores
from portrait.store import models as model_store

if TYPE_CHECKING:
    from portrait.models.context import ModelContext

MODEL = "clv"
UNIT_DAYS = {"D": 1, "W": 7}
CLV_HORIZON_DAYS = 365  # predicted_clv: expected spend over the next 365 days
PURCHASES_HORIZON_DAYS = 90  # expected_purchases_90d
Progress = Callable[[str], None]


def order_days(ctx: ModelContext) -> tuple[pd.DataFrame, int]:
    """Every person's purchase days: (frame of person_id, day, value), anonymous orders skipped.

    One row per person and local calendar day (the shop's time zone) with the revenue of that
    day's order lines; ``person_id`` is the resolved person (identity map). Also returns the
    number of order lines whose person is unknown (anonymous, never stitched).
    """
    rows = model_store.order_days(ctx.warehouse, ctx.profiles.timezone)
    frame = pd.DataFrame(rows, columns=["person_id", "day", "value"])
    anonymous = model_store.anonymous_order_lines(ctx.warehouse)
    if frame.empty:
        raise ClvError(
            "no orders in this workspace: load or ingest order events first "
            "(e.g. `portrait load-dataset cdnow`)"
        )
    frame["day"] = pd.to_datetime(frame["day"])
    return frame, anonymous


def parse_day(text: str | None, what: str, default: date) -> date:
    """A YYYY-MM-DD option, or ``default`` when not given; a clear error otherwise."""
    if text is None:
        return default
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        raise ClvError(f"{what} {text!r} is not a date: write it as YYYY-MM-DD") from None


def _unit_days(time_unit: str) -> int:
    unit = time_unit.upper()
    if unit not in UNIT_DAYS:
        raise ClvError(f"time unit {time_unit!r}: use D (days) or W (weeks)")
    return UNIT_DAYS[unit]


def _fit_both(summary: pd.DataFrame) -> tuple[BGNBDParams, GammaGammaParams | None, str | None]:
    bg = fit_bgnbd(summary["x"], summary["t_x"], summary["T"])
    try:
        gg = fit_gamma_gamma(summary["x"], summary["zbar"])
    except ClvError as e:
        return bg, None, str(e)
    if gg.q <= 1:
        return bg, None, f"Gamma-Gamma q = {gg.q:.3f} <= 1: the mean spend is infinite"
    return bg, gg, None


def _rounded(params: BGNBDParams | GammaGammaParams | None) -> dict[str, float] | None:
    if params is None:
        return None
    return {k: round(float(v), 6) for k, v in asdict(params).items()}


def train(ctx: ModelContext, options: TrainOptions, progress: Progress) -> ModelCard:
    """Fit BG/NBD + Gamma-Gamma on orders up to ``options.calibration_end`` (default: the last
    order day), score the held-out days after it, and write ``expected_purchases_90d`` and
    ``predicted_clv`` for every buyer (``portrait models train clv``).

    Scores come from the same models refitted on every order up to the last day (when there is
    a holdout), so that the tags predict the future after the data, not the holdout.
    """
    tick = time.perf_counter()
    unit_days = _unit_days(options.time_unit)
    unit = options.time_unit.upper()
    progress("reading order days")
    daily, anonymous = order_days(ctx)
    first_day = daily["day"].min().date()
    last_day = daily["day"].max().date()
    calibration_end = parse_day(options.calibration_end, "calibration end", last_day)
    if not first_day <= calibration_end <= last_day:
        raise ClvError(
            f"calibration end {calibration_end} is outside the orders "
            f"({first_day} .. {last_day}): choose a day in that range"
        )
    has_holdout = calibration_end < last_day
    summary = rfm_summary(daily, calibration_end, unit_days, last_day if has_holdout else None)
    progress(f"fitting BG/NBD and Gamma-Gamma on {len(summary):,} customers")
    bg, gg, gg_problem = _fit_both(summary)
    metrics: dict[str, Any] = {
        "customers": len(summary),
        "repeat_buyers": int((summary["x"] > 0).sum()),
        "bgnbd_log_likelihood": round(bg.log_likelihood, 3),
    }
    if gg is not None:
        metrics["gamma_gamma_log_likelihood"] = round(gg.log_likelihood, 3)
    calibration: list[dict[str, Any]] = []
    notes = [
        "a transaction is a person's purchase day (several orders on one day are one); "
        "x = repeat days after the first, t_x and T measured from the first purchase day to the "
        f"last one and to the calibration end, in {'weeks' if unit == 'W' else 'days'}",
        "Gamma-Gamma is fitted on the mean value of repeat transactions of customers with x > 0",
    ]
    if gg_problem:
        notes.append(f"predicted_clv not written: {gg_problem}")
    if anonymous:
        notes.append(f"{anonymous:,} order lines of unknown persons (anonymous) left out")
    if has_holdout:
        progress("scoring the holdout period")
        horizon = (last_day - calibration_end).days / unit_days
        metrics["holdout"], calibration = holdout_metrics(bg, gg, summary, horizon)
        metrics["key"] = {
            "name": "holdout purchases MAE",
            "model": metrics["holdout"]["mae"],
            "baseline": metrics["holdout"]["baseline_mae"],
        }
        newcomers = daily.loc[daily["day"] > pd.Timestamp(calibration_end), "person_id"]
        late = len(set(newcomers) - set(summary.index))
        if late:
            notes.append(f"{late:,} persons whose first order is in the holdout are not scored")
        progress("refitting on every order for the scores")
        scoring = rfm_summary(daily, last_day, unit_days)
        score_bg, score_gg, score_problem = _fit_both(scoring)
        if score_problem:
            notes.append(f"predicted_clv not written (refit on every order): {score_problem}")
    else:
        scoring, score_bg, score_gg = summary, bg, gg
        notes.append("no holdout: the calibration end is the last order day")
    written = _write(ctx, scoring, score_bg, score_gg, unit_days)
    return ModelCard(
        model=MODEL,
        algorithm="BG/NBD + Gamma-Gamma (maximum likelihood)",
        dataset=str(ctx.root),
        training_seconds=round(time.perf_counter() - tick, 3),
        data_window={
            "first_order": first_day.isoformat(),
            "calibration_end": calibration_end.isoformat(),
            "holdout_end": last_day.isoformat() if has_holdout else None,
            "scored_with_orders_to": last_day.isoformat(),
            "time_unit": unit,
        },
        features=["x (repeat purchase days)", "t_x (recency)", "T (age)", "zbar (mean spend)"],
        params={
            "bgnbd": _rounded(bg),
            "gamma_gamma": _rounded(gg),
            "scoring_bgnbd": _rounded(score_bg) if has_holdout else None,
            "scoring_gamma_gamma": _rounded(score_gg) if has_holdout else None,
            "clv_horizon_days": CLV_HORIZON_DAYS,
            "discount_rate": 0.0,
            "margin": 1.0,
        },
        metrics=metrics,
        calibration=calibration,
        tags_written=written,
        notes=notes,
    )


def _write(
    ctx: ModelContext,
    summary: pd.DataFrame,
    bg: BGNBDParams,
    gg: GammaGammaParams | None,
    unit_days: int,
) -> dict[str, int]:
    x, t_x, T = summary["x"], summary["t_x"], summary["T"]
    purchases = bg.conditional_expected_purchases(PURCHASES_HORIZON_DAYS / unit_days, x, t_x, T)
    values: dict[str, list[Any]] = {"expected_purchases_90d": purchases.tolist()}
    if gg is not None:
        clv = customer_lifetime_value(
            bg, gg, x, t_x, T, summary["zbar"], CLV_HORIZON_DAYS / unit_days,
            periods_per_year=365.25 / unit_days,
        )  # fmt: skip
        values["predicted_clv"] = clv.tolist()
    return write_scores(ctx.warehouse, MODEL, summary.index.tolist(), values)
