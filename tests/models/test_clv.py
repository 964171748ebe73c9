"""CLV models (portrait.models.clv): BG/NBD and Gamma-Gamma against hand-computed likelihoods,
simulated data with known parameters, the published CDNOW figures, and the trainer end to end.

Published figures (Fader, Hardie & Lee 2005; Fader & Hardie note 025; the BG/NBD Excel note):
CDNOW sample, weeks, calibration to 1997-09-30: r = 0.243, alpha = 4.414, a = 0.793,
b = 2.426, LL = -9582.4; Gamma-Gamma on the 946 repeat buyers: p = 6.25, q = 3.74,
gamma = 15.44; E[X(t)] at t = 0.1429, 1, 3, 31.8571, 32, 78 weeks: 0.0078, 0.0532, 0.1506,
1.0405, 1.0437, 1.8576; E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226; the week-78 cumulative
repeat-purchase forecast is about 4% under the actual figure.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.special import hyp2f1

from portrait.datasets.base import DatasetMissingError
from portrait.datasets.registry import locate_source
from portrait.models.clv import (
    BGNBDParams,
    ClvError,
    GammaGammaParams,
    bgnbd_log_likelihood,
    customer_lifetime_value,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    rfm_summary,
    simulate_bgnbd,
    simulate_gamma_gamma,
)
from portrait.models.clv.bgnbd import _bgnbd_gradient
from portrait.models.clv.gamma_gamma import _gamma_gamma_gradient
from portrait.models.registry import latest_card
from portrait.workspace import Workspace

PUBLISHED_BGNBD = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
EXCEL_TIMES = [0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00]
EXCEL_EXPECTED = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]


# --- likelihoods by hand -------------------------------------------------------------------
def test_bgnbd_log_likelihood_matches_hand_computed_values() -> None:
    ones = (1.0, 1.0, 1.0, 1.0)
    # x = 0, T = 1: B(1,1)/B(1,1) * G(1) 1^1 / (G(1) 2^1) = 1/2
    assert bgnbd_log_likelihood(ones, 0, 0, 1)[()] == pytest.approx(math.log(1 / 2))
    # x = 1, t_x = 1, T = 2: (1/2)(1/9) + (1/2)(1/4) = 13/72
    assert bgnbd_log_likelihood(ones, 1, 1, 2)[()] == pytest.approx(math.log(13 / 72))
    # r=2, alpha=3, a=2, b=3, x=2, t_x=4, T=5: B(2,5)/B(2,3) = 2/5, G(4)/G(2) = 6, 3^2 = 9,
    # 8^4 = 4096; B(3,4)/B(2,3) = 1/5, 7^4 = 2401
    want = 2 / 5 * 6 * 9 / 4096 + 1 / 5 * 6 * 9 / 2401
    assert bgnbd_log_likelihood((2, 3, 2, 3), 2, 4, 5)[()] == pytest.approx(math.log(want))


def test_bgnbd_likelihood_is_the_individual_model_integrated_over_lambda_and_p() -> None:
    r, alpha, a, b = 0.7, 2.5, 1.3, 2.2
    x, t_x, T = 3, 4.0, 6.5
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def individual(p: float, lam: float) -> float:
        if lam <= 0 or not 0 < p < 1:
            return 0.0
        alive = (1 - p) ** x * lam**x * math.exp(-lam * T)
        dropped = p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x)
        gamma_pdf = r * math.log(alpha) + (r - 1) * math.log(lam) - alpha * lam - math.lgamma(r)
        beta_pdf = (a - 1) * math.log(p) + (b - 1) * math.log1p(-p) - log_beta
        return (alive + dropped) * math.exp(gamma_pdf + beta_pdf)

    value, _ = integrate.dblquad(individual, 0, 40, 0, 1, epsabs=1e-13, epsrel=1e-8)
    assert bgnbd_log_likelihood((r, alpha, a, b), x, t_x, T)[()] == pytest.approx(
        math.log(value), rel=1e-7
    )


def test_gamma_gamma_log_likelihood_matches_hand_computed_values() -> None:
    # p=1, q=2, gamma=1, x=1, zbar=1: G(3)/(G(1)G(2)) * 1 * 1 * 1 / 2^3 = 1/4
    assert gamma_gamma_log_likelihood((1, 2, 1), 1, 1)[()] == pytest.approx(math.log(1 / 4))
    # p=2, q=3, gamma=4, x=2, zbar=1.5: G(7)/(G(4)G(3)) = 60, 4^3, 1.5^3, 2^4, 7^7
    want = 60 * 64 * 1.5**3 * 16 / 7**7
    assert gamma_gamma_log_likelihood((2, 3, 4), 2, 1.5)[()] == pytest.approx(math.log(want))


def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, 40).astype(float)
    T = rng.uniform(5, 30, 40)
    t_x = np.where(x > 0, T * rng.uniform(0.1, 1, 40), 0.0)
    w = rng.integers(1, 4, 40).astype(float)
    zbar = rng.uniform(5, 50, 40)
    xs = np.maximum(x, 1)
    cases = [
        (lambda p: _bgnbd_gradient(p, x, t_x, T, w), np.array([0.4, 3.0, 0.8, 2.5])),
        (lambda p: _gamma_gamma_gradient(p, xs, zbar, w), np.array([4.0, 3.0, 12.0])),
    ]
    for fun, params in cases:
        _, grad = fun(params)
        for i in range(len(params)):
            step = np.zeros(len(params))
            step[i] = 1e-6
            up = fun(params * np.exp(step))[0]
            down = fun(params * np.exp(-step))[0]
            assert grad[i] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-6)


# --- expectations against the published spreadsheet values ---------------------------------
def test_expectations_match_the_bgnbd_excel_note_with_published_parameters() -> None:
    # the note used unrounded parameters: 3-decimal ones move E[X(78)] by 0.003
    got = PUBLISHED_BGNBD.expected_purchases(np.array(EXCEL_TIMES))
    np.testing.assert_allclose(got, EXCEL_EXPECTED, atol=0.004)
    assert PUBLISHED_BGNBD.conditional_expected_purchases(39, 2, 30.43, 38.86)[()] == (
        pytest.approx(1.226, abs=0.001)
    )


def test_probability_alive_is_one_without_repeats_and_falls_with_silence() -> None:
    bg = PUBLISHED_BGNBD
    assert bg.probability_alive(0, 0, 30)[()] == 1.0
    silent = bg.probability_alive(3, np.array([30.0, 20.0, 5.0]), 30.0)
    assert np.all(np.diff(silent) < 0) and np.all((silent > 0) & (silent <= 1))
    # a long-silent heavy buyer is almost surely gone; a huge x stays finite
    assert bg.probability_alive(400, 1.0, 300.0)[()] == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(bg.conditional_expected_purchases(52, 400, 299.0, 300.0)[()])


def test_conditional_expectation_is_the_papers_formula_and_stays_finite() -> None:
    r, alpha, a, b = 0.6, 3.0, 0.8, 2.5
    bg = BGNBDParams(r, alpha, a, b)
    x, t_x, T, t = np.array([0, 1, 5, 30]), np.array([0, 2.0, 20, 35]), 40.0, 52.0
    z = t / (alpha + T + t)
    paper = (  # eq. 10 as printed
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        * bg.probability_alive(x, t_x, T)
    )
    np.testing.assert_allclose(bg.conditional_expected_purchases(t, x, t_x, T), paper, rtol=1e-9)
    # where eq. 10 as printed gives inf x 0 = nan: a heavy buyer long gone buys ~nothing
    gone = BGNBDParams(3.96, 1.3, 13.6, 6.65).conditional_expected_purchases(
        np.array([90.0, 365.0, 2000.0]), 243, 3.2, 3.74
    )
    assert np.all(np.isfinite(gone)) and np.all(gone < 1e-9)


def test_gamma_gamma_expected_value_and_clv() -> None:
    gg = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    assert gg.population_mean == pytest.approx(6.25 * 15.44 / 2.74)
    # no repeat purchase: the population mean; many: close to the customer's own mean
    assert gg.conditional_expected_value(0, np.nan)[()] == pytest.approx(gg.population_mean)
    assert gg.conditional_expected_value(200, 80.0)[()] == pytest.approx(80.0, rel=0.01)
    bg = PUBLISHED_BGNBD
    args = (np.array([0, 2, 7]), np.array([0, 30.43, 35.0]), np.array([38.86] * 3))
    zbar = np.array([np.nan, 22.35, 40.0])
    plain = customer_lifetime_value(bg, gg, *args, zbar, horizon=52)
    want = bg.conditional_expected_purchases(52, *args) * gg.conditional_expected_value(
        args[0], zbar
    )
    np.testing.assert_allclose(plain, want)
    discounted = customer_lifetime_value(
        bg, gg, *args, zbar, horizon=52, discount_rate=0.15, periods_per_year=52.18
    )
    assert np.all(discounted < plain) and np.all(discounted > plain / 1.15)
    tiny = customer_lifetime_value(bg, gg, *args, zbar, horizon=52, discount_rate=1e-9)
    np.testing.assert_allclose(tiny, plain, rtol=1e-6)
    assert np.all(customer_lifetime_value(bg, gg, *args, zbar, horizon=52, margin=0.3) < plain)


# --- recovery from simulated data ----------------------------------------------------------
def _z_scores(log_lik, fitted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(estimate - truth) / standard error, in log-parameters, from the observed information."""
    k, h = len(fitted), 1e-4
    theta = np.log(fitted)
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                log_lik(theta + e_i + e_j)
                - log_lik(theta + e_i - e_j)
                - log_lik(theta - e_i + e_j)
                + log_lik(theta - e_i - e_j)
            ) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    return (theta - np.log(true)) / se


