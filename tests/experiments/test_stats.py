"""Experiment statistics against known answers, scipy, Monte Carlo and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy import stats as sps

from portrait.experiments.stats import (
    N_TOO_SMALL,
    NO_DATA,
    ZERO_BASELINE,
    ZERO_VARIANCE,
    CupedStats,
    MeanStats,
    PropStats,
    bayes_means,
    bayes_proportions,
    beta_prob_greater,
    clean,
    cuped_adjust,
    minimum_detectable_effect,
    minimum_detectable_effect_means,
    sample_size_means,
    sample_size_proportions,
    srm_check,
    two_proportion_test,
    welch_test,
)

CONTROL = MeanStats.from_sd(3407, 0.41, 3.9)
TREATMENT = MeanStats.from_sd(3461, 0.7, 6.2)


# --- known answers -------------------------------------------------------------------------


def test_welch_known_answer() -> None:
    r = welch_test(CONTROL, TREATMENT)
    assert r.error is None
    assert r.difference == pytest.approx(0.29)
    assert round(r.ci_low, 5) == 0.04538
    assert round(r.ci_high, 5) == 0.53462
    assert round(r.p_value, 5) == 0.02016
    assert r.df == pytest.approx(5841.74, abs=0.01)
    assert r.relative_lift == pytest.approx(0.29 / 0.41)
    assert r.significant


def test_welch_matches_scipy() -> None:
    ref = sps.ttest_ind_from_stats(0.7, 6.2, 3461, 0.41, 3.9, 3407, equal_var=False)
    r = welch_test(CONTROL, TREATMENT)
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.p_value == pytest.approx(ref.pvalue)


def test_sample_size_known_answer_evan_miller() -> None:
    r = sample_size_proportions(0.20, 0.25)
    assert (r.control, r.treatment, r.total) == (1030, 1030, 2060)
    assert r.exact_control == pytest.approx(1030.22, abs=0.01)  # rounded to nearest, as he does


def test_sample_size_variants() -> None:
    one = sample_size_proportions(0.20, 0.25, two_sided=False)
    assert one.control < 1030
    unequal = sample_size_proportions(0.20, 0.25, ratio=2.0)
    assert unequal.treatment == pytest.approx(2 * unequal.control, abs=1)
    assert unequal.control < 1030 < unequal.total
    down = sample_size_proportions(0.25, 0.20)
    assert down.control > 0
    means = sample_size_means(10, 1)  # (1.95996 + 0.84162)^2 * 100 * 2 = 1569.8
    assert means.control == 1570


def test_mde_inverts_sample_size() -> None:
    m = minimum_detectable_effect(1030, 0.20)
    assert m.target == pytest.approx(0.25, abs=1e-4)
    assert m.relative == pytest.approx(0.25, abs=1e-3)
    d = minimum_detectable_effect_means(1570, 10)
    assert d == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError):
        minimum_detectable_effect(2, 0.9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline": 20, "target": 25},
        {"baseline": 0.2, "target": 0.2},
        {"baseline": 0.2, "target": 0.25, "alpha": 1.5},
        {"baseline": 0.2, "target": 0.25, "power": 0},
    ],
)
def test_sample_size_rejects_bad_input(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        sample_size_proportions(**kwargs)


def test_two_proportion_matches_chi_square_and_hand_interval() -> None:
    c, t = PropStats(1000, 200), PropStats(1000, 250)
    r = two_proportion_test(c, t)
    chi2, p, _, _ = sps.chi2_contingency([[200, 800], [250, 750]], correction=False)
    assert r.p_value == pytest.approx(p)
    assert r.statistic**2 == pytest.approx(chi2)
    se = math.sqrt(0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1000)
    assert r.ci_low == pytest.approx(0.05 - 1.959964 * se, abs=1e-6)
    assert r.ci_high == pytest.approx(0.05 + 1.959964 * se, abs=1e-6)


# --- degenerate data gives codes, not exceptions -------------------------------------------


def test_degenerate_data_gives_error_codes() -> None:
    assert welch_test(MeanStats(1, 3.0, 0.0), TREATMENT).error == N_TOO_SMALL
    flat = welch_test(MeanStats(10, 1.0, 0.0), MeanStats(10, 2.0, 0.0))
    assert flat.error == ZERO_VARIANCE and math.isnan(flat.p_value) and flat.difference == 1.0
    assert not flat.significant
    assert two_proportion_test(PropStats(0, 0), PropStats(10, 1)).error == N_TOO_SMALL
    assert two_proportion_test(PropStats(10, 0), PropStats(10, 0)).error == ZERO_VARIANCE
    assert bayes_means(MeanStats(1, 0, 0), TREATMENT).error == N_TOO_SMALL
    assert bayes_means(MeanStats(5, 0.0, 1.0), TREATMENT).error == ZERO_BASELINE
    assert bayes_proportions(PropStats(0, 0), PropStats(5, 1)).error == N_TOO_SMALL
    assert srm_check({"a": 0, "b": 0}, {"a": 1, "b": 1}).error == NO_DATA
    as_json = clean(flat)
    assert as_json["p_value"] is None and as_json["error"] == ZERO_VARIANCE


def test_invalid_input_raises() -> None:
    with pytest.raises(ValueError, match="more conversions"):
        PropStats(10, 11)
    with pytest.raises(ValueError):
        MeanStats(-1, 0, 0)
    with pytest.raises(ValueError, match="arms differ"):
        srm_check({"a": 1, "b": 2}, {"a": 1, "c": 1})


# --- Bayesian ------------------------------------------------------------------------------


def _evan_miller_prob_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Closed form for integer a_b (Evan Miller, 'Formulas for Bayesian A/B testing')."""
    total = 0.0
    for i in range(a_b):
        total += math.exp(
            special.betaln(a_a + i, b_b + b_a)
            - math.log(b_b + i)
            - special.betaln(1 + i, b_b)
            - special.betaln(a_a, b_a)
        )
    return total


