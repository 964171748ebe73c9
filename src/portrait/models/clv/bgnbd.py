"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): repeat purchases
while a customer is alive, and the chance that they still are. Pure math on the summary
(x, t_x, T) of each customer; see ``portrait.models.clv`` for the model.

>>> bg = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
>>> round(float(bg.conditional_expected_purchases(39, 2, 30.43, 38.86)), 3)
1.226
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from portrait.models.clv.fitting import (
    ArrayLike,
    ClvError,
    as_arrays,
    compress,
    maximise,
    weighted_sum,
)


@dataclass(frozen=True)
class BGNBDParams:
    """Fitted BG/NBD parameters (``r``, ``alpha`` in the time unit of the data)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")

    @property
    def values(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)

    def log_likelihood_each(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Log-likelihood of each customer's (x, t_x, T) (FHL 2005, eq. 6)."""
        return bgnbd_log_likelihood(self.values, x, t_x, T)

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a new customer within t of the first (eq. 7)."""
        r, alpha, a, b = self.values
        (t,) = as_arrays(t)
        return (a + b - 1) / (a - 1) * (1 - _tail(r, alpha, a, b, t / (alpha + t), 0.0))

    def conditional_expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t after T (eq. 10)."""
        r, alpha, a, b = self.values
        t, x, t_x, T = as_arrays(t, x, t_x, T)
        head = _tail(r, alpha, a, b, t / (alpha + T + t), x)
        numerator = (a + b + x - 1) / (a - 1) * (1 - head)
        return numerator * self.probability_alive(x, t_x, T)

    def probability_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(alive at T | x, t_x, T) (eq. 11); 1 for customers with no repeat purchase."""
        r, alpha, a, b = self.values
        x, t_x, T = as_arrays(x, t_x, T)
        repeat = x > 0
        log_ratio = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(repeat, 1.0 / (1.0 + np.exp(np.minimum(log_ratio, 700))), 1.0)


def _tail(
    r: float, alpha: float, a: float, b: float, z: np.ndarray, x: np.ndarray | float
) -> np.ndarray:
    """(1 - z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), the hypergeometric part of eqs. 7 and 10, by
    Euler's transformation: (1 - z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z). The paper's form
    overflows for heavy buyers (2F1 -> inf times (1 - z)^(r+x) -> 0); this one stays bounded
    because its parameters do not grow with x."""
    return (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)


def bgnbd_log_likelihood(
    params: tuple[float, float, float, float] | np.ndarray,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, as log of a sum of two terms (logaddexp)::

    L = B(a, b+x) / B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
      + [x > 0] B(a+1, b+x-1) / B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
    """
    return _bgnbd_terms(params, *as_arrays(x, t_x, T))[0]


def _by_x(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn(x)`` computed once per distinct x (few values) and spread back over the customers:
    the special functions are the costly part of the likelihood."""
    distinct, where = np.unique(x, return_inverse=True)
    return fn(distinct)[where]


def _bgnbd_terms(
    params: tuple[float, float, float, float] | np.ndarray,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-likelihood, log of the still-alive term, log of the dropped-out term) per customer."""
    r, alpha, a, b = (float(v) for v in params)
    repeat = x > 0
    common = _by_x(x, lambda v: gammaln(r + v)) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    alive = _by_x(x, lambda v: betaln(a, b + v)) - (r + x) * np.log(alpha + T)
    dropped_beta = _by_x(x, lambda v: betaln(a + 1, b + np.maximum(v - 1, 0)))
    dropped = np.where(repeat, dropped_beta - (r + x) * np.log(alpha + t_x), -np.inf)
    return common + np.logaddexp(alive, dropped), alive, dropped


def _bgnbd_gradient(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood and its gradient in log-parameters."""
    r, alpha, a, b = (float(v) for v in params)
    ll, alive, dropped = _bgnbd_terms(params, x, t_x, T)
    w_alive = np.exp(alive - np.logaddexp(alive, dropped))  # share of the still-alive term
    w_dropped = 1.0 - w_alive
    psi_abx = _by_x(x, lambda v: digamma(a + b + v))
    d_r = _by_x(x, lambda v: digamma(r + v)) - digamma(r) + np.log(alpha)
    d_r -= w_alive * np.log(alpha + T) + w_dropped * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dropped / (alpha + t_x))
    d_a = -(digamma(a) - digamma(a + b)) - psi_abx
    d_a += w_alive * digamma(a) + w_dropped * digamma(a + 1)
    d_b = -(digamma(b) - digamma(a + b)) - psi_abx
    d_b += w_alive * _by_x(x, lambda v: digamma(b + v))
    d_b += w_dropped * _by_x(x, lambda v: digamma(b + np.maximum(v - 1, 0)))
    grads = [
        weighted_sum(w, d_r) * r,
        weighted_sum(w, d_alpha) * alpha,
        weighted_sum(w, d_a) * a,
        weighted_sum(w, d_b) * b,
    ]
    return weighted_sum(w, ll), np.array(grads)


def _check_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if not (len(x) == len(t_x) == len(T)) or len(x) == 0:
        raise ClvError("x, t_x and T need one value per customer, and at least one customer")
    if np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
        raise ClvError("x (repeat purchases) must be whole numbers >= 0")
    if np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ClvError("need 0 <= t_x <= T for every customer (t_x: last purchase, T: age)")
    if np.any((x == 0) & (t_x != 0)):
        raise ClvError("t_x must be 0 for customers with no repeat purchase (x = 0)")
    if not np.any(x > 0):
        raise ClvError(
            "no customer has a repeat purchase in the calibration period: BG/NBD cannot be "
            "fitted (choose a later calibration end or load more history)"
        )


def fit_bgnbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters for customers summarised by (x, t_x, T)."""
    x, t_x, T = as_arrays(x, t_x, T)
    _check_summary(x, t_x, T)
    (ux, ut, uT), w = compress(x, t_x, T)
    # start from the mean purchase rate: r / alpha ~ repeat purchases per unit of time
    rate = max(float(x.sum()) / max(float(T.sum()), 1e-9), 1e-6)
    start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    best, ll, at_bound = maximise(
        lambda p: _bgnbd_gradient(p, ux, ut, uT, w), start, float(w.sum())
    )
    if at_bound:
        raise ClvError(
            "BG/NBD fit ran to a parameter bound: these data do not identify the model "
            f"(log-parameters {np.round(best, 2).tolist()}); check that purchases repeat"
        )
    r, alpha, a, b = np.exp(best)
    return BGNBDParams(float(r), float(alpha), float(a), float(b), ll)


def simulate_bgnbd(
    params: BGNBDParams, T: ArrayLike, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(x, t_x) of customers of ages T drawn from the BG/NBD model (for tests)."""
    (T,) = as_arrays(T)
    lam = rng.gamma(params.r, 1.0 / params.alpha, len(T))
    p = rng.beta(params.a, params.b, len(T))
    x = np.zeros(len(T))
    t_x = np.zeros(len(T))
    for i in range(len(T)):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i]) if lam[i] > 0 else np.inf
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    return x, t_x
