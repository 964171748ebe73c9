"""A campaign's results per variant and control: attribution, costs, ROI and statistics.

The warehouse sums each arm's outcomes (``portrait.store.campaign_reports``); this module does
the arithmetic and hands the sums to the pure tests of ``portrait.experiments.stats``:

- reach (assigned), delivery (sent / assigned), open rate and CTR (persons with a
  ``message_opened`` / ``message_clicked`` event of the campaign, over persons sent to);
- conversion (an order within ``goal.attribution_days`` after ``assigned_at``), revenue per
  user (every assigned person counts: intent to treat), net of the refunds of the attributed
  orders within the window (the gross figures are kept beside it), activity 7 and 30 days
  after;
- cost: the send ledger's cost of sent messages plus the offer's cost, ``offer.discount`` of the
  first attributed order of each converted person who was sent the offer (a coupon used once);
- against control: incremental conversions and (net) revenue, ROI = (incremental net
  revenue - cost) / cost, Welch (revenue per user) and two-proportion (conversion) tests,
  Bayesian chance to beat control and expected loss, CUPED on revenue with the 30-day
  pre-period spend;
- a sample-ratio-mismatch check against the planned shares, and plain notes on what the
  figures cannot yet say.

>>> ws.campaigns.report("winback-q4").arms[1].vs_control.roi               # doctest: +SKIP
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from portrait.campaigns.definition import Campaign, parse_campaign
from portrait.campaigns.errors import CampaignNotFoundError
from portrait.campaigns.results import (
    Activity,
    ArmReport,
    BanditSummary,
    CampaignReport,
    ConversionComparison,
    CupedComparison,
    RevenueComparison,
    VsControl,
)
from portrait.experiments import stats
from portrait.experiments.bandit import ThompsonSampler, regret_estimate
from portrait.experiments.results import BayesResultPublic, SrmResultPublic, TestResultPublic
from portrait.store import campaign_reports as store

if TYPE_CHECKING:
    from portrait.campaigns.service import CampaignService
    from portrait.store.warehouse import Warehouse

CONTROL = "control"
MIN_USERS = 100  # fewer users in an arm than this: say the figures are noisy
OUTCOME_COLUMNS = (
    "person_id", "user_id", "arm", "converted", "revenue", "pre_spend", "opened", "clicked",
)  # fmt: skip


def load_campaign(wh: Warehouse, name: str) -> tuple[Campaign, dict[str, Any]]:
    """The stored definition and row of a campaign; a clear error if there is none."""
    row = store.campaign_row(wh, name)
    if row is None:
        known = store.campaign_names(wh)
        hint = f" (known: {', '.join(known[:10])})" if known else ""
        raise CampaignNotFoundError(f"no campaign {name!r}{hint}; see `portrait campaign list`")
    return parse_campaign(orjson.loads(row["definition"])), row


def expected_shares(campaign: Campaign) -> dict[str, float]:
    """The planned split: ``control_share`` to control, the rest by variant weight."""
    total = sum(v.weight for v in campaign.variants)
    shares = {v.name: (1 - campaign.control_share) * v.weight / total for v in campaign.variants}
    if campaign.control_share > 0:
        shares[CONTROL] = campaign.control_share
    return shares


def offer_cost(campaign: Campaign, arm: str, orders: dict[float, int]) -> float:
    """An arm's offer cost from {order value: persons}: ``offer.discount`` of each order."""
    offers = {v.name: v.offer for v in campaign.variants}
    if arm not in offers:
        return 0.0
    return sum(offers[arm].discount(value) * persons for value, persons in orders.items())


def _rate(num: float, den: float) -> float | None:
    return num / den if den else None


def arm_metrics(sums: dict[str, Any], offer_cost: float, sends: dict[str, int]) -> ArmReport:
    """One arm's figures from its sums (pure)."""
    n, sent = sums["n"], sums["sent"]
    treated = sums["arm"] != CONTROL
    send_cost = float(sums["send_cost"] or 0.0)
    return ArmReport(
        arm=sums["arm"],
        assigned=n,
        sends=sends,
        sent=sent,
        delivery_rate=_rate(sent, n) if treated else None,
        opened=sums["opened"],
        open_rate=_rate(sums["opened"], sent) if treated else None,
        clicked=sums["clicked"],
        ctr=_rate(sums["clicked"], sent) if treated else None,
        click_to_open=_rate(sums["clicked"], sums["opened"]) if treated else None,
        converted=sums["converted"],
        conversion_rate=_rate(sums["converted"], n),
        orders=int(sums["orders"] or 0),
        orders_refunded=int(sums["orders_refunded"] or 0),
        revenue=float(sums["revenue"] or 0.0),
        revenue_per_user=_rate(float(sums["revenue"] or 0.0), n),
        revenue_gross=float(sums["revenue_gross"] or 0.0),
        refunds=float(sums["refunds"] or 0.0),
        revenue_per_user_gross=_rate(float(sums["revenue_gross"] or 0.0), n),
        active_7d=_activity(sums["active_7d"], sums["eligible_7d"]),
        active_30d=_activity(sums["active_30d"], sums["eligible_30d"]),
        send_cost=send_cost,
        offer_cost=offer_cost,
        cost=send_cost + offer_cost,
    )


