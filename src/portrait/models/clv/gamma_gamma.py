"""Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie note 025): the value
of a customer's transactions, independent of the purchase process, fitted on the mean value of
repeat purchases; and the customer lifetime value it makes with BG/NBD. Pure math.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from portrait.models.clv.bgnbd import BGNBDParams
from portrait.models.clv.fitting import (
    ArrayLike,
    ClvError,
    as_arrays,
    compress,
    maximise,
    weighted_sum,
)


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma spend parameters (``gamma`` in money units)."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")

    @property
    def values(self) -> tuple[float, float, float]:
        return (self.p, self.q, self.gamma)

    @property
    def population_mean(self) -> float:
        """E[Z]: mean transaction value of a customer picked at random (infinite if q <= 1)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")

    def conditional_expected_value(self, x: ArrayLike, zbar: ArrayLike) -> np.ndarray:
        """E[Z | x, zbar]: a customer's expected transaction value given x repeat purchases of
        mean value zbar; the population mean for x = 0 (zbar is then ignored)."""
        p, q, gamma = self.values
        x, zbar = as_arrays(x, zbar)
        zbar = np.where(x > 0, np.nan_to_num(zbar), 0.0)
        return (p * gamma + p * x * zbar) / (p * x + q - 1)


def gamma_gamma_log_likelihood(
    params: tuple[float, float, float] | np.ndarray, x: ArrayLike, zbar: ArrayLike
) -> np.ndarray:
    """Per-customer log density of the mean repeat value zbar given x > 0 (note 025, eq. 4)::

    f = G(px+q) / (G(px) G(q)) * gamma^q * zbar^(px-1) * x^(px) / (gamma + x zbar)^(px+q)
    """
    p, q, gamma = (float(v) for v in params)
    x, zbar = as_arrays(x, zbar)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * zbar)
    )


def _gamma_gamma_gradient(
    params: np.ndarray, x: np.ndarray, zbar: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood and its gradient in log-parameters."""
    p, q, gamma = (float(v) for v in params)
    ll = gamma_gamma_log_likelihood(params, x, zbar)
    px = p * x
    log_total = np.log(gamma + x * zbar)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(zbar) + np.log(x) - log_total)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (gamma + x * zbar)
    grads = [weighted_sum(w, d_p) * p, weighted_sum(w, d_q) * q, weighted_sum(w, d_gamma) * gamma]
    return weighted_sum(w, ll), np.array(grads)


def fit_gamma_gamma(x: ArrayLike, zbar: ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from repeat buyers (x > 0, zbar > 0)."""
    x, zbar = as_arrays(x, zbar)
    if len(x) != len(zbar):
        raise ClvError("x and zbar need one value per customer")
    keep = (x > 0) & np.isfinite(zbar) & (zbar > 0)
    if keep.sum() < 3 or np.ptp(zbar[keep]) == 0:
        raise ClvError(
            f"Gamma-Gamma needs repeat buyers with positive, varying spend; found {keep.sum()}"
        )
    (ux, uz), w = compress(x[keep], zbar[keep])
    start = np.log([1.0, 2.0, float(np.mean(zbar[keep]))])
    best, ll, at_bound = maximise(
        lambda p: _gamma_gamma_gradient(p, ux, uz, w), start, float(w.sum())
    )
    if at_bound:
        raise ClvError(
            "Gamma-Gamma fit ran to a parameter bound: spend per customer does not vary the way "
            "the model needs"
        )
    p, q, gamma = np.exp(best)
    return GammaGammaParams(float(p), float(q), float(gamma), ll)


def customer_lifetime_value(
    bg: BGNBDParams,
    gg: GammaGammaParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    zbar: ArrayLike,
    horizon: float,
    discount_rate: float = 0.0,
    periods_per_year: float = 365.25,
    steps: int = 12,
    margin: float = 1.0,
) -> np.ndarray:
    """Expected value of each customer's purchases over the next ``horizon`` time units.

    CLV = margin x sum over ``steps`` equal slices of the horizon of (expected purchases in the
    slice, from BG/NBD) x (expected value per purchase, from Gamma-Gamma) / (1 + d)^(years to
    the slice's end). Assumptions: spend per purchase is independent of the purchase process
    (the Gamma-Gamma assumption); ``margin`` is a constant share of revenue (1.0: the value is
    revenue, not profit); ``discount_rate`` d is an annual rate (0: undiscounted) applied at the
    end of each slice; ``periods_per_year`` converts the time unit to years (52.18 for weeks).
    """
    if horizon < 0 or steps < 1:
        raise ClvError("horizon must be >= 0 and steps >= 1")
    spend = gg.conditional_expected_value(x, zbar)
    if discount_rate == 0:
        return margin * spend * bg.conditional_expected_purchases(horizon, x, t_x, T)
    total = np.zeros_like(spend)
    before = np.zeros_like(spend)
    for k in range(1, steps + 1):
        t = horizon * k / steps
        upto = bg.conditional_expected_purchases(t, x, t_x, T)
        total += (upto - before) / (1 + discount_rate) ** (t / periods_per_year)
        before = upto
    return margin * spend * total


def simulate_gamma_gamma(
    params: GammaGammaParams, x: ArrayLike, rng: np.random.Generator
) -> np.ndarray:
    """Mean values zbar of x transactions per customer drawn from Gamma-Gamma (for tests)."""
    (x,) = as_arrays(x)
    nu = rng.gamma(params.q, 1.0 / params.gamma, len(x))
    # the sum of x Gamma(p, nu) values is Gamma(p x, nu)
    total = rng.gamma(np.maximum(params.p * x, 1e-12), 1.0 / nu)
    return np.where(x > 0, total / np.maximum(x, 1), np.nan)
