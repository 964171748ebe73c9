"""Experiment statistics over sufficient statistics: pure functions, no I/O.

Each arm is summarised by a small frozen dataclass (``MeanStats``, ``PropStats``, ``CupedStats``)
that can be built from running sums and merged, so a warehouse query or a stream can produce
them without keeping rows. Tests return result dataclasses; degenerate data (an arm with fewer
than two users, no variance at all) gives a result whose ``error`` is a machine-readable code
and whose numbers are NaN, instead of raising, so one bad metric never stops a whole report.
Invalid input (negative counts, more conversions than users) still raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy  # submodules load on first use (scipy.stats alone costs 0.6 s at CLI start)

NAN = float("nan")

# Error codes carried by results (``result.error``).
N_TOO_SMALL = "n_too_small"  # an arm has fewer than 2 observations (1 for proportions)
ZERO_VARIANCE = "zero_variance"  # no spread in either arm: no standard error
ZERO_BASELINE = "zero_baseline"  # control mean is 0: the relative lift is undefined
NO_DATA = "no_data"  # SRM check over no observations


def clean(value: Any) -> Any:
    """A result as JSON-ready plain data: dataclasses to dicts, NaN and infinities to None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: clean(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- sufficient statistics -----------------------------------------------------------------


@dataclass(frozen=True)
class MeanStats:
    """A numeric metric of one arm: count, mean and sample variance (n - 1 denominator)."""

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be >= 0, got {self.n}")
        if self.variance < 0:
            raise ValueError(f"variance must be >= 0, got {self.variance}")

    @classmethod
    def from_sums(cls, n: int, total: float, total_sq: float) -> MeanStats:
        """From the count, the sum and the sum of squares."""
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        var = max(total_sq - total * total / n, 0.0) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, var)

    @classmethod
    def from_sd(cls, n: int, mean: float, sd: float) -> MeanStats:
        """From a count, a mean and a standard deviation (as a report prints them)."""
        if sd < 0:
            raise ValueError(f"sd must be >= 0, got {sd}")
        return cls(n, mean, sd * sd)

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> MeanStats:
        """From raw observations (for tests and small data)."""
        a = np.asarray(values, dtype=float)
        return cls.from_sums(len(a), float(a.sum()), float((a * a).sum()))

    @property
    def sd(self) -> float:
        return math.sqrt(self.variance)

    def merge(self, other: MeanStats) -> MeanStats:
        """Statistics of both groups together (Chan et al.'s parallel update, stable)."""
        n = self.n + other.n
        if self.n == 0 or other.n == 0:
            return other if self.n == 0 else self
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = (
            self.variance * (self.n - 1)
            + other.variance * (other.n - 1)
            + delta * delta * self.n * other.n / n
        )
        return MeanStats(n, mean, max(m2, 0.0) / (n - 1) if n > 1 else 0.0)


@dataclass(frozen=True)
class PropStats:
    """A conversion metric of one arm: users and the users who converted."""

    n: int
    successes: int

    def __post_init__(self) -> None:
        if self.n < 0 or self.successes < 0:
            raise ValueError(f"counts must be >= 0, got {self.successes}/{self.n}")
        if self.successes > self.n:
            raise ValueError(f"more conversions than users: {self.successes}/{self.n}")

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else NAN

    def merge(self, other: PropStats) -> PropStats:
        return PropStats(self.n + other.n, self.successes + other.successes)

    def as_mean(self) -> MeanStats:
        """The same metric as a 0/1 numeric metric (sample variance)."""
        return MeanStats.from_sums(self.n, self.successes, self.successes)


# --- frequentist tests ---------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """Treatment minus control: difference, its confidence interval, p-value and lift."""

    __test__ = False  # not a pytest class

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    relative_lift: float  # difference / control mean
    statistic: float  # t or z
    df: float  # degrees of freedom (inf for a z test)
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


# --- Bayesian ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BayesResult:
    """Posterior comparison of treatment with control.

    ``expected_loss_treatment`` is E[max(control - treatment, 0)]: what choosing the treatment
    costs if it is in fact worse; ``expected_loss_control`` the reverse. Intervals are central
    credible intervals at ``credibility``; the lift is relative (treatment / control - 1).
    """

    chance_to_beat_control: float
    expected_loss_treatment: float
    expected_loss_control: float
    difference: float  # posterior mean of treatment - control
    difference_ci_low: float
    difference_ci_high: float
    lift: float  # posterior median of the relative lift
    lift_ci_low: float
    lift_ci_high: float
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


