"""The strategy playbook: a default campaign per persona or lifecycle group.

``playbook.yaml`` ships one entry per group (price-sensitive users get discounts, brand-loyal
users new arrivals of their brands and member perks, potential customers a first-order coupon,
dormant and at-risk customers care and win-back offers, ...), each a complete campaign
definition aimed at a built-in segment. ``suggestions`` lists them with the segment's size in
the latest build and an expected cost; empty groups are left out. ``create_suggestions`` stores
chosen ones as drafts.

>>> ws.campaigns.suggest()["suggestions"][0]["campaign"]         # doctest: +SKIP
'pb-price-sensitive'
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portrait.campaigns.definition import Campaign
from portrait.store import campaign_reports as store

if TYPE_CHECKING:
    from portrait.workspace import Workspace

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


def expected_cost(entry: PlaybookEntry, size: int, order_value: float) -> dict[str, float]:
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
    return {"sends": round(sends, 2), "offers": round(offers, 2), "total": round(sends + offers, 2)}


def _sizes(ws: Workspace) -> tuple[dict[str, int], dict[str, Any] | None]:
    """Built-in segment sizes in the latest build (counted now where none is stored)."""
    segments = ws.segments
    try:
        build = segments.engine.build()
    except LookupError:
        return {}, None
    sizes = {}
    for s in segments.list():
        if s["build_id"] == build["build_id"] and s["size"] is not None:
            sizes[s["name"]] = s["size"]
        else:
            sizes[s["name"]] = segments.count(s["expression"])["count"]
    return sizes, build


def suggestions(ws: Workspace, lang: str = "en") -> dict[str, Any]:
    """The playbook's campaigns with their segment sizes and expected costs; groups whose
    segment is empty (or unknown to this catalog) are listed under ``skipped``."""
    sizes, build = _sizes(ws)
    aov = store.average_order_value(ws.warehouse)
    existing = set(store.campaign_names(ws.warehouse))
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
            skipped.append({"campaign": c.name, "segment": c.segment, "reason": reason})
            continue
        out.append({
            "campaign": c.name,
            "group": entry.group,
            "title": entry.title.get(lang) or next(iter(entry.title.values())),
            "rationale": entry.rationale,
            "segment": c.segment,
            "size": size,
            "channel": c.channel,
            "variants": [{"name": v.name, "offer": v.offer.type} for v in c.variants],
            "control_share": c.control_share,
            "expected_conversion": entry.expected_conversion,
            "expected_cost": expected_cost(entry, size, value),
            "exists": c.name in existing,
        })  # fmt: skip
    return {
        "as_of": str(build["as_of"]) if build else None,
        "build_id": build["build_id"] if build else None,
        "average_order_value": round(value, 2),
        "suggestions": out,
        "skipped": skipped,
        "notes": notes,
    }


def entry(name: str) -> PlaybookEntry:
    """A playbook entry by campaign name; a clear error listing the names otherwise."""
    for e in playbook():
        if e.campaign.name == name:
            return e
    names = ", ".join(e.campaign.name for e in playbook())
    raise LookupError(f"no playbook campaign {name!r}; choose from {names}")


def create_suggestions(ws: Workspace, names: list[str]) -> list[dict[str, Any]]:
    """Store the chosen playbook campaigns as drafts (edit, then launch them)."""
    chosen = [entry(n) for n in dict.fromkeys(names)]
    return [ws.campaigns.create(e.campaign) for e in chosen]