def _activity(active: int, eligible: int) -> Activity:
    """Persons active (a visit or an order) in the period, among those whose period ended."""
    return Activity(eligible=eligible, active=active, rate=_rate(active, eligible))


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def compare(
    control: dict[str, Any], arm: dict[str, Any], cost: float, alpha: float = 0.05
) -> VsControl:
    """An arm against control from both arms' sums (pure): increments, ROI and the tests."""
    conv_c = stats.PropStats(control["n"], control["converted"])
    conv_t = stats.PropStats(arm["n"], arm["converted"])
    rev_c = stats.MeanStats.from_sums(control["n"], control["revenue"] or 0.0,
                                      control["revenue_sq"] or 0.0)  # fmt: skip
    rev_t = stats.MeanStats.from_sums(arm["n"], arm["revenue"] or 0.0, arm["revenue_sq"] or 0.0)
    cuped_c, cuped_t = (
        stats.CupedStats(
            s["n"], s["revenue"] or 0.0, s["revenue_sq"] or 0.0, s["pre_sum"] or 0.0,
            s["pre_sq"] or 0.0, s["pre_rev"] or 0.0,
        )
        for s in (control, arm)
    )  # fmt: skip
    adj_c, adj_t, theta, reduction = stats.cuped_adjust(cuped_c, cuped_t)
    incremental_conv = (conv_t.rate - conv_c.rate) * arm["n"] if control["n"] and arm["n"] else None
    incremental_rev = (rev_t.mean - rev_c.mean) * arm["n"] if control["n"] and arm["n"] else None
    roi = (incremental_rev - cost) / cost if incremental_rev is not None and cost > 0 else None
    return VsControl(
        incremental_conversions=_finite(incremental_conv),
        incremental_revenue=_finite(incremental_rev),
        roi=_finite(roi),
        conversion=ConversionComparison(
            frequentist=TestResultPublic.of(stats.two_proportion_test(conv_c, conv_t, alpha)),
            bayesian=BayesResultPublic.of(stats.bayes_proportions(conv_c, conv_t)),
        ),
        revenue_per_user=RevenueComparison(
            frequentist=TestResultPublic.of(stats.welch_test(rev_c, rev_t, alpha)),
            bayesian=BayesResultPublic.of(stats.bayes_means(rev_c, rev_t)),
            cuped=CupedComparison(
                covariate="pre_spend",
                theta=_finite(theta),
                variance_reduction=_finite(reduction),
                frequentist=TestResultPublic.of(stats.welch_test(adj_c, adj_t, alpha)),
            ),
        ),
    )


def srm(campaign: Campaign, sums: list[dict[str, Any]]) -> SrmResultPublic | None:
    """Sample-ratio mismatch of the observed arm sizes (None when it cannot be judged)."""
    shares = expected_shares(campaign)
    observed = {a: 0 for a in shares}
    for s in sums:
        observed[s["arm"]] = observed.get(s["arm"], 0) + s["n"]
    if len(shares) < 2 or set(observed) != set(shares):
        return None
    return SrmResultPublic.of(stats.srm_check(observed, shares))


def notes(
    campaign: Campaign, sums: list[dict[str, Any]], srm_result: SrmResultPublic | None,
    as_of: datetime,
) -> list[str]:  # fmt: skip
    """What the figures cannot say yet, in plain words."""
    out: list[str] = []
    total = sum(s["n"] for s in sums)
    if not total:
        return ["nobody is assigned yet: launch the campaign (or wait for its trigger)"]
    open_window = total - sum(s["window_complete"] for s in sums)
    if open_window:
        last = max(s["last_assigned"] for s in sums if s["last_assigned"] is not None)
        until = last + timedelta(days=campaign.goal.attribution_days)
        out.append(
            f"the attribution window ({campaign.goal.attribution_days:g} days) is still open for "
            f"{open_window} of {total} persons (until {until:%Y-%m-%d %H:%M} UTC): conversions "
            "and revenue will still grow"
        )
    for days in (7, 30):
        eligible = sum(s[f"eligible_{days}d"] for s in sums)
        if eligible < total:
            out.append(
                f"activity {days} days after covers {eligible} of {total} persons (the others "
                f"were assigned less than {days} days ago)"
            )
    small = [f"{s['arm']} ({s['n']})" for s in sums if s["n"] < MIN_USERS]
    if small:
        out.append(
            f"few users in {', '.join(small)}: under {MIN_USERS} per arm the tests have little "
            "power and the intervals are wide"
        )
    if campaign.control_share == 0:
        out.append("no control group (control_share 0): nothing incremental can be measured")
    elif not any(s["arm"] == CONTROL and s["n"] for s in sums):
        out.append("nobody is in the control group yet: nothing incremental can be measured")
    if campaign.bandit:
        out.append(
            "bandit campaign: traffic moved toward the better variant on purpose, so the split "
            "is not the planned one (SRM not checked) and later users weigh more in a variant"
        )
    elif srm_result and srm_result.mismatch:
        out.append(
            f"sample ratio mismatch (p = {srm_result.p_value:.2g}): the arms' sizes are not "
            "the planned split, so assignment or logging is probably broken; do not trust the "
            "comparison until that is explained"
        )
    if any(s["arm"] != CONTROL and s["n"] and s["sent"] < s["n"] for s in sums):
        out.append(
            "not everyone in a variant was sent the message (queued, failed, suppressed): "
            "results compare everyone assigned (intent to treat), so they understate the effect "
            "of the message itself"
        )
    out.append(
        "offer cost assumes each converted person who was sent the offer used it once, on "
        "their first attributed order"
    )
    return out


