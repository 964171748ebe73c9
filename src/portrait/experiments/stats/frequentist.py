"""Frequentist tests of treatment against control (Welch's t, two-proportion z) and the
sample-ratio-mismatch check; degenerate data gives a result with an ``error`` code, not an
exception."""

from __future__ import annotations

import math
from dataclasses import dataclass

import scipy  # submodules load on first use (scipy.stats alone costs 0.6 s at CLI start)

from portrait.experiments.stats.sufficient import (
    N_TOO_SMALL,
    NAN,
    NO_DATA,
    ZERO_VARIANCE,
    MaybeNan,
    MeanStats,
    PropStats,
)


@dataclass(frozen=True)
class TestResult:
    """Treatment minus control: difference, its confidence interval, p-value and lift."""

    __test__ = False  # not a pytest class

    difference: MaybeNan
    ci_low: MaybeNan
    ci_high: MaybeNan
    p_value: MaybeNan
    relative_lift: MaybeNan  # difference / control mean
    statistic: MaybeNan  # t or z
    df: MaybeNan  # degrees of freedom (inf for a z test)
    alpha: float
    method: str
    error: str | None = None

    @property
    def significant(self) -> bool:
        return self.error is None and self.p_value < self.alpha


def _failed(method: str, alpha: float, error: str, difference: float = NAN) -> TestResult:
    return TestResult(difference, NAN, NAN, NAN, NAN, NAN, NAN, alpha, method, error)


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")


def _lift(difference: float, baseline: float) -> float:
    return difference / baseline if baseline != 0 else NAN


def welch_test(control: MeanStats, treatment: MeanStats, alpha: float = 0.05) -> TestResult:
    """Welch's unequal-variance t test, two-sided, with the Welch-Satterthwaite df."""
    _check_alpha(alpha)
    method = "welch_t"
    if control.n < 2 or treatment.n < 2:
        return _failed(method, alpha, N_TOO_SMALL)
    diff = treatment.mean - control.mean
    v1, v2 = control.variance / control.n, treatment.variance / treatment.n
    se2 = v1 + v2
    if se2 <= 0:
        return _failed(method, alpha, ZERO_VARIANCE, diff)
    se = math.sqrt(se2)
    df = se2 * se2 / (v1 * v1 / (control.n - 1) + v2 * v2 / (treatment.n - 1))
    t = diff / se
    p = 2 * float(scipy.stats.t.sf(abs(t), df))
    half = float(scipy.stats.t.ppf(1 - alpha / 2, df)) * se
    lift = _lift(diff, control.mean)
    return TestResult(diff, diff - half, diff + half, float(p), lift, t, df, alpha, method)


def two_proportion_test(
    control: PropStats, treatment: PropStats, alpha: float = 0.05
) -> TestResult:
    """Two-proportion z test: p-value from the pooled standard error (the same as a 2x2
    chi-square without continuity correction), interval from the unpooled one (Wald)."""
    _check_alpha(alpha)
    method = "two_proportion_z"
    if control.n < 1 or treatment.n < 1:
        return _failed(method, alpha, N_TOO_SMALL)
    p1, p2 = control.rate, treatment.rate
    diff = p2 - p1
    pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
    if se0 <= 0:
        return _failed(method, alpha, ZERO_VARIANCE, diff)
    z = diff / se0
    p = 2 * float(scipy.stats.norm.sf(abs(z)))
    se = math.sqrt(p1 * (1 - p1) / control.n + p2 * (1 - p2) / treatment.n)
    half = float(scipy.stats.norm.ppf(1 - alpha / 2)) * se
    lift = _lift(diff, p1)
    return TestResult(diff, diff - half, diff + half, float(p), lift, z, math.inf, alpha, method)


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of the observed arm sizes to the planned split."""

    chi2: MaybeNan
    p_value: MaybeNan
    mismatch: bool  # p < threshold: the assignment is probably broken, do not trust results
    threshold: float
    observed: dict[str, int]
    expected: dict[str, float]
    error: str | None = None


def srm_check(
    observed: dict[str, int], expected_shares: dict[str, float], threshold: float = 0.001
) -> SrmResult:
    """Sample-ratio-mismatch check; shares are normalised, so 50/50 and 0.5/0.5 both work."""
    if set(observed) != set(expected_shares):
        raise ValueError(
            f"arms differ: observed {sorted(observed)}, expected {sorted(expected_shares)}"
        )
    if len(observed) < 2:
        raise ValueError("an SRM check needs at least two arms")
    if any(v < 0 for v in observed.values()) or any(s <= 0 for s in expected_shares.values()):
        raise ValueError("counts must be >= 0 and expected shares > 0")
    arms = list(observed)
    total = sum(observed.values())
    share_sum = sum(expected_shares.values())
    expected = {a: total * expected_shares[a] / share_sum for a in arms}
    if total == 0:
        return SrmResult(NAN, NAN, False, threshold, dict(observed), expected, NO_DATA)
    chi2, p = scipy.stats.chisquare([observed[a] for a in arms], [expected[a] for a in arms])
    mismatch = bool(p < threshold)
    return SrmResult(float(chi2), float(p), mismatch, threshold, dict(observed), expected)
