"""Bayesian comparisons of treatment with control: chance to beat control, expected losses and
lift intervals (beta-binomial for conversions, normal approximation for means)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy  # submodules load on first use (scipy.stats alone costs 0.6 s at CLI start)

from portrait.experiments.stats.sufficient import (
    N_TOO_SMALL,
    NAN,
    ZERO_BASELINE,
    ZERO_VARIANCE,
    MaybeNan,
    MeanStats,
    PropStats,
)


@dataclass(frozen=True)
class BayesResult:
    """Posterior comparison of treatment with control.

    ``expected_loss_treatment`` is E[max(control - treatment, 0)]: what choosing the treatment
    costs if it is in fact worse; ``expected_loss_control`` the reverse. Intervals are central
    credible intervals at ``credibility``; the lift is relative (treatment / control - 1).
    """

    chance_to_beat_control: MaybeNan
    expected_loss_treatment: MaybeNan
    expected_loss_control: MaybeNan
    difference: MaybeNan  # posterior mean of treatment - control
    difference_ci_low: MaybeNan
    difference_ci_high: MaybeNan
    lift: MaybeNan  # posterior median of the relative lift
    lift_ci_low: MaybeNan
    lift_ci_high: MaybeNan
    credibility: float
    method: str
    error: str | None = None


def _bayes_failed(method: str, credibility: float, error: str) -> BayesResult:
    return BayesResult(NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, credibility, method, error)


def beta_prob_greater(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) independent.

    Integrates F_Y(F_X^-1(u)) over u in (0, 1) with adaptive quadrature: a bounded integrand
    that stays well behaved even when one posterior is far more peaked than the other.
    """
    hint = float(np.clip(scipy.special.betainc(a1, b1, a2 / (a2 + b2)), 1e-9, 1 - 1e-9))
    value, _ = scipy.integrate.quad(
        lambda u: scipy.special.betainc(a2, b2, scipy.special.betaincinv(a1, b1, u)),
        0.0,
        1.0,
        points=[hint],
        limit=400,
        epsabs=1e-11,
    )
    return float(min(max(value, 0.0), 1.0))


def bayes_proportions(
    control: PropStats,
    treatment: PropStats,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    credibility: float = 0.95,
    draws: int = 100_000,
    seed: int = 0,
) -> BayesResult:
    """Beta-binomial comparison. Chance to beat and expected losses are integrated
    numerically (exact up to quadrature); the lift interval comes from ``draws`` seeded
    posterior draws, so the same input always gives the same output.

    Expected loss uses E[X 1{X > Y}] = E[X] P(X+ > Y), X+ ~ Beta(a + 1, b).
    """
    method = "beta_binomial"
    if control.n < 1 or treatment.n < 1:
        return _bayes_failed(method, credibility, N_TOO_SMALL)
    ac, bc = prior_alpha + control.successes, prior_beta + control.n - control.successes
    at, bt = prior_alpha + treatment.successes, prior_beta + treatment.n - treatment.successes
    mc, mt = ac / (ac + bc), at / (at + bt)
    p_t_beats = beta_prob_greater(at, bt, ac, bc)
    # E[max(C - T, 0)] = E[C 1{C>T}] - E[T 1{C>T}]
    c_plus = beta_prob_greater(ac + 1, bc, at, bt)  # P(C+ > T)
    t_plus = beta_prob_greater(at + 1, bt, ac, bc)  # P(T+ > C)
    loss_t = mc * c_plus - mt * (1 - t_plus)
    loss_c = mt * t_plus - mc * (1 - c_plus)
    rng = np.random.default_rng(seed)
    c = rng.beta(ac, bc, draws)
    t = rng.beta(at, bt, draws)
    q = [(1 - credibility) / 2, 0.5, (1 + credibility) / 2]
    d_lo, d_hi = np.quantile(t - c, [q[0], q[2]])
    lift_lo, lift_mid, lift_hi = np.quantile(t / c - 1, q)
    return BayesResult(
        chance_to_beat_control=p_t_beats,
        expected_loss_treatment=max(loss_t, 0.0),
        expected_loss_control=max(loss_c, 0.0),
        difference=mt - mc,
        difference_ci_low=float(d_lo),
        difference_ci_high=float(d_hi),
        lift=float(lift_mid),
        lift_ci_low=float(lift_lo),
        lift_ci_high=float(lift_hi),
        credibility=credibility,
        method=method,
    )


def bayes_means(control: MeanStats, treatment: MeanStats, credibility: float = 0.95) -> BayesResult:
    """Normal approximation with flat priors: each mean ~ N(mean, variance / n), so the
    difference D ~ N(d, s^2) and everything is closed form. The lift interval uses the delta
    method on treatment / control - 1 (as GrowthBook's gbstats does)."""
    method = "normal"
    if control.n < 2 or treatment.n < 2:
        return _bayes_failed(method, credibility, N_TOO_SMALL)
    vc, vt = control.variance / control.n, treatment.variance / treatment.n
    s = math.sqrt(vc + vt)
    if s <= 0:
        return _bayes_failed(method, credibility, ZERO_VARIANCE)
    d = treatment.mean - control.mean
    z = float(scipy.stats.norm.ppf((1 + credibility) / 2))
    pdf, r = float(scipy.stats.norm.pdf(d / s)), d / s
    loss_t = -d * float(scipy.stats.norm.cdf(-r)) + s * pdf  # E[max(-D, 0)]
    loss_c = d * float(scipy.stats.norm.cdf(r)) + s * pdf  # E[max(D, 0)]
    if control.mean == 0:
        lift = lift_lo = lift_hi = NAN
        error: str | None = ZERO_BASELINE
    else:
        mc, mt = control.mean, treatment.mean
        lift = mt / mc - 1
        lift_se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
        lift_lo, lift_hi = lift - z * lift_se, lift + z * lift_se
        error = None
    return BayesResult(
        chance_to_beat_control=float(scipy.stats.norm.cdf(r)),
        expected_loss_treatment=float(loss_t),
        expected_loss_control=float(loss_c),
        difference=d,
        difference_ci_low=d - z * s,
        difference_ci_high=d + z * s,
        lift=lift,
        lift_ci_low=lift_lo,
        lift_ci_high=lift_hi,
        credibility=credibility,
        method=method,
        error=error,
    )
