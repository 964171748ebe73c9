"""The closed loop on the simulator: targeting policies for one coupon budget, scored by truth.

A coupon campaign may reach ``budget_share`` of the users. Policies choose whom:

* ``blanket``: users drawn at random, up to the budget (the budget does not reach everyone);
* ``segment``: the playbook's discount audience (the price-sensitive persona segment), only its
  members, however many; ``segment_fill`` then fills the rest of the budget with the users of the
  highest ``discount_share`` tag;
* ``propensity``: the highest purchase propensity (the ``purchase_propensity_30d`` tag);
* ``uplift``: past randomised campaigns (50/50, same offer; one, or several pooled as a shop
  accumulates them) are drawn on the simulator from the same true response, an uplift model
  (``portrait.experiments.uplift.fit_uplift``) chosen among ``CANDIDATES`` by cross-validated
  Qini on those campaigns alone is trained on profile-tag features and the outcome (an order in
  the window), and the users with the highest predicted uplift get the coupons, all of them;
* ``uplift_profit``: the same model, by predicted incremental profit
  ``margin * order_value * uplift - P(redeem | treated) * coupon - send cost`` (order value:
  the ``avg_order_value`` tag; ``P(redeem | treated)``: a classifier trained on the past
  campaigns' treated users), all coupons of the budget;
* ``uplift_profit_pos``: the same, but only users with a positive predicted profit, so it may
  send fewer coupons than the budget ("the same budget" means at most that many coupons);
* ``oracle`` / ``oracle_profit`` (references only): the highest true uplift (all coupons) /
  the highest true incremental profit among users where it is positive;
  ``true_uplift_profit`` (diagnosis): ``uplift_profit_pos`` with the true uplift in place of the
  model's, but the learned order value and redemption model: what a perfect uplift model
  would add to the rest of the profit rule.

The uplift model's learning lives in ``past_campaigns``; this module places the budget and
scores the policies. Each policy is scored with the simulator's known response
(``response.true_effects``): expected incremental orders, profit and ROI, and the same from one
seeded draw of the campaign against the same draw with nobody treated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portrait.datasets.simulator.past_campaigns import (
    CANDIDATES,
    DRIVER_TAGS,
    Candidate,
    PolicyInputs,
    calibration_slope,
    cross_validate,
    draw_past_campaigns,
    driver_columns,
    past_campaign,
)
from portrait.datasets.simulator.response import (
    Economics,
    Effects,
    Offer,
    draw_responses,
    expected_value,
    realised_value,
    shop_population,
)
from portrait.experiments.features import CATEGORICAL_TAGS, feature_matrix
from portrait.store import simulation as simulation_store

if TYPE_CHECKING:
    from portrait.workspace import Workspace

POLICIES = (
    "blanket",
    "segment",
    "segment_fill",
    "propensity",
    "uplift",
    "uplift_profit",
    "uplift_profit_pos",
    "oracle",
    "oracle_profit",
    "true_uplift_profit",
)


def top_k(score: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of the ``k`` highest scores, ties broken at random."""
    score = np.asarray(score, dtype=np.float64)
    order = np.lexsort((rng.random(len(score)), -np.nan_to_num(score, nan=-np.inf)))
    mask = np.zeros(len(score), dtype=bool)
    mask[order[: max(0, min(k, len(score)))]] = True
    return mask


def predicted_profit(
    inputs: PolicyInputs, uplift: np.ndarray, p_redeem: np.ndarray, econ: Economics
) -> np.ndarray:
    """Predicted incremental profit of sending to each user, from observable quantities only:
    ``margin * value * uplift - P(redeem) * coupon(value) - send cost``."""
    value = inputs.order_value
    rate, _ = inputs.offer.discount_rate(value)
    return econ.margin * value * uplift - p_redeem * rate * value - econ.send_cost


def true_profit(effects: Effects, offer: Offer, econ: Economics) -> np.ndarray:
    """Each user's true expected incremental profit if sent the offer (for the oracle and
    diagnosis only): ``margin * value * uplift - P(redeem | treated) * discount - send cost``."""
    e = effects
    redeemed = e.p_anyway * e.redeem_anyway + (e.p_treated - e.p_anyway)
    redeemed = np.where(e.discount_rate > 0, redeemed, 0.0)
    value = e.order_value
    return econ.margin * value * e.uplift - redeemed * value * e.discount_rate - econ.send_cost


def policy_masks(
    inputs: PolicyInputs,
    k: int,
    predicted_uplift: np.ndarray,
    profit: np.ndarray,
    seed: int,
    econ: Economics | None = None,
) -> dict[str, np.ndarray]:
    """Whom each policy of ``POLICIES`` sends a coupon to, ``k`` users at most."""
    rng = np.random.default_rng([seed, 2])
    truth = true_profit(inputs.effects, inputs.offer, econ or Economics())
    fill = np.nan_to_num(inputs.segment_fill, nan=-1.0)
    segment = np.asarray(inputs.segment, dtype=bool)
    return {
        "blanket": top_k(rng.random(len(fill)), k, rng),
        "segment": segment & top_k(segment * 10.0 + fill, k, rng),
        "segment_fill": top_k(segment * 10.0 + fill, k, rng),
        "propensity": top_k(inputs.propensity, k, rng),
        "uplift": top_k(predicted_uplift, k, rng),
        "uplift_profit": top_k(profit, k, rng),
        "uplift_profit_pos": top_k(profit, k, rng) & (profit > 0),
        "oracle": top_k(inputs.effects.uplift, k, rng),
        "oracle_profit": top_k(truth, k, rng) & (truth > 0),
    }


