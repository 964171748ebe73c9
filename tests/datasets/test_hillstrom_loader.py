"""The Hillstrom loader on small Hillstrom-shaped files: validation, features, missing data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portrait.datasets.base import DatasetMissingError
from portrait.datasets.hillstrom import (
    COLUMNS,
    HillstromFormatError,
    features,
    load_hillstrom,
    locate_hillstrom,
    uplift_problem,
)

ARMS = ["Mens E-Mail", "Womens E-Mail", "No E-Mail"]


def fake_hillstrom(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A random frame with the Hillstrom columns and values."""
    rng = np.random.default_rng(seed)
    history = rng.gamma(2.0, 120.0, n).round(2)
    return pd.DataFrame(
        {
            "recency": rng.integers(1, 13, n),
            "history_segment": np.where(history < 100, "1) $0 - $100", "2) $100 - $200"),
            "history": history,
            "mens": rng.integers(0, 2, n),
            "womens": rng.integers(0, 2, n),
            "zip_code": rng.choice(["Rural", "Surburban", "Urban"], n),
            "newbie": rng.integers(0, 2, n),
            "channel": rng.choice(["Multichannel", "Phone", "Web"], n),
            "segment": rng.choice(ARMS, n),
            "visit": rng.integers(0, 2, n),
            "conversion": rng.integers(0, 2, n),
            "spend": np.zeros(n),
        }
    )


def write(df: pd.DataFrame, root: Path) -> Path:
    (root / "hillstrom").mkdir(parents=True, exist_ok=True)
    path = root / "hillstrom" / "hillstrom.csv.gz"
    df.to_csv(path, index=False)
    return path


def test_load_from_root_folder_or_file(tmp_path: Path) -> None:
    path = write(fake_hillstrom(), tmp_path)
    for where in (tmp_path, tmp_path / "hillstrom", path):
        df = load_hillstrom(where)
        assert list(df.columns) == list(COLUMNS) and len(df) == 300
    assert locate_hillstrom(tmp_path) == path


def test_data_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(fake_hillstrom(), tmp_path)
    monkeypatch.setenv("PORTRAIT_DATA", str(tmp_path))
    assert len(load_hillstrom()) == 300


def test_missing_file_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetMissingError, match="--path DIR"):
        load_hillstrom(tmp_path)
    monkeypatch.setenv("PORTRAIT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetMissingError, match="PORTRAIT_DATA"):
        locate_hillstrom()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns=["visit"]), "missing columns \\['visit'\\]"),
        (lambda d: d.assign(segment="Kids E-Mail"), "unknown treatment arms"),
        (lambda d: d.assign(zip_code="Mars"), "unexpected zip_code"),
        (lambda d: d.assign(visit=2), "'visit' must be 0/1"),
        (lambda d: d.assign(history=-1.0), "'history' must be non-negative"),
        (lambda d: d.assign(recency=np.nan), "empty values"),
    ],
)
def test_wrong_file_is_explained(tmp_path: Path, change, message: str) -> None:
    write(change(fake_hillstrom()), tmp_path)
    with pytest.raises(HillstromFormatError, match=message):
        load_hillstrom(tmp_path)


def test_not_a_csv(tmp_path: Path) -> None:
    bad = tmp_path / "hillstrom.csv.gz"
    bad.write_bytes(b"\x00\x01 not gzip")
    with pytest.raises(HillstromFormatError, match="not a readable CSV"):
        load_hillstrom(bad)


def test_uplift_problem_drops_the_other_arm() -> None:
    df = fake_hillstrom(600, 3)
    p = uplift_problem(df, arm="womens", target="conversion")
    keep = df["segment"].isin(["Womens E-Mail", "No E-Mail"])
    assert len(p.y) == keep.sum()
    assert p.treatment.sum() == (df["segment"] == "Womens E-Mail").sum()
    assert p.y.tolist() == df.loc[keep, "conversion"].tolist()
    X, names = features(df)
    assert X.shape == (600, 11) and "history_segment" not in " ".join(names)
    assert names[:5] == ("recency", "history", "mens", "womens", "newbie")
    # One-hot columns: exactly one zip code and one channel per row.
    assert (X[:, 5:8].sum(axis=1) == 1).all() and (X[:, 8:11].sum(axis=1) == 1).all()
    with pytest.raises(ValueError, match="unknown arm"):
        uplift_problem(df, arm="kids")
    with pytest.raises(ValueError, match="unknown target"):
        uplift_problem(df, target="spend")
