"""Uplift from a past campaign of a workspace (a stub with the workspace's two read calls)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from portrait.experiments.campaign_uplift import train_uplift_from_campaign, training_set

LAUNCH = date(2026, 3, 1)


def population(n: int = 4_000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Profiles and outcomes: the coupon adds +0.25 conversion for price-sensitive people."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:05d}" for i in range(n)]
    share = rng.random(n)
    profiles = pd.DataFrame(
        {
            "person_id": ids,
            "user_id": ids,
            "discount_share": share,
            "orders_total": rng.integers(0, 10, n),
            "lifecycle_stage": rng.choice(["new", "active", "dormant"], n),
        }
    )
    arm = rng.choice(["control", "a", "b"], n, p=[0.4, 0.3, 0.3])
    effect = 0.25 * (share > 0.5)
    converted = rng.random(n) < 0.1 + effect * (arm != "control")
    outcomes = pd.DataFrame(
        {
            "person_id": ids,
            "user_id": ids,
            "arm": arm,
            "converted": converted,
            "revenue": 30.0 * converted,
            "pre_spend": 0.0,
            "opened": False,
            "clicked": False,
        }
    )
    return profiles, outcomes, effect


class StubCampaigns:
    """``outcomes``, ``launch_day`` and ``profile_table(as_of)`` (``PastCampaigns``); builds
    exist from ``first_build`` on."""

    def __init__(self, profiles, outcomes, launched=date(2026, 3, 1), first_build=None):
        self._outcomes, self._launched = outcomes, launched
        self._profiles, self._first = profiles, first_build or date(2026, 1, 1)
        self.asked: list = []

    def outcomes(self, name: str, as_of=None) -> pa.Table:
        return pa.Table.from_pandas(self._outcomes, preserve_index=False)

    def launch_day(self, name: str) -> date | None:
        return self._launched

    def profile_table(self, as_of=None) -> pa.Table:
        self.asked.append(as_of)
        if as_of is not None and as_of < self._first:
            raise LookupError(f"no profile build as of {as_of} yet")
        return pa.Table.from_pandas(self._profiles, preserve_index=False)


def test_trains_on_launch_day_profiles_and_finds_the_effect() -> None:
    profiles, outcomes, effect = population()
    ws = StubCampaigns(profiles, outcomes)
    result = train_uplift_from_campaign(ws, "spring", method="two_model", learner="logistic")
    assert ws.asked == [LAUNCH]
    assert result.features_as_of == "2026-03-01 (launch day)"
    assert result.arms == ["a", "b"]
    assert result.treated == (outcomes["arm"] != "control").sum()
    assert result.ate.value == pytest.approx(0.125, abs=0.04)
    scored = result.score(profiles)
    assert list(scored.columns) == ["person_id", "uplift"] and len(scored) == len(profiles)
    assert np.corrcoef(scored["uplift"], effect)[0, 1] > 0.6
    assert "lifecycle_stage=active" in result.feature_names


def test_one_variant_and_the_fallback_to_the_latest_build() -> None:
    profiles, outcomes, _ = population(1_500, 4)
    ws = StubCampaigns(profiles, outcomes, first_build=date(2026, 3, 5))
    result = train_uplift_from_campaign(ws, "spring", arm="a", learner="logistic")
    assert ws.asked == [LAUNCH, None]
    assert result.features_as_of.startswith("latest build")
    assert result.arms == ["a"]
    assert result.treated + result.control == outcomes["arm"].isin(["a", "control"]).sum()
    # Scoring tolerates a profile table with an extra tag and a missing one.
    other = profiles.drop(columns=["orders_total"]).assign(new_tag=1.0)
    assert len(result.score(other)) == len(other)


def test_training_set_errors() -> None:
    profiles, outcomes, _ = population(300, 5)
    with pytest.raises(ValueError, match="no control arm"):
        training_set(outcomes[outcomes["arm"] != "control"], profiles)
    with pytest.raises(ValueError, match="no arm 'c'"):
        training_set(outcomes, profiles, arm="c")
    with pytest.raises(ValueError, match="build profiles first"):
        training_set(outcomes, profiles.assign(person_id="x"))
    partial = training_set(outcomes, profiles.iloc[:200])
    assert partial.without_profile == 100 and len(partial.y) == 200
