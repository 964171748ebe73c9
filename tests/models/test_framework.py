"""The model framework: point-in-time features without leakage, label windows, the temporal
split, top-N model tags, training several models, cards, the CLI and the REST API."""

from __future__ import annotations

import json
import shutil
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from portrait.cli import app
from portrait.datasets.base import DatasetFiles
from portrait.models import features, registry
from portrait.models.context import ModelContext
from portrait.models.features import (
    TrainingDataError,
    closure,
    feature_tags,
    model_fed,
    profile_features,
)
from portrait.models.orders import Orders
from portrait.models.registry import ModelCard, TrainOptions, write_scores
from portrait.models.results import KeyMetric
from portrait.models.service import NotTrainedError, UnknownModelError
from portrait.models.split import temporal_split
from portrait.store import models as model_store
from portrait.tags.build import Builder
from portrait.tags.catalog import load_catalog
from portrait.workspace import Workspace

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app

T = date(2025, 4, 1)
FEW_FEATURES = "orders_total,orders_90d,days_since_last_order,spend_90d,visits_30d"


def at(day: date, seconds: int = 0) -> str:
    """UTC midnight of ``day`` plus ``seconds``, as ISO text (the workspaces here are UTC)."""
    return (pd.Timestamp(day, tz="UTC") + pd.Timedelta(seconds=seconds)).isoformat()


def order(event_id: str, user: str, ts: str, product: str = "p1", price: float = 10.0) -> dict:
    return {
        "event_id": event_id, "user_id": user, "ts": ts, "type": "order", "order_id": event_id,
        "product_id": product, "quantity": 1, "price": price,
    }  # fmt: skip


# --- features and labels ------------------------------------------------------------------
def test_features_use_only_events_before_the_date(trained, tmp_path: Path) -> None:
    """The profile as of T is the same whether or not the events from T on exist."""
    cut = tmp_path / "events_before_t.parquet"
    paths = ", ".join(f"'{p}'" for p in trained.files.events)
    duckdb.sql(
        f"COPY (SELECT * FROM read_parquet([{paths}]) WHERE ts < TIMESTAMPTZ '{at(T)}') "
        f"TO '{cut}' (FORMAT parquet)"
    )
    files = DatasetFiles(
        "before-t", users=trained.files.users, products=trained.files.products, events=[cut]
    )
    catalog = load_catalog()
    tags = feature_tags(catalog)
    with trained.open() as full, Workspace.init(tmp_path / "cut") as before:
        before.ingest_dataset(files)
        assert full.summary().events > before.summary().events
        seen = profile_features(full, T, tags, catalog)
        only_before = profile_features(before, T, tags, catalog)
    # persons who registered after T have no profile as of T in either
    pd.testing.assert_frame_equal(seen.sort_index(), only_before.sort_index())
    assert len(seen) > 100 and seen["orders_total"].sum() > 0


def test_a_current_build_is_read_and_gives_what_computing_gives(
    trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog()
    tags = feature_tags(catalog)
    with trained.open() as ws:
        end = ws.profile_builds(1)[0].as_of
        assert features._current_snapshot(ws, end, catalog) is not None
        read = profile_features(ws, end, tags, catalog)
        monkeypatch.setattr(features, "_current_snapshot", lambda *_a: None)
        computed = profile_features(ws, end, tags, catalog)
        builds = ws.profile_builds(100)
    pd.testing.assert_frame_equal(read.sort_index(), computed.sort_index())
    assert len(builds) == 1  # training and this test left no build behind


def test_feature_tags_leave_out_model_tags_and_what_reads_them() -> None:
    catalog = load_catalog()
    fed = model_fed(catalog)
    assert {"churn_propensity", "purchase_propensity_30d", "predicted_clv"} <= fed
    tags = feature_tags(catalog)
    assert tags and not {t.id for t in tags} & fed
    assert all(t.type in ("int", "float", "bool", "enum") and not t.pii for t in tags)
    with pytest.raises(TrainingDataError, match="filled by a model"):
        feature_tags(catalog, ["churn_propensity"])
    with pytest.raises(TrainingDataError, match="is top"):
        feature_tags(catalog, ["top_categories_bought"])
    with pytest.raises(KeyError, match="no tag 'nope'"):
        feature_tags(catalog, ["nope"])
    sub = closure(catalog, [catalog.get("cycle_ratio")])
    assert {"cycle_ratio", "days_since_last_order", "purchase_cycle_days"} <= {t.id for t in sub}


def test_label_windows_take_local_days_from_t_up_to_t_plus_h(tmp_path: Path) -> None:
    h = 30
    end = T + timedelta(days=h)
    with Workspace.init(tmp_path / "ws") as ws:
        result = ws.ingest_records(
            [
                order("o1", "before", at(T, -1)),  # history, not label
                order("o2", "first", at(T)),  # the first second of the window
                order("o3", "last", at(end, -1)),  # its last second
                order("o4", "after", at(end)),  # the next window
            ],
            timezone="UTC",
        )
        assert result.accepted == 4
        with Orders(ws) as orders:
            assert orders.buyers(T, end) == {"first", "last"}
            assert set(orders.last_order(T).index) == {"before"}
            assert orders.recent_orders(end, h).to_dict() == {"first": 1.0, "last": 1.0}
        tables = ws.warehouse.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_model%'"
        )
        assert tables == []  # the temporary order table is gone


