"""Uplift targeting: a past randomised campaign on a simulated shop (responses drawn by the
simulator's response model and ingested) trains the model that picks the next audience."""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.campaigns.definition import CampaignDefinitionError
from portrait.cli import app
from portrait.datasets.simulator.campaign_events import run_campaign_loop
from portrait.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app

runner = CliRunner()


def offer_campaign(name: str, **extra) -> dict:
    return {
        "name": name, "channel": "in_app", "control_share": 0.5,
        "goal": {"metric": "conversion", "attribution_days": 14},
        "variants": [{"name": "pct30", "offer": {"type": "percent", "percent": 0.3},
                      "message": {"body": {"en": "30% off for you"}}}],
        **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uplift-targeting") / "ws"
    with Workspace.init(root) as ws:
        files, _ = ws.simulate(users=500, days=30, seed=3)
        ws.build()
        run_campaign_loop(
            ws, files.users[0].parent, offer_campaign("past", segment="is_registered"),
            datetime(2025, 1, 31, tzinfo=UTC), seed=1, shop_seed=3,
        )  # fmt: skip
    return root


def test_targeting_keeps_the_top_share_by_predicted_uplift(shop: Path) -> None:
    with Workspace.open(shop) as ws:
        cs = ws.campaigns
        cs.create(offer_campaign("next", segment="is_registered",
                                 targeting={"uplift_from": "past", "top_share": 0.3}))  # fmt: skip
        everyone = cs.audience(cs.get("past").model_copy(update={"targeting": None}))
        dry = cs.launch("next", dry_run=True)
        t = dry.targeting
        assert t.scored == len(everyone) - t.without_profile
        assert t.kept == math.ceil(0.3 * t.scored)
        assert t.mean_predicted_uplift_kept >= t.mean_predicted_uplift_all
        assert t.trained_on.treated > 0 and t.trained_on.control > 0
        launched = cs.launch("next")
        assigned = ws.warehouse.fetchall(
            "SELECT count(*), min(source) FROM campaign_assignments WHERE campaign = 'next'"
        )[0]
    assert launched.targeting.kept == t.kept == assigned[0]
    assert assigned[1] == "uplift"


def test_targeting_needs_a_launched_past_campaign(shop: Path) -> None:
    with Workspace.open(shop) as ws:
        with pytest.raises(CampaignDefinitionError, match="does not exist"):
            ws.campaigns.create(offer_campaign("x", targeting={"uplift_from": "nope"}))
        ws.campaigns.create(offer_campaign("draft-only", segment="is_registered"))
        with pytest.raises(CampaignDefinitionError, match="never launched"):
            ws.campaigns.create(offer_campaign("y", targeting={"uplift_from": "draft-only"}))


def test_uplift_check_cli_and_rest(shop: Path) -> None:
    r = runner.invoke(app, ["campaign", "uplift", "past", "--json", "-w", str(shop)])
    assert r.exit_code == 0, r.output
    check = json.loads(r.stdout)
    assert check["persons"] == check["treated"] + check["control"]
    assert check["holdout"]["persons"] == check["persons"] // 2
    assert -1 <= check["holdout"]["qini_auc"] <= 1
    text = runner.invoke(app, ["campaign", "uplift", "past", "-w", str(shop)])
    assert text.exit_code == 0 and "Qini AUC" in text.stdout
    bad = runner.invoke(app, ["campaign", "uplift", "past", "--method", "magic", "-w", str(shop)])
    assert bad.exit_code == 2 and "two_model" in bad.output
    with Workspace.open(shop) as ws:
        token = ws.create_key("admin").token
        with TestClient(create_app(ws)) as client:
            h = {"Authorization": f"Bearer {token}"}
            params = {"learner": "logistic"}
            ok = client.get("/v1/campaigns/past/uplift", headers=h, params=params)
            assert ok.status_code == 200 and ok.json()["learner"] == "logistic"
            assert client.get("/v1/campaigns/nope/uplift", headers=h).status_code == 404
