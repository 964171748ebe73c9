"""Typed results of a campaign report and of the playbook (see ``campaigns.results``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from portrait.experiments.results import (
    BanditCounts,
    BayesResultPublic,
    RegretEstimate,
    SrmResultPublic,
    TestResultPublic,
)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- the report ------------------------------------------------------------------------------
class Activity(_Result):
    """Persons active (a visit or an order) in the period, among those whose period ended."""

    eligible: int
    active: int
    rate: float | None


class ConversionComparison(_Result):
    frequentist: TestResultPublic
    bayesian: BayesResultPublic


class CupedComparison(_Result):
    covariate: str
    theta: float | None
    variance_reduction: float | None
    frequentist: TestResultPublic


class RevenueComparison(_Result):
    frequentist: TestResultPublic
    bayesian: BayesResultPublic
    cuped: CupedComparison


class VsControl(_Result):
    """A variant against control: increments, ROI and the tests."""

    incremental_conversions: float | None
    incremental_revenue: float | None
    roi: float | None
    conversion: ConversionComparison
    revenue_per_user: RevenueComparison


class ArmReport(_Result):
    """One arm's figures in a campaign report."""

    arm: str
    assigned: int
    sends: dict[str, int]
    sent: int
    delivery_rate: float | None
    opened: int
    open_rate: float | None
    clicked: int
    ctr: float | None
    click_to_open: float | None
    converted: int
    conversion_rate: float | None
    orders: int
    orders_refunded: int
    revenue: float
    revenue_per_user: float | None
    revenue_gross: float
    refunds: float
    revenue_per_user_gross: float | None
    active_7d: Activity
    active_30d: Activity
    send_cost: float
    offer_cost: float
    cost: float
    expected_share: float | None = None
    vs_control: VsControl | None = None


class BanditState(_Result):
    """A bandit campaign's sends and conversions per variant."""

    variants: dict[str, BanditCounts]


class BanditSummary(RegretEstimate):
    """A bandit campaign in its report: counts, posterior, chance of being best, regret."""

    variants: dict[str, BanditCounts]
    posterior_mean: dict[str, float]
    chance_best: dict[str, float]


class CampaignReport(_Result):
    """``portrait campaign report``: results per variant and control (see ``report``)."""

    campaign: str
    status: str
    launched_at: str | None
    as_of: str
    goal: str
    primary_metric: str
    attribution_days: float
    control_share: float
    alpha: float
    arms: list[ArmReport]
    srm: SrmResultPublic | None
    bandit: BanditSummary | None
    notes: list[str]


# --- the playbook ----------------------------------------------------------------------------
class ExpectedCost(_Result):
    sends: float
    offers: float
    total: float


class SuggestedVariant(_Result):
    name: str
    offer: str


class Suggestion(_Result):
    """A playbook campaign for a group, sized on the latest build."""

    campaign: str
    group: str
    title: str
    rationale: str
    segment: str | None
    size: int
    channel: str
    variants: list[SuggestedVariant]
    control_share: float
    expected_conversion: float
    expected_cost: ExpectedCost
    exists: bool


class Skipped(_Result):
    campaign: str
    segment: str | None
    reason: str


class Suggestions(_Result):
    """``portrait campaign suggest``: the playbook's campaigns worth launching now."""

    as_of: str | None
    build_id: str | None
    average_order_value: float
    suggestions: list[Suggestion]
    skipped: list[Skipped]
    notes: list[str]