def test_bgnbd_recovers_the_parameters_it_simulated() -> None:
    true = BGNBDParams(r=0.5, alpha=5.0, a=0.7, b=3.0)
    rng = np.random.default_rng(7)
    T = rng.uniform(20, 52, 5000)
    x, t_x = simulate_bgnbd(true, T, rng)
    fit = fit_bgnbd(x, t_x, T)
    assert fit.r == pytest.approx(true.r, rel=0.1)
    assert fit.alpha == pytest.approx(true.alpha, rel=0.1)
    # a and b are each loosely identified; the mean drop-out probability a/(a+b) is not
    assert fit.a / (fit.a + fit.b) == pytest.approx(true.a / (true.a + true.b), rel=0.1)

    def log_lik(theta: np.ndarray) -> float:
        return float(bgnbd_log_likelihood(np.exp(theta), x, t_x, T).sum())

    assert np.all(np.abs(_z_scores(log_lik, np.array(fit.values), np.array(true.values))) < 3)
    assert fit.log_likelihood == pytest.approx(log_lik(np.log(fit.values)))
    assert fit.log_likelihood >= log_lik(np.log(true.values))


def test_gamma_gamma_recovers_the_parameters_it_simulated() -> None:
    true = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    rng = np.random.default_rng(11)
    x = rng.poisson(2.0, 4000) + 1.0
    zbar = simulate_gamma_gamma(true, x, rng)
    fit = fit_gamma_gamma(x, zbar)
    assert fit.population_mean == pytest.approx(true.population_mean, rel=0.03)

    def log_lik(theta: np.ndarray) -> float:
        return float(gamma_gamma_log_likelihood(np.exp(theta), x, zbar).sum())

    assert np.all(np.abs(_z_scores(log_lik, np.array(fit.values), np.array(true.values))) < 3)