def _empty_sums(arm: str) -> dict[str, Any]:
    sums: dict[str, Any] = dict.fromkeys(store.ARM_COLUMNS, 0)
    sums.update(arm=arm, first_assigned=None, last_assigned=None, offer_orders={})
    return sums


def campaign_report(
    campaigns: CampaignService, name: str, as_of: datetime | None = None, alpha: float = 0.05
) -> CampaignReport:
    """The report of ``portrait campaign report NAME`` (see the module's docstring)."""
    wh = campaigns.wh
    campaign, row = load_campaign(wh, name)
    as_of = as_of or datetime.now(UTC)
    days = campaign.goal.attribution_days
    sums = store.arm_sums(wh, name, days, as_of)
    sends = store.send_counts(wh, name)
    shares = expected_shares(campaign)
    if sums:  # a planned arm nobody fell into is shown, empty
        seen = {s["arm"] for s in sums}
        sums += [_empty_sums(a) for a in shares if a not in seen]
    control = next((s for s in sums if s["arm"] == CONTROL), None)
    order = [CONTROL, *(v.name for v in campaign.variants)]
    sums.sort(key=lambda s: order.index(s["arm"]) if s["arm"] in order else len(order))
    arms = []
    for s in sums:
        cost = offer_cost(campaign, s["arm"], s["offer_orders"])
        metrics = arm_metrics(s, cost, sends.get(s["arm"], {}))
        vs = None
        if s["arm"] != CONTROL and control is not None:
            vs = compare(control, s, metrics.cost, alpha)
        arms.append(
            metrics.model_copy(update={"expected_share": shares.get(s["arm"]), "vs_control": vs})
        )
    srm_result = None if campaign.bandit else srm(campaign, sums)
    bandit = bandit_summary(campaigns, campaign) if campaign.bandit else None
    return CampaignReport(
        campaign=name,
        status=row["status"],
        launched_at=row["launched_at"].isoformat() if row["launched_at"] else None,
        as_of=as_of.isoformat(),
        goal=campaign.goal.metric,
        primary_metric="revenue_per_user" if campaign.goal.metric == "revenue" else "conversion",
        attribution_days=days,
        control_share=campaign.control_share,
        alpha=alpha,
        arms=arms,
        srm=srm_result,
        bandit=bandit,
        notes=notes(campaign, sums, srm_result, as_of),
    )


def bandit_summary(campaigns: CampaignService, campaign: Campaign) -> BanditSummary:
    """A bandit campaign: each variant's sends and conversions (the ledger and the orders in
    the attribution window), posterior mean, chance of being the best offer, and the regret
    so far against the best fixed offer and against an equal split."""
    counts = campaigns.bandit_state(campaign.name, save=False).variants
    state = {v: c.model_dump() for v, c in counts.items()}
    sampler = ThompsonSampler(list(state), state=state)
    return BanditSummary(
        variants=counts,
        posterior_mean={a: round(m, 6) for a, m in sampler.posterior_means().items()},
        chance_best=sampler.prob_best(np.random.default_rng(0)),
        **regret_estimate(state).model_dump(),
    )


def campaign_outcomes(wh: Warehouse, name: str, as_of: datetime | None = None) -> pa.Table:
    """One row per assigned person (person_id, user_id, arm, converted, revenue net of refunds,
    pre_spend, opened, clicked): the training table of an uplift model."""
    campaign, _ = load_campaign(wh, name)
    table = store.person_outcomes(
        wh, name, campaign.goal.attribution_days, as_of or datetime.now(UTC)
    )
    return table.select(list(OUTCOME_COLUMNS))
