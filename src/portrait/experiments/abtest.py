"""One A/B(/n) analysis from arms' sufficient statistics: what the CLI and REST both print.

Every treatment is compared with the control: a frequentist test (two-proportion z test for
conversions, Welch's t test for means, on CUPED-adjusted means when pre-period sums are given),
the Bayesian view (chance to beat control, expected losses, lift interval), and one
sample-ratio-mismatch check over all arms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portrait.experiments.stats import (
    CupedStats,
    MeanStats,
    PropStats,
    bayes_means,
    bayes_proportions,
    clean,
    cuped_adjust,
    srm_check,
    two_proportion_test,
    welch_test,
)

Arm = MeanStats | PropStats | CupedStats


def metric_kind(arm: Arm) -> str:
    """'proportion', 'mean' or 'cuped'."""
    if isinstance(arm, PropStats):
        return "proportion"
    return "cuped" if isinstance(arm, CupedStats) else "mean"


def _summary(name: str, arm: Arm) -> dict[str, Any]:
    if isinstance(arm, PropStats):
        return {"name": name, "n": arm.n, "conversions": arm.successes, "rate": arm.rate}
    m = arm.y if isinstance(arm, CupedStats) else arm
    return {"name": name, "n": m.n, "mean": m.mean, "sd": m.sd}


def _compare(control: Arm, treatment: Arm, alpha: float, seed: int) -> dict[str, Any]:
    credibility = 1 - alpha
    if isinstance(control, PropStats) and isinstance(treatment, PropStats):
        return {
            "frequentist": clean(two_proportion_test(control, treatment, alpha)),
            "bayesian": clean(
                bayes_proportions(control, treatment, credibility=credibility, seed=seed)
            ),
        }
    if isinstance(control, CupedStats) and isinstance(treatment, CupedStats):
        adj_c, adj_t, theta, reduction = cuped_adjust(control, treatment)
        return {
            "frequentist": clean(welch_test(adj_c, adj_t, alpha)),
            "bayesian": clean(bayes_means(adj_c, adj_t, credibility)),
            "cuped": {
                "theta": clean(theta),
                "variance_reduction": clean(reduction),
                "unadjusted": clean(welch_test(control.y, treatment.y, alpha)),
            },
        }
    assert isinstance(control, MeanStats) and isinstance(treatment, MeanStats)
    return {
        "frequentist": clean(welch_test(control, treatment, alpha)),
        "bayesian": clean(bayes_means(control, treatment, credibility)),
    }


def analyze(
    control: Arm,
    treatments: Mapping[str, Arm],
    control_name: str = "control",
    alpha: float = 0.05,
    expected_shares: Mapping[str, float] | None = None,
    srm_threshold: float = 0.001,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare each treatment with the control. ``expected_shares`` (arm name -> planned
    share, default equal) feeds the SRM check. Returns JSON-ready plain data."""
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
    shares = dict(expected_shares) if expected_shares else dict.fromkeys(arms, 1.0)
    srm = srm_check({n: _summary(n, a)["n"] for n, a in arms.items()}, shares, srm_threshold)
    return {
        "metric": kind,
        "alpha": alpha,
        "arms": [_summary(n, a) for n, a in arms.items()],
        "comparisons": [
            {"control": control_name, "treatment": name, **_compare(control, arm, alpha, seed)}
            for name, arm in treatments.items()
        ],
        "srm": clean(srm),
    }
