"""REST: /v1/experiments/size, /v1/experiments/ab and /v1/experiments/bandit/simulate."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.workspace import Workspace


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    ws = Workspace.init(Path(tmp_path_factory.mktemp("exp")) / "ws")
    key = ws.create_key("admin", "test admin").token
    ingest = ws.create_key("ingest", "sender").token
    with TestClient(create_app(ws)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        c.ingest_key = ingest  # type: ignore[attr-defined]
        yield c
    ws.close()


def test_size_known_answer(client: TestClient) -> None:
    r = client.get("/v1/experiments/size", params={"baseline": 0.2, "target": 0.25})
    assert r.status_code == 200, r.text
    assert (r.json()["control"], r.json()["total"]) == (1030, 2060)
    means = client.get("/v1/experiments/size", params={"sd": 10, "mde": 1, "two_sided": False})
    assert means.status_code == 200 and means.json()["control"] < 1570


def test_routes_need_an_admin_key(client: TestClient) -> None:
    anonymous = client.get(
        "/v1/experiments/size",
        params={"baseline": 0.2, "target": 0.25},
        headers={"Authorization": ""},
    )
    assert anonymous.status_code == 401
    ingest = client.post(
        "/v1/experiments/bandit/simulate",
        json={"rates": [0.1, 0.2]},
        headers={"Authorization": f"Bearer {client.ingest_key}"},  # type: ignore[attr-defined]
    )
    assert ingest.status_code == 403


def test_size_bad_input(client: TestClient) -> None:
    assert (
        client.get("/v1/experiments/size", params={"baseline": 20, "target": 0.25}).status_code
        == 422
    )
    missing = client.get("/v1/experiments/size", params={"baseline": 0.2})
    assert missing.status_code == 422 and "baseline and target" in missing.json()["detail"]


def test_ab_means_known_answer(client: TestClient) -> None:
    body = {
        "control": {"n": 3407, "mean": 0.41, "sd": 3.9},
        "treatments": [{"n": 3461, "mean": 0.7, "sd": 6.2}],
    }
    r = client.post("/v1/experiments/ab", json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    f = j["comparisons"][0]["frequentist"]
    assert (round(f["ci_low"], 5), round(f["ci_high"], 5), round(f["p_value"], 5)) == (
        0.04538,
        0.53462,
        0.02016,
    )
    assert j["comparisons"][0]["bayesian"]["chance_to_beat_control"] > 0.98
    assert j["srm"]["mismatch"] is False


def test_ab_conversions_with_names_and_srm(client: TestClient) -> None:
    body = {
        "control": {"name": "no_coupon", "n": 1000, "conversions": 200},
        "treatments": [{"name": "coupon", "n": 1300, "conversions": 300}],
    }
    j = client.post("/v1/experiments/ab", json=body).json()
    assert j["metric"] == "proportion" and j["comparisons"][0]["treatment"] == "coupon"
    assert j["srm"]["mismatch"] is True
    body["expected_shares"] = {"no_coupon": 10, "coupon": 13}
    assert client.post("/v1/experiments/ab", json=body).json()["srm"]["mismatch"] is False


def test_ab_cuped_from_sums(client: TestClient) -> None:
    rng = np.random.default_rng(0)

    def arm(n: int, effect: float) -> dict[str, float]:
        x = rng.gamma(2.0, 50.0, n)
        y = 0.8 * x + rng.normal(0, 30, n) + effect
        return {
            "n": n,
            "sum": float(y.sum()),
            "sum_sq": float((y * y).sum()),
            "pre_sum": float(x.sum()),
            "pre_sum_sq": float((x * x).sum()),
            "sum_product": float((x * y).sum()),
        }

    r = client.post(
        "/v1/experiments/ab", json={"control": arm(500, 0), "treatments": [arm(500, 8)]}
    )
    assert r.status_code == 200, r.text
    comp = r.json()["comparisons"][0]
    assert r.json()["metric"] == "cuped"
    assert comp["cuped"]["variance_reduction"] > 0.5
    assert comp["frequentist"]["p_value"] < comp["cuped"]["unadjusted"]["p_value"]


def test_ab_degenerate_metric_gives_a_code_not_an_error(client: TestClient) -> None:
    body = {"control": {"n": 1, "mean": 3, "sd": 0}, "treatments": [{"n": 10, "mean": 3, "sd": 1}]}
    r = client.post("/v1/experiments/ab", json=body)
    assert r.status_code == 200
    assert r.json()["comparisons"][0]["frequentist"]["error"] == "n_too_small"
    assert r.json()["comparisons"][0]["frequentist"]["p_value"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"control": {"n": 10}, "treatments": [{"n": 10, "conversions": 1}]}, "give conversions"),
        (
            {"control": {"n": 10, "conversions": 1}, "treatments": [{"n": 10, "mean": 1, "sd": 1}]},
            "give every arm the same way",
        ),
        (
            {"control": {"n": 10, "conversions": 11}, "treatments": [{"n": 10, "conversions": 1}]},
            "more conversions",
        ),
        (
            {
                "control": {"n": 3, "sum": 1, "sum_sq": 1, "pre_sum": 1},
                "treatments": [{"n": 3, "sum": 1, "sum_sq": 1}],
            },
            "CUPED needs",
        ),
    ],
)
def test_ab_bad_bodies_are_422(client: TestClient, body: dict, message: str) -> None:
    r = client.post("/v1/experiments/ab", json=body)
    assert r.status_code == 422 and message in r.text, r.text


def test_bandit_simulate(client: TestClient) -> None:
    body = {
        "rates": {"coupon": 0.04, "free_shipping": 0.07},
        "batches": 20,
        "batch_size": 500,
        "seed": 1,
    }
    r = client.post("/v1/experiments/bandit/simulate", json=body)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["best_arm"] == "free_shipping" and j["regret"] < 0.2 * j["equal_split_regret"]
    assert client.post("/v1/experiments/bandit/simulate", json=body).json() == j
    big = {"rates": [0.1, 0.2], "batches": 10_000, "batch_size": 1_000_000}
    assert client.post("/v1/experiments/bandit/simulate", json=big).status_code == 422
    assert (
        client.post("/v1/experiments/bandit/simulate", json={"rates": [0.1, 2]}).status_code == 422
    )
