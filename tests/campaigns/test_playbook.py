"""The strategy playbook: valid definitions, suggestions sized on a small simulated shop,
drafts created from them; the CLI and REST surfaces of suggest, report and journeys."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.campaigns.definition import FixedOff, NoOffer, PercentOff
from portrait.campaigns.playbook import PlaybookEntry, expected_cost, playbook
from portrait.campaigns.templates import validate_templates
from portrait.cli import app
from portrait.segments.builtin import builtin_segments
from portrait.workspace import Workspace

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app

runner = CliRunner()


def cli(root: Path, *args: str, code: int = 0) -> str:
    r = runner.invoke(app, [*args, "-w", str(root)], env={"COLUMNS": "200"})
    assert r.exit_code == code, r.output
    return r.stdout if code == 0 else r.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-user simulated shop, built."""
    root = tmp_path_factory.mktemp("playbook") / "ws"
    ws = Workspace.init(root)
    ws.simulate(users=300, days=60, seed=7)
    ws.build()
    ws.close()
    return root


def test_every_entry_is_a_valid_campaign_on_a_builtin_segment():
    builtin = {s.name for s in builtin_segments()}
    entries = playbook()
    groups = {e.group for e in entries}
    assert {"price_sensitive", "brand_loyal", "potential", "dormant", "at_risk"} <= groups
    for e in entries:
        assert e.campaign.segment in builtin
        assert e.campaign.control_share > 0  # every campaign keeps a control group
        validate_templates(e.campaign)  # zh and en templates render on a full context
        for v in e.campaign.variants:
            assert set(v.message.body) == {"zh", "en"}
    price = next(e for e in entries if e.group == "price_sensitive")
    assert any(isinstance(v.offer, PercentOff) for v in price.campaign.variants)


def test_expected_cost_by_hand():
    base = next(e for e in playbook() if e.group == "price_sensitive").campaign
    campaign = base.model_copy(update={
        "control_share": 0.2,
        "variants": [
            base.variants[0].model_copy(update={"offer": FixedOff(amount=10), "weight": 1.0}),
            base.variants[1].model_copy(update={"offer": NoOffer(), "weight": 3.0}),
        ],
    })  # fmt: skip
    entry = PlaybookEntry(group="g", title={"en": "t"}, rationale="r", expected_conversion=0.1,
                          campaign=campaign)  # fmt: skip
    cost = expected_cost(entry, 1000, order_value=150.0)
    # 800 treated x 0.001 per e-mail; 200 get the 10 off, 10% of them use it
    assert cost.model_dump() == {"sends": 0.8, "offers": 200.0, "total": 200.8}


def test_suggestions_sized_on_the_latest_build(shop: Path):
    with Workspace.open(shop) as ws:
        r = ws.campaigns.suggest()
        sizes = {s.name: s.size for s in ws.segments.list()}
    assert r.build_id and r.average_order_value > 0
    assert r.suggestions, r
    listed = {s.campaign for s in r.suggestions} | {s.campaign for s in r.skipped}
    assert listed == {e.campaign.name for e in playbook()}
    for s in r.suggestions:
        assert s.size == sizes[s.segment] > 0
        assert s.expected_cost.total >= s.expected_cost.sends
        assert not s.exists
    for s in r.skipped:
        assert sizes.get(s.segment) == 0 and s.reason == "empty"


def test_cli_suggest_create_report_and_journeys(shop: Path):
    listed = json.loads(cli(shop, "campaign", "suggest", "--json"))
    first = listed["suggestions"][0]["campaign"]
    assert first in cli(shop, "campaign", "suggest")
    made = json.loads(cli(shop, "campaign", "suggest", "--create", first, "--json"))
    assert made[0]["name"] == first and made[0]["status"] == "draft"
    again = json.loads(cli(shop, "campaign", "suggest", "--json"))
    assert next(s for s in again["suggestions"] if s["campaign"] == first)["exists"]
    assert "exists" in cli(shop, "campaign", "suggest", "--create", first, code=2)
    assert "no playbook campaign" in cli(shop, "campaign", "suggest", "--create", "x", code=2)
    # a launched playbook campaign reports its arms straight away (nothing attributed yet)
    cli(shop, "campaign", "launch", first)
    report = json.loads(cli(shop, "campaign", "report", first, "--json"))
    arms = {a["arm"]: a for a in report["arms"]}
    assert set(arms) == {"control", "pct15", "manjian"}  # every planned arm, even if empty
    assert sum(a["assigned"] for a in arms.values()) > 0
    assert any("still open" in n for n in report["notes"])
    assert "sample ratio" in cli(shop, "campaign", "report", first)
    assert "no campaign 'nope'" in cli(shop, "campaign", "report", "nope", code=2)
    assert "No launched campaign has a trigger" in cli(shop, "campaign", "journeys", "--dry-run")


def test_rest_routes(shop: Path, tmp_path: Path):
    ws = Workspace.open(shop)
    try:
        key = ws.create_key("admin", "test").token
        headers = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(ws)) as client:
            r = client.get("/v1/campaigns/suggestions", headers=headers)
            assert r.status_code == 200 and r.json()["suggestions"]
            name = r.json()["suggestions"][-1]["campaign"]
            r = client.post("/v1/campaigns/suggestions", json={"names": [name]}, headers=headers)
            assert r.status_code == 201 and r.json()[0]["name"] == name
            r = client.post("/v1/campaigns/suggestions", json={"names": [name]}, headers=headers)
            assert r.status_code == 409
            r = client.get(f"/v1/campaigns/{name}/report", headers=headers)
            assert r.status_code == 200 and r.json()["arms"] == []  # a draft: nobody assigned
            assert client.get("/v1/campaigns/nope/report", headers=headers).status_code == 404
            r = client.post("/v1/campaigns/journeys/run", json={"dry_run": True}, headers=headers)
            assert r.status_code == 200 and r.json()["dry_run"] is True
            assert client.get("/v1/campaigns/suggestions").status_code == 401
    finally:
        ws.close()


def test_wide_tables_fit_80_columns(shop: Path):
    """The playbook and a campaign report stay readable in a terminal of 80 columns: the
    table's lines fit, the campaign names stay whole, and the columns that gave way are named."""
    suggestions = json.loads(cli(shop, "campaign", "suggest", "--json"))["suggestions"]
    names = [s["campaign"] for s in suggestions]
    last = suggestions[-1]
    if not last["exists"]:
        cli(shop, "campaign", "suggest", "--create", last["campaign"])
        cli(shop, "campaign", "launch", last["campaign"])
    for args in (["campaign", "suggest"], ["campaign", "report", last["campaign"]]):
        r = runner.invoke(app, [*args, "-w", str(shop)], env={"COLUMNS": "80"})
        assert r.exit_code == 0, r.output
        # the table's lines (notes are text lines: never wrapped, so a terminal folds them)
        lines = [line for line in r.stdout.splitlines() if line[:1] in "┏┃┡│└"]
        assert lines and max(len(line) for line in lines) <= 80, r.stdout
        if args[1] == "suggest":
            assert all(n in r.stdout for n in names)
        else:
            assert "not shown at this width" in r.stdout and "P(beat ctl)" in r.stdout
