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
from portrait.experiments.features import CATEGORICAL_TAGS, feature_matrix

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
#: profile tags that carry the response model's latent drivers (diagnosed against the truth:
#: price sensitivity, activity and churn, order value, messages received, satisfaction)
DRIVER_TAGS = frozenset(
    {
        "discount_share", "coupon_order_share", "coupon_redemption_rate", "coupons_used_365d",
        "coupons_received_365d", "price_sensitive", "brand_loyal", "brand_concentration",
        "potential_customer", "days_since_last_visit", "days_since_last_order", "visits_30d",
        "visits_90d", "orders_90d", "orders_total", "purchase_propensity_30d",
        "churn_propensity", "avg_order_value", "email_open_rate", "email_sent_90d",
        "sms_sent_90d", "push_sent_90d", "avg_rating", "complaint_flag", "refund_rate",
        "low_rating_share", "tenure_days",
    }
)  # fmt: skip
DRIVER_PREFIXES = ("lifecycle_stage=", "main_persona=")


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


def top_k(score: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of the ``k`` highest scores, ties broken at random."""
    score = np.asarray(score, dtype=np.float64)
    order = np.lexsort((rng.random(len(score)), -np.nan_to_num(score, nan=-np.inf)))
    mask = np.zeros(len(score), dtype=bool)
    mask[order[: max(0, min(k, len(score)))]] = True
    return mask


@dataclass(frozen=True)
class Candidate:
    """One uplift model to try: ``fit_uplift(method, learner, **params)`` on ``features``
    (``all``: every profile tag of ``feature_matrix``; ``drivers``: ``DRIVER_TAGS`` only)."""

    name: str
    method: str
    learner: str = "lightgbm"
    features: str = "all"
    params: tuple[tuple[str, Any], ...] = ()


#: strongly regularised LightGBM: boosted stumps with at least 200 users a leaf
STUMPS: tuple[tuple[str, Any], ...] = (
    ("max_depth", 1),
    ("num_leaves", 2),
    ("min_child_samples", 200),
    ("n_estimators", 200),
)
#: the uplift models ``past_campaign`` chooses from by cross-validated Qini on the past campaigns
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("ct-lgbm", "class_transformation"),
    Candidate("ct-stumps", "class_transformation", params=STUMPS),
    Candidate("ct-stumps-drivers", "class_transformation", features="drivers", params=STUMPS),
    Candidate("two-stumps-drivers", "two_model", features="drivers", params=STUMPS),
    Candidate("x-stumps", "x_learner", params=STUMPS),
    Candidate("x-stumps-drivers", "x_learner", features="drivers", params=STUMPS),
    Candidate("ct-logistic-drivers", "class_transformation", "logistic", "drivers", (("C", 0.01),)),
)


def driver_columns(names: list[str]) -> list[int]:
    """Columns of ``feature_matrix`` that carry the response model's latent drivers (price
    sensitivity, activity and churn, order value, messages received and their reception,
    satisfaction): the ``DRIVER_TAGS`` and the one-hot ``DRIVER_PREFIXES``."""
    return [
        i for i, name in enumerate(names) if name in DRIVER_TAGS or name.startswith(DRIVER_PREFIXES)
    ]


def _columns(inputs: PolicyInputs, features: str) -> np.ndarray:
    if features == "all":
        return inputs.features
    if features == "drivers":
        return inputs.features[:, driver_columns(inputs.feature_names)]
    raise ValueError(f"unknown feature set {features!r}; use all or drivers")


def draw_past_campaigns(
    inputs: PolicyInputs, seed: int, rounds: int = 1, treated_share: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``rounds`` past randomised campaigns (same offer, fresh assignment and outcomes each,
    drawn from the same true response as the evaluated campaign): rows ``user``, ``treated``,
    ``ordered``, ``redeemed``, one per user and campaign. They are taken to be long enough ago
    that their messages add to no one's fatigue."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if not 0 < treated_share < 1:
        raise ValueError(f"treated_share must be in (0, 1), got {treated_share}")
    rng = np.random.default_rng([seed, 1])
    n = len(inputs.propensity)
    users, treated, ordered, redeemed = [], [], [], []
    for _ in range(rounds):
        t = rng.random(n) < treated_share
        drawn = draw_responses(rng, inputs.effects, t)
        users.append(np.arange(n))
        treated.append(t)
        ordered.append(drawn.ordered)
        redeemed.append(drawn.redeemed)
    return tuple(np.concatenate(a) for a in (users, treated, ordered, redeemed))  # type: ignore[return-value]


def _fit(c: Candidate, X: np.ndarray, t: np.ndarray, y: np.ndarray, seed: int) -> Any:
    from portrait.experiments.uplift import fit_uplift

    return fit_uplift(
        X, t.astype(np.int8), y.astype(np.int8), c.method, c.learner, seed, **dict(c.params)
    )


def cross_validate(
    inputs: PolicyInputs,
    users: np.ndarray,
    treated: np.ndarray,
    ordered: np.ndarray,
    candidates: tuple[Candidate, ...],
    seed: int,
    folds: int = 3,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Out-of-fold Qini AUC (normalised) of every candidate on the past campaigns alone, with
    folds by user (a user's rows of several campaigns stay in one fold), and the out-of-fold
    predictions per candidate."""
    from portrait.experiments.uplift_metrics import qini_auc

    n = len(inputs.propensity)
    fold_of_user = np.random.default_rng([seed, 4]).permutation(n) % folds
    fold = fold_of_user[users]
    scores, oof = {}, {}
    for c in candidates:
        X = _columns(inputs, c.features)[users]
        pred = np.zeros(len(users))
        for f in range(folds):
            train, test = fold != f, fold == f
            pred[test] = _fit(c, X[train], treated[train], ordered[train], seed).predict(X[test])
        scores[c.name] = qini_auc(ordered.astype(np.int8), pred, treated.astype(np.int8))
        oof[c.name] = pred
    return scores, oof


