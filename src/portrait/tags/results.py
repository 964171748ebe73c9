"""What the profile service and the quality report answer, as typed models.

The CLI prints them, the REST routes use them as response models, notebooks read their
attributes; ``model_dump(mode="json")`` is what ``--json`` and the API send.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from portrait.store.tag_builds import BuildRow, TagVersion
from portrait.store.tag_stats import TagStats

__all__ = [
    "AffinityTruth",
    "BuildLogEntry",
    "CrossCheck",
    "Drift",
    "PersonaTruth",
    "ProfileGroup",
    "ProfilePublic",
    "ProfileSubgroup",
    "ProfileTag",
    "QualityReport",
    "StatsSummary",
    "TagDetail",
    "TagQuality",
    "TagStats",
    "TagSummary",
    "TagVersion",
    "TimelineEvent",
    "TruthReport",
]


class Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class BuildLogEntry(BuildRow):
    """One build of the log; ``live``: reads without a date answer from it."""

    live: bool


# --- a person's profile ---------------------------------------------------------------------
class ProfileTag(Result):
    id: str
    label: str
    value: Any  # JSON-friendly: times as ISO text, top-N as [{key, weight}]
    type: str
    version: int | None
    pii: bool


class ProfileSubgroup(Result):
    """A level-2 group (``id`` None: the tags of no level-2 group)."""

    id: str | None
    label: str | None
    tags: list[ProfileTag]


class ProfileGroup(Result):
    """A level-1 group of tags."""

    id: str
    label: str
    groups: list[ProfileSubgroup]


class TimelineEvent(Result):
    """One of the person's latest events, with the product's title and category."""

    ts: str
    type: str
    product_id: str | None = None
    title: str | None = None
    category: str | None = None
    quantity: int | None = None
    price: float | None = None
    query: str | None = None
    channel: str | None = None


class ProfilePublic(Result):
    """One person's tags by group, as of a build, with their latest events."""

    identifier: str
    person_id: str
    as_of: str
    build_id: str
    lang: str
    empty_tags: int  # tags left out because they have no value
    groups: list[ProfileGroup]
    timeline: list[TimelineEvent]


# --- the catalog ----------------------------------------------------------------------------
class TagSummary(Result):
    """A tag of the catalog, with its version and coverage in the live build."""

    id: str
    zh: str
    en: str
    group: str
    group2: str | None
    kind: str
    type: str
    values: list[str] | None
    window: str | None
    pii: bool
    version: int | None
    coverage: float | None


class TagDetail(TagSummary):
    """One tag in full: its definition, fingerprint, versions and live statistics."""

    description: str
    definition: dict[str, Any]
    fingerprint: str
    file: str
    refresh: str
    cross_check: str | None
    stats: TagStats | None
    versions: list[TagVersion]
    depends_on: list[str]


# --- quality --------------------------------------------------------------------------------
class StatsSummary(Result):
    mean: float | None
    stddev: float | None
    min: float | None
    p50: float | None
    max: float | None


class Drift(Result):
    """How a tag moved since the build before: coverage change, mean shift (in standard
    deviations of the earlier build) and PSI of the distribution (None: not comparable)."""

    coverage_change: float
    mean_shift_sd: float | None = None
    psi: float | None = None


class TagQuality(Result):
    id: str
    group: str
    kind: str
    type: str
    coverage: float
    non_null: int
    summary: StatsSummary | None
    distribution: dict[str, float] | None
    drift: Drift | None


class CrossCheck(Result):
    """How often a tag agrees with the tag it names as its ``cross_check``."""

    tag: str
    against: str
    persons_with_both: int
    agreement: float | None


class PersonaTruth(Result):
    """A persona tag scored against the simulator's ground truth."""

    population: str
    truth_users: int
    with_evidence: int
    evidence_share: float | None
    precision: float | None
    recall: float | None
    recall_all_users: float | None
    meets_target: bool


class AffinityTruth(Result):
    tag: str
    users: int
    min_orders: int
    top3_hit_rate: float | None
    top1_hit_rate: float | None
    meets_target: bool


class TruthReport(Result):
    targets: dict[str, float]
    personas: dict[str, PersonaTruth]
    category_affinity: AffinityTruth | None


class QualityReport(Result):
    """The quality of a build's tags, against the build before it."""

    build: BuildLogEntry
    previous_build: str | None
    tags: list[TagQuality]
    cross_checks: list[CrossCheck]
    truth: TruthReport | None