def test_fits_refuse_data_they_cannot_fit() -> None:
    with pytest.raises(ClvError, match="no customer has a repeat purchase"):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [5, 6, 7])
    with pytest.raises(ClvError, match="0 <= t_x <= T"):
        fit_bgnbd([1, 2], [8, 1], [5, 6])
    with pytest.raises(ClvError, match="whole numbers"):
        fit_bgnbd([1.5, 2], [1, 1], [5, 6])
    with pytest.raises(ClvError, match="positive, varying spend"):
        fit_gamma_gamma([1, 2, 3, 0], [10.0, 10.0, 10.0, np.nan])


# --- summaries -----------------------------------------------------------------------------
DAYS_OF_A = ["1997-01-01", "1997-01-01", "1997-01-18", "1997-08-02", "1997-12-12"]


def test_rfm_summary_counts_purchase_days_and_repeat_values() -> None:
    # a: CDNOW's customer 00004, with its first day split into two orders; b: one order;
    # c: first buys after the calibration end
    days = ["1997-01-01", "1997-01-01", "1997-01-18", "1997-08-02", "1997-12-12"]
    tx = pd.DataFrame(
        {
            "person_id": ["a"] * 5 + ["b", "c"],
            "day": pd.to_datetime([*days, "1997-03-01", "1997-10-05"]),
            "value": [20.0, 9.33, 29.73, 14.96, 26.48, 5.0, 7.0],
        }
    )
    s = rfm_summary(tx, date(1997, 9, 30), 7, holdout_end=date(1998, 6, 30))
    assert list(s.index) == ["a", "b"]
    a = s.loc["a"]
    # two orders on 1997-01-01 are one transaction; x counts the repeat days
    assert (a["x"], a["x_holdout"]) == (2, 1)
    assert a["t_x"] == pytest.approx(213 / 7)  # 30.43 weeks, as in the paper's summary
    assert a["T"] == pytest.approx(272 / 7)  # 38.86
    assert a["zbar"] == pytest.approx((29.73 + 14.96) / 2)  # repeat transactions only
    b = s.loc["b"]
    assert (b["x"], b["t_x"]) == (0, 0) and np.isnan(b["zbar"])


