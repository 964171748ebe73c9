"""Who gets what: the control group and the variants, by deterministic hashing.

A person's arm depends only on (campaign, person id): re-launching a campaign, or a journey
enrolling the person again, gives the same arm, and no table has to be read to know it.

>>> from portrait.campaigns.definition import parse_campaign
>>> c = parse_campaign({"name": "spring", "segment": "orders_total > 0", "channel": "email",
...     "control_share": 0.2, "variants": [
...         {"name": "a", "message": {"body": {"en": "A"}}},
...         {"name": "b", "message": {"body": {"en": "B"}}, "weight": 3}]})
>>> assign_arm(c, "u0000001") == assign_arm(c, "u0000001")
True
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

import numpy as np

from portrait.campaigns.definition import Campaign

CONTROL = "control"


def bucket(campaign: str, person_id: str, salt: str) -> float:
    """A uniform number in [0, 1) from (campaign, person, salt): stable across runs."""
    digest = hashlib.sha256(f"{campaign}\x1f{person_id}\x1f{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_control(campaign: Campaign, person_id: str) -> bool:
    """In the hold-out group: the first hash falls below ``control_share``."""
    return bucket(campaign.name, person_id, "control") < campaign.control_share


def weighted_variant(campaign: Campaign, person_id: str) -> str:
    """A variant by the weights, from a second, independent hash."""
    u = bucket(campaign.name, person_id, "variant")
    total = sum(v.weight for v in campaign.variants)
    edge = 0.0
    for v in campaign.variants:
        edge += v.weight / total
        if u < edge:
            return v.name
    return campaign.variants[-1].name


def assign_arm(campaign: Campaign, person_id: str) -> str:
    """``control`` or a variant name (by weights; bandit campaigns use ``bandit_arms``)."""
    return CONTROL if is_control(campaign, person_id) else weighted_variant(campaign, person_id)


def bandit_arms(
    campaign: Campaign,
    person_ids: list[str],
    state: dict[str, tuple[int, int]],
    seed: int = 0,
) -> dict[str, str]:
    """Variants for treated persons of a bandit campaign: a Thompson sampler fed with the
    campaign's (sends, successes) per variant splits the batch; persons are dealt out in
    their hash order, so the same batch and state give the same arms."""
    from portrait.experiments.bandit import ThompsonSampler

    sampler = ThompsonSampler([v.name for v in campaign.variants])
    for arm, (sends, successes) in state.items():
        if arm in {v.name for v in campaign.variants}:
            sampler.update(arm, sends, successes)
    counts = sampler.allocate(len(person_ids), np.random.default_rng(seed))
    ordered = sorted(person_ids, key=lambda p: bucket(campaign.name, p, "variant"))
    out: dict[str, str] = {}
    i = 0
    for v in campaign.variants:
        for p in ordered[i : i + int(counts.get(v.name, 0))]:
            out[p] = v.name
        i += int(counts.get(v.name, 0))
    for p in ordered[i:]:  # a sampler that allocates fewer than asked: by weights
        out[p] = weighted_variant(campaign, p)
    return out


def arm_counts(arms: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(arms).items()))
