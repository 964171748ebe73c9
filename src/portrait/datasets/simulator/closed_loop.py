"""The closed loop on the simulator: targeting policies for one coupon budget, scored by truth.

A coupon campaign may reach ``budget_share`` of the users. Policies choose whom:

* ``blanket``: users drawn at random, up to the budget (the budget does not reach everyone);
* ``segment``: the playbook's discount audience (the price-sensitive persona segment), only its
  members, however many; ``segment_fill`` then fills the rest of the budget with the users of the
  highest ``discount_share`` tag;
* ``propensity``: the highest purchase propensity (the ``purchase_propensity_30d`` tag);
* ``uplift``: a past randomised campaign (50/50, same offer) is drawn on the simulator, an uplift
  model (``portrait.experiments.uplift.fit_uplift``) is trained on profile-tag features and its
  outcome (an order in the window), and the users with the highest predicted uplift are chosen;
* ``uplift_profit``: the same model, weighted by value: predicted incremental profit
  ``margin * order_value * uplift - P(redeem | treated) * coupon - send cost``, where the
  order value is the ``avg_order_value`` tag and ``P(redeem | treated)`` a classifier trained on
  the past campaign's treated users; only users with a positive prediction, up to the budget;
* ``oracle`` (reference only): the highest true uplift, the best any model could do by
  incremental orders.

Each policy is scored with the simulator's known response (``response.true_effects``): expected
incremental orders, profit and ROI, and the same from one seeded draw of the campaign against the
same draw with nobody treated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portrait.datasets.simulator.response import (
    Economics,
    Effects,
    Offer,
    draw_responses,
    expected_value,
    realised_value,
    shop_population,
)

if TYPE_CHECKING:
    from portrait.workspace import Workspace

POLICIES = (
    "blanket",
    "segment",
    "segment_fill",
    "propensity",
    "uplift",
    "uplift_profit",
    "oracle",
)
#: categorical tags one-hot encoded for the uplift model (the numeric and bool tags are all used)
CATEGORICAL_TAGS = (
    "lifecycle_stage",
    "main_persona",
    "price_band",
    "rfm_segment",
    "value_tier",
    "preferred_message_channel",
)
_LATE = 9999.0  # "days since" when it never happened


@dataclass
class PolicyInputs:
    """What the policies read, one row per user: truth-driven effects and profile signals."""

    effects: Effects
    features: np.ndarray  # profile-tag feature matrix for the uplift model
    segment: np.ndarray  # bool: member of the price-sensitive persona segment
    segment_fill: np.ndarray  # score to fill the budget after the segment (discount share)
    propensity: np.ndarray  # purchase propensity score
    order_value: np.ndarray  # observable typical order value (the avg_order_value tag)
    offer: Offer
    feature_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.effects.p_control)
        for name in ("features", "segment", "segment_fill", "propensity", "order_value"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have one row per user ({n})")


def feature_matrix(profiles: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Numeric and bool profile tags plus one-hot ``CATEGORICAL_TAGS``: a float matrix without
    gaps (a missing "days since" is ``_LATE``, any other missing number 0)."""
    columns: dict[str, np.ndarray] = {}
    for name in profiles.columns:
        col = profiles[name]
        if name == "person_id" or pd.api.types.is_datetime64_any_dtype(col):
            continue
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            values = pd.to_numeric(col, errors="coerce").astype("float64")
        elif col.dtype == object and col.dropna().map(type).eq(bool).all() and col.notna().any():
            values = col.map({True: 1.0, False: 0.0}).astype("float64")
        else:
            continue
        fill = _LATE if name.startswith("days_") else 0.0
        columns[name] = values.fillna(fill).to_numpy()
    for name in CATEGORICAL_TAGS:
        if name not in profiles:
            continue
        values = profiles[name].astype("string").fillna("(none)")
        for level in sorted(values.unique()):
            columns[f"{name}={level}"] = (values == level).to_numpy(dtype=np.float64)
    names = list(columns)
    return np.column_stack([columns[n] for n in names]), names


