"""Uplift models: who does a campaign actually change? (issue 6, PRODUCT.md step 9).

An uplift model estimates, for each user, the incremental probability of the outcome caused by
the treatment, ``tau(x) = P(y=1 | x, t=1) - P(y=1 | x, t=0)``, from a past randomised campaign
(feature matrix ``X``, treatment indicator ``t`` in {0, 1}, binary outcome ``y``).

Methods (``fit_uplift(..., method=...)``):

- ``two_model`` (T-learner): one classifier on the treated, one on the controls; the uplift is the
  difference of their predicted probabilities.
- ``class_transformation`` (Jaskowski & Jaroszewicz 2012): with 50/50 assignment,
  ``z = y*t + (1-y)*(1-t)`` satisfies ``tau(x) = 2 P(z=1 | x) - 1``, so one classifier on ``z``
  suffices. When the treated share ``p`` is not 1/2 (beyond ``BALANCE_TOLERANCE``) the general
  transformed outcome ``y* = y (t - p) / (p (1 - p))`` (whose conditional mean is ``tau(x)``) is
  regressed instead.
- ``x_learner`` (Kuenzel et al. 2019): T-learner outcome models ``mu0``, ``mu1``; imputed effects
  ``D1 = y - mu0(x)`` on the treated and ``D0 = mu1(x) - y`` on the controls, each regressed on
  ``x``; the two effect models are blended with the propensity, which in a randomised campaign is
  the constant treated share ``p``: ``tau = p * tau0 + (1 - p) * tau1``.

Base learners (``learner=...``): ``lightgbm`` (small, regularised gradient-boosted trees) or
``logistic`` (standardised logistic regression; ridge regression where a stage is a regression).
Everything is seeded by ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Method = Literal["class_transformation", "two_model", "x_learner"]
Learner = Literal["lightgbm", "logistic"]

METHODS: tuple[str, ...] = ("class_transformation", "two_model", "x_learner")
LEARNERS: tuple[str, ...] = ("lightgbm", "logistic")

#: |treated share - 1/2| up to which class transformation uses the 50/50 identity.
BALANCE_TOLERANCE = 0.02

#: Small, regularised LightGBM defaults: uplift signals are weak, so shallow trees (depth 2) with
#: many samples per leaf and few rounds generalise best. One thread by default: reproducible, and
#: no oversubscription of a small machine. On Hillstrom, 4-fold cross-validation on the training
#: half preferred even simpler trees (stumps; see ``uplift_benchmark.HILLSTROM_LGBM``).
LGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 4,
    "max_depth": 2,
    "min_child_samples": 50,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
}


def make_classifier(learner: str, seed: int = 42, n_jobs: int = 1, **params: Any) -> Any:
    """A fresh binary classifier of kind ``learner`` (``lightgbm`` or ``logistic``)."""
    if learner == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            **{**LGBM_DEFAULTS, **params}, random_state=seed, n_jobs=n_jobs, deterministic=True
        )
    if learner == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(),
            LogisticRegression(**{"C": 1.0, "max_iter": 1000, **params}, random_state=seed),
        )
    raise ValueError(f"unknown learner {learner!r}; valid: {', '.join(LEARNERS)}")


def make_regressor(learner: str, seed: int = 42, n_jobs: int = 1, **params: Any) -> Any:
    """A fresh regressor for the regression stages (``logistic`` means ridge regression)."""
    if learner == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(
            **{**LGBM_DEFAULTS, **params}, random_state=seed, n_jobs=n_jobs, deterministic=True
        )
    if learner == "logistic":
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        params = dict(params)
        c = params.pop("C", 1.0)
        params.pop("max_iter", None)
        return make_pipeline(StandardScaler(), Ridge(**{"alpha": 1.0 / c, **params}))
    raise ValueError(f"unknown learner {learner!r}; valid: {', '.join(LEARNERS)}")


def _proba(model: Any, X: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_proba(X))[:, 1].astype(np.float64)


def _check_X(X: Any) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"X must be a 2-D feature matrix, got shape {arr.shape}")
    return arr


def _check_binary(name: str, v: Any, n: int) -> np.ndarray:
    arr = np.asarray(v)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name} must be 1-D with one value per row of X ({n}), got {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"{name} must be 0/1, got values {sorted(values)[:5]}")
    return arr.astype(np.int8)


def check_inputs(X: Any, treatment: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert ``X``, ``treatment`` and ``y``; both arms and outcomes must occur."""
    Xa = _check_X(X)
    t = _check_binary("treatment", treatment, len(Xa))
    ya = _check_binary("y", y, len(Xa))
    for arm, name in ((1, "treated"), (0, "control")):
        sub = ya[t == arm]
        if len(sub) == 0:
            raise ValueError(f"no {name} rows: uplift needs both arms of a randomised campaign")
        if sub.min() == sub.max():
            raise ValueError(
                f"the outcome is constant ({int(sub[0])}) among the {name} rows: nothing to learn"
            )
    return Xa, t, ya


