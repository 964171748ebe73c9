"""Learning from past randomised campaigns on the simulator: whom a coupon moves.

``past_campaign`` draws past 50/50 campaigns (same offer) from the simulator's true response,
picks an uplift model among ``CANDIDATES`` by cross-validated Qini on those campaigns alone
(never on the truth), and predicts every user's uplift and chance to redeem; the closed loop
(``closed_loop.compare_policies``) targets with it. :class:`PolicyInputs` is what the policies
and this learning read, one row per user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from portrait.datasets.simulator.response import Effects, Offer, draw_responses

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
