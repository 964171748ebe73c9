"""A launched campaign's simulated responses, as canonical events the shop can ingest.

The closed loop through the real campaign machinery: launch a campaign on a simulated shop
(``ws.campaigns.launch``: its ``campaign_assignments`` say who is in which arm), then
``campaign_response_events`` draws every assigned user's response with the simulator's true
response model (``response.true_effects``; the variant's offer for the treated, none for
control) and writes it as canonical events: ``message_opened`` / ``message_clicked`` of the
campaign for treated users who noticed it, and for each order in the attribution window an
``order`` line (list price minus the coupon, ``discount`` per unit, ``coupon_id``), a
``coupon_used`` when the coupon is redeemed, and a ``payment``. Ingested, they make
``portrait campaign report`` measure an incremental effect that can be compared with the true
one the function also returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from portrait.datasets.base import conform
from portrait.datasets.simulator.response import (
    REACH,
    Offer,
    draw_responses,
    shop_population,
    true_effects,
)
from portrait.store import campaigns as campaign_store

if TYPE_CHECKING:
    from portrait.workspace import Workspace

CONTROL = "control"
EPOCH = pd.Timestamp(0, tz="UTC")
DAY = timedelta(days=1)
CLICK_GIVEN_OPEN = 0.25  # clicks among those who noticed and did not order through it


def offer_of(offer: Any, channel: str) -> Offer:
    """The response model's ``Offer`` for a campaign definition's offer (percent, 满减
    threshold, fixed and first-order amounts as thresholds at their minimum spend; perks, free
    shipping and no offer as no discount)."""
    channel = channel if channel in REACH else "email"
    kind = getattr(offer, "type", "none")
    if kind in ("percent", "first_order") and getattr(offer, "percent", None):
        return Offer(
            "percent",
            percent=offer.percent,
            min_spend=getattr(offer, "min_spend", 0.0) or 0.0,
            max_discount=getattr(offer, "max_discount", None),
            channel=channel,
        )
    if kind == "threshold":
        return Offer("threshold", threshold=offer.threshold, amount=offer.amount, channel=channel)
    amount = getattr(offer, "amount", None)
    if kind in ("fixed", "first_order") and amount:
        floor = max(getattr(offer, "min_spend", 0.0) or 0.0, amount * 1.01)
        return Offer("threshold", threshold=floor, amount=amount, channel=channel)
    return Offer("percent", percent=0.0, channel=channel)


def campaign_response_events(
    ws: Workspace,
    campaign: str,
    shop_dir: str | Path,
    out: str | Path,
    seed: int = 42,
    shop_seed: int = 42,
) -> dict[str, Any]:
    """Draw the responses of ``campaign``'s assigned persons and write them to ``out`` (an
    events Parquet file to ingest). Returns per arm the assigned count, the true expected
    conversions and the drawn ones; ``shop_seed`` is the simulated shop's seed (fatigue)."""
    definition = ws.campaigns.get(campaign)
    days = float(definition.goal.attribution_days)
    assigned = campaign_store.assignments(ws.warehouse, campaign).to_pandas()
    population = shop_population(shop_dir).set_index("user_id")
    assigned = assigned[assigned["user_id"].isin(population.index)].reset_index(drop=True)
    people = population.loc[assigned["user_id"]].reset_index()
    offers = {v.name: offer_of(v.offer, definition.channel) for v in definition.variants}
    rng = np.random.default_rng([seed, 4])
    products = pq.read_table(Path(shop_dir) / "products.parquet", columns=["product_id"])
    product_ids = products.column(0).to_numpy(zero_copy_only=False)

    frames, truth = [], {}
    for arm in sorted(assigned["arm"].unique()):
        rows = np.flatnonzero(assigned["arm"].to_numpy() == arm)
        offer = offers.get(arm, Offer("percent", percent=0.0))
        effects = true_effects(people.iloc[rows], offer, days, shop_seed)
        treated = np.full(len(rows), arm != CONTROL)
        drawn = draw_responses(rng, effects, treated)
        p = effects.p_treated if arm != CONTROL else effects.p_control
        truth[arm] = {
            "assigned": len(rows),
            "expected_conversions": float(p.sum()),
            "expected_conversion_rate": float(p.mean()) if len(rows) else None,
            "drawn_conversions": int(drawn.ordered.sum()),
            "true_uplift_vs_no_offer": float(effects.uplift.mean()) if arm != CONTROL else 0.0,
        }
        assigned_at = pd.to_datetime(assigned["assigned_at"].iloc[rows], utc=True)
        start = ((assigned_at - EPOCH) // pd.Timedelta(microseconds=1)).to_numpy(np.int64)
        frames.append(_events(rng, campaign, arm, assigned.iloc[rows], start, days, effects,
                              drawn, treated, product_ids))  # fmt: skip
    table = pa.concat_tables(frames) if frames else conform("events", {"event_id": []})
    pq.write_table(table, out)
    return {"campaign": campaign, "events": table.num_rows, "arms": truth, "path": str(out)}


def _events(
    rng: np.random.Generator,
    campaign: str,
    arm: str,
    rows: pd.DataFrame,
    start: np.ndarray,
    days: float,
    effects: Any,
    drawn: Any,
    treated: np.ndarray,
    product_ids: np.ndarray,
) -> pa.Table:
    n = len(rows)
    users = rows["user_id"].to_numpy()
    t0 = start
    order_t = t0 + (rng.random(n) * days * 0.95 * 86_400e6).astype(np.int64)
    opened = treated & ((rng.random(n) < effects.awareness) | drawn.redeemed)
    open_t = t0 + (rng.exponential(3.0, n) * 3_600e6).astype(np.int64)
    clicked = opened & (drawn.redeemed | (rng.random(n) < CLICK_GIVEN_OPEN))
    open_t = np.minimum(open_t, np.where(drawn.redeemed, order_t - 600_000_000, open_t))
    product = product_ids[rng.integers(0, len(product_ids), n)]
    cols: dict[str, list] = {k: [] for k in (
        "event_id", "user_id", "ts", "type", "product_id", "quantity", "price", "discount",
        "order_id", "campaign_id", "coupon_id", "channel",
    )}  # fmt: skip
    key = f"sim-{campaign}-{arm}"

    def add(i: int, kind: str, ts: int, **values: Any) -> None:
        cols["event_id"].append(f"{key}-{kind}-{i}")
        cols["user_id"].append(users[i])
        cols["ts"].append(int(ts))
        cols["type"].append(kind)
        for name in ("product_id", "quantity", "price", "discount", "order_id", "campaign_id",
                     "coupon_id", "channel"):  # fmt: skip
            cols[name].append(values.get(name))

    for i in np.flatnonzero(opened):
        add(i, "message_opened", open_t[i], campaign_id=campaign)
        if clicked[i]:
            add(i, "message_clicked", open_t[i] + 30_000_000, campaign_id=campaign)
    for i in np.flatnonzero(drawn.ordered):
        order = f"{key}-o{i}"
        value, off = round(float(drawn.revenue[i]), 2), round(float(drawn.discount[i]), 2)
        coupon = f"{campaign}-{arm}" if drawn.redeemed[i] else None
        add(i, "order", order_t[i], product_id=product[i], quantity=1, price=value - off,
            discount=off, order_id=order, coupon_id=coupon)  # fmt: skip
        if coupon:
            add(i, "coupon_used", order_t[i] + 1_000_000, order_id=order, coupon_id=coupon,
                discount=off, campaign_id=campaign)  # fmt: skip
        add(i, "payment", order_t[i] + 20_000_000, order_id=order, price=value - off)
    ts = pa.array(cols.pop("ts"), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return conform("events", {**cols, "ts": ts})


def run_campaign_loop(
    ws: Workspace,
    shop_dir: str | Path,
    definition: dict[str, Any],
    launch_at: datetime,
    seed: int = 42,
    shop_seed: int = 42,
) -> dict[str, Any]:
    """The whole loop on a simulated shop in ``ws``: create and launch the campaign
    ``definition`` at ``launch_at`` (e.g. the day after the shop's last event), dispatch its
    sends, draw and ingest the responses, and report it once its attribution window is over.
    Returns per variant the true effect (expected conversions of the arm against the same
    persons without the offer) beside the report's measured difference against control."""
    name = definition["name"]
    ws.campaigns.create(definition)
    ws.campaigns.launch(name, now=launch_at)
    ws.campaigns.dispatch(now=launch_at + DAY / 2)
    days = float(ws.campaigns.get(name).goal.attribution_days)
    out = Path(shop_dir).parent / f"responses-{name}.parquet"
    truth = campaign_response_events(ws, name, shop_dir, out, seed, shop_seed)
    batch = ws.ingest_file(out, kind="events")
    report = ws.campaigns.report(name, as_of=launch_at + DAY * (days + 1))
    rows = {}
    control_rate = next(a.conversion_rate for a in report.arms if a.arm == CONTROL)
    for arm in report.arms:
        if arm.arm == CONTROL or arm.vs_control is None:
            continue
        test = arm.vs_control.conversion.frequentist
        rows[arm.arm] = {
            "true_uplift": truth["arms"][arm.arm]["true_uplift_vs_no_offer"],
            "measured_difference": test.difference,
            "ci": [test.ci_low, test.ci_high],
            "p_value": test.p_value,
            "conversion_rate": arm.conversion_rate,
            "control_conversion_rate": control_rate,
        }
    return {"campaign": name, "events": batch.accepted, "truth": truth, "variants": rows}


__all__ = ["campaign_response_events", "offer_of", "run_campaign_loop"]
