"""The profile surfaces: CLI commands and REST routes over one small simulated shop."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.workspace import Workspace
from shops import DemoShop

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, demo_shop: DemoShop) -> Path:
    """The demo shop (300 users, 40 days, seed 5) built as of 2025-02-01 by the CLI."""
    root = demo_shop.copy(tmp_path_factory.mktemp("surf") / "ws")
    r = runner.invoke(app, ["build", "-w", str(root), "--as-of", "2025-02-01", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["persons"] > 200
    return root


def cli(root: Path, *args: str) -> str:
    r = runner.invoke(app, [*args, "-w", str(root)])
    assert r.exit_code == 0, r.output
    return r.stdout


def test_cli_profile_tags_and_quality(built: Path) -> None:
    person = json.loads(cli(built, "tags", "list", "--json"))
    assert len(person) >= 80
    assert {t["group"] for t in person} >= {"basic", "behaviour", "value", "persona", "marketing"}
    ws = Workspace.open(built)
    pid = ws.warehouse.fetchone("SELECT person_id FROM profile WHERE orders_total > 0 LIMIT 1")[0]
    ws.close()
    text = cli(built, "profile", pid, "--lang", "zh")
    assert "基础属性" in text and "累计订单数" in text
    p = json.loads(cli(built, "profile", pid, "--json"))
    assert p["person_id"] == pid and p["as_of"] == "2025-02-01"
    show = json.loads(cli(built, "tags", "show", "rfm_segment", "--json"))
    assert show["depends_on"] == ["f_score", "m_score", "r_score"] and show["version"] == 1
    assert show["stats"]["coverage"] > 0
    q = json.loads(cli(built, "tags", "quality", "--json"))
    assert q["truth"]["category_affinity"]["users"] >= 0
    assert {t["id"] for t in q["tags"]} >= {"orders_total", "rfm_segment"}
    assert "Built" not in cli(built, "build", "--list")


def test_cli_errors_are_one_clear_line(built: Path) -> None:
    r = runner.invoke(app, ["profile", "no-such-user", "-w", str(built)])
    assert r.exit_code == 2 and "no profile for 'no-such-user'" in r.output
    r = runner.invoke(app, ["tags", "show", "nope", "-w", str(built)])
    assert r.exit_code == 2 and "portrait tags list" in r.output
    r = runner.invoke(app, ["build", "--backend", "oracle", "-w", str(built)])
    assert r.exit_code == 2 and "duckdb or pyspark" in r.output


def test_rest_profile_and_catalog(built: Path) -> None:
    ws = Workspace.open(built)
    token = ws.create_key("admin", "test").token
    pid = ws.warehouse.fetchone("SELECT person_id FROM profile WHERE orders_total > 0 LIMIT 1")[0]
    with TestClient(create_app(ws)) as client:
        h = {"Authorization": f"Bearer {token}"}
        r = client.get(f"/v1/users/{pid}/profile", headers=h, params={"lang": "zh"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["person_id"] == pid and body["groups"][0]["label"] == "基础属性"
        assert client.get(f"/v1/users/{pid}/profile").status_code == 401
        assert client.get("/v1/users/nobody/profile", headers=h).status_code == 404
        tags = client.get("/v1/tags", headers=h, params={"group": "value"}).json()
        assert tags and all(t["group"] == "value" for t in tags)
        assert client.get("/v1/tags/total_spend", headers=h).json()["kind"] == "fact"
        assert client.get("/v1/tags/nope", headers=h).status_code == 404
        r = client.post("/v1/build?wait=600", headers=h, json={"as_of": "2025-02-01"})
        assert r.status_code == 200 and r.json()["result"]["mode"] == "unchanged"  # nothing new
        r = client.post("/v1/build?wait=600", headers=h, json={"as_of": "2025-02-02"})
        assert r.status_code == 200 and r.json()["result"]["mode"] == "incremental"
        assert client.post("/v1/build", headers=h, json={"as_of": "soon"}).status_code == 422
        assert len(client.get("/v1/builds", headers=h).json()) >= 2
        assert client.get("/v1/tags/quality", headers=h).json()["tags"]
    ws.close()