# --- the trainer on a small simulated shop -------------------------------------------------
def _bgnbd_shop(
    ws: Workspace, persons: int = 400, seed: int = 5, fixed_price: float | None = None
) -> None:
    """Orders of persons who buy as the BG/NBD and Gamma-Gamma models say (days as the unit):
    first purchases over 60 days from 2024-01-01, observed to 2024-12-31."""
    rng = np.random.default_rng(seed)
    start, end = datetime(2024, 1, 1), 365
    lam = rng.gamma(0.8, 1 / 20.0, persons)  # a purchase every ~25 days while alive
    drop = rng.beta(1.0, 6.0, persons)
    nu = rng.gamma(4.0, 1 / 60.0, persons)
    records = []
    for i in range(persons):
        t = float(rng.uniform(0, 60))
        n = 0
        while t < end:
            when = start + timedelta(days=t)
            price = fixed_price or round(float(rng.gamma(5.0, 1 / nu[i])), 2)
            records.append(
                {"event_id": f"o{i}-{n}", "user_id": f"u{i:04d}", "ts": when.isoformat() + "Z",
                 "type": "order", "order_id": f"o{i}-{n}", "quantity": 1, "price": price}
            )  # fmt: skip
            n += 1
            if n > 1 and rng.random() < drop[i]:
                break
            t += rng.exponential(1 / lam[i])
    result = ws.ingest_records(records, "events", timezone="UTC")
    assert result.accepted == len(records)


def test_trainer_fits_scores_the_holdout_and_writes_both_tags(ws: Workspace) -> None:
    _bgnbd_shop(ws)
    card = ws.models.train("clv", calibration_end="2024-08-31", time_unit="D")
    assert card.algorithm.startswith("BG/NBD + Gamma-Gamma")
    assert card.data_window["calibration_end"] == "2024-08-31"
    assert card.data_window["holdout_end"] <= "2024-12-31"
    assert set(card.params["bgnbd"]) >= {"r", "alpha", "a", "b", "log_likelihood"}
    holdout = card.metrics["holdout"]
    assert holdout["customers"] == card.metrics["customers"] == 400
    assert holdout["correlation"] > 0.3
    assert abs(holdout["total_error_pct"]) < 30
    # the data follow the model: it beats extrapolating each customer's past rate
    assert holdout["mae"] < holdout["baseline_mae"]
    assert holdout["revenue"]["mae"] < holdout["revenue"]["baseline_mae"]
    key = card.metrics["key"]
    assert (key["model"], key["baseline"]) == (holdout["mae"], holdout["baseline_mae"])
    assert card.calibration and sum(b["customers"] for b in card.calibration) == 400
    assert card.tags_written == {"expected_purchases_90d": 400, "predicted_clv": 400}
    stored = latest_card(ws.warehouse, "clv")
    assert stored is not None and stored.run_id == card.run_id
    scores = dict(
        ws.warehouse.fetchall(
            "SELECT tag_id, count(*) FROM model_scores WHERE model = 'clv' GROUP BY 1"
        )
    )
    assert scores == {"expected_purchases_90d": 400, "predicted_clv": 400}
    # in weeks the same data give the same expectations (90 days = 12.86 weeks)
    weekly = ws.models.train("clv", calibration_end="2024-08-31", time_unit="W")
    assert weekly.params["bgnbd"]["alpha"] == pytest.approx(card.params["bgnbd"]["alpha"] / 7, 1e-3)
    assert weekly.metrics["holdout"]["predicted_total"] == pytest.approx(
        holdout["predicted_total"], rel=1e-3
    )


def test_without_varying_spend_only_the_expected_purchases_are_written(ws: Workspace) -> None:
    _bgnbd_shop(ws, persons=80, fixed_price=10.0)
    card = ws.models.train("clv")
    assert card.tags_written == {"expected_purchases_90d": 80}
    assert card.params["gamma_gamma"] is None
    # (two orders on one day make a 20.0 transaction: spend barely varies, the fit runs away)
    assert any(n.startswith("predicted_clv not written: Gamma-Gamma") for n in card.notes)


