"""Uplift models from a past randomised campaign of a workspace, on profile-tag features.

``train_uplift_from_campaign(campaigns, name)`` reads the campaign's outcomes
(``campaigns.outcomes(name)``: one row per assigned person with ``arm`` and ``converted``;
``campaigns`` is anything with the three methods of ``PastCampaigns``, e.g. ``ws.campaigns``),
joins each person's profile tags, preferably from the last build on or before the launch day
(tags computed after the launch could already reflect the campaign), and fits ``fit_uplift``
with treatment = a variant (all variants pooled by default) against the ``control`` arm. The
returned ``CampaignUplift.score(profiles)`` predicts the incremental conversion probability of
any profile table, e.g. today's, to choose whom the next campaign should reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from portrait.experiments.features import feature_matrix
from portrait.experiments.uplift import UpliftModel, fit_uplift
from portrait.experiments.uplift_metrics import Estimate, ate

CONTROL = "control"


class PastCampaigns(Protocol):
    """What learning from a past campaign reads (``CampaignService`` has it all)."""

    def outcomes(self, name: str, as_of: datetime | None = None) -> pa.Table: ...

    def launch_day(self, name: str) -> date | None: ...

    def profile_table(self, as_of: str | date | None = None) -> pa.Table: ...


def profile_features(profiles: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Numeric and bool tags plus one-hot categorical tags, as the closed-loop benchmark uses."""
    return feature_matrix(profiles)


def launch_profiles(campaigns: PastCampaigns, name: str) -> tuple[pa.Table, date | None]:
    """The profiles of the last build on or before campaign ``name``'s launch day (tags
    computed after it could already reflect the campaign) and that day; the latest build's
    and None when there is none that early (or the campaign was never launched)."""
    day = campaigns.launch_day(name)
    if day is not None:
        try:
            return campaigns.profile_table(day), day
        except LookupError:
            pass
    return campaigns.profile_table(), None


@dataclass
class TrainingSet:
    """Rows of one campaign joined to profiles: features, treatment (1 = variant), outcome."""

    X: np.ndarray
    treatment: np.ndarray
    y: np.ndarray
    person_ids: list[str]
    feature_names: list[str]
    arms: list[str]
    without_profile: int = 0


def training_set(outcomes: Any, profiles: Any, arm: str | None = None) -> TrainingSet:
    """Join campaign outcomes (person_id, arm, converted) to profile tags (person_id, ...).

    ``arm``: the variant to compare with the control arm (default: every variant pooled).
    People without a profile row are left out (counted in ``without_profile``). Raises
    ``ValueError`` when the campaign has no control arm, no such variant, or no one left.
    """
    out = outcomes.to_pandas() if hasattr(outcomes, "to_pandas") else pd.DataFrame(outcomes)
    prof = profiles.to_pandas() if hasattr(profiles, "to_pandas") else pd.DataFrame(profiles)
    for col in ("person_id", "arm", "converted"):
        if col not in out.columns:
            raise ValueError(f"campaign outcomes lack column {col!r}")
    if "person_id" not in prof.columns:
        raise ValueError("the profile table lacks person_id")
    variants = sorted(a for a in out["arm"].dropna().unique() if a != CONTROL)
    if CONTROL not in set(out["arm"]):
        raise ValueError("the campaign has no control arm: its outcomes cannot train uplift")
    if arm is not None:
        if arm not in variants:
            raise ValueError(f"no arm {arm!r} in the campaign; its variants: {variants}")
        out = out[out["arm"].isin([arm, CONTROL])]
    joined = out.merge(prof, on="person_id", how="inner", suffixes=("_outcome", ""))
    if joined.empty:
        raise ValueError("no assigned person has a profile row: build profiles first")
    joined = joined.sort_values("person_id").reset_index(drop=True)
    feats = joined[[c for c in prof.columns if c in joined.columns]]
    X, names = profile_features(feats)
    return TrainingSet(
        X=X,
        treatment=(joined["arm"] != CONTROL).to_numpy(dtype=np.int8),
        y=joined["converted"].fillna(False).astype(bool).to_numpy(dtype=np.int8),
        person_ids=joined["person_id"].astype(str).tolist(),
        feature_names=list(names),
        arms=[arm] if arm is not None else variants,
        without_profile=int(out["person_id"].nunique() - joined["person_id"].nunique()),
    )


@dataclass
class CampaignUplift:
    """An uplift model trained on one campaign, with what it was trained on."""

    campaign: str
    arms: list[str]
    model: UpliftModel
    feature_names: list[str]
    treated: int
    control: int
    ate: Estimate
    features_as_of: str
    info: dict[str, Any] = field(default_factory=dict)

    def score(self, profiles: Any) -> pd.DataFrame:
        """``person_id`` and predicted ``uplift`` for every row of a profile table; tags the
        model has not seen are ignored and missing ones count as 0."""
        prof = profiles.to_pandas() if hasattr(profiles, "to_pandas") else pd.DataFrame(profiles)
        X, names = profile_features(prof)
        frame = pd.DataFrame(X, columns=names)
        aligned = frame.reindex(columns=self.feature_names, fill_value=0.0).to_numpy(np.float64)
        return pd.DataFrame(
            {"person_id": prof["person_id"].to_numpy(), "uplift": self.model.predict(aligned)}
        )


def train_uplift_from_campaign(
    campaigns: PastCampaigns,
    name: str,
    method: str = "class_transformation",
    learner: str = "lightgbm",
    seed: int = 42,
    arm: str | None = None,
    as_of: datetime | None = None,
    profiles_as_of: str | date | None = None,
) -> CampaignUplift:
    """Fit ``fit_uplift`` on past campaign ``name`` (see the module docstring).

    ``as_of``: when to read the outcomes (their attribution window must be over by then);
    ``profiles_as_of``: the profile build to take the features from (default: the last build
    on or before the launch day, else the latest build, noted in ``features_as_of``).
    """
    outcomes = campaigns.outcomes(name, as_of)
    if profiles_as_of is not None:
        profiles, features_as_of = campaigns.profile_table(profiles_as_of), str(profiles_as_of)
    else:
        profiles, day = launch_profiles(campaigns, name)
        features_as_of = (
            f"{day} (launch day)"
            if day is not None
            else "latest build (none on or before the launch day: tags may already "
            "reflect the campaign)"
        )
    data = training_set(outcomes, profiles, arm)
    model = fit_uplift(data.X, data.treatment, data.y, method=method, learner=learner, seed=seed)
    return CampaignUplift(
        campaign=name,
        arms=data.arms,
        model=model,
        feature_names=data.feature_names,
        treated=int(data.treatment.sum()),
        control=int((data.treatment == 0).sum()),
        ate=ate(data.y, data.treatment),
        features_as_of=features_as_of,
        info={"without_profile": data.without_profile, "method": method, "learner": learner},
    )


__all__ = [
    "CONTROL",
    "CampaignUplift",
    "PastCampaigns",
    "TrainingSet",
    "launch_profiles",
    "profile_features",
    "train_uplift_from_campaign",
    "training_set",
]