def test_persons_the_shop_met_only_after_t_are_not_profiled_as_of_t(tmp_path: Path) -> None:
    """A user record without a registration time exists because the person turned up at some
    time: as of T it counts only if they had turned up before T."""
    catalog = load_catalog()
    tags = [catalog.get("orders_total"), catalog.get("gender")]
    with Workspace.init(tmp_path / "ws") as ws:
        users = [
            {"user_id": "early", "gender": "F"},
            {"user_id": "late", "gender": "M"},
            {"user_id": "registered", "gender": "F", "registered_at": at(T, -3600)},
        ]
        assert ws.ingest_records(users, "users", timezone="UTC").accepted == 3
        orders = [order("o1", "early", at(T, -60)), order("o2", "late", at(T, 60))]
        assert ws.ingest_records(orders, timezone="UTC").accepted == 2
        frame = profile_features(ws, T, tags, catalog)
        assert sorted(frame.index) == ["early", "registered"]
        assert frame.loc["early", "orders_total"] == 1
        assert sorted(profile_features(ws, T + timedelta(days=1), tags, catalog).index) == [
            "early", "late", "registered",
        ]  # fmt: skip


def test_temporal_split_places_the_dates_and_explains_short_data() -> None:
    first, end = date(2025, 1, 1), date(2025, 7, 1)
    s = temporal_split(first, end, 30)
    assert (s.train_at, s.test_at, s.refit_at) == (date(2025, 5, 2), date(2025, 6, 1), s.test_at)
    assert s.describe()["holdout_labels"] == ["2025-06-01", "2025-07-01"]
    s = temporal_split(first, end, 30, holdout_days=45, as_of="2025-03-01")
    assert (s.train_at, s.test_at, s.refit_at) == (
        date(2025, 3, 1),
        date(2025, 5, 17),
        s.end - timedelta(days=30),
    )
    with pytest.raises(TrainingDataError, match=r"needs at least 210 days.*span 181 days"):
        temporal_split(first, end, 90)
    with pytest.raises(TrainingDataError, match="--holdout-days 30 or more"):
        temporal_split(first, end, 30, holdout_days=10)
    with pytest.raises(TrainingDataError, match="runs into the held-out period"):
        temporal_split(first, end, 30, as_of="2025-05-15")
    with pytest.raises(TrainingDataError, match="not a date"):
        temporal_split(first, end, 30, as_of="May")
    with pytest.raises(TrainingDataError, match="at least 30"):
        temporal_split(first, end, 30, as_of="2025-01-10")


# --- model tags -----------------------------------------------------------------------------
def test_top_model_tags_are_written_flat_and_built_as_lists(tmp_path: Path) -> None:
    catalog = load_catalog()
    sub = closure(catalog, [catalog.get("category_propensity_30d"), catalog.get("orders_total")])
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest_records([order("o1", "u1", at(T)), order("o2", "u2", at(T))], timezone="UTC")
        wh = ws.warehouse
        first = {"category_propensity_30d": [[("books", 0.1)], [("toys", 0.3)]]}
        write_scores(wh, "propensity", ["u1", "u2"], first)
        written = write_scores(
            wh,
            "propensity",
            ["u1", "u2"],
            {"category_propensity_30d": [[("beauty", 0.7), ("books", 0.25)], None]},
        )
        assert written == {"category_propensity_30d": 1}
        stored = wh.fetchall("SELECT person_id, tag_id, value FROM model_scores ORDER BY 1, 2")
        assert stored == [
            ("u1", "category_propensity_30d__k0", "beauty"),
            ("u1", "category_propensity_30d__k1", "books"),
            ("u1", "category_propensity_30d__w0", "0.7"),
            ("u1", "category_propensity_30d__w1", "0.25"),
        ]  # the earlier run's scores are replaced, u2's included
        run = Builder(wh, sub, "UTC").run()
        rows = dict(wh.fetchall(f"SELECT person_id, category_propensity_30d FROM {run.snapshot}"))
    assert rows["u1"] == [{"key": "beauty", "weight": 0.7}, {"key": "books", "weight": 0.25}]
    assert rows["u2"] is None