def test_trainer_errors_are_clear(ws: Workspace) -> None:
    with pytest.raises(ClvError, match="no orders in this workspace"):
        ws.models.train("clv")
    _bgnbd_shop(ws, persons=60)
    with pytest.raises(ClvError, match="outside the orders"):
        ws.models.train("clv", calibration_end="2030-01-01")
    with pytest.raises(ClvError, match="not a date"):
        ws.models.train("clv", calibration_end="31/08/2024")
    with pytest.raises(ClvError, match="time unit 'M'"):
        ws.models.train("clv", time_unit="M")
    with pytest.raises(ClvError, match="no customer has a repeat purchase"):
        ws.models.train("clv", calibration_end="2024-01-01")


# --- the published CDNOW figures -----------------------------------------------------------
def _cdnow_folder() -> None:
    try:
        locate_source("cdnow")
    except DatasetMissingError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def cdnow_card(tmp_path_factory: pytest.TempPathFactory):
    _cdnow_folder()
    ws = Workspace.init(tmp_path_factory.mktemp("cdnow") / "ws")
    try:
        ws.load_dataset("cdnow")
        yield ws.models.train("clv", calibration_end="1997-09-30", time_unit="W")
    finally:
        ws.close()


@pytest.mark.realdata
def test_cdnow_parameters_match_the_paper(cdnow_card) -> None:
    bg, gg = cdnow_card.params["bgnbd"], cdnow_card.params["gamma_gamma"]
    assert cdnow_card.metrics["customers"] == 2357
    assert cdnow_card.metrics["repeat_buyers"] == 946
    # to the published precision: three decimals (BG/NBD), two (Gamma-Gamma)
    assert {k: round(bg[k], 3) for k in ("r", "alpha", "a", "b")} == {
        "r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426
    }  # fmt: skip
    assert round(bg["log_likelihood"], 1) == -9582.4
    assert {k: round(gg[k], 2) for k in ("p", "q", "gamma")} == {
        "p": 6.25, "q": 3.74, "gamma": 15.44
    }  # fmt: skip
    fitted = BGNBDParams(bg["r"], bg["alpha"], bg["a"], bg["b"])
    got = fitted.expected_purchases(np.array(EXCEL_TIMES))
    np.testing.assert_allclose(got, EXCEL_EXPECTED, atol=6e-4)
    assert fitted.conditional_expected_purchases(39, 2, 30.43, 38.86)[()] == pytest.approx(
        1.226, abs=5e-4
    )


@pytest.mark.realdata
def test_cdnow_week_78_forecast_is_about_4_percent_under_the_actual(cdnow_card) -> None:
    holdout = cdnow_card.metrics["holdout"]
    assert holdout["holdout_units"] == 39.0  # 1997-10-01 .. 1998-06-30: weeks 40-78
    # 2,457 repeat transactions in weeks 1-39 and 1,882 in weeks 40-78 (distinct days)
    assert holdout["cumulative_repeat_actual"] == 2457 + 1882
    assert -5.0 < holdout["cumulative_error_pct"] < -3.0
    assert holdout["correlation"] > 0.5
    assert holdout["mae"] < holdout["baseline_mae"]  # past rate x 39 weeks


@pytest.mark.realdata
def test_cdnow_summary_matches_the_published_summary_file() -> None:
    _cdnow_folder()
    sample = locate_source("cdnow")
    published = sample.parent / "cdnow_customers_summary_with_transactions.csv"
    if not published.exists():
        pytest.skip(f"{published} not found")
    # master id, sample id (the summary file's ID), YYYYMMDD, number of CDs, dollar value
    raw = pd.read_csv(sample, sep=r"\s+", header=None, dtype=str)
    tx = pd.DataFrame(
        {
            "person_id": raw[1].astype(int),
            "day": pd.to_datetime(raw[2], format="%Y%m%d"),
            "value": raw[4].astype(float),
        }
    )
    ours = rfm_summary(tx, date(1997, 9, 30), 7)
    theirs = pd.read_csv(published).set_index("ID").loc[ours.index]
    assert len(ours) == 2357
    np.testing.assert_array_equal(ours["x"].to_numpy(), theirs["x"].to_numpy())
    for column in ("t_x", "T", "zbar"):
        np.testing.assert_allclose(
            ours[column].fillna(0).to_numpy(), theirs[column].to_numpy(), atol=0.006
        )
