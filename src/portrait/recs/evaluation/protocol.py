"""The temporal protocol: a 28-day test window at the end of the data, train before it.

Cut-off = (the day after the last date) - 28 days. Test users bought at least once before the
cut-off and at least once inside the window; their truth is the distinct items they bought in
the window. Candidates are the whole training catalogue and repeat purchases count, so truth
items the training data never saw stay in the truth (as items no model can find).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import scipy.sparse as sp

from portrait.recs.base import Interactions
from portrait.recs.ids import IdMap

WINDOW_DAYS = 28


@dataclass(frozen=True)
class Split:
    """Lines before ``cutoff`` (train) and in [cutoff, end) (the window)."""

    cutoff: date
    end: date
    train: pd.DataFrame
    window: pd.DataFrame


def temporal_split(
    lines: pd.DataFrame, window_days: int = WINDOW_DAYS, end: date | None = None
) -> Split:
    """Split ``lines`` (with a ``day`` column) at ``end - window_days``.

    ``end`` (exclusive) defaults to the day after the last date in the data; pass the test
    cut-off to get the validation split of the training lines.
    """
    if lines.empty:
        raise ValueError("no purchase lines to split")
    days = pd.to_datetime(lines["day"])
    if end is None:
        end = (days.max() + pd.Timedelta(days=1)).date()
    cutoff = end - timedelta(days=window_days)
    before = days < pd.Timestamp(cutoff)
    inside = ~before & (days < pd.Timestamp(end))
    return Split(cutoff, end, lines[before], lines[inside])


@dataclass(frozen=True)
class EvalSet:
    """What the models are fitted and judged on, in dense ids.

    ``truth`` is a (test users x training items) binary CSR of the window's known items;
    ``truth_sizes`` counts every distinct window item (unknown ones included).
    """

    split: Split
    users: IdMap
    items: IdMap
    train: Interactions
    test_users: np.ndarray
    truth: sp.csr_matrix
    truth_sizes: np.ndarray


def build_eval_set(split: Split) -> EvalSet:
    """Map ids, build one interaction per (user, item, basket) and the test users' truth."""
    train = split.train.drop_duplicates(["user", "item", "basket"])
    users = IdMap.fit(train["user"].unique())
    items = IdMap.fit(train["item"].unique())
    interactions = Interactions.from_arrays(
        users.to_index(train["user"]),
        items.to_index(train["item"]),
        timestamps=train["ts"].to_numpy(),
        n_users=len(users),
        n_items=len(items),
    )
    window = split.window.drop_duplicates(["user", "item"])
    window = window[window["user"].isin(set(users.ids))]
    test_user_ids = np.sort(window["user"].unique())
    test_users = users.to_index(test_user_ids)
    row = pd.Index(test_user_ids).get_indexer(window["user"])
    sizes = np.bincount(row, minlength=len(test_user_ids))
    col = items.to_index(window["item"])
    known = col >= 0
    truth = sp.csr_matrix(
        (np.ones(known.sum()), (row[known], col[known])),
        shape=(len(test_user_ids), len(items)),
    )
    return EvalSet(split, users, items, interactions, test_users, truth, sizes)