@pytest.mark.spark
def test_top_model_tags_build_the_same_on_spark(tmp_path: Path) -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.skip("pyspark is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None:
        pytest.skip("java is not on PATH (PySpark needs Java 17+)")
    catalog = load_catalog()
    sub = closure(catalog, [catalog.get("category_propensity_30d"), catalog.get("orders_total")])
    with Workspace.init(tmp_path / "ws") as ws:
        ws.ingest_records([order(f"o{i}", f"u{i}", at(T)) for i in range(3)], timezone="UTC")
        top = [[("a", 0.5), ("b", 0.25)], [("c", 0.125)], None]
        write_scores(
            ws.warehouse, "propensity", ["u0", "u1", "u2"], {"category_propensity_30d": top}
        )
        built = {}
        for backend in ("duckdb", "pyspark"):
            run = Builder(ws.warehouse, sub, "UTC").run(backend=backend, full=True)
            built[backend] = sorted(
                ws.warehouse.fetchall(
                    f"SELECT person_id, category_propensity_30d FROM {run.snapshot}"
                )
            )
    assert built["pyspark"] == built["duckdb"]
    assert built["duckdb"][1] == ("u1", [{"key": "c", "weight": 0.125}])


# --- the service: several models, errors --------------------------------------------------
@pytest.fixture
def fake_trainers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """TRAINERS replaced by: one that works, one whose data do not fit, one that is missing."""
    calls: dict[str, list[str]] = {"good": []}

    def good(
        ctx: ModelContext, options: TrainOptions, progress: Callable[[str], None]
    ) -> ModelCard:
        progress("fitting")
        assert not isinstance(ctx, Workspace)  # a trainer gets what it uses, not the facade
        persons = [r[0] for r in ctx.warehouse.fetchall("SELECT DISTINCT person_id FROM profile")]
        calls["good"].append(str(options.horizon_days))
        written = write_scores(
            ctx.warehouse, "good", persons, {"churn_propensity": [0.5] * len(persons)}
        )
        return ModelCard(
            model="good",
            metrics={"key": {"name": "auc", "model": 0.9, "baseline": 0.8}},
            tags_written=written,
        )

    def short(
        ctx: ModelContext, options: TrainOptions, progress: Callable[[str], None]
    ) -> ModelCard:
        raise TrainingDataError("too little data for a temporal holdout: it needs 210 days")

    for name, fn in (("fake_good", good), ("fake_short", short)):
        module = types.ModuleType(name)
        module.train = fn  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
    fakes = {"good": "fake_good", "short": "fake_short", "missing": "fake_missing_module"}
    monkeypatch.setattr(registry, "TRAINERS", fakes)
    monkeypatch.setattr("portrait.models.service.TRAINERS", fakes)
    yield calls


def test_train_all_reports_each_failure_and_trains_the_rest(
    fake_trainers, trained, workspace_copy
) -> None:
    with workspace_copy() as ws:
        said: list[str] = []
        outcomes = ws.models.train_all(progress=said.append, horizon_days=45)
        assert [(o.model, o.status) for o in outcomes] == [
            ("good", "trained"), ("short", "failed"), ("missing", "failed"),
        ]  # fmt: skip
        assert "needs 210 days" in outcomes[1].error
        assert "fake_missing_module cannot be loaded" in outcomes[2].error
        assert fake_trainers["good"] == ["45"]
        assert "good: fitting" in said
        assert ws.models.card("good").metrics["key"]["model"] == 0.9
        listed = {r.model: r for r in ws.models.list()}
        assert listed["short"].status == "not trained"
        assert listed["good"].key_metric == KeyMetric(name="auc", model=0.9, baseline=0.8)


def test_build_with_models_trains_then_fills_the_model_tags(fake_trainers, workspace_copy) -> None:
    with workspace_copy() as ws:
        result = ws.build(with_models=True)
        assert [m["status"] for m in result.models] == ["trained", "failed", "failed"]
        assert result.mode == "incremental"  # the second build: only the scores changed
        assert {"first_build", "models", "second_build", "total"} <= result.timings.keys()
        values = ws.profile_table(tags=["churn_propensity"]).column("churn_propensity")
        assert values.null_count == 0 and set(values.to_pylist()) == {0.5}
        with pytest.raises(ValueError, match="leave out --as-of"):
            ws.build(as_of="2025-03-01", with_models=True)
        root = str(ws.root)
    r = CliRunner().invoke(app, ["build", "--with-models", "-w", root])
    assert r.exit_code == 1  # failures are not hidden
    assert "good trained" in r.stdout and "short failed" in r.output
    assert "Models trained in" in r.stdout
    ws = Workspace.open(root)
    admin = {"Authorization": f"Bearer {ws.create_key('admin', 'build test').token}"}
    try:
        with TestClient(create_app(ws)) as client:
            r = client.post("/v1/build?wait=600", json={"with_models": True}, headers=admin)
            assert r.status_code == 200, r.text
            result = r.json()["result"]
            assert [m["model"] for m in result["models"]] == ["good", "short", "missing"]
    finally:
        ws.close()


def test_unknown_and_untrained_models_get_clear_errors(trained, workspace_copy) -> None:
    with workspace_copy() as ws:
        with pytest.raises(UnknownModelError, match="choose one of: churn, propensity, clv"):
            ws.models.train("chrn")
        with pytest.raises(UnknownModelError, match="unknown model 'chrn'"):
            ws.models.card("chrn")
        with pytest.raises(TrainingDataError, match="needs at least 210 days"):
            ws.models.train("churn", horizon_days=90)
        model_store.delete_cards(ws.warehouse, "churn")
        with pytest.raises(NotTrainedError, match="portrait models train churn"):
            ws.models.show("churn")


# --- surfaces -------------------------------------------------------------------------------
def test_cli_trains_lists_and_shows_models(trained, workspace_copy) -> None:
    runner = CliRunner()
    with workspace_copy() as ws:
        root = str(ws.root)
    args = ["models", "train", "churn", "--horizon-days", "30", "--features", FEW_FEATURES]
    r = runner.invoke(app, [*args, "-w", root, "--json"])
    assert r.exit_code == 0, r.output
    (outcome,) = json.loads(r.stdout)
    assert outcome["status"] == "trained" and outcome["key_metric"]["name"] == "auc"
    r = runner.invoke(app, ["models", "list", "-w", root])
    assert r.exit_code == 0 and "churn" in r.stdout and "propensity" in r.stdout
    r = runner.invoke(app, ["models", "show", "churn", "-w", root])
    assert r.exit_code == 0, r.output
    for part in ("data window", "holdout", "baseline", "calibration", "days_since_last_order"):
        assert part in r.stdout
    r = runner.invoke(app, ["models", "show", "churn", "-w", root, "--json"])
    card = json.loads(r.stdout)
    assert card["features"] == FEW_FEATURES.split(",") and len(card["calibration"]) == 10
    r = runner.invoke(app, ["models", "train", "nope", "-w", root])
    assert r.exit_code == 2 and "unknown model 'nope'" in r.output
    r = runner.invoke(app, ["models", "train", "churn", "--horizon-days", "90", "-w", root])
    assert r.exit_code == 2 and "needs at least 210 days" in r.output


def test_rest_lists_shows_and_trains_models(trained, workspace_copy) -> None:
    ws = workspace_copy()
    admin = {"Authorization": f"Bearer {ws.create_key('admin', 'models test').token}"}
    try:
        with TestClient(create_app(ws)) as client:
            listed = client.get("/v1/models", headers=admin).json()
            assert {r["model"] for r in listed} >= {"churn", "propensity", "clv"}
            card = client.get("/v1/models/propensity", headers=admin).json()
            assert card["metrics"]["key"]["name"] == "auc" and card["data_window"]
            assert client.get("/v1/models/nope", headers=admin).status_code == 404
            assert client.get("/v1/models").status_code == 401
            body = {"horizon_days": 30, "features": FEW_FEATURES.split(",")}
            r = client.post("/v1/models/churn/train?wait=600", json=body, headers=admin)
            assert r.status_code == 200, r.text
            card = r.json()["result"]
            assert card["model"] == "churn" and card["tags_written"]["churn_propensity"] > 0
            started = client.post(
                "/v1/models/churn/train", json={"horizon_days": 90}, headers=admin
            )
            assert started.status_code == 202 and started.json()["kind"] == "train"
            job = started.json()["job_id"]
            r = client.post(
                "/v1/models/churn/train?wait=600", json={"horizon_days": 90}, headers=admin
            )
            assert r.status_code == 422 and "needs at least 210 days" in r.json()["detail"]
            failed = client.get(f"/v1/jobs/{job}", headers=admin).json()
            assert failed["state"] == "failed" and "210 days" in failed["error"]
            assert client.post("/v1/models/nope/train", headers=admin).status_code == 404
    finally:
        ws.close()
