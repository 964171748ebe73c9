"""Learned clusters: k chosen from the data, described in words, written as a model tag, and
close to the simulator's latent persona classes."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.models import clusters
from portrait.models.registry import latest_card, save_card
from portrait.validate import workspace_report
from portrait.workspace import Workspace


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    ws = Workspace.init(tmp_path_factory.mktemp("clusters") / "ws")
    ws.simulate(users=2500, days=90, seed=7)
    ws.build()
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def card(shop: Workspace) -> clusters.ModelCard:
    found = clusters.run(shop, k_max=7)
    save_card(shop.warehouse, found)
    return found


def test_k_is_chosen_by_silhouette_and_clusters_recover_the_latent_classes(card) -> None:
    scores = card.metrics["k_selection"]["scores"]
    assert card.metrics["k"] == int(max(scores, key=scores.get))
    assert set(scores) == {str(k) for k in range(2, 8)}
    # 2 x 3 latent classes (price-sensitive or not; brand-loyal, trend-seeker or neither)
    assert 4 <= card.metrics["k"] <= 7
    assert card.metrics["truth"]["adjusted_rand_index"] >= 0.6
    sizes = [c["size"] for c in card.params["clusters"]]
    assert sizes == sorted(sizes, reverse=True)  # numbered largest first
    assert sum(sizes) == card.metrics["truth"]["compared"]


def test_each_cluster_is_described_by_what_sets_it_apart(card) -> None:
    for c in card.params["clusters"]:
        assert c["description"]
        for d in c["distinguishing"]:
            word = "high" if d["z"] > 0 else "low"
            assert word in c["description"]
    described = " | ".join(c["description"] for c in card.params["clusters"])
    # the style features the classes differ by each set some cluster apart
    for phrase in ("share bought on discount", "brand concentration", "share of new arrivals"):
        assert f"high {phrase}" in described


def test_assignment_is_a_model_tag_filled_by_the_next_build(shop: Workspace, card) -> None:
    shop.build()
    rows = dict(
        shop.warehouse.fetchall(
            "SELECT behaviour_cluster, count(*) FROM profile "
            "WHERE behaviour_cluster IS NOT NULL GROUP BY 1"
        )
    )
    assert rows == {c["cluster"]: c["size"] for c in card.params["clusters"]}
    assert card.tags_written == {"behaviour_cluster": sum(rows.values())}


def test_validate_reports_the_clusters_and_personas(shop: Workspace, card) -> None:
    report = workspace_report(shop)
    assert report.clusters.k == card.metrics["k"]
    assert report.clusters.truth["adjusted_rand_index"] >= 0.6
    assert set(report.personas) == {"price_sensitive", "brand_loyal", "trend_seeker"}
    assert latest_card(shop.warehouse, "clusters").run_id == card.run_id


def test_fixed_k_and_gmm(shop: Workspace) -> None:
    fixed = clusters.run(shop, k=3)
    assert fixed.metrics["k"] == 3 and "k_selection" not in fixed.metrics
    assert len(fixed.params["clusters"]) == 3
    gmm = clusters.run(shop, method="gmm", k_max=4)
    assert gmm.metrics["k_selection"]["criterion"].startswith("bic")
    scores = gmm.metrics["k_selection"]["scores"]
    assert gmm.metrics["k"] == int(min(scores, key=scores.get))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 1}, "at least 2 clusters"),
        ({"method": "dbscan"}, "use kmeans or gmm"),
        ({"features": ["no_such_tag"]}, "unknown tag 'no_such_tag'"),
        ({"features": ["gender"]}, "needs numeric or bool tags"),
        ({"min_orders": 10_000}, "clustering needs at least"),
    ],
)
def test_bad_requests_say_what_is_wrong(shop: Workspace, kwargs: dict, message: str) -> None:
    with pytest.raises(clusters.ClusterError, match=message):
        clusters.run(shop, **kwargs)


def test_a_workspace_without_builds_says_to_build(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "empty")
    try:
        with pytest.raises(LookupError, match="portrait build"):
            clusters.run(ws)
    finally:
        ws.close()


def test_segment_cluster_command_saves_the_clusters_as_segments(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import json

    from typer.testing import CliRunner

    from portrait.cli import app

    root = tmp_path_factory.mktemp("cluster-cli") / "ws"
    ws = Workspace.init(root)
    ws.simulate(users=1500, days=60, seed=11)
    ws.build()
    ws.close()
    runner = CliRunner()
    first = runner.invoke(
        app, ["segment", "cluster", "--k", "4", "--workspace", str(root), "--json"]
    )
    assert first.exit_code == 0, first.output
    made = json.loads(first.stdout)
    assert [c["segment"] for c in made["clusters"]] == [f"cluster_{i}" for i in range(1, 5)]
    ws = Workspace.open(root)
    try:
        for c in made["clusters"]:
            counted = ws.segments.count(f"behaviour_cluster = {c['cluster']}")
            assert counted.count == c["size"]
            assert ws.segments.show(c["segment"]).description == c["description"]
    finally:
        ws.close()
    again = runner.invoke(
        app, ["segment", "cluster", "--k", "2", "--workspace", str(root), "--json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["removed_segments"] == ["cluster_3", "cluster_4"]
    ws = Workspace.open(root)
    try:  # a new clustering starts each segment's history afresh
        assert len(ws.segments.show("cluster_1").history) == 1
    finally:
        ws.close()
    text = runner.invoke(app, ["segment", "cluster", "--k", "4", "--workspace", str(root)])
    assert text.exit_code == 0, text.output
    assert "4 clusters (kmeans)" in text.stdout and "cluster_4" in text.stdout
    fewer = runner.invoke(app, ["segment", "cluster", "--k", "3", "--workspace", str(root)])
    assert fewer.exit_code == 0, fewer.output
    assert "removed the segments of an earlier clustering" in fewer.output
    assert "cluster_4" in fewer.output
    bad = runner.invoke(app, ["segment", "cluster", "--k", "many", "--workspace", str(root)])
    assert bad.exit_code == 2 and "'many'" in bad.output


def test_rest_clusters_and_validate(shop: Workspace) -> None:
    from fastapi.testclient import TestClient

    from portrait.api.app import create_app

    key = shop.create_key("admin").token
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(shop)) as client:
        r = client.post("/v1/segments/cluster?wait=600", json={"k": 3}, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()["result"]
        assert [c["segment"] for c in body["clusters"]] == ["cluster_1", "cluster_2", "cluster_3"]
        seg = client.get("/v1/segments/cluster_1", headers=auth)
        assert seg.status_code == 200, seg.text
        assert client.post("/v1/segments/cluster", json={"k": 1}, headers=auth).status_code == 422
        bad = client.post(
            "/v1/segments/cluster?wait=600", json={"features": ["gender"]}, headers=auth
        )
        assert bad.status_code == 422 and "numeric" in bad.json()["detail"]
        report = client.get("/v1/validate", headers=auth)
        assert report.status_code == 200
        assert report.json()["clusters"]["k"] == 3
        assert client.get("/v1/validate").status_code == 401
