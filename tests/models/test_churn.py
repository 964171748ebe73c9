"""The churn model: its card on the simulated shop, its scores in a rebuilt profile, the truth
check against the simulator's latent churn, and the model against the RFM-recency baseline on
Online Retail II (skipped when the data set is absent)."""

from __future__ import annotations

from datetime import date

import pytest

from portrait.datasets.base import DatasetMissingError
from portrait.datasets.registry import locate_source
from portrait.models import churn
from portrait.models.features import model_fed
from portrait.models.registry import latest_card
from portrait.models.split import fitting_horizon
from portrait.tags.catalog import load_catalog
from portrait.workspace import Workspace

FEW = ["orders_total", "orders_90d", "days_since_last_order", "spend_90d", "visits_30d"]


def test_churn_card_reports_holdout_metrics_beside_the_baseline(trained) -> None:
    card = trained.churn
    holdout = card.metrics["holdout"]
    for side in ("model", "baseline"):
        assert {"auc", "log_loss", "brier", "persons", "positive_rate"} <= holdout[side].keys()
        assert holdout[side]["persons"] == holdout["model"]["persons"]  # the same customers
    assert holdout["baseline"]["baseline"] == churn.BASELINE
    assert card.metrics["key"] == {
        "name": "auc",
        "model": holdout["model"]["auc"],
        "baseline": holdout["baseline"]["auc"],
    }
    assert holdout["model"]["auc"] > 0.7
    deciles = card.calibration
    assert [d["decile"] for d in deciles] == list(range(1, 11))
    assert sum(d["persons"] for d in deciles) == holdout["model"]["persons"]
    means = [d["predicted_mean"] for d in deciles]
    assert means == sorted(means)
    assert len(holdout["baseline"]["calibration"]) == 10
    window = card.data_window
    assert window["horizon_days"] == 30
    assert window["train_labels"] == ["2025-04-01", "2025-05-01"]
    assert window["holdout_features_before"] == window["train_labels"][1]  # no overlap
    assert window["holdout_labels"] == ["2025-05-01", "2025-05-31"]
    assert window["scored_as_of"] == "2025-05-31"
    assert not set(card.features) & model_fed(load_catalog())
    assert card.params["importance"] and card.training_seconds > 0
    with trained.open() as ws:
        assert latest_card(ws.warehouse, "churn").run_id == card.run_id


def test_churn_scores_fill_the_tag_of_a_rebuilt_profile(trained, workspace_copy) -> None:
    with workspace_copy() as ws:
        ws.build()
        rows = ws.profile_table(tags=["churn_propensity", "orders_total"]).to_pylist()
    scored = [r for r in rows if r["churn_propensity"] is not None]
    assert len(scored) == trained.churn.tags_written["churn_propensity"]
    assert all(0 < r["churn_propensity"] < 1 for r in scored)
    # every customer who has bought is scored, and nobody else
    assert {r["person_id"] for r in scored} == {r["person_id"] for r in rows if r["orders_total"]}


def test_truth_check_compares_scores_with_the_latent_churn(trained) -> None:
    with trained.open() as ws:
        truth = churn.truth_check(ws)
    assert truth is not None
    assert truth == {k: v for k, v in trained.churn.metrics["truth"].items() if k != "horizon_days"}
    assert truth["persons"] == trained.churn.tags_written["churn_propensity"]
    assert 0 < truth["latent_churned_share"] < 1
    assert truth["auc_vs_latent_churn"]["model"] > 0.75
    assert truth["spearman_vs_hazard"]["model"] > 0


def test_training_is_seeded(trained, workspace_copy) -> None:
    with workspace_copy() as ws:
        a = ws.models.train("churn", horizon_days=30, features=FEW)
        b = ws.models.train("churn", horizon_days=30, features=FEW)
    assert a.run_id != b.run_id
    assert a.metrics["holdout"] == b.metrics["holdout"] and a.calibration == b.calibration


def test_the_default_horizon_shrinks_to_what_the_data_hold() -> None:
    assert fitting_horizon(date(2024, 1, 1), date(2025, 1, 1), 90) == 90
    assert fitting_horizon(date(2025, 1, 1), date(2025, 5, 31), 90) == 60  # 150 days
    assert fitting_horizon(date(2025, 1, 1), date(2025, 2, 1), 90) == 14  # then refused


@pytest.mark.realdata
@pytest.mark.slow
def test_churn_beats_the_recency_baseline_on_online_retail(tmp_path) -> None:
    try:
        locate_source("online-retail-ii")
    except DatasetMissingError as e:
        pytest.skip(str(e))
    with Workspace.init(tmp_path / "ws") as ws:
        ws.load_dataset("online-retail-ii")
        card = ws.models.train("churn")
    holdout = card.metrics["holdout"]
    assert card.data_window["horizon_days"] == 90
    assert card.data_window["holdout_labels"] == ["2010-09-11", "2010-12-10"]
    assert holdout["model"]["auc"] > holdout["baseline"]["auc"]
    assert holdout["model"]["brier"] < holdout["baseline"]["brier"]
    assert holdout["model"]["persons"] > 3000
    assert card.tags_written["churn_propensity"] > 4000