@pytest.mark.parametrize("counts", [(20, 100, 30, 100), (5, 40, 9, 35), (50, 400, 44, 410)])
def test_chance_to_beat_matches_closed_form(counts: tuple[int, int, int, int]) -> None:
    ca, na, cb, nb = counts
    exact = _evan_miller_prob_b_beats_a(1 + ca, 1 + na - ca, 1 + cb, 1 + nb - cb)
    r = bayes_proportions(PropStats(na, ca), PropStats(nb, cb))
    assert r.chance_to_beat_control == pytest.approx(exact, abs=1e-7)


def test_bayes_proportions_symmetric_case() -> None:
    r = bayes_proportions(PropStats(1000, 100), PropStats(1000, 100))
    assert r.chance_to_beat_control == pytest.approx(0.5, abs=1e-7)
    assert r.expected_loss_treatment == pytest.approx(r.expected_loss_control, rel=1e-6)
    assert r.lift_ci_low < 0 < r.lift_ci_high


def test_bayes_proportions_against_monte_carlo() -> None:
    c, t = PropStats(1000, 200), PropStats(1000, 250)
    r = bayes_proportions(c, t)
    rng = np.random.default_rng(7)
    pc = rng.beta(201, 801, 1_000_000)
    pt = rng.beta(251, 751, 1_000_000)
    assert r.chance_to_beat_control == pytest.approx((pt > pc).mean(), abs=0.001)
    assert r.expected_loss_treatment == pytest.approx(np.maximum(pc - pt, 0).mean(), abs=2e-6)
    assert r.expected_loss_control == pytest.approx(np.maximum(pt - pc, 0).mean(), abs=2e-4)
    lo, hi = np.quantile(pt / pc - 1, [0.025, 0.975])
    assert (r.lift_ci_low, r.lift_ci_high) == pytest.approx((lo, hi), abs=0.005)
    assert bayes_proportions(c, t) == r  # seeded: the same every time


def test_beta_prob_greater_peaked_and_wide() -> None:
    # A very peaked posterior against a wide one: still a probability close to Monte Carlo.
    rng = np.random.default_rng(1)
    x, y = rng.beta(2001, 98001, 500_000), rng.beta(3, 60, 500_000)
    assert beta_prob_greater(2001, 98001, 3, 60) == pytest.approx((x > y).mean(), abs=0.002)


def test_bayes_means_closed_form() -> None:
    r = bayes_means(CONTROL, TREATMENT)
    s = math.sqrt(3.9**2 / 3407 + 6.2**2 / 3461)
    assert r.chance_to_beat_control == pytest.approx(sps.norm.cdf(0.29 / s))
    rng = np.random.default_rng(3)
    d = rng.normal(0.29, s, 1_000_000)
    assert r.expected_loss_treatment == pytest.approx(np.maximum(-d, 0).mean(), abs=2e-5)
    assert r.expected_loss_control == pytest.approx(np.maximum(d, 0).mean(), abs=2e-4)
    same = bayes_means(CONTROL, CONTROL)
    assert same.chance_to_beat_control == pytest.approx(0.5)


# --- CUPED ---------------------------------------------------------------------------------


