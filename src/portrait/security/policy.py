"""What a role without ``pii:read`` may not see, and how it sees the rest.

:class:`PiiPolicy` runs around each call of a guarded service (``portrait.security.guard``):
before it, it refuses a segment export of a PII tag and asks a campaign preview to render the
person's PII masked; after it, it masks the answer: profiles (PII tags), Arrow frames (PII
columns and tags), segment composition by a PII tag, the identity report (a phone's hash),
quarantined records (their payloads' PII). The send ledger holds no address nor message to
mask. The masks themselves are ``security.masking``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from portrait.identity.results import IdentityReport
from portrait.ingest.reasons import explain
from portrait.ingest.results import QuarantinedRecord
from portrait.security import masking, roles
from portrait.security.roles import Access
from portrait.segments.results import CompositionRow, SegmentDetail
from portrait.tags.results import ProfileGroup, ProfilePublic, ProfileSubgroup, ProfileTag

if TYPE_CHECKING:
    from portrait.tags.catalog import Catalog

HIDDEN = "****"  # what a role without pii:read sees of a hash of a phone (link evidence)


class PiiPolicy:
    """What a role without ``pii:read`` may not see, and how it sees the rest."""

    def __init__(self, access: Access, catalog: Callable[[], Catalog]) -> None:
        self.access = access
        self._catalog = catalog

    def pii_tags(self) -> dict[str, str]:
        """The catalog's PII tags, each with how it is masked."""
        return {t.id: masking.tag_kind(t.id, t.type) for t in self._catalog() if t.pii}

    def before(self, operation: str, call: inspect.BoundArguments) -> None:
        """Refuse or adjust a call before it runs (``call`` is changed in place)."""
        if self.access.sees_pii:
            return
        if operation in ("segments.members", "segments.export"):
            wanted = call.arguments.get("tags") or []
            pii = sorted(set(wanted) & set(self.pii_tags()))
            if pii:
                roles.require(self.access.role, "pii:read", f"export the PII tags {pii}")
        if operation == "campaigns.launch":
            call.arguments["show_pii"] = False

    def after(self, operation: str, result: Any) -> Any:
        """The answer as the role may see it."""
        if self.access.sees_pii:
            return result
        if isinstance(result, ProfilePublic):
            return mask_profile(result)
        if isinstance(result, IdentityReport):
            return mask_identity(result)
        if isinstance(result, SegmentDetail):
            return self.mask_composition(result)
        if isinstance(result, pa.Table):
            return masking.mask_table(result, {**masking.PII_COLUMNS, **self.pii_tags()})
        if isinstance(result, list) and result and isinstance(result[0], QuarantinedRecord):
            return [mask_quarantined(r) for r in result]
        return result

    def mask_composition(self, detail: SegmentDetail) -> SegmentDetail:
        """Composition by a PII tag: values masked, rows that now look alike merged."""
        pii = self.pii_tags()
        if not detail.composition or not set(detail.composition) & set(pii):
            return detail
        composition = dict(detail.composition)
        for tag_id in set(composition) & set(pii):
            merged: dict[str | None, CompositionRow] = {}
            for row in composition[tag_id]:
                value = masking.mask(pii[tag_id], row.value)
                seen = merged.get(value)
                merged[value] = CompositionRow(
                    value=value,
                    persons=row.persons + (seen.persons if seen else 0),
                    share=round(row.share + (seen.share if seen else 0.0), 4),
                    lift=None if seen else row.lift,
                )
            composition[tag_id] = sorted(merged.values(), key=lambda r: -r.persons)
        return detail.model_copy(update={"composition": composition})


def mask_profile(profile: ProfilePublic) -> ProfilePublic:
    """A profile with its PII tags' values masked (by the tag's type)."""

    def tag(t: ProfileTag) -> ProfileTag:
        if not t.pii:
            return t
        return t.model_copy(update={"value": masking.mask(masking.tag_kind(t.id, t.type), t.value)})

    groups = [
        ProfileGroup(
            id=g.id,
            label=g.label,
            groups=[
                ProfileSubgroup(id=s.id, label=s.label, tags=[tag(t) for t in s.tags])
                for s in g.groups
            ],
        )
        for g in profile.groups
    ]
    return profile.model_copy(update={"groups": groups})


def mask_identity(report: IdentityReport) -> IdentityReport:
    """An identity report whose same-phone links do not show the phone's hash (an unsalted
    hash of a phone is the phone: every mobile number can be tried)."""
    links = [
        link.model_copy(update={"evidence": HIDDEN}) if link.rule == "same_phone" else link
        for link in report.links
    ]
    return report.model_copy(update={"links": links})


def mask_quarantined(record: QuarantinedRecord) -> QuarantinedRecord:
    """A quarantined record with the PII fields of its payload masked, and its detail masked
    where it quotes one (``email = ...``) or quotes a payload that is no JSON object."""
    raw, readable = masking.mask_payload(record.raw)
    detail = record.detail
    if detail is not None:
        field, sep, value = detail.partition(" = ")
        if sep and field in masking.PII_COLUMNS:
            detail = f"{field} = {masking.mask(masking.PII_COLUMNS[field], value)}"
        elif not readable:
            detail = masking.mask_text(detail)
    return record.model_copy(
        update={"raw": raw, "detail": detail, "explanation": explain(record.reason_code, detail)}
    )
