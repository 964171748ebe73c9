"""Maximum likelihood for the CLV models: the search over log-parameters (L-BFGS-B with the
analytic gradient, Nelder-Mead when it stops short) and the helpers both models share.

Identical customers are fitted once with a weight (``compress``); sums are weighted sums kept
off BLAS (``weighted_sum``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.optimize import minimize

LOG_BOUND = 15.0  # log-parameters are searched in [-15, 15]
GRADIENT_TOLERANCE = 1e-6  # of the mean log-likelihood per customer, in log-parameters
ArrayLike = float | np.ndarray | pd.Series


class ClvError(ValueError):
    """The CLV models cannot be fitted or applied as asked (no orders, bad dates, no repeats)."""


def as_arrays(*values: ArrayLike) -> list[np.ndarray]:
    """Each value as a float64 array."""
    return [np.asarray(v, dtype="float64") for v in values]


def weighted_sum(w: np.ndarray, values: np.ndarray) -> float:
    """Weighted sum, kept off BLAS: a threaded ``w @ values`` takes milliseconds instead of
    microseconds when the cores are busy (measured: 7.7 ms vs 0.02 ms on 11k values)."""
    return float(np.sum(w * values))


def maximise(
    log_likelihood: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    total: float,
) -> tuple[np.ndarray, float, bool]:
    """Maximise a log-likelihood (value and gradient in parameters) over log-parameters with
    L-BFGS-B; Nelder-Mead takes over if L-BFGS-B stops short. Returns (log-parameters,
    log-likelihood, whether a log-parameter sits at its bound)."""

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = log_likelihood(np.exp(log_params))
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e12, np.zeros_like(log_params)
        return -value / total, -grad / total

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    best = minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000},
    )  # fmt: skip
    # L-BFGS-B often ends with "ABNORMAL" in the line search once the gradient is at rounding
    # level: that is convergence; a gradient still large is not
    converged = best.success or float(np.max(np.abs(best.jac))) < GRADIENT_TOLERANCE
    if not converged:
        polish = minimize(
            lambda v: objective(v)[0], best.x, method="Nelder-Mead", bounds=bounds,
            options={"xatol": 1e-8, "fatol": 1e-12, "maxfev": 2000 * len(start)},
        )  # fmt: skip
        if polish.fun <= best.fun:
            best = polish
    at_bound = bool(np.any(np.abs(best.x) >= LOG_BOUND - 1e-6))
    return np.asarray(best.x), -float(best.fun) * total, at_bound


def compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and how many times each occurs (identical customers)."""
    stacked = np.column_stack(columns)
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return [rows[:, i] for i in range(rows.shape[1])], counts.astype("float64")