def top_k(score: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of the ``k`` highest scores, ties broken at random."""
    score = np.asarray(score, dtype=np.float64)
    order = np.lexsort((rng.random(len(score)), -np.nan_to_num(score, nan=-np.inf)))
    mask = np.zeros(len(score), dtype=bool)
    mask[order[: max(0, min(k, len(score)))]] = True
    return mask


def past_campaign(
    inputs: PolicyInputs,
    seed: int,
    method: str = "class_transformation",
    learner: str = "lightgbm",
    rounds: int = 1,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Run a past randomised 50/50 campaign on the simulator and train an uplift model on its
    outcome (an order in the window) and a classifier of coupon use among its treated users;
    returns every user's predicted uplift and chance to redeem, and facts about the campaign.
    The past campaign is taken to be long enough ago that its message adds to no one's
    fatigue. ``rounds`` > 1 pools that many such campaigns (fresh assignment and outcomes each
    time, same users and features), as a shop accumulates them over months."""
    from portrait.experiments.uplift import fit_uplift, make_classifier

    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    rng = np.random.default_rng([seed, 1])
    n = len(inputs.propensity)
    parts = []
    for _ in range(rounds):
        t = rng.random(n) < 0.5
        parts.append((t, draw_responses(rng, inputs.effects, t)))
    treated = np.concatenate([t for t, _ in parts])
    outcome = np.concatenate([d.ordered for _, d in parts])
    redeemed_all = np.concatenate([d.redeemed for _, d in parts])
    X = np.vstack([inputs.features] * rounds)
    model = fit_uplift(X, treated.astype(np.int8), outcome.astype(np.int8), method, learner, seed)
    predicted = model.predict(inputs.features)
    redeemed = redeemed_all[treated].astype(np.int8)
    if 0 < redeemed.sum() < len(redeemed):
        redeem = make_classifier(learner, seed).fit(X[treated], redeemed)
        p_redeem = np.asarray(redeem.predict_proba(inputs.features))[:, 1]
    else:
        p_redeem = np.full(n, float(redeemed.mean()) if len(redeemed) else 0.0)
    facts = {
        "rounds": rounds,
        "treated": int(treated.sum()),
        "control": int((~treated).sum()),
        "order_rate_treated": float(outcome[treated].mean()),
        "order_rate_control": float(outcome[~treated].mean()),
        "method": method,
        "learner": learner,
        "redeemed_treated": int(redeemed.sum()),
        "corr_predicted_true_uplift": float(np.corrcoef(predicted, inputs.effects.uplift)[0, 1]),
    }
    return predicted, p_redeem, facts


def predicted_profit(
    inputs: PolicyInputs, uplift: np.ndarray, p_redeem: np.ndarray, econ: Economics
) -> np.ndarray:
    """Predicted incremental profit of sending to each user, from observable quantities only:
    ``margin * value * uplift - P(redeem) * coupon(value) - send cost``."""
    value = inputs.order_value
    rate, _ = inputs.offer.discount_rate(value)
    return econ.margin * value * uplift - p_redeem * rate * value - econ.send_cost


def policy_masks(
    inputs: PolicyInputs,
    k: int,
    predicted_uplift: np.ndarray,
    profit: np.ndarray,
    seed: int,
) -> dict[str, np.ndarray]:
    """Whom each policy of ``POLICIES`` sends a coupon to, ``k`` users at most."""
    rng = np.random.default_rng([seed, 2])
    fill = np.nan_to_num(inputs.segment_fill, nan=-1.0)
    segment = np.asarray(inputs.segment, dtype=bool)
    return {
        "blanket": top_k(rng.random(len(fill)), k, rng),
        "segment": segment & top_k(segment * 10.0 + fill, k, rng),
        "segment_fill": top_k(segment * 10.0 + fill, k, rng),
        "propensity": top_k(inputs.propensity, k, rng),
        "uplift": top_k(predicted_uplift, k, rng),
        "uplift_profit": top_k(profit, k, rng) & (profit > 0),
        "oracle": top_k(inputs.effects.uplift, k, rng),
    }


def compare_policies(
    inputs: PolicyInputs,
    budget_share: float = 0.3,
    econ: Economics | None = None,
    seed: int = 42,
    method: str = "class_transformation",
    learner: str = "lightgbm",
    past_rounds: int = 1,
) -> dict[str, Any]:
    """Every policy of ``POLICIES`` at the same budget (``budget_share`` of the users), scored
    by expected value under the true response and by one seeded, coupled draw; the uplift model
    learns from ``past_rounds`` past randomised campaigns (``past_campaign``)."""
    if not 0 < budget_share <= 1:
        raise ValueError(f"budget_share must be in (0, 1], got {budget_share}")
    econ = econ or Economics()
    n = len(inputs.propensity)
    k = round(budget_share * n)
    predicted, p_redeem, past = past_campaign(inputs, seed, method, learner, past_rounds)
    profit = predicted_profit(inputs, predicted, p_redeem, econ)
    masks = policy_masks(inputs, k, predicted, profit, seed)
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
        "segment_members": int(np.sum(inputs.segment)),
        "past_campaign": past,
        "policies": rows,
        "over_blanket": {
            name: row["expected"]["incremental_profit"] / blanket if blanket > 0 else None
            for name, row in rows.items()
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
    with ws.warehouse.lock:
        links = ws.warehouse.con.sql(
            "SELECT identifier AS user_id, person_id FROM identity_map WHERE id_kind = 'user'"
        ).df()
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
    "CATEGORICAL_TAGS",
    "POLICIES",
    "PolicyInputs",
    "compare_policies",
    "feature_matrix",
    "past_campaign",
    "policy_masks",
    "predicted_profit",
    "top_k",
    "workspace_inputs",
]
