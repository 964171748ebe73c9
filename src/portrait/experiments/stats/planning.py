"""Planning an experiment: users needed per arm, and the smallest effect a size detects."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import scipy  # submodules load on first use (scipy.stats alone costs 0.6 s at CLI start)

from portrait.experiments.stats.frequentist import _check_alpha


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
