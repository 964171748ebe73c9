"""Typed, JSON-ready results of the experiment statistics: what the CLI prints with ``--json``,
what the REST routes return and what campaign reports embed.

The statistics themselves stay frozen dataclasses over sufficient statistics
(``portrait.experiments.stats``: NaN where a number is undefined, an ``error`` code saying why).
The ``*Public`` models here are their published form: NaN and infinities become ``None`` (JSON
has neither), so a degenerate arm reads ``{"p_value": null, "error": "n_too_small"}``. Each is
built from its dataclass's fields (``_published``), so a field is declared once: a field the
dataclass types ``MaybeNan`` is ``float | None`` here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Self, get_args, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

from portrait.experiments import stats
from portrait.experiments.stats.sufficient import MaybeNan, NullWhenUndefined


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Published(_Result):
    """The published form of a statistics dataclass: its fields, NaN as ``None``."""

    @classmethod
    def of(cls, result: Any, **extra: float | None) -> Self:
        """``result`` (a dataclass) with NaN and infinities as ``None``; ``extra`` adds
        fields the dataclass does not carry (what was asked for)."""
        return cls.model_validate({**stats.clean(result), **extra})


def _published(source: type, doc: str, **extra: Any) -> type[_Published]:
    """A ``*Public`` model with the fields of the dataclass ``source``, in its order and with
    its defaults, so the field list is written once: a ``MaybeNan`` field reads
    ``float | None``, the others keep their type; ``extra`` adds (type, default) fields."""
    hints = get_type_hints(source, include_extras=True)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(source):
        hint = hints[f.name]
        nullable = NullWhenUndefined in get_args(hint)[1:]
        default = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = (float | None if nullable else hint, default)
    name = f"{source.__name__}Public"
    return create_model(
        name, __base__=_Published, __doc__=doc, __module__=__name__, **fields, **extra
    )


TestResultPublic = _published(
    stats.TestResult,
    "Treatment minus control (``stats.TestResult``): difference, interval, p-value, lift.",
)
TestResultPublic.__test__ = False  # not a pytest class
BayesResultPublic = _published(
    stats.BayesResult, "Posterior comparison of treatment with control (``stats.BayesResult``)."
)
SrmResultPublic = _published(
    stats.SrmResult, "Sample-ratio mismatch of the observed arm sizes against the planned split."
)
SampleSizePublic = _published(
    stats.SampleSize,
    "Users needed per arm (``stats.SampleSize``), with what was asked for.",
    baseline=(float | None, None),
    target=(float | None, None),
    sd=(float | None, None),
)


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


@dataclass(frozen=True)
class BanditReport:
    """A simulated campaign (``bandit.simulate_bandit``): where the sends went and what that
    cost against alternatives.

    Regrets are expected conversions lost (true rates times sends), so they do not depend on
    the luck of the simulated conversions: ``regret`` against always sending the best offer,
    ``equal_split_regret`` of an equal split against the same.
    """

    arms: list[str]
    true_rates: dict[str, float]
    best_arm: str
    batches: int
    batch_size: int
    seed: int
    total_sends: int
    sends: dict[str, int]
    successes: dict[str, int]
    conversions: int  # simulated conversions of the bandit
    expected_conversions: float  # sum of sends x true rate
    best_fixed_conversions: float
    equal_split_conversions: float
    regret: float
    equal_split_regret: float
    regret_vs_equal_split: MaybeNan  # regret / equal_split_regret (lower is better)
    gain_vs_equal_split: float  # expected conversions above an equal split
    best_arm_share: float  # share of all sends that went to the best arm
    shares: list[dict[str, float]]  # share of each batch's sends per arm
    cumulative_regret: list[float]  # after each batch
    posterior_means: dict[str, float]
    prob_best: dict[str, float]


BanditReportPublic = _published(
    BanditReport,
    "A simulated Thompson-sampling campaign (``bandit.BanditReport``), NaN as ``None``.",
)


__all__ = [
    "AbAnalysis",
    "BanditCounts",
    "BanditReport",
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
