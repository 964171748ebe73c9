"""The temporal protocol on a tiny table: cut-off, test users, truth, no leakage."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from portrait.recs.evaluation.protocol import build_eval_set, temporal_split


def lines(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["user", "item", "day"])
    df["ts"] = pd.to_datetime(df["day"])
    df["day"] = df["ts"].dt.floor("D")
    df["basket"] = df["user"] + "-" + df["day"].dt.strftime("%Y%m%d")
    return df


TABLE = lines(
    [
        ("a", "x", "2024-01-03"),
        ("a", "x", "2024-01-20"),
        ("a", "y", "2024-02-11"),  # the last day before the cut-off
        ("a", "x", "2024-02-12"),  # the cut-off day: in the window
        ("a", "new", "2024-02-20"),  # an item training never saw
        ("a", "x", "2024-03-01"),  # bought twice in the window: one truth item
        ("b", "y", "2024-01-05"),  # only before: not a test user
        ("c", "z", "2024-02-15"),  # only inside: not a test user
        ("d", "z", "2024-01-10"),
        ("d", "y", "2024-03-10"),  # the last date in the data
    ]
)


def test_cutoff_is_the_day_after_the_last_date_minus_28() -> None:
    split = temporal_split(TABLE)
    assert split.end == date(2024, 3, 11)
    assert split.cutoff == date(2024, 2, 12)
    assert split.train["day"].max() < pd.Timestamp("2024-02-12")
    assert split.window["day"].min() == pd.Timestamp("2024-02-12")
    assert len(split.train) + len(split.window) == len(TABLE)


def test_validation_window_is_the_28_days_before_the_cutoff() -> None:
    split = temporal_split(TABLE)
    val = temporal_split(split.train, end=split.cutoff)
    assert (val.cutoff, val.end) == (date(2024, 1, 15), date(2024, 2, 12))
    assert set(val.window["user"]) == {"a"}


def test_test_users_truth_and_no_leakage() -> None:
    data = build_eval_set(temporal_split(TABLE))
    assert data.users.ids == ["a", "b", "d"]  # c first buys in the window
    assert data.items.ids == ["x", "y", "z"]
    assert data.users.to_ids(data.test_users).tolist() == ["a", "d"]
    # a: {x, new} (new is unknown to training but counts), d: {y}.
    assert data.truth_sizes.tolist() == [2, 1]
    assert data.truth.toarray().tolist() == [[1, 0, 0], [0, 1, 0]]
    cutoff_s = pd.Timestamp("2024-02-12").value / 1e9
    assert (data.train.timestamps < cutoff_s).all()
    assert len(data.train.users) == 5
    np.testing.assert_array_equal(np.sort(data.train.users), [0, 0, 0, 1, 2])