def calibration_slope(pred: np.ndarray, treated: np.ndarray, ordered: np.ndarray) -> float:
    """How much of the spread of out-of-fold predicted uplift is real: the slope of the best
    linear predictor of the effect (Chernozhukov et al. 2018), i.e. the least-squares slope of
    the transformed outcome ``y (t - p) / (p (1 - p))`` on the centred prediction; clipped to
    [0, 1] (only shrinkage)."""
    p = float(treated.mean())
    y_star = ordered * (treated - p) / (p * (1.0 - p))
    centred = pred - pred.mean()
    var = float(centred @ centred)
    if var <= 0:
        return 0.0
    return float(np.clip(centred @ (y_star - y_star.mean()) / var, 0.0, 1.0))


def past_campaign(
    inputs: PolicyInputs,
    seed: int,
    method: str = "auto",
    learner: str = "lightgbm",
    rounds: int = 1,
    treated_share: float = 0.5,
    candidates: tuple[Candidate, ...] = CANDIDATES,
    folds: int = 3,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Learn from past randomised campaigns (``draw_past_campaigns``) whom the coupon moves.

    ``method="auto"`` picks among ``candidates`` the model with the best cross-validated Qini
    on the past campaigns (never on the truth); any other ``method`` fits that ``fit_uplift``
    method with ``learner`` and its defaults on every tag. The chosen model, refitted on all
    past rows, predicts every user's uplift. The out-of-fold calibration slope
    (``calibration_slope``) says how much of its spread is real (1: all, 0: none); it is
    reported, not applied: shrinking toward the average effect credits churned users with it
    and made profit targeting worse. A classifier of coupon use among the past treated gives
    ``P(redeem | treated)``. Returns (predicted uplift, chance to redeem, facts about the
    campaigns and the model choice; the correlation with the true uplift is diagnosis only)."""
    from portrait.experiments.uplift import make_classifier

    users, treated, ordered, redeemed = draw_past_campaigns(inputs, seed, rounds, treated_share)
    if method != "auto":
        candidates = (Candidate(f"{method}-{learner}", method, learner),)
    elif not driver_columns(inputs.feature_names):  # unnamed features: no driver subset
        candidates = tuple(c for c in candidates if c.features != "drivers") or candidates
    scores, oof = cross_validate(inputs, users, treated, ordered, candidates, seed, folds)
    best = max(candidates, key=lambda c: scores[c.name])
    X = _columns(inputs, best.features)
    predicted = _fit(best, X[users], treated, ordered, seed).predict(X)
    slope = calibration_slope(oof[best.name], treated, ordered)
    ate = float(ordered[treated].mean() - ordered[~treated].mean())
    n = len(inputs.propensity)
    t_rows = users[treated]
    red = redeemed[treated].astype(np.int8)
    if 0 < red.sum() < len(red):
        model = make_classifier("lightgbm", seed).fit(inputs.features[t_rows], red)
        p_redeem = np.asarray(model.predict_proba(inputs.features))[:, 1]
    else:
        p_redeem = np.full(n, float(red.mean()) if len(red) else 0.0)
    truth = inputs.effects.uplift
    facts = {
        "rounds": rounds,
        "treated": int(treated.sum()),
        "control": int((~treated).sum()),
        "order_rate_treated": float(ordered[treated].mean()),
        "order_rate_control": float(ordered[~treated].mean()),
        "measured_ate": ate,
        "method": best.method if method != "auto" else "auto",
        "learner": learner,
        "chosen": best.name,
        "cv_qini": scores,
        "calibration_slope": slope,
        "predicted_ate": float(predicted.mean()),
        "redeemed_treated": int(red.sum()),
        "corr_predicted_true_uplift": float(np.corrcoef(predicted, truth)[0, 1]),
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
