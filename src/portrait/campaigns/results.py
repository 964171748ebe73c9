"""What ``ws.campaigns`` returns: typed, JSON-ready results (the CLI's ``--json`` and the REST
routes print them with ``model_dump(mode="json")``).

Times a person reads (``created_at``, ``launched_at``, ``as_of``...) are ISO text, as the
service has always written them; the send ledger's rows keep real datetimes (tests and
embedders compare them). The report's and the playbook's models live in ``report_results``
and are exported here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from portrait.campaigns.definition import Campaign
from portrait.campaigns.report_results import (
    Activity,
    ArmReport,
    BanditState,
    BanditSummary,
    CampaignReport,
    ConversionComparison,
    CupedComparison,
    ExpectedCost,
    RevenueComparison,
    Skipped,
    SuggestedVariant,
    Suggestion,
    Suggestions,
    VsControl,
)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- definitions ---------------------------------------------------------------------------
class CampaignSummary(_Result):
    """One line of ``portrait campaign list``."""

    name: str
    status: str
    channel: str
    segment: str | None
    trigger: str | None
    variants: list[str]
    persons: int
    sent: int
    created_at: str


class CampaignCounts(_Result):
    """Persons per arm, sends per status, suppressions and failures per reason, cost so far."""

    arms: dict[str, int]
    sends: dict[str, int]
    reasons: dict[str, int]
    send_cost: float
    expected_offer_cost: float


class CampaignPublic(CampaignCounts):
    """A stored campaign: its definition, status and counts (``portrait campaign show``)."""

    name: str
    status: str
    created_at: str
    launched_at: str | None
    build_id: str | None
    definition: Campaign


# --- launching and enrolment ---------------------------------------------------------------
class Estimate(_Result):
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float
    level: float = 0.95


class TrainedOn(_Result):
    treated: int
    control: int


class TargetingSummary(_Result):
    """What uplift targeting kept of the audience, and what the model learnt from."""

    uplift_from: str
    method: str
    learner: str
    trained_on: TrainedOn
    past_ate: Estimate
    features_as_of: str
    audience: int
    scored: int
    without_profile: int
    kept: int
    mean_predicted_uplift_kept: float | None
    mean_predicted_uplift_all: float | None


class Enrolment(_Result):
    """Persons entering a campaign (a launch or a journey step) and the sends queued."""

    campaign: str
    source: str
    persons: int
    entered: int
    already_in: int
    reentered: int
    arms: dict[str, int]
    queued: int
    suppressed: dict[str, int]
    new_sends: int


class Launched(Enrolment):
    """``launch``: the enrolment of the segment, the new status and the build it came from."""

    status: str
    build_id: str | None
    targeting: TargetingSummary | None = None
    no_marketing_consent: int = Field(
        0, description="Persons of the segment left out: they do not consent to marketing."
    )


class MessageSample(_Result):
    """One rendered message of a dry run (``error`` when its template cannot render)."""

    variant: str
    language: str
    user_id: str | None = None
    subject: str | None = None
    body: str | None = None
    error: str | None = None


class DryRunCost(_Result):
    sends: int
    send_cost: float
    expected_offer_cost: float
    total: float
    average_order_value: float
    expected_redemption: float


class DryRun(_Result):
    """``launch --dry-run``: what a launch would do now, changing nothing."""

    campaign: str
    dry_run: Literal[True] = True
    channel: str
    persons: int
    already_in: int
    arms: dict[str, int]
    would_send: int
    would_send_by_arm: dict[str, int]
    suppressed: dict[str, int]
    cost: DryRunCost
    samples: list[MessageSample]
    targeting: TargetingSummary | None = None
    no_marketing_consent: int = Field(
        0, description="Persons of the segment left out: they do not consent to marketing."
    )


class JourneyStep(_Result):
    """One triggered campaign's journey step (``error``: its definition no longer checks)."""

    campaign: str
    trigger: str | None = None
    candidates: int = 0
    in_segment: int | None = None
    already_entered: int = 0
    entering: int = 0
    persons: list[str] = []
    enrolled: Enrolment | None = None
    entered: int = 0
    notes: list[str] = []
    error: str | None = None


