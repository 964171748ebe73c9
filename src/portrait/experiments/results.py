"""Typed, JSON-ready results of the experiment statistics: what the CLI prints with ``--json``,
what the REST routes return and what campaign reports embed.

The statistics themselves stay frozen dataclasses over sufficient statistics
(``portrait.experiments.stats``: NaN where a number is undefined, an ``error`` code saying why).
The ``*Public`` models here are their published form: NaN and infinities become ``None`` (JSON
has neither), so a degenerate arm reads ``{"p_value": null, "error": "n_too_small"}``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from portrait.experiments import stats


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class TestResultPublic(_Result):
    """Treatment minus control (``stats.TestResult``): difference, interval, p-value, lift."""

    __test__ = False  # not a pytest class

    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    relative_lift: float | None
    statistic: float | None
    df: float | None  # None for a z test (infinite degrees of freedom)
    alpha: float
    method: str
    error: str | None = None

    @classmethod
    def of(cls, result: stats.TestResult) -> TestResultPublic:
        return cls.model_validate(stats.clean(result))


class BayesResultPublic(_Result):
    """Posterior comparison of treatment with control (``stats.BayesResult``)."""

    chance_to_beat_control: float | None
    expected_loss_treatment: float | None
    expected_loss_control: float | None
    difference: float | None
    difference_ci_low: float | None
    difference_ci_high: float | None
    lift: float | None
    lift_ci_low: float | None
    lift_ci_high: float | None
    credibility: float
    method: str
    error: str | None = None

    @classmethod
    def of(cls, result: stats.BayesResult) -> BayesResultPublic:
        return cls.model_validate(stats.clean(result))


class SrmResultPublic(_Result):
    """Sample-ratio mismatch of the observed arm sizes against the planned split."""

    chi2: float | None
    p_value: float | None
    mismatch: bool
    threshold: float
    observed: dict[str, int]
    expected: dict[str, float]
    error: str | None = None

    @classmethod
    def of(cls, result: stats.SrmResult) -> SrmResultPublic:
        return cls.model_validate(stats.clean(result))


class SampleSizePublic(_Result):
    """Users needed per arm (``stats.SampleSize``), with what was asked for."""

    control: int
    treatment: int
    total: int
    exact_control: float
    alpha: float
    power: float
    two_sided: bool
    ratio: float
    effect: float
    baseline: float | None = None
    target: float | None = None
    sd: float | None = None

    @classmethod
    def of(cls, result: stats.SampleSize, **asked: float | None) -> SampleSizePublic:
        return cls.model_validate({**stats.clean(result), **asked})


# --- an A/B(/n) analysis ---------------------------------------------------------------------
class ProportionArm(_Result):
    """A conversion arm: users, conversions, rate."""

    name: str
    n: int
    conversions: int
    rate: float | None


class MeanArm(_Result):
    """A numeric arm: users, mean, standard deviation."""

    name: str
    n: int
    mean: float | None
    sd: float | None


class CupedAdjustment(_Result):
    """What CUPED changed: its theta, the variance it removed and the unadjusted test."""

    theta: float | None
    variance_reduction: float | None
    unadjusted: TestResultPublic


class Comparison(_Result):
    """One treatment against the control: the frequentist and the Bayesian view."""

    control: str
    treatment: str
    frequentist: TestResultPublic
    bayesian: BayesResultPublic
    cuped: CupedAdjustment | None = None


class AbAnalysis(_Result):
    """``portrait experiment ab`` and ``POST /v1/experiments/ab``: arms, comparisons, SRM."""

    metric: Literal["proportion", "mean", "cuped"]
    alpha: float
    arms: list[ProportionArm | MeanArm]
    comparisons: list[Comparison]
    srm: SrmResultPublic


# --- bandits ---------------------------------------------------------------------------------
class BanditCounts(_Result):
    """One variant's sends and the conversions they led to."""

    sends: int
    successes: int


class RegretEstimate(_Result):
    """What the sends so far cost against always sending the best offer, from the observed
    rates (``bandit.regret_estimate``)."""

    best_arm: str | None
    observed_rates: dict[str, float]
    sends: dict[str, int]
    regret_conversions: float
    equal_split_regret_conversions: float
    share_to_best: float | None


class BanditReportPublic(_Result):
    """A simulated Thompson-sampling campaign (``bandit.BanditReport``), NaN as ``None``."""

    arms: list[str]
    true_rates: dict[str, float]
    best_arm: str
    batches: int
    batch_size: int
    seed: int
    total_sends: int
    sends: dict[str, int]
    successes: dict[str, int]
    conversions: int
    expected_conversions: float
    best_fixed_conversions: float
    equal_split_conversions: float
    regret: float
    equal_split_regret: float
    regret_vs_equal_split: float | None
    gain_vs_equal_split: float
    best_arm_share: float
    shares: list[dict[str, float]]
    cumulative_regret: list[float]
    posterior_means: dict[str, float]
    prob_best: dict[str, float]

    @classmethod
    def of(cls, report: Any) -> BanditReportPublic:
        return cls.model_validate(stats.clean(report))


__all__ = [
    "AbAnalysis",
    "BanditCounts",
    "BanditReportPublic",
    "BayesResultPublic",
    "Comparison",
    "CupedAdjustment",
    "MeanArm",
    "ProportionArm",
    "RegretEstimate",
    "SampleSizePublic",
    "SrmResultPublic",
    "TestResultPublic",
]
