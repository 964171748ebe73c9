"""How well the CLV models forecast a held-out period: per-customer errors and totals beside a
baseline that extrapolates each customer's own repeat rate, and a calibration table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from portrait.models.clv.bgnbd import BGNBDParams
from portrait.models.clv.gamma_gamma import GammaGammaParams


def calibration_table(
    predicted: np.ndarray, actual: np.ndarray, bins: int = 10
) -> list[dict[str, Any]]:
    """Predicted vs actual mean per bin of predicted values (quantile bins, ties kept together)."""
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(max(len(edges) - 1, 1)):
        mask = which == b
        if not mask.any():
            continue
        out.append(
            {
                "bin": b + 1,
                "predicted_from": round(float(predicted[mask].min()), 4),
                "predicted_to": round(float(predicted[mask].max()), 4),
                "customers": int(mask.sum()),
                "predicted_mean": round(float(predicted[mask].mean()), 4),
                "actual_mean": round(float(actual[mask].mean()), 4),
            }
        )
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    da, db = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(np.sum(da * da)) * float(np.sum(db * db)))
    return float(np.sum(da * db)) / denominator if denominator > 0 else float("nan")


def _compare(predicted: np.ndarray, actual: np.ndarray, baseline: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, correlation and totals of a per-customer forecast, its baseline beside it."""
    error = predicted - actual
    total = float(actual.sum())
    return {
        "mae": round(float(np.abs(error).mean()), 4),
        "baseline_mae": round(float(np.abs(baseline - actual).mean()), 4),
        "rmse": round(float(np.sqrt(np.mean(error * error))), 4),
        "baseline_rmse": round(float(np.sqrt(np.mean((baseline - actual) ** 2))), 4),
        "correlation": round(_pearson(predicted, actual), 4),
        "baseline_correlation": round(_pearson(baseline, actual), 4),
        "predicted_total": round(float(predicted.sum()), 2),
        "baseline_total": round(float(baseline.sum()), 2),
        "actual_total": round(total, 2),
        "total_error_pct": round(100 * (float(predicted.sum()) - total) / max(total, 1e-9), 2),
    }


def holdout_metrics(
    bg: BGNBDParams, gg: GammaGammaParams | None, summary: pd.DataFrame, horizon: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-customer and aggregate forecasts of the held-out period against what happened.

    ``horizon``: the holdout length in time units. The baseline extrapolates each customer's
    calibration repeat rate (x / T purchases, x zbar / T spend per unit of time). The population
    forecast of cumulative repeat purchases to the end of the holdout (ages T + horizon) is the
    paper's tracking check.
    """
    x, t_x, T = summary["x"], summary["t_x"], summary["T"]
    purchases = bg.conditional_expected_purchases(horizon, x, t_x, T)
    actual = summary["x_holdout"].to_numpy(dtype="float64")
    per_unit = np.where(T > 0, x / np.where(T > 0, T, 1.0), 0.0)
    metrics: dict[str, Any] = {
        "customers": len(summary),
        "holdout_units": round(horizon, 4),
        **_compare(purchases, actual, per_unit * horizon),
    }
    metrics["actual_total"] = int(actual.sum())
    cumulative_forecast = float(bg.expected_purchases(T.to_numpy() + horizon).sum())
    cumulative_actual = float(x.sum() + actual.sum())
    metrics["cumulative_repeat_forecast"] = round(cumulative_forecast, 1)
    metrics["cumulative_repeat_actual"] = int(cumulative_actual)
    metrics["cumulative_error_pct"] = round(
        100 * (cumulative_forecast - cumulative_actual) / max(cumulative_actual, 1), 2
    )
    if gg is not None:
        spend = purchases * gg.conditional_expected_value(x, summary["zbar"])
        repeat_spend = per_unit * np.nan_to_num(summary["zbar"].to_numpy(dtype="float64"))
        metrics["revenue"] = _compare(
            spend, summary["value_holdout"].to_numpy(dtype="float64"), repeat_spend * horizon
        )
    return metrics, calibration_table(purchases, actual)
