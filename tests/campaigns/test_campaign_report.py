"""Campaign report on a hand-built case: assignments, sends and events inserted directly, so
every figure is known (control c1-c4 and variant a t1-t4, attribution window 7 days)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from portrait.campaigns.definition import parse_campaign
from portrait.campaigns.report import (
    campaign_outcomes,
    campaign_report,
    expected_shares,
)
from portrait.campaigns.service import CampaignNotFoundError
from portrait.cli import app

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
_ids = itertools.count()

CAMPAIGN = {
    "name": "spring",
    "segment": "orders_total > 0",
    "channel": "sms",
    "control_share": 0.5,
    "goal": {"metric": "conversion", "attribution_days": 7},
    "variants": [
        {
            "name": "a",
            "offer": {"type": "fixed", "amount": 10, "min_spend": 50},
            "message": {"body": {"en": "10 off 50"}},
        }
    ],
}


def add_campaign(ws, definition: dict, status: str = "launched") -> None:
    c = parse_campaign(definition)
    ws.warehouse.execute(
        "INSERT INTO campaigns (name, definition, status, created_at, updated_at, launched_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [c.name, c.model_dump_json(), status, T0, T0, T0],
    )


def assign(ws, campaign: str, person: str, arm: str, pre: float, at: datetime = T0) -> None:
    ws.warehouse.execute(
        "INSERT INTO campaign_assignments (assign_key, campaign, person_id, user_id, arm, "
        "assigned_at, source, pre_spend) VALUES (?, ?, ?, ?, ?, ?, 'segment', ?)",
        [f"{campaign}/{person}", campaign, person, person, arm, at, pre],
    )


def send(ws, campaign: str, person: str, status: str, cost: float = 0.05) -> None:
    ws.warehouse.execute(
        "INSERT INTO campaign_sends (send_key, campaign, person_id, user_id, variant, channel, "
        "status, attempts, sent_at, cost, updated_at) VALUES (?, ?, ?, ?, 'a', 'sms', ?, 1, ?, "
        "?, ?)",
        [f"{campaign}/{person}/sms", campaign, person, person, status,
         T0 if status == "sent" else None, cost if status == "sent" else None, T0],
    )  # fmt: skip


def event(ws, user: str, ts: datetime, type_: str, **kw) -> None:
    cols = {"event_id": f"e{next(_ids)}", "user_id": user, "ts": ts, "type": type_, **kw}
    ws.warehouse.execute(
        f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        list(cols.values()),
    )


def order(ws, user: str, ts: datetime, order_id: str, *lines: tuple[int, float]) -> None:
    for qty, price in lines:
        event(ws, user, ts, "order", order_id=order_id, product_id="p1", quantity=qty, price=price)


@pytest.fixture
def shop(ws):
    add_campaign(ws, CAMPAIGN)
    for p, pre in zip(["c1", "c2", "c3", "c4"], [50, 0, 10, 0], strict=True):
        assign(ws, "spring", p, "control", pre)
    for p, pre in zip(["t1", "t2", "t3", "t4"], [80, 0, 20, 0], strict=True):
        assign(ws, "spring", p, "a", pre)
    for p in ("t1", "t2", "t3"):
        send(ws, "spring", p, "sent")
    send(ws, "spring", "t4", "suppressed")
    # control: c1 converts (100), c2 orders after the window, c3 only visits, c4 nothing
    order(ws, "c1", T0 + 2 * DAY, "oc1", (1, 100.0))
    order(ws, "c2", T0 + 10 * DAY, "oc2", (1, 70.0))
    event(ws, "c3", T0 + 3 * DAY, "page_view")
    # variant: t1 opens, clicks, orders 60 (2 x 30) then 40; t2 opens and orders 30 (under
    # the offer's minimum spend); t3 ordered before the campaign only; t4 was not sent the
    # message but orders 80 (counts for conversion, costs no offer)
    event(ws, "t1", T0 + 0.1 * DAY, "message_opened", campaign_id="spring")
    event(ws, "t1", T0 + 0.1 * DAY, "message_clicked", campaign_id="spring")
    event(ws, "t1", T0 + 0.2 * DAY, "message_opened", campaign_id="other")
    order(ws, "t1", T0 + 1 * DAY, "ot1", (2, 30.0))
    order(ws, "t1", T0 + 3 * DAY, "ot1b", (1, 40.0))
    event(ws, "t2", T0 + 0.5 * DAY, "message_opened", campaign_id="spring")
    order(ws, "t2", T0 + 5 * DAY, "ot2", (1, 30.0))
    order(ws, "t3", T0 - 1 * DAY, "ot3", (1, 20.0))
    order(ws, "t4", T0 + 2 * DAY, "ot4", (1, 80.0))
    return ws


def arm(report: dict, name: str) -> dict:
    return next(a for a in report.arms if a.arm == name)


def test_figures_per_arm(shop):
    report = campaign_report(shop.campaigns, "spring", as_of=T0 + 40 * DAY)
    control, a = arm(report, "control"), arm(report, "a")
    assert [x.arm for x in report.arms] == ["control", "a"]
    assert control.assigned == 4 and a.assigned == 4
    assert control.converted == 1 and control.revenue == 100.0
    assert control.revenue_per_user == 25.0 and control.delivery_rate is None
    assert a.sent == 3 and a.delivery_rate == 0.75
    assert a.sends == {"sent": 3, "suppressed": 1}
    assert a.opened == 2 and a.open_rate == pytest.approx(2 / 3)
    assert a.clicked == 1 and a.ctr == pytest.approx(1 / 3)
    assert a.click_to_open == 0.5
    assert a.converted == 3 and a.conversion_rate == 0.75 and a.orders == 4
    assert a.revenue == 210.0 and a.revenue_per_user == 52.5
    assert control.active_7d.model_dump() == {"eligible": 4, "active": 2, "rate": 0.5}
    assert control.active_30d.model_dump() == {"eligible": 4, "active": 3, "rate": 0.75}
    assert a.active_7d.active == 3 and a.active_30d.active == 3
    # one coupon of 10 (t1's first order, 60 >= 50); t2's 30 is under the minimum spend
    assert a.offer_cost == 10.0 and a.send_cost == pytest.approx(0.15)
    vs = a.vs_control
    assert vs.incremental_revenue == pytest.approx((52.5 - 25.0) * 4)
    assert vs.incremental_conversions == pytest.approx((0.75 - 0.25) * 4)
    assert vs.roi == pytest.approx((110 - 10.15) / 10.15)


def test_tests_match_scipy_on_the_same_rows(shop):
    report = campaign_report(shop.campaigns, "spring", as_of=T0 + 40 * DAY)
    vs = arm(report, "a").vs_control
    control, treated = [100.0, 0, 0, 0], [100.0, 30.0, 0, 80.0]
    welch = sps.ttest_ind(treated, control, equal_var=False)
    rev = vs.revenue_per_user.frequentist
    assert rev.difference == pytest.approx(27.5)
    assert rev.p_value == pytest.approx(welch.pvalue)
    conv = vs.conversion.frequentist
    assert conv.difference == pytest.approx(0.5)
    z = sps.chi2_contingency([[1, 3], [3, 1]], correction=False)
    assert conv.p_value == pytest.approx(z.pvalue)
    assert 0.5 < vs.conversion.bayesian.chance_to_beat_control < 1
    assert 0.5 < vs.revenue_per_user.bayesian.chance_to_beat_control < 1
    # CUPED with pre-period spend: theta pooled within arms
    x_c, x_t = np.array([50.0, 0, 10, 0]), np.array([80.0, 0, 20, 0])
    y_c, y_t = np.array(control), np.array(treated)
    sxy = ((x_c - x_c.mean()) * (y_c - y_c.mean())).sum()
    sxy += ((x_t - x_t.mean()) * (y_t - y_t.mean())).sum()
    sxx = ((x_c - x_c.mean()) ** 2).sum() + ((x_t - x_t.mean()) ** 2).sum()
    assert vs.revenue_per_user.cuped.theta == pytest.approx(sxy / sxx)


def test_srm_and_notes(shop):
    report = campaign_report(shop.campaigns, "spring", as_of=T0 + 40 * DAY)
    assert report.srm.p_value == pytest.approx(1.0) and not report.srm.mismatch
    notes = " ".join(report.notes)
    assert "few users" in notes and "still open" not in notes
    assert "intent to treat" in notes


def test_window_not_complete(shop):
    report = campaign_report(shop.campaigns, "spring", as_of=T0 + 3 * DAY)
    a = arm(report, "a")
    assert a.converted == 2  # t1 (day 1) and t4 (day 2); t2 orders on day 5
    assert a.revenue == 140.0  # t1's second order (day 3) is not before as_of
    assert a.active_7d.eligible == 0 and a.active_7d.rate is None
    notes = " ".join(report.notes)
    assert "still open for 8 of 8 persons" in notes


def test_outcomes_table(shop):
    table = campaign_outcomes(shop.warehouse, "spring", as_of=T0 + 40 * DAY)
    assert table.column_names == [
        "person_id", "user_id", "arm", "converted", "revenue", "pre_spend", "opened", "clicked",
    ]  # fmt: skip
    rows = {r["person_id"]: r for r in table.to_pylist()}
    assert len(rows) == 8
    assert rows["t1"] == {
        "person_id": "t1", "user_id": "t1", "arm": "a", "converted": True, "revenue": 100.0,
        "pre_spend": 80.0, "opened": True, "clicked": True,
    }  # fmt: skip
    assert rows["c2"]["converted"] is False and rows["c2"]["revenue"] == 0.0


def test_srm_mismatch_is_reported(ws):
    add_campaign(ws, {**CAMPAIGN, "name": "skewed"})
    for i in range(300):
        assign(ws, "skewed", f"c{i}", "control", 0.0)
    for i in range(100):
        assign(ws, "skewed", f"t{i}", "a", 0.0)
    report = campaign_report(ws.campaigns, "skewed", as_of=T0 + 40 * DAY)
    assert report.srm.mismatch
    assert any("sample ratio mismatch" in n for n in report.notes)
    assert expected_shares(parse_campaign(CAMPAIGN)) == {"a": 0.5, "control": 0.5}


def test_unknown_campaign(ws):
    with pytest.raises(CampaignNotFoundError, match="no campaign 'nope'"):
        campaign_report(ws.campaigns, "nope")


def test_nobody_assigned(ws):
    add_campaign(ws, {**CAMPAIGN, "name": "empty"}, status="draft")
    report = campaign_report(ws.campaigns, "empty")
    assert report.arms == [] and report.notes[0].startswith("nobody is assigned")


def test_service_delegates(shop):
    as_of = T0 + 40 * DAY
    assert shop.campaigns.report("spring", as_of=as_of) == campaign_report(
        shop.campaigns, "spring", as_of
    )
    assert shop.campaigns.outcomes("spring", as_of=as_of).num_rows == 8


def refund(ws, user: str | None, ts: datetime, order_id: str, qty: int, price: float) -> None:
    event(ws, user, ts, "refund", order_id=order_id, product_id="p1", quantity=qty, price=price)


def test_revenue_is_net_of_refunds_in_the_window(shop):
    """Hand-computed: only refunds of attributed orders, inside the attribution window, count."""
    refund(shop, "c1", T0 + 3 * DAY, "oc1", 1, 40.0)  # partial refund of c1's 100: net 60
    refund(shop, "t1", T0 + 2 * DAY, "ot1", 1, 30.0)  # one of t1's two units: 60 -> 30
    refund(shop, None, T0 + 4 * DAY, "ot1b", 2, 50.0)  # no user id, 100 > 40: ot1b counts 0
    refund(shop, "t4", T0 + 9 * DAY, "ot4", 1, 80.0)  # after the 7-day window: not subtracted
    refund(shop, "t3", T0 + 1 * DAY, "ot3", 1, 20.0)  # of an order before the campaign
    refund(shop, "t2", T0 + 6 * DAY, "other", 1, 30.0)  # of an order that is not attributed
    refund(shop, "c2", T0 + 11 * DAY, "oc2", 1, 70.0)  # order after the window
    report = campaign_report(shop.campaigns, "spring", as_of=T0 + 40 * DAY)
    control, a = arm(report, "control"), arm(report, "a")
    assert control.revenue_gross == 100.0 and control.refunds == 40.0
    assert control.revenue == 60.0 and control.revenue_per_user == 15.0
    assert control.revenue_per_user_gross == 25.0
    # a: t1 (60 - 30) + (40 - 40) = 30, t2 30, t4 80 (its refund is after the window)
    assert a.revenue_gross == 210.0 and a.refunds == 70.0
    assert a.revenue == 140.0 and a.revenue_per_user == 35.0
    # ot1b was refunded whole: undone (t1 still converted with ot1, which was refunded in part)
    assert a.converted == 3 and a.orders == 3 and a.orders_refunded == 1
    # the coupon was used on t1's first order, 60 before the refund: cost unchanged
    assert a.offer_cost == 10.0 and a.cost == pytest.approx(10.15)
    vs = a.vs_control
    assert vs.incremental_revenue == pytest.approx((35.0 - 15.0) * 4)  # 80
    assert vs.roi == pytest.approx((80 - 10.15) / 10.15)
    welch = sps.ttest_ind([30.0, 30.0, 0, 80.0], [60.0, 0, 0, 0], equal_var=False)
    assert vs.revenue_per_user.frequentist.p_value == pytest.approx(welch.pvalue)
    rows = {
        r["person_id"]: r
        for r in campaign_outcomes(shop.warehouse, "spring", T0 + 40 * DAY).to_pylist()
    }
    assert rows["t1"]["revenue"] == 30.0 and rows["c1"]["revenue"] == 60.0
    # before the refunds happened, revenue is what was ordered
    early = arm(campaign_report(shop.campaigns, "spring", as_of=T0 + 1.5 * DAY), "a")
    assert early.revenue == 60.0 and early.refunds == 0.0
    shop.close()  # the CLI opens the workspace itself
    r = CliRunner().invoke(
        app, ["campaign", "report", "spring", "--at", "2026-04-10", "-w", str(shop.root)],
        env={"COLUMNS": "250"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "refunds" in r.stdout and "70.00" in r.stdout and "35.00" in r.stdout


def test_refund_of_another_persons_order_id_is_not_subtracted(shop):
    refund(shop, "c1", T0 + 3 * DAY, "ot2", 1, 30.0)  # c1 refunds an order id that is t2's
    a = arm(campaign_report(shop.campaigns, "spring", as_of=T0 + 40 * DAY), "a")
    assert a.refunds == 0.0 and a.revenue == 210.0


def test_an_order_refunded_whole_in_the_window_is_no_conversion(shop):
    refund(shop, "t2", T0 + 6 * DAY, "ot2", 1, 30.0)  # t2's only order, all of it
    refund(shop, "c1", T0 + 9 * DAY, "oc1", 1, 100.0)  # after the 7-day window: still counts
    report = campaign_report(shop.campaigns, "spring", as_of=T0 + 40 * DAY)
    control, a = arm(report, "control"), arm(report, "a")
    assert a.converted == 2 and a.orders == 3 and a.orders_refunded == 1
    assert a.revenue == 180.0 and a.revenue_gross == 210.0
    assert control.converted == 1 and control.orders_refunded == 0
    rows = {
        r["person_id"]: r
        for r in campaign_outcomes(shop.warehouse, "spring", T0 + 40 * DAY).to_pylist()
    }
    assert rows["t2"]["converted"] is False and rows["t2"]["revenue"] == 0.0
    assert a.offer_cost == 10.0  # t2's order was under the offer's minimum spend anyway


def test_pre_spend_is_the_30_days_before_net_of_refunds(ws):
    from portrait.store.campaigns import pre_spend

    order(ws, "p1", T0 - 10 * DAY, "a1", (2, 50.0))  # 100
    refund(ws, "p1", T0 - 5 * DAY, "a1", 1, 50.0)  # -50
    order(ws, "p1", T0 - 40 * DAY, "old", (1, 999.0))  # before the 30 days
    refund(ws, "p1", T0 - 31 * DAY, "old", 1, 999.0)  # before them too
    order(ws, "p1", T0 + DAY, "later", (1, 70.0))  # after assignment
    order(ws, "p2", T0 - 1 * DAY, "b1", (1, 30.0))
    assert pre_spend(ws.warehouse, ["p1", "p2", "p3"], T0) == {"p1": 50.0, "p2": 30.0}
