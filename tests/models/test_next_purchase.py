"""Next purchase date (portrait.models.next_purchase): the cycle model's shrinkage and
conditional medians, recovery of simulated cycles, the trainer against its baselines, and the
model tag through a profile build; on Online Retail II and CDNOW when the data are present."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from portrait.datasets.base import DatasetMissingError
from portrait.datasets.registry import locate_source
from portrait.models.clv import ClvError
from portrait.models.next_purchase import (
    TAG,
    CycleModel,
    NextPurchaseError,
    fit_cycles,
    person_gaps,
    predict,
)
from portrait.workspace import Workspace

MODEL = CycleModel(mu0=math.log(30), tau2=0.25, sigma2=0.5, median_gap=30.0, gaps=1000)


def test_few_gaps_are_shrunk_toward_the_population_cycle() -> None:
    n = np.array([0.0, 1.0, 5.0, 200.0])
    mean, sd = MODEL.gap_distribution(n, np.full(4, math.log(10)))
    assert mean[0] == pytest.approx(MODEL.mu0)  # no gap yet: the population's
    assert np.all(np.diff(mean) < 0)  # the more gaps, the nearer to the person's own 10 days
    assert mean[-1] == pytest.approx(math.log(10), abs=0.02)
    # weight of the person's own mean: n tau2 / (n tau2 + sigma2) = 1/3 for one gap
    assert mean[1] == pytest.approx(MODEL.mu0 + (math.log(10) - MODEL.mu0) / 3)
    assert np.all(np.diff(sd) < 0) and sd[-1] == pytest.approx(math.sqrt(0.5), abs=0.01)


def test_prediction_is_the_median_given_the_wait_so_far_and_the_window() -> None:
    elapsed = np.array([1.0, 10.0, 40.0, 200.0])
    n, mean_log = np.zeros(4), np.full(4, np.nan)
    gap = MODEL.predict_gap(n, mean_log, elapsed, horizon=90)
    lower, upper = elapsed - 0.5, elapsed - 0.5 + 90
    assert np.all((gap >= lower) & (gap <= upper))  # never before the as-of day
    # the predicted gap splits the window's probability in halves
    sd = math.sqrt(MODEL.sigma2 + MODEL.tau2)
    cdf = norm.cdf((np.log(np.array([lower, gap, upper])) - MODEL.mu0) / sd)
    np.testing.assert_allclose(cdf[1] - cdf[0], cdf[2] - cdf[1], rtol=1e-9, atol=1e-15)
    unbounded = MODEL.predict_gap(n, mean_log, elapsed)
    assert np.all(unbounded >= gap)
    # log-normal gaps: the longer someone has been away, beyond the usual cycle, the longer
    # they are expected to stay away
    assert (unbounded - elapsed)[3] > (unbounded - elapsed)[2] > (unbounded - elapsed)[1]
    tail = norm.sf((np.log(unbounded) - MODEL.mu0) / sd) / norm.sf((np.log(lower) - MODEL.mu0) / sd)
    np.testing.assert_allclose(tail, 0.5, rtol=1e-9)


def _cycle_days(rng: np.random.Generator, persons: int, start: date, days: int) -> pd.DataFrame:
    """Purchase days of persons with log-normal gaps around their own cycle (mu ~ N(log 20,
    0.5^2), sigma 0.6): the data the model assumes."""
    rows = []
    for i in range(persons):
        mu = rng.normal(math.log(20), 0.5)
        t = float(rng.uniform(0, 60))
        while t < days:
            rows.append((f"u{i:04d}", start + timedelta(days=int(t)), 10.0))
            t += max(1.0, float(np.exp(rng.normal(mu, 0.6))))
    return pd.DataFrame(rows, columns=["person_id", "day", "value"]).assign(
        day=lambda f: pd.to_datetime(f["day"])
    )


def test_fit_recovers_the_spread_within_and_between_persons() -> None:
    daily = _cycle_days(np.random.default_rng(1), 1500, date(2024, 1, 1), 365)
    persons, log_gaps = person_gaps(daily, date(2025, 1, 1))
    model = fit_cycles(persons, log_gaps)
    assert model.sigma2 == pytest.approx(0.36, rel=0.1)
    assert model.tau2 == pytest.approx(0.25, rel=0.25)
    # whole days and the 1-day floor bias short gaps a little
    assert model.mu0 == pytest.approx(math.log(20), abs=0.1)


def test_a_regular_buyer_is_predicted_one_cycle_after_the_last_purchase() -> None:
    daily = _cycle_days(np.random.default_rng(2), 300, date(2024, 1, 1), 300)
    regular = pd.DataFrame(
        {
            "person_id": "regular",
            "day": pd.date_range("2024-01-05", periods=20, freq="10D"),
            "value": 5.0,
        }
    )
    as_of = date(2024, 1, 5) + timedelta(days=190 + 3)  # 3 days after the 20th purchase
    _, out = predict(pd.concat([daily, regular], ignore_index=True), as_of, 90)
    row = out.loc["regular"]
    assert row["n"] == 19 and row["elapsed"] == 3
    assert abs((row["predicted"] - row["last"]).days - 10) <= 1


def _shop(ws: Workspace, persons: int = 300, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    daily = _cycle_days(rng, persons, date(2024, 1, 1), 365)
    records = [
        {"event_id": f"o{k}", "user_id": p, "ts": datetime.combine(d, datetime.min.time())
         .replace(hour=12).isoformat() + "Z", "type": "order", "order_id": f"o{k}",
         "quantity": 1, "price": v}
        for k, (p, d, v) in enumerate(zip(daily["person_id"], daily["day"].dt.date,
                                          daily["value"], strict=True))
    ]  # fmt: skip
    result = ws.ingest_records(records, "events", timezone="UTC")
    assert result.accepted == len(records)


def test_trainer_beats_its_baselines_and_a_build_fills_the_tag(ws: Workspace) -> None:
    _shop(ws)
    card = ws.models.train("next-purchase")
    last = date.fromisoformat(card.data_window["scored_as_of"]) - timedelta(days=1)
    assert card.data_window["as_of"] == (last - timedelta(days=89)).isoformat()
    mae = card.metrics["mae_days"]
    assert card.metrics["buyers_in_window"] > 100
    assert mae["model"] < min(v for k, v in mae.items() if k.startswith("baseline"))
    assert card.metrics["mae_change_vs_best_baseline_pct"] < 0
    assert card.calibration and card.tags_written == {TAG: 300}
    ws.build()
    table = ws.profile_table(tags=[TAG, "last_order_at"]).to_pandas().dropna(subset=[TAG])
    assert len(table) == 300
    predicted = pd.to_datetime(table[TAG])
    assert predicted.min() > pd.Timestamp(last)
    assert predicted.max() <= pd.Timestamp(last + timedelta(days=90))


def test_trainer_errors_are_clear(ws: Workspace) -> None:
    with pytest.raises(ClvError, match="no orders in this workspace"):
        ws.models.train("next-purchase")
    _shop(ws, persons=40)
    with pytest.raises(NextPurchaseError, match="outside the orders"):
        ws.models.train("next-purchase", as_of="2023-01-01")
    with pytest.raises(NextPurchaseError, match="gaps between purchase days"):
        ws.models.train("next-purchase", as_of="2024-01-02")
    with pytest.raises(NextPurchaseError, match="holdout days 0"):
        ws.models.train("next-purchase", holdout_days=0)
    # as of the day after the last order: nothing to evaluate, the tag is still written
    card = ws.models.train("next-purchase", as_of=ws.summary().last_event.date().isoformat())
    assert card.tags_written[TAG] == 40


# --- real data -----------------------------------------------------------------------------
def _card(tmp_path_factory: pytest.TempPathFactory, name: str):
    try:
        locate_source(name)
    except DatasetMissingError as e:
        pytest.skip(str(e))
    ws = Workspace.init(tmp_path_factory.mktemp(name) / "ws")
    try:
        ws.load_dataset(name)
        return ws.models.train("next-purchase")
    finally:
        ws.close()


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_next_purchase_beats_every_baseline(tmp_path_factory) -> None:
    card = _card(tmp_path_factory, "online-retail-ii")
    mae = card.metrics["mae_days"]
    assert card.data_window["as_of"] == "2010-09-11"  # 90 days before 2010-12-10
    assert card.metrics["buyers_in_window"] > 1500
    assert mae["model"] < min(v for k, v in mae.items() if k.startswith("baseline"))
    assert mae["model"] < 0.5 * mae["baseline_last_plus_median_gap"]


@pytest.mark.realdata
def test_cdnow_next_purchase_beats_the_naive_baseline(tmp_path_factory) -> None:
    card = _card(tmp_path_factory, "cdnow")
    mae = card.metrics["mae_days"]
    assert mae["model"] < 0.5 * mae["baseline_last_plus_median_gap"]
    assert mae["model"] < mae["baseline_last_plus_median_gap_not_before_as_of"]
