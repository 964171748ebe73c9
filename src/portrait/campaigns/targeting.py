"""Uplift targeting for a campaign: whom a past randomised campaign says this one changes most.

``pick(campaigns, campaign, person_ids)`` trains an uplift model on ``targeting.uplift_from``'s
outcomes (``portrait.experiments.campaign_uplift``), scores the persons on the latest profile
tags and keeps the ``top_share`` with the highest predicted uplift (none below ``min_uplift``).
``check(campaigns, name)`` says how far such a model can be trusted before anyone relies on it:
it is fitted on half of the past campaign's persons and judged on the other half (Qini AUC,
uplift in the top 30% against the average effect), with the campaign's own average treatment
effect. ``campaigns`` is the campaign service (``ws.campaigns``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from portrait.campaigns.definition import Campaign
from portrait.campaigns.results import (
    Estimate,
    TargetingSummary,
    TrainedOn,
    UpliftCheck,
    UpliftHoldout,
)
from portrait.experiments.campaign_uplift import (
    launch_profiles,
    train_uplift_from_campaign,
    training_set,
)
from portrait.experiments.uplift import fit_uplift
from portrait.experiments.uplift_metrics import ate, qini_auc, uplift_at_k

if TYPE_CHECKING:
    from portrait.campaigns.service import CampaignService


def pick(
    campaigns: CampaignService, c: Campaign, person_ids: list[str]
) -> tuple[list[str], TargetingSummary]:
    """The persons of ``person_ids`` to reach, best predicted uplift first, and a summary."""
    t = c.targeting
    assert t is not None
    model = train_uplift_from_campaign(
        campaigns, t.uplift_from, method=t.method, learner=t.learner, seed=t.seed
    )
    scores = model.score(campaigns.profile_table())
    wanted = set(person_ids)
    scored = scores[scores["person_id"].isin(wanted)].sort_values(
        ["uplift", "person_id"], ascending=[False, True], kind="stable"
    )
    keep = math.ceil(t.top_share * len(scored))
    chosen = scored.head(keep)
    if t.min_uplift is not None:
        chosen = chosen[chosen["uplift"] > t.min_uplift]
    uplift = chosen["uplift"].to_numpy(dtype=np.float64)
    summary = TargetingSummary(
        uplift_from=t.uplift_from,
        method=t.method,
        learner=t.learner,
        trained_on=TrainedOn(treated=model.treated, control=model.control),
        past_ate=Estimate.model_validate(model.ate.as_dict()),
        features_as_of=model.features_as_of,
        audience=len(person_ids),
        scored=len(scored),
        without_profile=len(wanted) - len(scored),
        kept=len(chosen),
        mean_predicted_uplift_kept=round(float(uplift.mean()), 5) if len(uplift) else None,
        mean_predicted_uplift_all=(
            round(float(scored["uplift"].mean()), 5) if len(scored) else None
        ),
    )
    return chosen["person_id"].astype(str).tolist(), summary


def check(
    campaigns: CampaignService,
    name: str,
    method: str = "class_transformation",
    learner: str = "lightgbm",
    seed: int = 42,
) -> UpliftCheck:
    """Fit on a random half of campaign ``name``'s persons, judge on the other half."""
    profiles, day = launch_profiles(campaigns, name)  # the features' build
    features_as_of = f"{day} (launch day)" if day is not None else "latest build"
    data = training_set(campaigns.outcomes(name), profiles)
    n = len(data.y)
    if n < 40 or data.treatment.sum() < 10 or (data.treatment == 0).sum() < 10:
        raise ValueError(
            f"campaign {name!r} has {n} persons with profiles ({int(data.treatment.sum())} "
            "treated): too few to learn who responds; launch larger campaigns with a control "
            "group first"
        )
    rng = np.random.default_rng(seed)
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[: n // 2]] = True
    model = fit_uplift(
        data.X[~test], data.treatment[~test], data.y[~test], method=method, learner=learner,
        seed=seed,
    )  # fmt: skip
    score = model.predict(data.X[test])
    y, t = data.y[test], data.treatment[test]
    overall = ate(data.y, data.treatment)
    return UpliftCheck(
        campaign=name,
        method=method,
        learner=learner,
        features_as_of=features_as_of,
        persons=n,
        treated=int(data.treatment.sum()),
        control=int((data.treatment == 0).sum()),
        without_profile=data.without_profile,
        ate=Estimate.model_validate(overall.as_dict()),
        holdout=UpliftHoldout(
            persons=int(test.sum()),
            qini_auc=round(float(qini_auc(y, score, t)), 4),
            uplift_at_30=round(float(uplift_at_k(y, score, t, k=0.3)), 4),
            ate=round(float(ate(y, t).value), 4),
        ),
    )
