"""Experiment statistics over sufficient statistics: pure functions, no I/O.

Each arm is summarised by a small frozen dataclass (``MeanStats``, ``PropStats``, ``CupedStats``)
that can be built from running sums and merged, so a warehouse query or a stream can produce
them without keeping rows. Tests return result dataclasses; degenerate data (an arm with fewer
than two users, no variance at all) gives a result whose ``error`` is a machine-readable code
and whose numbers are NaN, instead of raising, so one bad metric never stops a whole report.
Invalid input (negative counts, more conversions than users) still raises ``ValueError``.
"""

from __future__ import annotations

from portrait.experiments.stats.bayesian import (
    BayesResult,
    bayes_means,
    bayes_proportions,
    beta_prob_greater,
)
from portrait.experiments.stats.cuped import CupedStats, cuped_adjust
from portrait.experiments.stats.frequentist import (
    SrmResult,
    TestResult,
    srm_check,
    two_proportion_test,
    welch_test,
)
from portrait.experiments.stats.planning import (
    Mde,
    SampleSize,
    minimum_detectable_effect,
    minimum_detectable_effect_means,
    sample_size_means,
    sample_size_proportions,
)
from portrait.experiments.stats.sufficient import (
    N_TOO_SMALL,
    NAN,
    NO_DATA,
    ZERO_BASELINE,
    ZERO_VARIANCE,
    MeanStats,
    PropStats,
    clean,
)

__all__ = [
    "NAN",
    "NO_DATA",
    "N_TOO_SMALL",
    "ZERO_BASELINE",
    "ZERO_VARIANCE",
    "BayesResult",
    "CupedStats",
    "Mde",
    "MeanStats",
    "PropStats",
    "SampleSize",
    "SrmResult",
    "TestResult",
    "bayes_means",
    "bayes_proportions",
    "beta_prob_greater",
    "clean",
    "cuped_adjust",
    "minimum_detectable_effect",
    "minimum_detectable_effect_means",
    "sample_size_means",
    "sample_size_proportions",
    "srm_check",
    "two_proportion_test",
    "welch_test",
]
