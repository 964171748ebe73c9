"""A campaign definition: goal, audience, variants (offer + message), channel, timing, budget.

Definitions are written as YAML files (``portrait campaign create FILE``) or REST bodies and
validated here before anything is stored; every error names the field and how to fix it.

>>> Campaign.model_validate({
...     "name": "winback-q4", "segment": "lifecycle_stage = 'dormant'", "channel": "email",
...     "variants": [{"name": "a", "offer": {"type": "percent", "percent": 0.15},
...                   "message": {"subject": {"en": "We miss you"}, "body": {"en": "Hi"}}}],
... }).control_share
0.1
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CHANNELS = ("email", "sms", "push", "in_app")
LANGUAGES = ("zh", "en")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# what a message costs to send, per channel, in the workspace currency (overridable per campaign)
DEFAULT_SEND_COST = {"email": 0.001, "sms": 0.05, "push": 0.0, "in_app": 0.0}


class CampaignDefinitionError(ValueError):
    """A campaign definition that cannot be used; the message names the field and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- offers: each knows what it costs the shop on an order of a given value ----------------
class PercentOff(_Strict):
    """``percent`` off the order (0.15 = 15%), optionally capped at ``max_discount``."""

    type: Literal["percent"] = "percent"
    percent: float = Field(gt=0, lt=1)
    min_spend: float = Field(0.0, ge=0)
    max_discount: float | None = Field(None, gt=0)

    def discount(self, order_value: float) -> float:
        if order_value < self.min_spend:
            return 0.0
        d = order_value * self.percent
        return min(d, self.max_discount) if self.max_discount is not None else d


class FixedOff(_Strict):
    """A fixed ``amount`` off an order of at least ``min_spend``."""

    type: Literal["fixed"] = "fixed"
    amount: float = Field(gt=0)
    min_spend: float = Field(0.0, ge=0)

    def discount(self, order_value: float) -> float:
        return min(self.amount, order_value) if order_value >= self.min_spend else 0.0