def compare_policies(
    inputs: PolicyInputs,
    budget_share: float = 0.3,
    econ: Economics | None = None,
    seed: int = 42,
    method: str = "auto",
    learner: str = "lightgbm",
    past_rounds: int = 1,
    past: tuple[np.ndarray, np.ndarray, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every policy of ``POLICIES`` at the same budget: at most ``budget_share`` of the users
    get a coupon (blanket, propensity, uplift and ``uplift_profit`` use them all; the segment
    and the ``*_profit_pos`` policies may send fewer). Scored by expected value under the true
    response and by one seeded, coupled draw; the uplift model learns from ``past_rounds``
    past randomised campaigns (``past_campaign``), or ``past`` is its result already fitted."""
    if not 0 < budget_share <= 1:
        raise ValueError(f"budget_share must be in (0, 1], got {budget_share}")
    econ = econ or Economics()
    n = len(inputs.propensity)
    k = round(budget_share * n)
    if past is None:
        past = past_campaign(inputs, seed, method, learner, past_rounds)
    predicted, p_redeem, facts = past
    profit = predicted_profit(inputs, predicted, p_redeem, econ)
    masks = policy_masks(inputs, k, predicted, profit, seed, econ)
    # diagnosis: the profit rule with the true uplift and the learned redemption model
    known = predicted_profit(inputs, inputs.effects.uplift, p_redeem, econ)
    masks["true_uplift_profit"] = top_k(known, k, np.random.default_rng([seed, 5])) & (known > 0)
    nobody = draw_responses(np.random.default_rng([seed, 3]), inputs.effects, np.zeros(n, bool))
    rows = {}
    for name, mask in masks.items():
        drawn = draw_responses(np.random.default_rng([seed, 3]), inputs.effects, mask)
        rows[name] = {
            "expected": expected_value(inputs.effects, mask, econ),
            "drawn": realised_value(drawn, nobody, mask, econ),
            "true_uplift_mean": float(inputs.effects.uplift[mask].mean()) if mask.any() else 0.0,
        }
    blanket = rows["blanket"]["expected"]["incremental_profit"]
    return {
        "users": n,
        "budget": k,
        "budget_share": budget_share,
        "segment_members": int(np.sum(inputs.segment)),
        "past_campaign": facts,
        "predicted_profitable": int((profit > 0).sum()),
        "truly_profitable": int((true_profit(inputs.effects, inputs.offer, econ) > 0).sum()),
        "policies": rows,
        "over_blanket": {
            name: row["expected"]["incremental_profit"] / blanket if blanket > 0 else None
            for name, row in rows.items()
        },
        "minus_blanket": {
            name: row["expected"]["incremental_profit"] - blanket for name, row in rows.items()
        },
        "ate_everyone": float(inputs.effects.uplift.mean()),
    }


def workspace_inputs(
    ws: Workspace,
    shop_dir: str | Path,
    offer: Offer,
    window_days: float = 14.0,
    seed: int = 42,
    segment: str = "persona_price_sensitive",
) -> tuple[PolicyInputs, pd.DataFrame]:
    """The policy inputs of a simulated shop ingested and built in ``ws`` (with models, so the
    propensity tag is filled): one row per registered person with both a profile and a truth
    row (a merged second account counts once, as its person); ``segment`` names the segment of
    the segment policies (the playbook's discount audience)."""
    from portrait.datasets.simulator.response import true_effects

    profiles = ws.profile_table().to_pandas()
    truth = shop_population(shop_dir)
    links = simulation_store.user_persons(ws.warehouse).to_pandas()
    truth = truth.merge(links, on="user_id", how="left")
    truth["person_id"] = truth["person_id"].fillna(truth["user_id"])  # unlinked: user = person
    truth = truth.sort_values(["person_id", "same_person_as"], na_position="first")
    truth = truth.drop_duplicates("person_id")
    frame = profiles.merge(truth, on="person_id", how="inner", suffixes=("", "_truth"))
    frame = frame.sort_values("person_id").reset_index(drop=True)
    features, names = feature_matrix(frame[profiles.columns])
    members = set(ws.segments.members(segment).column(0).to_pylist())
    in_segment = frame["person_id"].isin(members).to_numpy(dtype=bool)
    fill = pd.to_numeric(frame.get("discount_share"), errors="coerce").to_numpy(dtype=np.float64)
    prop = frame["purchase_propensity_30d"]
    propensity = pd.to_numeric(prop, errors="coerce").to_numpy(dtype=np.float64)
    aov = pd.to_numeric(frame["avg_order_value"], errors="coerce")
    value = aov.fillna(aov.median() if aov.notna().any() else 100.0).to_numpy(dtype=np.float64)
    truth_frame = pd.DataFrame(
        {
            c: frame[f"{c}_truth" if c in profiles.columns else c]
            for c in truth.columns
            if c != "person_id"
        }
    )
    effects = true_effects(truth_frame, offer, window_days, seed)
    inputs = PolicyInputs(effects, features, in_segment, fill, propensity, value, offer, names)
    return inputs, frame


__all__ = [
    "CANDIDATES",
    "CATEGORICAL_TAGS",
    "DRIVER_TAGS",
    "POLICIES",
    "Candidate",
    "PolicyInputs",
    "calibration_slope",
    "compare_policies",
    "cross_validate",
    "draw_past_campaigns",
    "driver_columns",
    "feature_matrix",
    "past_campaign",
    "policy_masks",
    "predicted_profit",
    "top_k",
    "true_profit",
    "workspace_inputs",
]
