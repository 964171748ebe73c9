"""Customers summarised for the CLV models, from their transactions: repeat purchases ``x``,
recency ``t_x``, age ``T``, mean repeat value ``zbar`` and, with a holdout, what came after.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd


def rfm_summary(
    transactions: pd.DataFrame,
    calibration_end: date,
    unit_days: float = 7,
    holdout_end: date | None = None,
) -> pd.DataFrame:
    """Per customer (index ``person_id``) summary of purchases on or before ``calibration_end``.

    ``transactions`` has columns person_id, day (a date) and value. Several purchases on one day
    are one transaction (the paper's CDNOW treatment) whose value is their sum. Columns: ``x``
    (repeat transactions), ``t_x`` and ``T`` (in units of ``unit_days`` days, from the first
    purchase to the last one and to the calibration end), ``zbar`` (mean value of the repeat
    transactions; NaN when x = 0), ``first`` (date), and when ``holdout_end`` is given
    ``x_holdout`` and ``value_holdout`` (transactions after the calibration end, up to and
    including holdout_end, and their value).
    """
    days = pd.to_datetime(transactions["day"])
    daily = (
        pd.DataFrame({"person_id": transactions["person_id"].to_numpy(), "day": days,
                      "value": transactions["value"].to_numpy(dtype="float64")})
        .groupby(["person_id", "day"], sort=False, as_index=False)["value"].sum()
    )  # fmt: skip
    end = pd.Timestamp(calibration_end)
    calib = daily[daily["day"] <= end]
    grouped = calib.sort_values("day").groupby("person_id", sort=True)
    first = grouped["day"].min()
    out = pd.DataFrame(
        {
            "x": grouped["day"].count() - 1,
            "t_x": (grouped["day"].max() - first).dt.days / unit_days,
            "T": (end - first).dt.days / unit_days,
            "first": first.dt.date,
        }
    )
    repeat_value = grouped["value"].sum() - grouped["value"].first()
    out["zbar"] = np.where(out["x"] > 0, repeat_value / out["x"].where(out["x"] > 0), np.nan)
    if holdout_end is not None:
        window = daily[(daily["day"] > end) & (daily["day"] <= pd.Timestamp(holdout_end))]
        held = window.groupby("person_id").agg(x_holdout=("day", "count"), value=("value", "sum"))
        held = held.reindex(out.index).fillna(0)
        out["x_holdout"], out["value_holdout"] = held["x_holdout"], held["value"]
    return out
