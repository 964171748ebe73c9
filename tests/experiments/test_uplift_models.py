"""Uplift models on synthetic campaigns with a known heterogeneous effect (fast, no data files)."""

from __future__ import annotations

import numpy as np
import pytest

from portrait.experiments.uplift import LEARNERS, METHODS, UpliftModel, fit_uplift
from portrait.experiments.uplift_metrics import qini_auc, uplift_at_k


def campaign(
    n: int, seed: int, treated_share: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Four features; the e-mail adds +0.20 to the visit rate when x0 > 0 and nothing otherwise;
    x1 raises the baseline rate (people who visit anyway)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    t = (rng.random(n) < treated_share).astype(int)
    tau = 0.20 / (1.0 + np.exp(-4.0 * X[:, 0]))
    p = 0.10 + 0.25 / (1.0 + np.exp(-2.0 * X[:, 1])) + tau * t
    y = (rng.random(n) < p).astype(int)
    return X, t, y, tau


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    X, t, y, _tau = campaign(8_000, 1)
    Xte, tte, yte, taute = campaign(8_000, 2)
    return {"X": X, "t": t, "y": y, "Xte": Xte, "tte": tte, "yte": yte, "tau": taute}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("learner", LEARNERS)
def test_every_model_finds_the_effect(data: dict[str, np.ndarray], method: str, learner: str):
    model = fit_uplift(data["X"], data["t"], data["y"], method=method, learner=learner, seed=7)
    assert isinstance(model, UpliftModel)
    pred = model.predict(data["Xte"])
    assert pred.shape == (len(data["Xte"]),) and pred.dtype == np.float64
    assert np.corrcoef(pred, data["tau"])[0, 1] > 0.6
    # The average predicted effect is close to the true average effect (0.10).
    assert pred.mean() == pytest.approx(data["tau"].mean(), abs=0.04)
    noise = np.random.default_rng(0).random(len(pred))
    yte, tte = data["yte"], data["tte"]
    assert qini_auc(yte, pred, tte) > qini_auc(yte, noise, tte) + 0.03
    assert uplift_at_k(yte, pred, tte) > uplift_at_k(yte, noise, tte)


def test_true_effect_beats_fitted_models(data: dict[str, np.ndarray]) -> None:
    yte, tte, tau = data["yte"], data["tte"], data["tau"]
    best = qini_auc(yte, tau, tte)
    for method in METHODS:
        pred = fit_uplift(data["X"], data["t"], data["y"], method=method).predict(data["Xte"])
        assert qini_auc(yte, pred, tte) <= best + 0.02


def test_seeded_and_reproducible(data: dict[str, np.ndarray]) -> None:
    a = fit_uplift(data["X"], data["t"], data["y"], method="x_learner", seed=3)
    b = fit_uplift(data["X"], data["t"], data["y"], method="x_learner", seed=3)
    np.testing.assert_array_equal(a.predict(data["Xte"]), b.predict(data["Xte"]))


def test_unequal_assignment_uses_the_transformed_outcome() -> None:
    X, t, y, _tau = campaign(12_000, 4, treated_share=0.8)
    model = fit_uplift(X, t, y, method="class_transformation")
    assert model.variant == "transformed_outcome"
    assert model.treated_share == pytest.approx(0.8, abs=0.02)
    Xte, _, _, taute = campaign(4_000, 5)
    pred = model.predict(Xte)
    # The 50/50 identity would be biased here; the transformed outcome is not.
    assert pred.mean() == pytest.approx(taute.mean(), abs=0.04)
    assert np.corrcoef(pred, taute)[0, 1] > 0.5
    balanced = fit_uplift(*campaign(4_000, 6)[:3], method="class_transformation")
    assert balanced.variant == "z"


def test_params_reach_the_base_learner(data: dict[str, np.ndarray]) -> None:
    model = fit_uplift(data["X"], data["t"], data["y"], method="two_model", n_estimators=7)
    assert model.models["treated"].n_estimators == 7
    model = fit_uplift(
        data["X"], data["t"], data["y"], method="x_learner", learner="logistic", C=0.5
    )
    assert model.models["mu1"][-1].C == 0.5
    assert model.models["tau1"][-1].alpha == pytest.approx(2.0)


def test_bad_input_is_explained() -> None:
    X, t, y, _ = campaign(200, 8)
    with pytest.raises(ValueError, match="unknown uplift method"):
        fit_uplift(X, t, y, method="s_learner")
    with pytest.raises(ValueError, match="unknown learner"):
        fit_uplift(X, t, y, learner="catboost")
    with pytest.raises(ValueError, match="treatment must be 0/1"):
        fit_uplift(X, t * 2, y)
    with pytest.raises(ValueError, match="no control rows"):
        fit_uplift(X, np.ones_like(t), y)
    with pytest.raises(ValueError, match="constant"):
        fit_uplift(X, t, np.zeros_like(y))
    with pytest.raises(ValueError, match="one value per row"):
        fit_uplift(X, t[:-1], y)
    with pytest.raises(ValueError, match="2-D"):
        fit_uplift(X[:, 0], t, y)
