"""`portrait validate`: the suite in fresh workspaces, skips, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.validate import run_suite


def test_suite_on_a_small_simulated_shop_trains_every_model_and_scores_the_truth(
    tmp_path: Path,
) -> None:
    reports = run_suite(tmp_path / "v", ["simulated"], users=1200)
    sim = reports["simulated"]
    assert sim.trained == {m: "trained" for m in sim.trained}, sim.trained
    assert set(sim.models) == {"churn", "propensity", "clv", "next-purchase"}
    churn = sim.models["churn"].metrics
    assert churn["key"]["name"] == "auc" and 0.5 < churn["key"]["model"] <= 1
    assert "auc_vs_latent_churn" in churn["truth"]
    assert sim.clusters.truth["adjusted_rand_index"] > 0.3
    assert set(sim.personas) == {"price_sensitive", "brand_loyal", "trend_seeker"}
    assert "holdout" in sim.models["clv"].metrics  # calibrated before a 30-day holdout


def test_absent_data_sets_are_skipped_with_the_reason(tmp_path: Path) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    reports = run_suite(tmp_path / "v", ["cdnow"], data_root=empty)
    assert "not found" in reports["cdnow"].skipped


def test_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown data set"):
        run_suite(tmp_path / "v", ["nope"])
    (tmp_path / "v" / "cdnow").mkdir(parents=True)
    with pytest.raises(ValueError, match="fresh folder"):
        run_suite(tmp_path / "v", ["cdnow"])


def test_cli_validates_the_current_workspace(tmp_path: Path) -> None:
    runner = CliRunner()
    root = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    r = runner.invoke(app, ["simulate", "--users", "300", "--days", "30", "--workspace", str(root)])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["build", "--workspace", str(root)]).exit_code == 0
    r = runner.invoke(app, ["validate", "--workspace", str(root)])
    assert r.exit_code == 0, r.output
    assert "price_sensitive" in r.output and "persons" in r.output
    r = runner.invoke(app, ["validate", "--suite", "--datasets", "nope"])
    assert r.exit_code == 2 and "unknown data set" in r.output