# --- CUPED ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CupedStats:
    """One arm's sums of the metric y and its pre-period covariate x."""

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float

    @classmethod
    def from_arrays(
        cls, y: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray
    ) -> CupedStats:
        ya, xa = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
        if ya.shape != xa.shape:
            raise ValueError("y and x must have the same length")
        return cls(
            len(ya),
            float(ya.sum()),
            float((ya * ya).sum()),
            float(xa.sum()),
            float((xa * xa).sum()),
            float((xa * ya).sum()),
        )

    def merge(self, other: CupedStats) -> CupedStats:
        return CupedStats(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_xy + other.sum_xy,
        )

    @property
    def y(self) -> MeanStats:
        return MeanStats.from_sums(self.n, self.sum_y, self.sum_y2)

    def centered(self) -> tuple[float, float, float]:
        """Centred sums of squares and cross products (Syy, Sxx, Sxy)."""
        if self.n == 0:
            return 0.0, 0.0, 0.0
        syy = max(self.sum_y2 - self.sum_y**2 / self.n, 0.0)
        sxx = max(self.sum_x2 - self.sum_x**2 / self.n, 0.0)
        sxy = self.sum_xy - self.sum_x * self.sum_y / self.n
        return syy, sxx, sxy


def cuped_adjust(
    control: CupedStats, treatment: CupedStats
) -> tuple[MeanStats, MeanStats, float, float]:
    """CUPED (Deng et al. 2013): y_adj = y - theta (x - mean of x over both arms).

    theta = (Sxy_c + Sxy_t) / (Sxx_c + Sxx_t), the within-arm covariances pooled over both
    arms. Returns the adjusted statistics of each arm (feed them to ``welch_test``), theta,
    and the variance reduction of the difference, 1 - Var_adj / Var_raw (0 when undefined).
    """
    _, sxx_c, sxy_c = control.centered()
    _, sxx_t, sxy_t = treatment.centered()
    theta = (sxy_c + sxy_t) / (sxx_c + sxx_t) if sxx_c + sxx_t > 0 else 0.0
    n_all = control.n + treatment.n
    x_all = (control.sum_x + treatment.sum_x) / n_all if n_all else 0.0

    def adjust(arm: CupedStats) -> MeanStats:
        if arm.n == 0:
            return MeanStats(0, 0.0, 0.0)
        syy, sxx, sxy = arm.centered()
        mean = (arm.sum_y - theta * (arm.sum_x - arm.n * x_all)) / arm.n
        m2 = max(syy - 2 * theta * sxy + theta * theta * sxx, 0.0)
        return MeanStats(arm.n, mean, m2 / (arm.n - 1) if arm.n > 1 else 0.0)

    adj_c, adj_t = adjust(control), adjust(treatment)
    raw_c, raw_t = control.y, treatment.y
    if raw_c.n and raw_t.n:
        raw = raw_c.variance / raw_c.n + raw_t.variance / raw_t.n
        new = adj_c.variance / adj_c.n + adj_t.variance / adj_t.n
    else:
        raw = new = 0.0
    reduction = 1 - new / raw if raw > 0 else 0.0
    return adj_c, adj_t, theta, reduction


