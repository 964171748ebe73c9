"""`portrait recs next-basket` on a tiny Ta-Feng-shaped file (the real one is not needed)."""

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
    """30 customers with 3-6 baskets each, every customer inside one of 3 item blocks."""
    rng = np.random.default_rng(5)
    rows = [HEADER]
    start = date(2001, 1, 1)
    for c in range(30):
        block = c % 3
        days = rng.choice(60, size=int(rng.integers(3, 7)), replace=False)
        for d in days:
            day = start + timedelta(days=int(d))
            for item in rng.choice(5, size=2, replace=False):
                product = 4710000000000 + block * 10 + int(item)
                rows.append(f'"{day.month}/{day.day}/{day.year}","{c:08d}","30-34","115","1",'
                            f'"{product}","1","10","12"')  # fmt: skip
    path = tmp_path_factory.mktemp("tafeng") / "ta_feng_tiny.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_next_basket_json(tiny_ta_feng: Path) -> None:
    got = runner.invoke(
        app, ["recs", "next-basket", "--dataset", "ta-feng", "--path", str(tiny_ta_feng), "--json"]
    )
    assert got.exit_code == 0, got.output
    report = json.loads(got.stdout[got.stdout.index("{") :])
    assert [r["name"] for r in report["results"]] == ["p-topfreq", "tifu-knn", "ours"]
    assert (
        report["split"]["train"] + report["split"]["validation"] + report["split"]["test"]
        == report["data"]["users"]
    )
    assert report["results"][1]["reference"] == {"recall@10": 0.128, "ndcg@10": 0.103}
    for r in report["results"]:
        assert 0 <= r["metrics"]["ndcg@10"] <= 1


def test_next_basket_table_and_errors(tiny_ta_feng: Path) -> None:
    got = runner.invoke(
        app, ["recs", "next-basket", "--dataset", "ta-feng", "--path", str(tiny_ta_feng)]
    )
    assert got.exit_code == 0, got.output
    assert "tifu-knn" in got.stdout and "0.128" in got.stdout
    other = runner.invoke(app, ["recs", "next-basket", "--dataset", "online-retail-ii"])
    assert other.exit_code == 2
    missing = runner.invoke(
        app, ["recs", "next-basket", "--dataset", "ta-feng", "--path", "/nonexistent"]
    )
    assert missing.exit_code == 2
