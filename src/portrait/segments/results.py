"""What the segment service returns: typed results that the CLI prints, the REST API documents
as response bodies and a notebook reads by attribute (``r.count``, ``s.history[-1].joined``).

Dates are ``date`` (JSON: ``YYYY-MM-DD``), shares are fractions of 1 rounded to 6 places.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class SegmentCount(_Result):
    """How many persons an expression selects in one build, and which path answered."""

    expression: str = Field(description="The expression as written.")
    normalized: str = Field(description="As checked: NOT pushed down, BETWEEN spelt out.")
    count: int
    persons: int = Field(description="Persons in the build.")
    share: float = Field(description="count / persons.")
    as_of: date
    build_id: str
    path: str = Field(description="bitmap, bitmap+warehouse or warehouse.")
    warehouse_conditions: list[str] = Field(
        default_factory=list, description="Conditions the bitmap index left to the warehouse."
    )
    warnings: list[str] = Field(
        default_factory=list, description="Values no person has (often a typo), with close ones."
    )
    evaluate_ms: float = Field(description="Time spent answering the expression.")
    ms: float = Field(description="Time of the whole call (parsing, finding the build...).")


class SegmentPublic(_Result):
    """A saved segment as listed: its definition and its size in its latest live build."""

    name: str
    expression: str
    description: str | None = None
    builtin: bool = Field(description="Shipped with Portrait (cannot be changed or deleted).")
    size: int | None = Field(None, description="Members in the latest stored membership.")
    build_id: str | None = Field(None, description="The build of that membership.")
    created_at: datetime


class CompositionRow(_Result):
    """The members holding one value of a tag, against everyone's share of it."""

    value: str | None = Field(description="The value; null for members without one.")
    persons: int
    share: float = Field(description="Share of the segment's members.")
    lift: float | None = Field(description="share / the value's share of all persons.")


class HistoryStep(_Result):
    """A segment's membership in one live build, and who joined and left since the previous."""

    build_id: str
    as_of: date
    size: int
    path: str
    previous_as_of: date | None = None
    joined: int | None = None
    left: int | None = None


class MembershipChange(_Result):
    """Who joined and left between the previous live build and the one shown."""

    joined: int
    left: int
    since: date


class SegmentDetail(_Result):
    """A segment's definition, size, composition by key tags and history; the build fields
    are null when the workspace has no build yet."""

    name: str
    expression: str
    normalized: str
    description: str | None = None
    builtin: bool
    created_at: datetime
    as_of: date | None = None
    build_id: str | None = None
    size: int | None = None
    persons: int | None = None
    share: float | None = None
    composition: dict[str, list[CompositionRow]] = Field(default_factory=dict)
    history: list[HistoryStep] = Field(default_factory=list)
    change: MembershipChange | None = None


class SegmentSize(_Result):
    name: str
    size: int


class OverlapPair(_Result):
    """Two segments' common members."""

    a: str
    b: str
    both: int
    jaccard: float = Field(description="both / members of either.")
    share_of_a: float
    share_of_b: float


class Overlap(_Result):
    """Sizes, pairwise intersections and Jaccard indexes of saved segments in one build."""

    as_of: date
    build_id: str
    segments: list[SegmentSize]
    union: int = Field(description="Persons in any of the segments.")
    pairs: list[OverlapPair]


class SegmentExport(_Result):
    """A file of a segment's members written."""

    name: str
    path: str
    format: str = Field(description="csv or parquet.")
    rows: int
    columns: list[str]
    as_of: date
    build_id: str
    purpose: str | None = Field(default=None, description="Why it was exported (PII needs it).")
    consent_purpose: str = Field(
        default="marketing",
        description="The consent purpose it served (analytics or personalisation when the "
        "stated purpose begins with it, else marketing): members without it are left out.",
    )
    without_consent: int = Field(default=0, description="Members left out: no consent to it.")
    pii_tags: list[str] = Field(default=[], description="The personal-data tags it holds.")


class IndexStatus(_Result):
    """What the bitmap index of a build holds."""

    build_id: str
    as_of: date
    persons: int | None = None
    tags: int | None = Field(None, description="Tags indexed.")
    mib: float = Field(description="Serialised size of the index.")
    seconds: float | None = Field(None, description="Time taken to build it.")
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Tags left to the warehouse, with why."
    )


class SegmentRefresh(_Result):
    """What a new profile build did to segments: its index made and (a live build) the saved
    segments' memberships stored."""

    build_id: str
    persons: int
    tags: int
    skipped: dict[str, str]
    mib: float
    seconds: float
    timings: dict[str, float] = Field(default_factory=dict)
    memberships_seconds: float = 0.0
    segments_skipped: dict[str, str] = Field(
        default_factory=dict, description="Saved segments the build cannot evaluate, with why."
    )