def _arm(rng: np.random.Generator, n: int, effect: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.gamma(2.0, 50.0, n)  # pre-period spend
    y = 0.8 * x + rng.normal(0, 30, n) + effect
    return y, x


def test_cuped_matches_hand_computation() -> None:
    rng = np.random.default_rng(11)
    (yc, xc), (yt, xt) = _arm(rng, 300, 0.0), _arm(rng, 280, 5.0)
    adj_c, adj_t, theta, reduction = cuped_adjust(
        CupedStats.from_arrays(yc, xc), CupedStats.from_arrays(yt, xt)
    )
    # theta: within-arm covariance over within-arm variance of x, pooled over both arms
    cov = ((xc - xc.mean()) * (yc - yc.mean())).sum() + ((xt - xt.mean()) * (yt - yt.mean())).sum()
    var = ((xc - xc.mean()) ** 2).sum() + ((xt - xt.mean()) ** 2).sum()
    assert theta == pytest.approx(cov / var)
    x_all = np.concatenate([xc, xt]).mean()
    hand_c, hand_t = yc - theta * (xc - x_all), yt - theta * (xt - x_all)
    assert adj_c.mean == pytest.approx(hand_c.mean())
    assert adj_t.mean == pytest.approx(hand_t.mean())
    assert adj_c.variance == pytest.approx(hand_c.var(ddof=1))
    assert adj_t.variance == pytest.approx(hand_t.var(ddof=1))
    raw = yc.var(ddof=1) / 300 + yt.var(ddof=1) / 280
    new = hand_c.var(ddof=1) / 300 + hand_t.var(ddof=1) / 280
    assert reduction == pytest.approx(1 - new / raw)


def test_cuped_shrinks_variance_and_stays_unbiased() -> None:
    rng = np.random.default_rng(5)
    raw_est, cuped_est, reductions = [], [], []
    for _ in range(300):
        (yc, xc), (yt, xt) = _arm(rng, 200, 0.0), _arm(rng, 200, 4.0)
        c, t = CupedStats.from_arrays(yc, xc), CupedStats.from_arrays(yt, xt)
        adj_c, adj_t, _, red = cuped_adjust(c, t)
        raw_est.append(welch_test(c.y, t.y).difference)
        cuped_est.append(welch_test(adj_c, adj_t).difference)
        reductions.append(red)
    raw_a, cuped_a = np.array(raw_est), np.array(cuped_est)
    assert abs(cuped_a.mean() - 4.0) < 3 * cuped_a.std() / math.sqrt(300)  # unbiased
    assert cuped_a.var() < 0.5 * raw_a.var()  # corr(x, y) ~ 0.9: most variance removed
    assert np.mean(reductions) == pytest.approx(1 - cuped_a.var() / raw_a.var(), abs=0.1)


def test_cuped_without_covariate_information_is_a_no_op() -> None:
    c = CupedStats(3, 6.0, 14.0, 3.0, 3.0, 6.0)  # x constant 1: nothing to adjust with
    t = CupedStats(3, 9.0, 29.0, 3.0, 3.0, 9.0)
    adj_c, adj_t, theta, reduction = cuped_adjust(c, t)
    assert theta == 0.0 and reduction == pytest.approx(0.0)
    assert (adj_c.mean, adj_t.mean) == (2.0, 3.0)


# --- SRM -----------------------------------------------------------------------------------


def test_srm_check() -> None:
    ok = srm_check({"control": 5000, "treatment": 5090}, {"control": 50, "treatment": 50})
    assert not ok.mismatch and ok.p_value > 0.3
    bad = srm_check({"control": 5000, "treatment": 5400}, {"control": 0.5, "treatment": 0.5})
    assert bad.mismatch and bad.chi2 == pytest.approx(2 * 200**2 / 5200)
    planned = srm_check({"a": 1000, "b": 9000}, {"a": 10, "b": 90})
    assert not planned.mismatch and planned.chi2 == pytest.approx(0.0)


# --- properties ----------------------------------------------------------------------------

values = st.lists(
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False), min_size=0, max_size=30
)
arm_stats = st.builds(
    MeanStats.from_sd,
    st.integers(2, 10_000),
    st.floats(-100, 100),
    st.floats(0.01, 100),
)


@settings(max_examples=60, deadline=None)
@given(values, values)
def test_merge_equals_stats_of_concatenated_data(a: list[float], b: list[float]) -> None:
    merged = MeanStats.from_values(a).merge(MeanStats.from_values(b))
    whole = MeanStats.from_values(a + b)
    assert merged.n == whole.n
    assert merged.mean == pytest.approx(whole.mean, abs=1e-6)
    assert merged.variance == pytest.approx(whole.variance, rel=1e-6, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(arm_stats, arm_stats, st.floats(0.001, 0.2))
def test_interval_contains_difference_and_swap_is_symmetric(
    c: MeanStats, t: MeanStats, alpha: float
) -> None:
    r = welch_test(c, t, alpha)
    assert r.ci_low <= r.difference <= r.ci_high
    s = welch_test(t, c, alpha)
    assert s.p_value == pytest.approx(r.p_value, rel=1e-9, abs=1e-300)
    assert s.difference == pytest.approx(-r.difference)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.data())
def test_proportion_test_properties(n1: int, n2: int, data: st.DataObject) -> None:
    c = PropStats(n1, data.draw(st.integers(0, n1)))
    t = PropStats(n2, data.draw(st.integers(0, n2)))
    r, s = two_proportion_test(c, t), two_proportion_test(t, c)
    if r.error:
        assert r.error == ZERO_VARIANCE and s.error == ZERO_VARIANCE
        return
    assert r.ci_low <= r.difference <= r.ci_high
    assert s.p_value == pytest.approx(r.p_value)
    assert c.merge(t) == PropStats(n1 + n2, c.successes + t.successes)
