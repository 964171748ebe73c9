"""The strategy playbook: a default campaign per persona or lifecycle group.

``playbook.yaml`` ships one entry per group (price-sensitive users get discounts, brand-loyal
users new arrivals of their brands and member perks, potential customers a first-order coupon,
dormant and at-risk customers care and win-back offers, ...), each a complete campaign
definition aimed at a built-in segment. ``suggestions`` lists them with the segment's size in
the latest build and an expected cost; empty groups are left out. ``ws.campaigns
.create_suggested`` stores chosen ones as drafts.

>>> ws.campaigns.suggest().suggestions[0].campaign               # doctest: +SKIP
'pb-price-sensitive'
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portrait.campaigns.definition import Campaign
from portrait.campaigns.results import (
    ExpectedCost,
    Skipped,
    SuggestedVariant,
    Suggestion,
    Suggestions,
)
from portrait.store import campaign_reports as store

if TYPE_CHECKING:
    from portrait.campaigns.audience import Audiences
    from portrait.store.warehouse import Warehouse

PLAYBOOK_FILE = "playbook.yaml"
FALLBACK_ORDER_VALUE = 100.0  # order value costed when the shop has no orders yet


class PlaybookEntry(BaseModel):
    """One group's default campaign and the assumption its cost estimate rests on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str
    title: dict[str, str]
    rationale: str
    expected_conversion: float = Field(gt=0, lt=1)
    campaign: Campaign

    @model_validator(mode="after")
    def _aimed_at_a_segment(self) -> PlaybookEntry:
        if not self.campaign.segment:
            raise ValueError(f"{self.campaign.name}: a playbook campaign names its segment")
        return self


class PlaybookFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: list[PlaybookEntry]


@cache
def playbook() -> tuple[PlaybookEntry, ...]:
    """The shipped playbook, validated on load."""
    text = resources.files("portrait.campaigns").joinpath(PLAYBOOK_FILE).read_text("utf-8")
    try:
        parsed = PlaybookFile.model_validate(yaml.safe_load(text))
    except ValidationError as e:
        raise ValueError(f"builtin:{PLAYBOOK_FILE} is not valid: {e}") from None
    names = [e.campaign.name for e in parsed.entries]
    if len(set(names)) != len(names):
        raise ValueError(f"builtin:{PLAYBOOK_FILE} names a campaign twice")
    return tuple(parsed.entries)


def expected_cost(entry: PlaybookEntry, size: int, order_value: float) -> ExpectedCost:
    """Cost if launched on ``size`` persons: a message per treated person, and the offer on
    ``expected_conversion`` of them, at ``order_value`` per order, split by variant weight."""
    c = entry.campaign
    treated = size * (1 - c.control_share)
    weights = sum(v.weight for v in c.variants)
    offers = sum(
        treated * v.weight / weights * entry.expected_conversion * v.offer.discount(order_value)
        for v in c.variants
    )
    sends = treated * c.send_cost
    return ExpectedCost(
        sends=round(sends, 2), offers=round(offers, 2), total=round(sends + offers, 2)
    )


def suggestions(wh: Warehouse, audiences: Audiences, lang: str = "en") -> Suggestions:
    """The playbook's campaigns with their segment sizes and expected costs; groups whose
    segment is empty (or unknown to this catalog) are listed under ``skipped``."""
    sizes, build = audiences.segment_sizes()
    aov = store.average_order_value(wh)
    existing = set(store.campaign_names(wh))
    notes = []
    if build is None:
        notes.append("no profile build yet: run `portrait build` to size the segments")
    if aov is None:
        notes.append(f"no orders yet: offers costed on an order of {FALLBACK_ORDER_VALUE:g}")
    value = aov if aov is not None else FALLBACK_ORDER_VALUE
    out, skipped = [], []
    for entry in playbook():
        c = entry.campaign
        size = sizes.get(c.segment or "")
        if not size:
            reason = "empty" if size == 0 else "segment not available in this build"
            skipped.append(Skipped(campaign=c.name, segment=c.segment, reason=reason))
            continue
        out.append(_suggestion(entry, size, value, lang, c.name in existing))
    return Suggestions(
        as_of=str(build["as_of"]) if build else None,
        build_id=build["build_id"] if build else None,
        average_order_value=round(value, 2),
        suggestions=out,
        skipped=skipped,
        notes=notes,
    )


def _suggestion(
    entry: PlaybookEntry, size: int, order_value: float, lang: str, exists: bool
) -> Suggestion:
    c = entry.campaign
    return Suggestion(
        campaign=c.name,
        group=entry.group,
        title=entry.title.get(lang) or next(iter(entry.title.values())),
        rationale=entry.rationale,
        segment=c.segment,
        size=size,
        channel=c.channel,
        variants=[SuggestedVariant(name=v.name, offer=v.offer.type) for v in c.variants],
        control_share=c.control_share,
        expected_conversion=entry.expected_conversion,
        expected_cost=expected_cost(entry, size, order_value),
        exists=exists,
    )


def entry(name: str) -> PlaybookEntry:
    """A playbook entry by campaign name; a clear error listing the names otherwise."""
    for e in playbook():
        if e.campaign.name == name:
            return e
    names = ", ".join(e.campaign.name for e in playbook())
    raise LookupError(f"no playbook campaign {name!r}; choose from {names}")


def entries(names: Iterable[str]) -> list[PlaybookEntry]:
    """The playbook entries of these campaign names, each once, in the order given."""
    return [entry(n) for n in dict.fromkeys(names)]