class ThresholdOff(_Strict):
    """满减: ``amount`` off for every full ``threshold`` spent (``stack``) or once."""

    type: Literal["threshold"] = "threshold"
    threshold: float = Field(gt=0)
    amount: float = Field(gt=0)
    stack: bool = False

    @model_validator(mode="after")
    def _amount_below_threshold(self) -> ThresholdOff:
        if self.amount >= self.threshold:
            raise ValueError(
                f"amount ({self.amount}) must be below threshold ({self.threshold}), "
                "e.g. 20 off 199"
            )
        return self

    def discount(self, order_value: float) -> float:
        times = int(order_value // self.threshold)
        return self.amount * (times if self.stack else min(times, 1))


class FirstOrder(_Strict):
    """A discount on the user's first order only (``percent`` or ``amount``)."""

    type: Literal["first_order"] = "first_order"
    percent: float | None = Field(None, gt=0, lt=1)
    amount: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_of(self) -> FirstOrder:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give exactly one of percent (e.g. 0.1) or amount (e.g. 10)")
        return self

    def discount(self, order_value: float) -> float:
        if self.percent is not None:
            return order_value * self.percent
        return min(self.amount or 0.0, order_value)


class FreeShipping(_Strict):
    """Free shipping; the shop pays ``shipping_cost`` per order that uses it."""

    type: Literal["free_shipping"] = "free_shipping"
    shipping_cost: float = Field(8.0, ge=0)
    min_spend: float = Field(0.0, ge=0)

    def discount(self, order_value: float) -> float:
        return self.shipping_cost if order_value >= self.min_spend else 0.0


class MemberPerk(_Strict):
    """A member perk (gift, points, early access) that costs ``cost`` per user who uses it."""

    type: Literal["member_perk"] = "member_perk"
    perk: str = Field(min_length=1)
    cost: float = Field(0.0, ge=0)

    def discount(self, order_value: float) -> float:
        return self.cost


class NoOffer(_Strict):
    """A message without an offer (care, news, new arrivals)."""

    type: Literal["none"] = "none"

    def discount(self, order_value: float) -> float:
        return 0.0


Offer = Annotated[
    PercentOff | FixedOff | ThresholdOff | FirstOrder | FreeShipping | MemberPerk | NoOffer,
    Field(discriminator="type"),
]


# --- messages ------------------------------------------------------------------------------
class Message(_Strict):
    """Jinja2 templates per language (zh, en); a user gets their language, else the first."""

    subject: dict[str, str] = Field(default_factory=dict)
    body: dict[str, str]

    @field_validator("subject", "body")
    @classmethod
    def _languages(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown language(s) {unknown}; use {', '.join(LANGUAGES)}")
        return v

    @field_validator("body")
    @classmethod
    def _some_body(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("give a body in at least one language, e.g. {en: 'Hi {{ name }}'}")
        return v


class Variant(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    offer: Offer = Field(default_factory=NoOffer)
    message: Message
    weight: float = Field(1.0, gt=0)

    @field_validator("name")
    @classmethod
    def _not_control(cls, v: str) -> str:
        if v.lower() == "control":
            raise ValueError("'control' is the hold-out group's name; call the variant otherwise")
        return v


# --- goal, timing, budget, triggers ---------------------------------------------------------
class Goal(_Strict):
    """What the campaign is judged on, and how long after a send a response counts."""

    metric: Literal["conversion", "revenue", "visit", "click"] = "conversion"
    attribution_days: float = Field(7.0, gt=0, le=90)


class QuietHours(_Strict):
    """Local hours in which nothing is sent: from ``start`` to ``end`` (wrapping midnight)."""

    start: int = Field(22, ge=0, le=23)
    end: int = Field(8, ge=0, le=23)

    def contains(self, hour: int) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end


class Schedule(_Strict):
    """When sends go out: from ``start`` (default: at launch) until ``end``; at each user's best
    hour (from the active-hours tags) or a fixed local hour; never in quiet hours."""

    start: datetime | None = None
    end: datetime | None = None
    send_hour: Literal["best"] | int = "best"
    quiet_hours: QuietHours = Field(default_factory=QuietHours)

    @field_validator("send_hour")
    @classmethod
    def _hour(cls, v: Literal["best"] | int) -> Literal["best"] | int:
        if isinstance(v, int) and not 0 <= v <= 23:
            raise ValueError("send_hour is 'best' or a local hour 0-23")
        return v


class Caps(_Strict):
    """Frequency caps across campaigns: at most ``max_messages`` per user in ``per_days``."""

    max_messages: int = Field(3, ge=1)
    per_days: float = Field(7.0, gt=0)


class Budget(_Strict):
    """Stop sending when the expected cost (sends + offers) or the number of sends is reached."""

    max_cost: float | None = Field(None, gt=0)
    max_sends: int | None = Field(None, ge=1)
    send_cost: float | None = Field(None, ge=0)  # per message; default by channel
    # share of sends expected to redeem the offer: the offer's expected cost per send is
    # expected_redemption x its discount on the shop's average order
    expected_redemption: float = Field(0.05, ge=0, le=1)


class Targeting(_Strict):
    """Uplift targeting: reach the persons a past randomised campaign says this one changes
    most, not those who would buy anyway. An uplift model trained on ``uplift_from``'s outcomes
    (its variants against its control group, on the profile tags as of its launch) scores the
    audience on today's tags; the ``top_share`` with the highest predicted uplift are kept, and
    none below ``min_uplift`` (e.g. 0: never those it predicts to be put off)."""

    uplift_from: str = Field(min_length=1)
    top_share: float = Field(0.3, gt=0, le=1)
    min_uplift: float | None = None
    method: Literal["class_transformation", "two_model", "x_learner"] = "class_transformation"
    learner: Literal["lightgbm", "logistic"] = "lightgbm"
    seed: int = 42


TriggerType = Literal["cart_abandonment", "win_back", "first_order", "repurchase"]


class Trigger(_Strict):
    """A journey: users enter when the condition becomes true (checked on build or ingest).

    - cart_abandonment: an add_to_cart with no order within ``hours`` after it;
    - win_back: the user's lifecycle stage becomes dormant;
    - first_order: registered at least ``hours`` ago and never ordered;
    - repurchase: the predicted next purchase (purchase cycle) is due.
    """

    type: TriggerType
    hours: float = Field(24.0, gt=0)
    reenter_days: float | None = Field(None, gt=0)  # None: a user enters a journey once


class Campaign(_Strict):
    name: str
    description: str = ""
    goal: Goal = Field(default_factory=Goal)
    segment: str | None = None  # a segment expression or the name of a saved segment
    trigger: Trigger | None = None
    targeting: Targeting | None = None
    channel: Literal["email", "sms", "push", "in_app"]
    variants: list[Variant] = Field(min_length=1)
    control_share: float = Field(0.1, ge=0, lt=1)
    schedule: Schedule = Field(default_factory=Schedule)
    caps: Caps = Field(default_factory=Caps)
    budget: Budget = Field(default_factory=Budget)
    bandit: bool = False  # Thompson sampling shifts sends toward the better variant

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                "use lower-case letters, digits, '-' and '_' (start with a letter or digit, "
                "at most 63 characters), e.g. winback-2026-q4"
            )
        return v

    @model_validator(mode="after")
    def _audience_and_variants(self) -> Campaign:
        if self.segment is None and self.trigger is None and self.targeting is None:
            raise ValueError(
                "say who gets it: a segment (expression or saved segment name), a trigger "
                "and/or uplift targeting"
            )
        if self.targeting is not None and self.targeting.uplift_from == self.name:
            raise ValueError("targeting.uplift_from names a past campaign, not this one")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must differ: {names}")
        if self.bandit and len(self.variants) < 2:
            raise ValueError("bandit: true needs at least two variants to choose between")
        return self

    @property
    def send_cost(self) -> float:
        if self.budget.send_cost is not None:
            return self.budget.send_cost
        return DEFAULT_SEND_COST[self.channel]


def _explain(e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(definition)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}")
    return "; ".join(lines)


def parse_campaign(data: dict[str, Any]) -> Campaign:
    """Validate a definition given as a mapping (REST body, parsed YAML)."""
    if not isinstance(data, dict):
        raise CampaignDefinitionError(
            "a campaign definition is a mapping with name, segment or trigger, channel, variants"
        )
    try:
        return Campaign.model_validate(data)
    except ValidationError as e:
        raise CampaignDefinitionError(f"invalid campaign definition: {_explain(e)}") from e


def load_campaign_file(path: Path) -> Campaign:
    """Read and validate a YAML (or JSON) campaign file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise CampaignDefinitionError(f"no campaign file at {path}") from e
    except yaml.YAMLError as e:
        raise CampaignDefinitionError(f"{path} is not valid YAML: {e}") from e
    try:
        return parse_campaign(data)
    except CampaignDefinitionError as e:
        raise CampaignDefinitionError(f"{path}: {e}") from e
