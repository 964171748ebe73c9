"""The simulator's campaign response: known-answer properties, reproducibility, the policy loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from portrait.datasets.simulator import simulate
from portrait.datasets.simulator.closed_loop import (
    POLICIES,
    Candidate,
    PolicyInputs,
    calibration_slope,
    compare_policies,
    driver_columns,
    feature_matrix,
    past_campaign,
    top_k,
    true_profit,
)
from portrait.datasets.simulator.response import (
    Economics,
    Offer,
    draw_responses,
    expected_value,
    realised_value,
    shop_population,
    true_effects,
)


def users(n: int = 1, **traits: object) -> pd.DataFrame:
    """``n`` identical-looking active users (distinct numbers) with ``traits`` overriding."""
    base = {
        "user_id": [f"u{i + 1:07d}" for i in range(n)],
        "price_sensitivity": 0.2,
        "brand_loyalty": 0.2,
        "buy_propensity": 0.3,
        "sessions_per_day": 0.2,
        "churn_hazard": 0.003,
        "satisfaction": 0.8,
        "registered_without_purchase": False,
        "churned_at": pd.NaT,
        "basket": 300.0,
        "recent_messages": 0,
    }
    base.update(traits)
    return pd.DataFrame({k: (v if isinstance(v, list) else [v] * n) for k, v in base.items()})


def uplift(frame: pd.DataFrame, percent: float, **offer: object) -> np.ndarray:
    return true_effects(frame, Offer(percent=percent, **offer), 14).uplift


def test_price_sensitive_users_gain_more_from_a_larger_discount() -> None:
    sensitive = users(50, price_sensitivity=0.9)
    indifferent = users(50, price_sensitivity=0.1)
    for frame in (sensitive, indifferent):
        small, large = uplift(frame, 0.05), uplift(frame, 0.3)
        assert np.all(large > small)
    gain_sensitive = uplift(sensitive, 0.3) - uplift(sensitive, 0.05)
    gain_indifferent = uplift(indifferent, 0.3) - uplift(indifferent, 0.05)
    assert np.all(gain_sensitive > 3 * gain_indifferent)
    assert uplift(sensitive, 0.15).mean() > 0.05


def test_brand_loyal_full_price_buyers_and_churned_users_barely_move() -> None:
    loyal = uplift(users(50, price_sensitivity=0.9, brand_loyalty=0.9), 0.15)
    free = uplift(users(50, price_sensitivity=0.9, brand_loyalty=0.1), 0.15)
    assert np.all(loyal < 0.5 * free)
    churned = true_effects(users(20, churned_at=pd.Timestamp("2025-02-01", tz="UTC")), Offer())
    assert np.all(churned.p_control == 0) and np.all(churned.p_treated == 0)
    never = true_effects(users(20, registered_without_purchase=True), Offer())
    assert np.all(never.p_control == 0)
    regular = true_effects(users(20), Offer())
    converted = regular.p_treated - regular.p_anyway
    assert 0 < never.uplift.mean() < converted.mean()  # a first-order nudge is weaker


def test_zero_discount_leaves_only_fatigue() -> None:
    frame = users(400, recent_messages=[0, 3] * 200, satisfaction=0.2)
    effects = true_effects(frame, Offer(percent=0.0), 14)
    assert np.all(effects.uplift <= 0)
    np.testing.assert_allclose(effects.p_treated, effects.p_anyway)  # nobody converted
    assert np.all(effects.redeem_anyway == 0)
    # the fatigued (a latent class, about a quarter of users this dissatisfied) lose the most,
    # and more so after many recent messages
    lost = -effects.uplift / effects.p_control
    assert 0.1 < np.mean(lost > 0.08) < 0.5
    assert lost[1::2].mean() > lost[0::2].mean()


def test_threshold_offer_reaches_only_baskets_near_its_threshold() -> None:
    frame = users(3, price_sensitivity=0.9, basket=[50.0, 150.0, 400.0])
    offer = Offer("threshold", threshold=199, amount=30)
    rate, pull = offer.discount_rate(frame["basket"].to_numpy())
    assert rate[0] == 0 and pull[0] == 0
    assert rate[1] == pytest.approx(30 / 199) and pull[1] == pytest.approx(150 / 199)
    assert rate[2] == pytest.approx(30 / 400) and pull[2] == 1
    capped = Offer(percent=0.15, min_spend=99, max_discount=50)
    assert capped.discount_rate(np.array([1000.0]))[0][0] == pytest.approx(0.05)
    with pytest.raises(ValueError, match="threshold"):
        Offer("threshold", threshold=100, amount=150)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    files = simulate(tmp_path_factory.mktemp("shop"), users=2000, days=60, seed=5)
    return shop_population(files.users[0].parent)


def test_average_effects_look_like_a_real_coupon_campaign(shop: pd.DataFrame) -> None:
    assert len(shop) == 2000 and shop["basket"].notna().all()
    effects = true_effects(shop, Offer(percent=0.15), 14, seed=5)
    assert 0.1 < effects.p_control.mean() < 0.4  # share ordering in two weeks anyway
    assert 0.005 < effects.uplift.mean() < 0.05  # a few points at most
    assert np.mean(effects.uplift < 0) < 0.2  # some are put off
    everyone = expected_value(effects, np.ones(len(shop), bool), Economics())
    assert everyone["redeemed_orders"] > 2 * everyone["incremental_orders"]  # most buy anyway
    arrow = true_effects(pa.Table.from_pandas(shop), Offer(percent=0.15), 14, seed=5)
    np.testing.assert_allclose(arrow.p_treated, effects.p_treated)


def test_draws_are_seeded_coupled_and_average_to_the_expectation(shop: pd.DataFrame) -> None:
    effects = true_effects(shop, Offer(percent=0.15), 14, seed=5)
    mask = np.arange(len(shop)) % 2 == 0
    a = draw_responses(np.random.default_rng(3), effects, mask)
    b = draw_responses(np.random.default_rng(3), effects, mask)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    nobody = draw_responses(np.random.default_rng(3), effects, np.zeros(len(shop), bool))
    assert np.array_equal(a.ordered[~mask], nobody.ordered[~mask])  # coupled
    assert not a.redeemed[~mask].any() and nobody.discount.sum() == 0
    econ = Economics()
    expected = expected_value(effects, mask, econ)
    drawn = [
        realised_value(
            draw_responses(np.random.default_rng(s), effects, mask),
            draw_responses(np.random.default_rng(s), effects, np.zeros(len(shop), bool)),
            mask,
            econ,
        )
        for s in range(40)
    ]
    mean_orders = np.mean([d["incremental_orders"] for d in drawn])
    assert mean_orders == pytest.approx(expected["incremental_orders"], rel=0.15)
    mean_redeemed = np.mean([d["redeemed_orders"] for d in drawn])
    assert mean_redeemed == pytest.approx(expected["redeemed_orders"], rel=0.05)


def test_top_k_and_feature_matrix() -> None:
    rng = np.random.default_rng(0)
    mask = top_k(np.array([0.1, 0.5, np.nan, 0.5, 0.9]), 2, rng)
    assert mask.tolist() == [False, True, False, False, True] or mask.tolist() == [
        False,
        False,
        False,
        True,
        True,
    ]
    profiles = pd.DataFrame(
        {
            "person_id": ["a", "b"],
            "orders_90d": [1, None],
            "days_since_last_order": [3.0, None],
            "price_sensitive": [True, None],
            "lifecycle_stage": ["active", None],
            "city": ["x", "y"],
        }
    )
    x, names = feature_matrix(profiles)
    assert names == [
        "orders_90d",
        "days_since_last_order",
        "price_sensitive",
        "lifecycle_stage=(none)",
        "lifecycle_stage=active",
    ]
    assert x.tolist() == [[1, 3, 1, 0, 1], [0, 9999, 0, 1, 0]]


def test_policy_comparison_smoke(shop: pd.DataFrame) -> None:
    offer = Offer(percent=0.15, min_spend=99, max_discount=50)
    effects = true_effects(shop, offer, 14, seed=5)
    rng = np.random.default_rng(1)
    n = len(shop)
    noisy = shop[["price_sensitivity", "buy_propensity", "sessions_per_day", "brand_loyalty"]]
    features = noisy.to_numpy() + rng.normal(0, 0.1, (n, 4))
    inputs = PolicyInputs(
        effects=effects,
        features=features,
        segment=(shop["price_sensitivity"] > 0.6).to_numpy() & (rng.random(n) < 0.5),
        segment_fill=shop["price_sensitivity"].to_numpy() + rng.normal(0, 0.2, n),
        propensity=effects.p_control + rng.normal(0, 0.05, n),
        order_value=shop["basket"].to_numpy(),
        offer=offer,
    )
    result = compare_policies(inputs, 0.3, Economics(), seed=7, learner="logistic")
    assert set(result["policies"]) == set(POLICIES)
    assert result["budget"] == 600
    rows = result["policies"]
    for name, row in rows.items():
        assert row["expected"]["sends"] <= 600, name
        assert set(row["drawn"]) == set(row["expected"])
    assert rows["blanket"]["expected"]["sends"] == 600
    assert rows["segment"]["expected"]["sends"] == result["segment_members"]
    best = max(r["expected"]["incremental_orders"] for r in rows.values())
    assert rows["oracle"]["expected"]["incremental_orders"] == best
    # with features this informative the uplift model beats random targeting on orders
    assert (
        rows["uplift"]["expected"]["incremental_orders"]
        > rows["blanket"]["expected"]["incremental_orders"]
    )
    again = compare_policies(inputs, 0.3, Economics(), seed=7, learner="logistic")
    assert again["policies"]["uplift"] == rows["uplift"]
    # profit policies: the positive-only one sends at most the budget, only to predicted gains;
    # the profit oracle earns at least as much as any policy
    assert rows["uplift_profit"]["expected"]["sends"] == 600
    assert rows["uplift_profit_pos"]["expected"]["sends"] <= 600
    profits = {name: r["expected"]["incremental_profit"] for name, r in rows.items()}
    assert profits["oracle_profit"] == max(profits.values()) and profits["oracle_profit"] > 0
    truth = true_profit(effects, offer, Economics())
    assert result["truly_profitable"] == int((truth > 0).sum())
    assert result["minus_blanket"]["blanket"] == 0.0


def _inputs(shop: pd.DataFrame, noise: float = 0.1) -> PolicyInputs:
    offer = Offer(percent=0.15, min_spend=99, max_discount=50)
    effects = true_effects(shop, offer, 14, seed=5)
    rng = np.random.default_rng(1)
    n = len(shop)
    names = ["discount_share", "purchase_propensity_30d", "visits_30d", "brand_loyal", "city"]
    cols = ["price_sensitivity", "buy_propensity", "sessions_per_day", "brand_loyalty"]
    features = shop[cols].to_numpy() + rng.normal(0, noise, (n, 4))
    features = np.column_stack([features, rng.random(n)])
    return PolicyInputs(
        effects, features, np.zeros(n, bool), np.zeros(n), np.zeros(n), shop["basket"].to_numpy(),
        offer, names,
    )  # fmt: skip


def test_past_campaign_picks_the_model_by_cross_validated_qini(shop: pd.DataFrame) -> None:
    inputs = _inputs(shop)
    assert driver_columns(inputs.feature_names) == [0, 1, 2, 3]  # "city" is no driver
    stumps = (("max_depth", 1), ("num_leaves", 2), ("min_child_samples", 50))
    candidates = (
        Candidate("ct-logistic", "class_transformation", "logistic", "drivers", (("C", 0.1),)),
        Candidate("two-stumps", "two_model", params=stumps),
    )
    predicted, p_redeem, facts = past_campaign(inputs, 3, rounds=2, candidates=candidates)
    assert set(facts["cv_qini"]) == {"ct-logistic", "two-stumps"}
    assert facts["chosen"] == max(facts["cv_qini"], key=facts["cv_qini"].get)
    assert facts["treated"] + facts["control"] == 2 * len(shop)
    assert 0 <= facts["calibration_slope"] <= 1
    assert predicted.shape == p_redeem.shape == (len(shop),)
    assert ((p_redeem >= 0) & (p_redeem <= 1)).all()
    assert facts["corr_predicted_true_uplift"] > 0.2  # informative features: a real signal
    again = past_campaign(inputs, 3, rounds=2, candidates=candidates)
    assert np.array_equal(again[0], predicted) and again[2]["cv_qini"] == facts["cv_qini"]
    with pytest.raises(ValueError, match="rounds"):
        past_campaign(inputs, 3, rounds=0)


def test_calibration_slope_known_answers() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    tau = rng.uniform(0, 0.2, n)
    treated = rng.random(n) < 0.5
    ordered = rng.random(n) < 0.2 + treated * tau
    assert calibration_slope(tau, treated, ordered) == pytest.approx(1.0, abs=0.1)
    assert calibration_slope(3 * tau, treated, ordered) == pytest.approx(1 / 3, abs=0.05)
    assert calibration_slope(rng.random(n), treated, ordered) < 0.1
    assert calibration_slope(np.zeros(n), treated, ordered) == 0.0
