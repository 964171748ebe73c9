"""Whom a campaign reaches: its segment (a saved segment's name or an expression over tags) in
the latest build, or everyone with a profile when only uplift targeting chooses.

Everything the campaign code asks of segments and profiles goes through :class:`Audiences`, so
the campaign service depends on these two services only here.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from portrait.campaigns.definition import Campaign, CampaignDefinitionError

if TYPE_CHECKING:
    from portrait.segments.service import SegmentService
    from portrait.tags.service import ProfileService

Person = tuple[str, str | None]  # (person_id, user_id)


class Audiences:
    """Segments and profiles as the campaign code reads them."""

    def __init__(self, segments: SegmentService, profiles: ProfileService) -> None:
        self.segments = segments
        self.profiles = profiles

    def is_saved(self, name: str) -> bool:
        """A saved (or built-in) segment of that name exists."""
        return any(s.name == name for s in self.segments.list())

    def check(self, segment: str) -> None:
        """A saved segment's name or an expression over known tags; a clear error otherwise."""
        if self.is_saved(segment):
            return
        try:
            self.segments.engine.parse(segment)
        except ValueError as e:
            raise CampaignDefinitionError(
                f"segment: {segment!r} is neither a saved segment nor a valid expression: {e}"
            ) from e

    def persons(self, c: Campaign) -> tuple[list[str], int]:
        """The person ids of the campaign's segment (everyone without one) in the latest build,
        and how many were left out already for want of marketing consent (a saved segment's
        members are listed for marketing: ``SegmentService.members``)."""
        if c.segment is None:
            return self.profile_table(tags=[]).column("person_id").to_pylist(), 0
        if self.is_saved(c.segment):
            table, refused = self.segments._members(c.segment, None, [], "marketing")
            return table.column("user_id").to_pylist(), refused
        return self.segments.select(c.segment).column("user_id").to_pylist(), 0

    def latest_build(self) -> dict[str, Any]:
        """The latest profile build (``build_id``, ``snapshot``, ``as_of``); LookupError before
        the first."""
        return self.segments.engine.build()

    def profile_table(
        self, as_of: str | date | None = None, tags: list[str] | None = None
    ) -> pa.Table:
        """The profile table (one row per person) of the build as of a date (default: live)."""
        return self.profiles.frame(as_of, tags)

    def segment_sizes(self) -> tuple[dict[str, int], dict[str, Any] | None]:
        """Every saved segment's size in the latest build (counted now where none is stored),
        and that build (None before the first)."""
        try:
            build = self.latest_build()
        except LookupError:
            return {}, None
        sizes = {}
        for s in self.segments.list():
            if s.build_id == build["build_id"] and s.size is not None:
                sizes[s.name] = s.size
            else:
                sizes[s.name] = self.segments.count(s.expression).count
        return sizes, build


__all__ = ["Audiences", "Person"]
