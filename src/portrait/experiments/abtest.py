"""One A/B(/n) analysis from arms' sufficient statistics: what the CLI and REST both print.

Every treatment is compared with the control: a frequentist test (two-proportion z test for
conversions, Welch's t test for means, on CUPED-adjusted means when pre-period sums are given),
the Bayesian view (chance to beat control, expected losses, lift interval), and one
sample-ratio-mismatch check over all arms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from portrait.experiments.results import (
    AbAnalysis,
    BayesResultPublic,
    Comparison,
    CupedAdjustment,
    MeanArm,
    ProportionArm,
    SrmResultPublic,
    TestResultPublic,
)
from portrait.experiments.stats import (
    CupedStats,
    MeanStats,
    PropStats,
    bayes_means,
    bayes_proportions,
    cuped_adjust,
    srm_check,
    two_proportion_test,
    welch_test,
)

Arm = MeanStats | PropStats | CupedStats


def metric_kind(arm: Arm) -> Literal["proportion", "mean", "cuped"]:
    """'proportion', 'mean' or 'cuped'."""
    if isinstance(arm, PropStats):
        return "proportion"
    return "cuped" if isinstance(arm, CupedStats) else "mean"


def _summary(name: str, arm: Arm) -> ProportionArm | MeanArm:
    if isinstance(arm, PropStats):
        return ProportionArm(name=name, n=arm.n, conversions=arm.successes, rate=_finite(arm.rate))
    m = arm.y if isinstance(arm, CupedStats) else arm
    return MeanArm(name=name, n=m.n, mean=_finite(m.mean), sd=_finite(m.sd))


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _compare(
    control: Arm, treatment: Arm, names: tuple[str, str], alpha: float, seed: int
) -> Comparison:
    credibility = 1 - alpha
    c_name, t_name = names
    if isinstance(control, PropStats) and isinstance(treatment, PropStats):
        return Comparison(
            control=c_name,
            treatment=t_name,
            frequentist=TestResultPublic.of(two_proportion_test(control, treatment, alpha)),
            bayesian=BayesResultPublic.of(
                bayes_proportions(control, treatment, credibility=credibility, seed=seed)
            ),
        )
    if isinstance(control, CupedStats) and isinstance(treatment, CupedStats):
        adj_c, adj_t, theta, reduction = cuped_adjust(control, treatment)
        return Comparison(
            control=c_name,
            treatment=t_name,
            frequentist=TestResultPublic.of(welch_test(adj_c, adj_t, alpha)),
            bayesian=BayesResultPublic.of(bayes_means(adj_c, adj_t, credibility)),
            cuped=CupedAdjustment(
                theta=_finite(theta),
                variance_reduction=_finite(reduction),
                unadjusted=TestResultPublic.of(welch_test(control.y, treatment.y, alpha)),
            ),
        )
    assert isinstance(control, MeanStats) and isinstance(treatment, MeanStats)
    return Comparison(
        control=c_name,
        treatment=t_name,
        frequentist=TestResultPublic.of(welch_test(control, treatment, alpha)),
        bayesian=BayesResultPublic.of(bayes_means(control, treatment, credibility)),
    )


def analyze(
    control: Arm,
    treatments: Mapping[str, Arm],
    control_name: str = "control",
    alpha: float = 0.05,
    expected_shares: Mapping[str, float] | None = None,
    srm_threshold: float = 0.001,
    seed: int = 0,
) -> AbAnalysis:
    """Compare each treatment with the control. ``expected_shares`` (arm name -> planned
    share, default equal) feeds the SRM check."""
    if not treatments:
        raise ValueError("give at least one treatment arm")
    if control_name in treatments:
        raise ValueError(f"arm name {control_name!r} is used twice")
    kind = metric_kind(control)
    for name, arm in treatments.items():
        if metric_kind(arm) != kind:
            raise ValueError(
                f"arm {name!r} is a {metric_kind(arm)} metric but the control is a {kind} "
                "metric: give every arm the same way"
            )
    arms: dict[str, Arm] = {control_name: control, **treatments}
    summaries = [_summary(n, a) for n, a in arms.items()]
    shares = dict(expected_shares) if expected_shares else dict.fromkeys(arms, 1.0)
    srm = srm_check({s.name: s.n for s in summaries}, shares, srm_threshold)
    return AbAnalysis(
        metric=kind,
        alpha=alpha,
        arms=summaries,
        comparisons=[
            _compare(control, arm, (control_name, name), alpha, seed)
            for name, arm in treatments.items()
        ],
        srm=SrmResultPublic.of(srm),
    )