# --- sample-ratio mismatch -----------------------------------------------------------------


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of the observed arm sizes to the planned split."""

    chi2: float
    p_value: float
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


# --- planning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleSize:
    """Users needed per arm (control, treatment) and in total, and the unrounded value."""

    control: int
    treatment: int
    total: int
    exact_control: float
    alpha: float
    power: float
    two_sided: bool
    ratio: float  # treatment users per control user
    effect: float  # absolute difference to detect


def _z(alpha: float, power: float, two_sided: bool) -> tuple[float, float]:
    _check_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power}")
    z_a = scipy.stats.norm.ppf(1 - alpha / 2) if two_sided else scipy.stats.norm.ppf(1 - alpha)
    return float(z_a), float(scipy.stats.norm.ppf(power))


def _sizes(exact: float, ratio: float, **kw: Any) -> SampleSize:
    # Round to nearest as Evan Miller's calculator does (1,030.2 -> 1,030); never below 2.
    control = max(math.floor(exact + 0.5), 2)
    treatment = max(math.floor(exact * ratio + 0.5), 2)
    return SampleSize(control, treatment, control + treatment, exact, ratio=ratio, **kw)


def _prop_n(p1: float, p2: float, z_a: float, z_b: float, ratio: float) -> float:
    """Control-arm size: the null variance uses the baseline rate in both arms (Evan Miller)."""
    q1 = p1 * (1 - p1)
    num = z_a * math.sqrt(q1 * (1 + 1 / ratio)) + z_b * math.sqrt(q1 + p2 * (1 - p2) / ratio)
    return num * num / (p2 - p1) ** 2


def sample_size_proportions(
    baseline: float,
    target: float,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    ratio: float = 1.0,
) -> SampleSize:
    """Users per arm to detect a conversion rate moving from ``baseline`` to ``target``.

    n = (z_a sqrt(p1 q1 (1 + 1/r)) + z_b sqrt(p1 q1 + p2 q2 / r))^2 / (p2 - p1)^2 control
    users and r n treatment users; with r = 1 this is Evan Miller's calculator
    (20% -> 25%, alpha 0.05 two-sided, power 0.8: 1,030 per arm).
    """
    for name, p in (("baseline", baseline), ("target", target)):
        if not 0 < p < 1:
            raise ValueError(f"{name} must be a rate between 0 and 1 (exclusive), got {p}")
    if baseline == target:
        raise ValueError("target must differ from baseline")
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    z_a, z_b = _z(alpha, power, two_sided)
    exact = _prop_n(baseline, target, z_a, z_b, ratio)
    return _sizes(
        exact, ratio, alpha=alpha, power=power, two_sided=two_sided, effect=target - baseline
    )


def sample_size_means(
    sd: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    ratio: float = 1.0,
) -> SampleSize:
    """Users per arm to detect an absolute difference ``mde`` in a metric of standard
    deviation ``sd``: n = (z_a + z_b)^2 sd^2 (1 + 1/r) / mde^2 (normal approximation)."""
    if sd <= 0:
        raise ValueError(f"sd must be > 0, got {sd}")
    if mde == 0:
        raise ValueError("mde must not be 0")
    if ratio <= 0:
        raise ValueError(f"ratio must be > 0, got {ratio}")
    z_a, z_b = _z(alpha, power, two_sided)
    exact = (z_a + z_b) ** 2 * sd * sd * (1 + 1 / ratio) / (mde * mde)
    return _sizes(exact, ratio, alpha=alpha, power=power, two_sided=two_sided, effect=abs(mde))


@dataclass(frozen=True)
class Mde:
    """The smallest upward move detectable with ``n`` control users."""

    absolute: float
    relative: float
    target: float
    n: int


def minimum_detectable_effect(
    n: int,
    baseline: float,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    ratio: float = 1.0,
) -> Mde:
    """Inverse of ``sample_size_proportions``: the target rate (above the baseline) that
    ``n`` control users detect, found by root finding on the same formula."""
    if not 0 < baseline < 1:
        raise ValueError(f"baseline must be a rate between 0 and 1 (exclusive), got {baseline}")
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    z_a, z_b = _z(alpha, power, two_sided)
    hi = 1 - 1e-12
    if _prop_n(baseline, hi, z_a, z_b, ratio) > n:
        raise ValueError(f"{n} users per arm cannot detect any rise from {baseline}")
    target = float(
        scipy.optimize.brentq(
            lambda p2: _prop_n(baseline, p2, z_a, z_b, ratio) - n, baseline + 1e-12, hi
        )
    )
    return Mde(target - baseline, (target - baseline) / baseline, target, n)


def minimum_detectable_effect_means(
    n: int,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    ratio: float = 1.0,
) -> float:
    """Inverse of ``sample_size_means``: the absolute difference ``n`` control users detect."""
    if n < 2 or sd <= 0:
        raise ValueError("n must be >= 2 and sd > 0")
    z_a, z_b = _z(alpha, power, two_sided)
    return (z_a + z_b) * sd * math.sqrt((1 + 1 / ratio) / n)
