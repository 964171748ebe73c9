"""`portrait recs evaluate --dataset simulated`: the protocol on a simulated shop's orders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.datasets.simulator.shop import simulate
from portrait.recs.evaluation.data import load_lines
from portrait.recs.evaluation.protocol import temporal_split

runner = CliRunner()


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim-eval")
    simulate(folder, users=600, days=70, seed=3)
    return folder


def test_lines_are_the_orders_of_the_shop(sim_folder: Path) -> None:
    import duckdb

    df = load_lines("simulated", sim_folder)
    orders = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{sim_folder / 'events.parquet'}') "
        "WHERE type = 'order' AND user_id IS NOT NULL AND price > 0"
    ).fetchall()[0][0]
    assert len(df) == orders > 0
    assert {"user", "item", "basket", "ts", "group", "price", "day"} <= set(df.columns)
    # one time per basket, and the split's cut-off is 28 days before the day after the last
    assert (df.groupby("basket")["ts"].nunique() == 1).all()
    split = temporal_split(df)
    assert (split.end - split.cutoff).days == 28


def test_cli_on_a_simulated_folder(sim_folder: Path) -> None:
    r = runner.invoke(
        app,
        [
            "recs", "evaluate", "--dataset", "simulated", "--path", str(sim_folder),
            "--models", "popularity,repeat", "--resamples", "50", "--json",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["dataset"] == "simulated" and report["test_users"] > 0
    assert [x["name"] for x in report["results"]] == ["popularity", "repeat"]


def test_a_folder_without_simulator_output_is_refused(tmp_path: Path) -> None:
    r = runner.invoke(app, ["recs", "evaluate", "--dataset", "simulated", "--path", str(tmp_path)])
    assert r.exit_code != 0
    assert "portrait simulate" in r.output and "no events.parquet" in r.output
