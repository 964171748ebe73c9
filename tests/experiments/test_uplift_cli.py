"""`portrait experiment uplift` on a synthetic Hillstrom-shaped file (no real data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.experiments.uplift_benchmark import parse_models, run_uplift_benchmark, split

runner = CliRunner()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 customers; the womens e-mail adds +0.25 visits for womens buyers only."""
    rng = np.random.default_rng(4)
    n = 3_000
    womens = rng.integers(0, 2, n)
    segment = rng.choice(["Mens E-Mail", "Womens E-Mail", "No E-Mail"], n)
    p = 0.10 + 0.25 * womens * (segment == "Womens E-Mail") + 0.05 * (segment == "Mens E-Mail")
    df = pd.DataFrame(
        {
            "recency": rng.integers(1, 13, n),
            "history_segment": "1) $0 - $100",
            "history": rng.gamma(2.0, 120.0, n).round(2),
            "mens": rng.integers(0, 2, n),
            "womens": womens,
            "zip_code": rng.choice(["Rural", "Surburban", "Urban"], n),
            "newbie": rng.integers(0, 2, n),
            "channel": rng.choice(["Multichannel", "Phone", "Web"], n),
            "segment": segment,
            "visit": (rng.random(n) < p).astype(int),
            "conversion": (rng.random(n) < p / 5).astype(int),
            "spend": 0.0,
        }
    )
    root = tmp_path_factory.mktemp("data")
    (root / "hillstrom").mkdir()
    df.to_csv(root / "hillstrom" / "hillstrom.csv.gz", index=False)
    return root


def uplift(data_root: Path, *args: str):
    base = ["experiment", "uplift", "--dataset", "hillstrom", "--path", str(data_root)]
    return runner.invoke(app, [*base, *args])


def test_json_report(data_root: Path) -> None:
    res = uplift(
        data_root, "--model", "two-model/logistic,x-learner", "--resamples", "50", "--json"
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert [m["name"] for m in report["models"]] == [
        "two-model/logistic",
        "x-learner/lightgbm",
        "x-learner/logistic",
    ]
    assert report["train_rows"] + report["test_rows"] == report["rows"]
    assert report["reference"] == {"uplift_at_30": 0.0661, "ate": 0.0452}
    for m in report["models"]:
        u = m["uplift_at_30"]
        assert u["low"] <= u["value"] <= u["high"]
        # The model finds the womens buyers: far better than random targeting.
        assert m["qini_auc"] > report["random"]["qini_auc"] + 0.1
    assert report["best"] in {m["name"] for m in report["models"]}


def test_table_and_mens_arm(data_root: Path) -> None:
    res = uplift(
        data_root, "--arm", "mens", "--target", "conversion", "--model", "class-transformation"
    )
    assert res.exit_code == 0, res.output
    assert "class transform" in res.stdout and "random" in res.stdout
    assert "ATE of the mens e-mail on conversion" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "criteo"], "unknown uplift data set 'criteo'; valid: hillstrom"),
        (["--dataset", "hillstrom", "--arm", "kids"], "unknown arm"),
        (["--dataset", "hillstrom", "--target", "spend"], "unknown target"),
        (["--dataset", "hillstrom", "--model", "s-learner"], "unknown uplift model"),
        (["--dataset", "hillstrom", "--path", "/nonexistent"], "--path DIR"),
    ],
)
def test_errors_say_how_to_fix(args: list[str], message: str) -> None:
    res = runner.invoke(app, ["experiment", "uplift", *args])
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())


def test_parse_models_and_split() -> None:
    assert parse_models("two-model/lightgbm, x_learner/logistic") == [
        ("two_model", "lightgbm"),
        ("x_learner", "logistic"),
    ]
    assert len(parse_models(None)) == len(parse_models("all")) == 6
    t = np.repeat([0, 1], 100)
    y = np.tile([0, 1, 0, 0, 0], 40)  # 20 visits per arm
    train, test = split(t, y)
    assert len(train) == len(test) == 100
    # Stratified: each half keeps the treatment x outcome mix exactly.
    for half in (train, test):
        assert t[half].sum() == 50 and y[half].sum() == 20
        assert (y[half] * t[half]).sum() == 10


def test_runner_reports_progress(data_root: Path) -> None:
    seen: list[str] = []
    report = run_uplift_benchmark(
        path=data_root, models=[("two_model", "logistic")], resamples=10, progress=seen.append
    )
    assert seen == ["reading hillstrom", "training two-model/logistic", "random-targeting baseline"]
    assert report.best().name == "two-model/logistic"
