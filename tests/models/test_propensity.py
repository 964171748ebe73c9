"""Purchase propensity: overall and per category, beside baselines, written as model tags."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from portrait.models import propensity
from portrait.workspace import Workspace

FEW = ["orders_total", "orders_90d", "days_since_last_order", "spend_90d"]


def test_propensity_card_has_overall_and_category_targets(trained) -> None:
    card = trained.propensity
    m = card.metrics
    assert m["key"]["name"] == "auc"
    assert m["key"]["model"] == m["holdout"]["model"]["auc"] > 0.7
    assert m["key"]["baseline"] == m["holdout"]["baseline"]["auc"]
    assert {"log_loss", "brier"} <= m["holdout"]["baseline"].keys()
    assert len(card.calibration) == 10
    categories = m["categories"]
    assert len(categories) >= 3 and card.params["targets"] == ["any", *categories]
    for r in categories.values():
        assert 0.5 < r["auc"] <= 1 and 0 < r["baseline_auc"] <= 1
        assert min(r["train_positives"], r["holdout_positives"]) >= propensity.MIN_POSITIVES
    for s in m["skipped_categories"]:
        assert s["reason"] and s["category"] not in categories
    assert card.data_window["horizon_days"] == 30
    assert m["categories_beating_baseline"].endswith(f"of {len(categories)}")


def test_propensity_scores_fill_the_tags_of_a_rebuilt_profile(trained, workspace_copy) -> None:
    with workspace_copy() as ws:
        ws.build()
        rows = ws.profile_table(
            tags=["purchase_propensity_30d", "category_propensity_30d"]
        ).to_pylist()
    written = trained.propensity.tags_written
    assert written["purchase_propensity_30d"] == written["category_propensity_30d"] == len(rows)
    assert all(0 < r["purchase_propensity_30d"] < 1 for r in rows)
    modelled = set(trained.propensity.metrics["categories"])
    for r in rows:
        top = r["category_propensity_30d"]
        assert len(top) == min(propensity.TOP_N, len(modelled))
        assert {x["key"] for x in top} <= modelled
        weights = [x["weight"] for x in top]
        assert weights == sorted(weights, reverse=True) and all(0 < w < 1 for w in weights)


def test_another_horizon_is_evaluated_but_not_written(trained, workspace_copy) -> None:
    with workspace_copy() as ws:
        before = ws.warehouse.fetchone(
            "SELECT count(*) FROM model_scores WHERE model = ?", ["propensity"]
        )
        card = ws.models.train("propensity", horizon_days=21, features=FEW)
        after = ws.warehouse.fetchone(
            "SELECT count(*) FROM model_scores WHERE model = ?", ["propensity"]
        )
    assert card.data_window["horizon_days"] == 21 and card.metrics["key"]["model"] > 0.5
    assert card.tags_written == {} and before == after
    assert any("scores not written" in n for n in card.notes)


def test_a_shop_without_categories_models_the_overall_target_only(tmp_path: Path) -> None:
    """Online Retail II has no product categories: the card says so and writes one tag."""
    rng = np.random.default_rng(3)
    start = date(2025, 1, 1)
    records = []
    for u in range(150):
        rate = rng.uniform(0.01, 0.15)  # orders per day
        for day in np.flatnonzero(rng.random(120) < rate):
            when = start + timedelta(days=int(day))
            records.append(
                {
                    "event_id": f"o{u}-{day}", "user_id": f"u{u:03d}", "type": "order",
                    "ts": f"{when.isoformat()}T12:00:00Z", "order_id": f"o{u}-{day}",
                    "product_id": "p1", "quantity": 1, "price": 10.0,
                }
            )  # fmt: skip
    with Workspace.init(tmp_path / "ws") as ws:
        assert ws.ingest_records(records, timezone="UTC").accepted == len(records)
        card = ws.models.train("propensity", features=FEW)
    assert card.metrics["categories"] == {} and card.metrics["skipped_categories"] == []
    assert any("the products carry no category" in n for n in card.notes)
    persons = len({r["user_id"] for r in records})  # users with at least one order
    assert card.tags_written == {"purchase_propensity_30d": persons}
    assert card.metrics["key"]["model"] > 0.6


def test_too_few_buyers_is_a_clear_error(tmp_path: Path) -> None:
    start = date(2025, 1, 1)
    records = [
        {
            "event_id": f"o{d}", "user_id": f"u{d % 3}", "type": "order", "order_id": f"o{d}",
            "ts": f"{(start + timedelta(days=d)).isoformat()}T12:00:00Z", "product_id": "p1",
            "quantity": 1, "price": 10.0,
        }
        for d in range(0, 120, 7)
    ]  # fmt: skip
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest_records(records, timezone="UTC")
        with pytest.raises(ValueError, match="at least 20 of each are needed"):
            ws.models.train("propensity", features=FEW)
