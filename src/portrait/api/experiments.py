"""REST routes for experiments."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from portrait.api.deps import Caller
from portrait.api.errors import responses
from portrait.experiments import abtest, stats
from portrait.experiments.bandit import simulate_bandit
from portrait.experiments.results import AbAnalysis, BanditReportPublic, SampleSizePublic

Rate = Annotated[float, Query(gt=0, lt=1)]
MAX_SIMULATED_SENDS = 10_000_000


class ArmIn(BaseModel):
    """One arm's sufficient statistics, in one of four forms: ``conversions`` (with ``n``);
    ``mean`` and ``sd``; ``sum`` and ``sum_sq``; or those sums plus the pre-period sums
    ``pre_sum``, ``pre_sum_sq``, ``sum_product`` (sum of metric x pre-period) for CUPED."""

    name: str | None = None
    n: int = Field(ge=0)
    conversions: int | None = Field(None, ge=0)
    mean: float | None = None
    sd: float | None = Field(None, ge=0)
    sum: float | None = None
    sum_sq: float | None = None
    pre_sum: float | None = None
    pre_sum_sq: float | None = None
    sum_product: float | None = None

    def to_stats(self, label: str) -> abtest.Arm:
        if self.conversions is not None:
            return stats.PropStats(self.n, self.conversions)
        if self.mean is not None and self.sd is not None:
            return stats.MeanStats.from_sd(self.n, self.mean, self.sd)
        if self.sum is not None and self.sum_sq is not None:
            pre = (self.pre_sum, self.pre_sum_sq, self.sum_product)
            if all(v is None for v in pre):
                return stats.MeanStats.from_sums(self.n, self.sum, self.sum_sq)
            if any(v is None for v in pre):
                raise ValueError(
                    f"arm {label!r}: CUPED needs all of pre_sum, pre_sum_sq and sum_product"
                )
            return stats.CupedStats(self.n, self.sum, self.sum_sq, *pre)  # type: ignore[arg-type]
        raise ValueError(
            f"arm {label!r}: give conversions, or mean and sd, or sum and sum_sq "
            "(plus pre_sum, pre_sum_sq, sum_product for CUPED)"
        )


class AbRequest(BaseModel):
    control: ArmIn
    treatments: list[ArmIn] = Field(min_length=1, max_length=20)
    alpha: float = Field(0.05, gt=0, lt=1)
    expected_shares: dict[str, float] | None = Field(
        None, description="Planned share per arm name for the SRM check (default: equal)."
    )
    srm_threshold: float = Field(0.001, gt=0, lt=1)
    seed: int = 0


class BanditRequest(BaseModel):
    rates: list[float] | dict[str, float] = Field(
        description="True conversion rate per offer: a list (offers A, B, C...) or name -> rate."
    )
    batches: int = Field(50, ge=1, le=10_000)
    batch_size: int = Field(1000, ge=1, le=1_000_000)
    seed: int = 0


def _ab(body: AbRequest) -> AbAnalysis:
    control_name = body.control.name or "control"
    default = ["treatment"] if len(body.treatments) == 1 else None
    treatments: dict[str, abtest.Arm] = {}
    for i, arm in enumerate(body.treatments):
        name = arm.name or (default[0] if default else f"treatment{i + 1}")
        if name in treatments:
            raise ValueError(f"arm name {name!r} is used twice")
        treatments[name] = arm.to_stats(name)
    return abtest.analyze(
        body.control.to_stats(control_name),
        treatments,
        control_name=control_name,
        alpha=body.alpha,
        expected_shares=body.expected_shares,
        srm_threshold=body.srm_threshold,
        seed=body.seed,
    )


def _size(
    baseline: float | None,
    target: float | None,
    sd: float | None,
    mde: float | None,
    **kw: Any,
) -> SampleSizePublic:
    if baseline is not None and target is not None:
        res = stats.sample_size_proportions(baseline, target, **kw)
    elif sd is not None and mde is not None:
        res = stats.sample_size_means(sd, mde, **kw)
    else:
        raise ValueError("give baseline and target (conversion rates) or sd and mde")
    return SampleSizePublic.of(res)


def _simulate(body: BanditRequest) -> BanditReportPublic:
    if body.batches * body.batch_size > MAX_SIMULATED_SENDS:
        raise ValueError(f"batches x batch_size is limited to {MAX_SIMULATED_SENDS:,} sends")
    return BanditReportPublic.of(
        simulate_bandit(body.rates, body.batches, body.batch_size, body.seed)
    )


router = APIRouter(tags=["experiments"], responses=responses(401, 403, 404, 422))


@router.get("/v1/experiments/size")
def size(
    _: Caller,
    baseline: Rate | None = None,
    target: Rate | None = None,
    sd: Annotated[float | None, Query(gt=0)] = None,
    mde: float | None = None,
    alpha: Rate = 0.05,
    power: Rate = 0.8,
    two_sided: bool = True,
    ratio: Annotated[float, Query(gt=0)] = 1.0,
) -> SampleSizePublic:
    """Users per arm to detect ``baseline`` -> ``target`` (conversion rates) or an absolute
    difference ``mde`` in a metric of standard deviation ``sd``."""
    return _size(
        baseline,
        target,
        sd,
        mde,
        alpha=alpha,
        power=power,
        two_sided=two_sided,
        ratio=ratio,
    )


@router.post("/v1/experiments/ab")
def ab(body: AbRequest, _: Caller) -> AbAnalysis:
    """Compare each treatment with the control from the arms' sufficient statistics:
    frequentist test, Bayesian chance to beat control and expected loss, SRM check."""
    return _ab(body)


@router.post("/v1/experiments/bandit/simulate")
def bandit_simulate(body: BanditRequest, _: Caller) -> BanditReportPublic:
    """Simulate Thompson sampling against known offer rates: regret against the best fixed
    offer and against an equal split, share of sends per arm per batch."""
    return _simulate(body)
