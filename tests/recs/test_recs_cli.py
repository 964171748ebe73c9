"""`portrait recs evaluate` on a tiny Ta-Feng-shaped file (the real one is not needed)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from portrait.cli import app

runner = CliRunner()
HEADER = (
    '"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID",'
    '"AMOUNT","ASSET","SALES_PRICE"'
)


@pytest.fixture(scope="module")
def tiny_ta_feng(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 customers over 2000-11-01 .. 2001-02-28, each buying from one of 4 item blocks."""
    rng = np.random.default_rng(11)
    rows = [HEADER]
    start = date(2000, 11, 1)
    for c in range(40):
        block = c % 4
        for _ in range(12):
            day = start + timedelta(days=int(rng.integers(0, 120)))
            item = 4710000000000 + block * 10 + int(rng.integers(0, 6))
            rows.append(f'"{day.month}/{day.day}/{day.year}","{c:08d}","30-34","115","1",'
                        f'"{item}","1","10","12"')  # fmt: skip
    last = date(2001, 2, 28)  # pin the last date so the cut-off is the published one
    rows.append(f'"{last.month}/{last.day}/{last.year}","00000000","30-34","115","1",'
                '"4710000000001","1","10","12"')  # fmt: skip
    path = tmp_path_factory.mktemp("tafeng") / "ta_feng_tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_evaluate_json(tiny_ta_feng: Path) -> None:
    r = runner.invoke(
        app,
        ["recs", "evaluate", "--dataset", "ta-feng", "--path", str(tiny_ta_feng),
         "--models", "popularity,repeat,item-knn", "--resamples", "20", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["cutoff"] == "2001-02-01"
    assert report["test_users"] > 0
    assert [g["name"] for g in report["results"]] == ["popularity", "repeat", "item-knn"]
    ndcg = {g["name"]: g["metrics"]["ndcg@10"] for g in report["results"]}
    assert ndcg["repeat"]["value"] > ndcg["popularity"]["value"]  # blocks make it personal
    assert ndcg["repeat"]["low"] <= ndcg["repeat"]["value"] <= ndcg["repeat"]["high"]
    assert report["published_ndcg@10"]["blend"] == 0.140


def test_evaluate_table(tiny_ta_feng: Path) -> None:
    r = runner.invoke(
        app,
        ["recs", "evaluate", "--dataset", "ta-feng", "--path", str(tiny_ta_feng),
         "--models", "repeat", "--resamples", "20"],
        env={"COLUMNS": "160"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "NDCG@10" in r.stdout and "repeat" in r.stdout and "0.124" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "ta-feng", "--models", "nope"], "unknown generator 'nope'"),
        (["--dataset", "cdnow"], "no recommendation protocol"),
        (["--dataset", "ta-feng", "--path", "/nonexistent/x"], "not found"),
    ],
)
def test_user_errors_are_one_line(args: list[str], message: str) -> None:
    r = runner.invoke(app, ["recs", "evaluate", *args])
    assert r.exit_code == 2
    assert message in " ".join(r.stderr.split())