class JourneyStarted(_Result):
    """``launch`` of a campaign with a trigger: it runs, and its first step ran (or would)."""

    campaign: str
    status: str
    dry_run: bool = False
    entered: int = 0
    journey: JourneyStep


LaunchResult = Launched | DryRun | JourneyStarted


class JourneysRun(_Result):
    """Every triggered campaign's journey step as of ``at``."""

    at: str
    dry_run: bool
    campaigns: list[JourneyStep]
    entered: int
    seconds: float


class Stopped(_Result):
    campaign: str
    status: str
    withdrawn: int


class UpliftHoldout(_Result):
    persons: int
    qini_auc: float
    uplift_at_30: float
    ate: float


class UpliftCheck(_Result):
    """How well an uplift model learnt from a past campaign ranks its held-out half."""

    campaign: str
    method: str
    learner: str
    features_as_of: str
    persons: int
    treated: int
    control: int
    without_profile: int
    ate: Estimate
    holdout: UpliftHoldout


# --- sending ---------------------------------------------------------------------------------
class Dispatched(_Result):
    """One dispatch run: what was sent, suppressed, failed or retried, what still waits."""

    at: str
    processed: int
    sent: int
    suppressed: int
    failed: int
    retries: int
    rescheduled: int
    in_doubt_resent: int
    reasons: dict[str, int]
    still_queued: int
    next_due: str | None


class Send(_Result):
    """A row of the send ledger (``campaign_sends``): who, which channel and variant, when,
    at what cost and with what outcome; not the address nor the message (never stored)."""

    send_key: str
    campaign: str
    person_id: str
    user_id: str | None
    variant: str
    channel: str
    status: str
    reason: str | None
    attempts: int
    scheduled_at: datetime | None
    sent_at: datetime | None
    language: str | None
    cost: float | None
    provider_id: str | None
    last_error: str | None
    updated_at: datetime
    next_attempt_at: datetime | None
    claimed_at: datetime | None
    offer_cost: float | None
    entered_at: datetime | None


# --- consent and the inbox -------------------------------------------------------------------
class ChannelConsent(_Result):
    granted: bool
    source: str | None
    updated_at: str | None


class PurposeConsent(ChannelConsent):
    """Consent for a purpose: ``source`` is the user id's own record's, ``merged`` (another
    user id of the same person decided), or ``default`` (``[consent]`` of portrait.toml)."""


class ConsentState(_Result):
    """A user's consent per channel and per purpose: recorded, or the workspace default."""

    user_id: str
    channels: dict[str, ChannelConsent]
    purposes: dict[str, PurposeConsent] = Field(default_factory=dict)


class RejectedLine(_Result):
    line: int
    record: dict[str, Any]
    # invalid (a field missing or wrong), or erased_person (the user id's person was erased
    # on request: nothing may name them again)
    reason: str = "invalid"


class ConsentImport(_Result):
    """A consent CSV import: what was stored, which lines did not check."""

    path: str
    imported: int
    rejected: list[RejectedLine]
    unknown_users: int
    unknown_user_ids: list[str]


class InboxMessage(_Result):
    message_id: str
    campaign: str
    user_id: str
    subject: str | None
    body: str
    created_at: str
    read_at: str | None


__all__ = [
    "Activity",
    "ArmReport",
    "BanditState",
    "BanditSummary",
    "CampaignCounts",
    "CampaignPublic",
    "CampaignReport",
    "CampaignSummary",
    "ChannelConsent",
    "ConsentImport",
    "ConsentState",
    "ConversionComparison",
    "CupedComparison",
    "Dispatched",
    "DryRun",
    "DryRunCost",
    "Enrolment",
    "Estimate",
    "ExpectedCost",
    "InboxMessage",
    "JourneyStarted",
    "JourneyStep",
    "JourneysRun",
    "LaunchResult",
    "Launched",
    "MessageSample",
    "PurposeConsent",
    "RejectedLine",
    "RevenueComparison",
    "Send",
    "Skipped",
    "Stopped",
    "SuggestedVariant",
    "Suggestion",
    "Suggestions",
    "TargetingSummary",
    "TrainedOn",
    "UpliftCheck",
    "UpliftHoldout",
    "VsControl",
]