@dataclass
class UpliftModel:
    """A fitted uplift model: ``predict(X)`` is the predicted incremental probability per row."""

    method: str
    learner: str
    seed: int
    treated_share: float
    models: dict[str, Any] = field(default_factory=dict, repr=False)
    variant: str = ""

    def predict(self, X: Any) -> np.ndarray:
        """Predicted uplift ``P(y=1|x,t=1) - P(y=1|x,t=0)`` for each row of ``X``."""
        Xa = _check_X(X)
        m = self.models
        if self.method == "two_model":
            return _proba(m["treated"], Xa) - _proba(m["control"], Xa)
        if self.method == "class_transformation":
            if self.variant == "z":
                return 2.0 * _proba(m["z"], Xa) - 1.0
            return np.asarray(m["y_star"].predict(Xa), dtype=np.float64)
        if self.method == "x_learner":
            p = self.treated_share
            tau0 = np.asarray(m["tau0"].predict(Xa), dtype=np.float64)
            tau1 = np.asarray(m["tau1"].predict(Xa), dtype=np.float64)
            return p * tau0 + (1.0 - p) * tau1
        raise ValueError(f"unknown method {self.method!r}")


def fit_uplift(
    X: Any,
    treatment: Any,
    y: Any,
    method: str = "class_transformation",
    learner: str = "lightgbm",
    seed: int = 42,
    **params: Any,
) -> UpliftModel:
    """Fit an uplift model on a randomised campaign; ``.predict(X)`` gives incremental probability.

    ``method``: ``class_transformation`` (default), ``two_model`` or ``x_learner``; ``learner``:
    ``lightgbm`` or ``logistic``; ``params`` override the base learners' defaults (e.g.
    ``n_estimators=300`` for LightGBM, ``C=0.1`` for logistic). Raises ``ValueError`` for bad
    input (non-binary treatment or outcome, a missing arm, an unknown method or learner).
    """
    if method not in METHODS:
        raise ValueError(f"unknown uplift method {method!r}; valid: {', '.join(METHODS)}")
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; valid: {', '.join(LEARNERS)}")
    Xa, t, ya = check_inputs(X, treatment, y)
    p = float(t.mean())
    model = UpliftModel(method=method, learner=learner, seed=seed, treated_share=p)
    tr, co = t == 1, t == 0
    if method == "two_model":
        model.models["treated"] = make_classifier(learner, seed, **params).fit(Xa[tr], ya[tr])
        model.models["control"] = make_classifier(learner, seed, **params).fit(Xa[co], ya[co])
    elif method == "class_transformation":
        if abs(p - 0.5) <= BALANCE_TOLERANCE:
            z = (ya * t + (1 - ya) * (1 - t)).astype(np.int8)
            model.variant = "z"
            model.models["z"] = make_classifier(learner, seed, **params).fit(Xa, z)
        else:
            y_star = ya * (t - p) / (p * (1.0 - p))
            model.variant = "transformed_outcome"
            model.models["y_star"] = make_regressor(learner, seed, **params).fit(Xa, y_star)
    else:  # x_learner
        mu1 = make_classifier(learner, seed, **params).fit(Xa[tr], ya[tr])
        mu0 = make_classifier(learner, seed, **params).fit(Xa[co], ya[co])
        d1 = ya[tr] - _proba(mu0, Xa[tr])
        d0 = _proba(mu1, Xa[co]) - ya[co]
        model.models.update(
            mu1=mu1,
            mu0=mu0,
            tau1=make_regressor(learner, seed, **params).fit(Xa[tr], d1),
            tau0=make_regressor(learner, seed, **params).fit(Xa[co], d0),
        )
    return model


__all__ = [
    "BALANCE_TOLERANCE",
    "LEARNERS",
    "LGBM_DEFAULTS",
    "METHODS",
    "UpliftModel",
    "check_inputs",
    "fit_uplift",
    "make_classifier",
    "make_regressor",
]
