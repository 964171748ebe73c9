"""Hillstrom's MineThatData e-mail experiment (2008) as an uplift-modelling problem.

64,000 customers randomly assigned to "Mens E-Mail", "Womens E-Mail" or "No E-Mail"; outcomes
``visit``, ``conversion`` and ``spend`` over the two weeks after the e-mail. ``load_hillstrom``
reads and validates ``hillstrom/hillstrom.csv.gz`` under the data root (``$PORTRAIT_DATA``, else
``../shared/data``); ``uplift_problem`` turns it into ``(X, treatment, y)`` for one e-mail arm
against the no-e-mail controls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from portrait.datasets.base import DatasetMissingError

if TYPE_CHECKING:  # pandas is imported where it is used: 0.4 s at every CLI start
    import pandas as pd

NAME = "hillstrom"
FOLDER = "hillstrom"
FILE = "hillstrom.csv.gz"
ROWS = 64_000

COLUMNS = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
)
CONTROL = "No E-Mail"
ARMS = {"womens": "Womens E-Mail", "mens": "Mens E-Mail"}
TARGETS = ("visit", "conversion")
ZIP_CODES = ("Rural", "Surburban", "Urban")  # "Surburban" is spelled so in the source
CHANNELS = ("Multichannel", "Phone", "Web")
BINARY = ("mens", "womens", "newbie", "visit", "conversion")


class HillstromFormatError(ValueError):
    """The file is readable but is not the Hillstrom data set as expected."""


def locate_hillstrom(path: Path | str | None = None) -> Path:
    """The Hillstrom file: ``path`` (the data root, the ``hillstrom`` folder or the file itself),
    else ``<data root>/hillstrom/hillstrom.csv.gz``. Raises ``DatasetMissingError`` with the fix.
    """
    from portrait.datasets.registry import ENV_VAR, default_data_root

    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        looked = [p / FOLDER / FILE, p / FILE]
        where = f"{looked[0]} nor at {looked[1]}"
    else:
        root = default_data_root()
        origin = f"${ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "the default"
        looked = [root / FOLDER / FILE]
        where = f"{looked[0]} (data root {root}, from {origin})"
    for cand in looked:
        if cand.is_file():
            return cand
    raise DatasetMissingError(
        f"data set 'hillstrom': {FILE} not found at {where}. Put the MineThatData e-mail "
        f"experiment there, pass --path DIR (the data root holding '{FOLDER}/', or that folder "
        f"itself), or set {ENV_VAR} to the data root."
    )


def validate(df: pd.DataFrame, source: str = "the file") -> pd.DataFrame:
    """Check the columns and values of a Hillstrom frame; raise ``HillstromFormatError`` saying
    what is wrong. Returns the frame with tidy dtypes."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise HillstromFormatError(
            f"{source} is not the Hillstrom e-mail data set: missing columns {missing}; "
            f"expected {list(COLUMNS)}, found {list(df.columns)[:15]}"
        )
    df = df.loc[:, list(COLUMNS)].copy()
    if df[list(COLUMNS)].isna().any().any():
        bad = [c for c in COLUMNS if df[c].isna().any()]
        raise HillstromFormatError(f"{source}: empty values in columns {bad}")
    arms = set(df["segment"].unique().tolist())
    expected_arms = {CONTROL, *ARMS.values()}
    if not arms <= expected_arms:
        raise HillstromFormatError(
            f"{source}: unknown treatment arms in 'segment': {sorted(arms - expected_arms)}; "
            f"expected {sorted(expected_arms)}"
        )
    for col, allowed in (("zip_code", ZIP_CODES), ("channel", CHANNELS)):
        extra = set(df[col].unique().tolist()) - set(allowed)
        if extra:
            raise HillstromFormatError(
                f"{source}: unexpected {col} values {sorted(extra)}; expected {list(allowed)}"
            )
    for col in BINARY:
        if not set(df[col].unique().tolist()) <= {0, 1}:
            raise HillstromFormatError(f"{source}: column {col!r} must be 0/1")
        df[col] = df[col].astype(np.int8)
    import pandas as pd

    for col in ("recency", "history", "spend"):
        if not pd.api.types.is_numeric_dtype(df[col]) or (df[col] < 0).any():
            raise HillstromFormatError(f"{source}: column {col!r} must be non-negative numbers")
    return df


def load_hillstrom(path: Path | str | None = None) -> pd.DataFrame:
    """The 64,000 rows of the Hillstrom experiment, validated (columns as in ``COLUMNS``).

    Raises ``DatasetMissingError`` when the file is absent and ``HillstromFormatError`` (a
    ValueError) when it is not the expected file.
    """
    import pandas as pd

    source = locate_hillstrom(path)
    try:
        df = pd.read_csv(source)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise HillstromFormatError(f"{source}: not a readable CSV file ({e})") from e
    return validate(df, str(source))


@dataclass(frozen=True)
class UpliftProblem:
    """One e-mail arm against the controls: features ``X``, ``treatment`` (1 = e-mailed), ``y``."""

    X: np.ndarray
    treatment: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    arm: str
    target: str


def features(df: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """The protocol's features: recency, history, mens, womens, newbie and one-hot zip_code and
    channel (history_segment is a binned copy of history and is left out)."""
    cols: dict[str, np.ndarray] = {
        c: df[c].to_numpy(dtype=np.float64) for c in ("recency", "history", "mens", "womens")
    }
    cols["newbie"] = df["newbie"].to_numpy(dtype=np.float64)
    for col, values in (("zip_code", ZIP_CODES), ("channel", CHANNELS)):
        for v in values:
            cols[f"{col}={v}"] = (df[col] == v).to_numpy(dtype=np.float64)
    names = tuple(cols)
    return np.column_stack([cols[n] for n in names]), names


def uplift_problem(df: pd.DataFrame, arm: str = "womens", target: str = "visit") -> UpliftProblem:
    """Rows of arm ``arm`` (womens or mens) and of the controls; the other arm is dropped."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; valid: {', '.join(ARMS)}")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")
    sub = df[df["segment"].isin([ARMS[arm], CONTROL])].reset_index(drop=True)
    X, names = features(sub)
    t = (sub["segment"] == ARMS[arm]).to_numpy(dtype=np.int8)
    return UpliftProblem(X, t, sub[target].to_numpy(dtype=np.int8), names, arm, target)


__all__ = [
    "ARMS",
    "COLUMNS",
    "CONTROL",
    "FILE",
    "FOLDER",
    "NAME",
    "TARGETS",
    "HillstromFormatError",
    "UpliftProblem",
    "features",
    "load_hillstrom",
    "locate_hillstrom",
    "uplift_problem",
    "validate",
]
