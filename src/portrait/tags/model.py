"""Tag definitions as validated data: what a tag file may say, checked on load.

A tag file is YAML::

    group: {id: behaviour, zh: 行为, en: Behaviour}
    tags:
      - id: orders_30d
        zh: 近30天订单数
        en: Orders, last 30 days
        description: Distinct orders placed in the 30 days before the build date.
        group2: purchase
        kind: fact
        type: int
        window: 30d
        fact: {from: events, where: {type: order}, agg: count_distinct, of: order_id}

A tag is one of three kinds, told apart by ``kind`` (a discriminated union, :data:`TagDef`):
a :class:`FactTag` aggregates a person's rows, a :class:`RuleTag` computes from other tags, a
:class:`ModelTag` is written by a trained model. Conditions (``where``, ``when``) are typed trees
(``portrait.tags.conditions``). Computed rule values are expression trees: a tag name, a number,
``$param``, or ``{op: [args]}`` (see ``OPERATORS``). Values written ``$name`` are read from the
tag's ``params``, so thresholds live in the tag.

The fingerprint covers what decides a tag's values, in the form the file wrote it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)

from portrait.tags.conditions import Condition, Scalar, columns

TagId = str
ValueType = Literal["bool", "int", "float", "enum", "text", "top", "date", "timestamp"]
Kind = Literal["fact", "rule", "model"]
KINDS: tuple[str, ...] = ("fact", "rule", "model")
FactSource = Literal["events", "users"]
Aggregate = Literal[
    "count",
    "count_distinct",
    "sum",
    "mean",
    "min",
    "max",
    "share",
    "mode",
    "mode_share",
    "top",
    "distinct_days",
    "first",
    "last",
    "value",
]
# Aggregates whose result type is fixed by the aggregate, whatever the tag says it is.
AGG_TYPES: dict[str, set[str]] = {
    "count": {"int"},
    "count_distinct": {"int"},
    "distinct_days": {"int"},
    "sum": {"int", "float"},
    "mean": {"float"},
    "min": {"int", "float", "timestamp", "date"},
    "max": {"int", "float", "timestamp", "date"},
    "share": {"float"},
    "mode": {"enum", "int", "text"},
    "mode_share": {"float"},
    "top": {"top"},
    "first": {"timestamp"},
    "last": {"timestamp"},
    "value": {"bool", "int", "float", "enum", "text", "date", "timestamp"},
}
NEEDS_OF = {"count_distinct", "sum", "mean", "min", "max", "mode", "mode_share", "top", "value"}
# Rule operators and how many arguments each takes (None: one or more).
OPERATORS: dict[str, int | None] = {
    "add": None,
    "sub": 2,
    "mul": None,
    "div": 2,  # null when the divisor is 0 or null
    "neg": 1,
    "coalesce": None,
    "least": None,
    "greatest": None,
    "round": 2,
    "days_since": 1,  # whole days from a timestamp tag to the build date
    "days_between": 2,  # whole days from the first timestamp to the second
    "age_years": 1,  # completed years from a date tag to the build date
    "is_null": 1,
    "not_null": 1,
    "to_float": 1,
}
DEFAULT_TOP_N = 5
DEFAULT_BUCKETS = 5
_WINDOW = re.compile(r"^(\d+)d$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# ``$name``: a value read from the tag's ``params``
ParamRef = Annotated[str, StringConstraints(strict=True, pattern=r"^\$\w+$")]
Edge = StrictInt | StrictFloat


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FactDef(Strict):
    """An aggregate over one person's events, or a column of their user record."""

    source: FactSource = Field(alias="from")
    agg: Aggregate
    of: str | None = None
    where: Condition | None = None
    share_where: Condition | None = None  # for share: the rows counted as the numerator
    n: int = Field(DEFAULT_TOP_N, ge=1, le=20)  # for top
    weight_of: str | None = None  # for top/mode: sum this column instead of counting rows

    @model_validator(mode="after")
    def _shape(self) -> FactDef:
        if self.agg in NEEDS_OF and not self.of:
            raise ValueError(f"agg {self.agg!r} needs `of: <column>`")
        if self.agg == "share" and self.share_where is None:
            raise ValueError("agg 'share' needs `share_where: <condition>` (the numerator)")
        if self.source == "users" and self.agg != "value":
            raise ValueError("facts from users take `agg: value` (the user's own column)")
        if self.source == "events" and self.agg == "value":
            raise ValueError("`agg: value` reads the users table; use `from: users`")
        return self


class Case(Strict):
    when: Condition
    then: Scalar


class Band(Strict):
    """A numeric tag cut at ascending ``edges`` into ``labels`` (one more than edges)."""

    of: TagId
    edges: list[Edge] | ParamRef
    labels: list[Scalar] | ParamRef

    @model_validator(mode="after")
    def _labels(self) -> Band:
        both_lists = isinstance(self.edges, list) and isinstance(self.labels, list)
        if both_lists and len(self.labels) != len(self.edges) + 1:
            raise ValueError(
                f"band has {len(self.edges)} edges so it needs {len(self.edges) + 1} "
                f"labels, got {len(self.labels)}"
            )
        return self


class Score(Strict):
    """The population ranked by ``of`` and split into ``buckets``, scored 1 to ``buckets``.

    Unset fields stay None rather than taking their defaults, so that the definition (and so
    the fingerprint) is what the file wrote.
    """

    of: TagId
    buckets: StrictInt | ParamRef | None = None  # default 5
    order: Literal["asc", "desc"] | None = None  # asc (default): higher value, higher score
    where: Condition | None = None  # only persons where it holds are scored

    @model_validator(mode="after")
    def _buckets(self) -> Score:
        if isinstance(self.buckets, int) and not 1 <= self.buckets <= 100:
            raise ValueError(f"score `buckets` is 1 to 100, not {self.buckets}")
        return self

    @property
    def descending(self) -> bool:
        return self.order == "desc"


class RuleDef(Strict):
    """A value computed from other tags: cases (first match wins), a formula, band or score."""

    cases: list[Case] | None = None
    otherwise: Scalar = Field(None, alias="else")
    compute: Any = None
    band: Band | None = None
    score: Score | None = None

    @model_validator(mode="after")
    def _one(self) -> RuleDef:
        given = [k for k in ("cases", "compute", "band", "score") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a rule has exactly one of `cases`, `compute`, `band` or `score` "
                f"(found {given or 'none'})"
            )
        return self


class ModelDef(Strict):
    """Filled from the ``model_scores`` table, which a trained model writes."""

    model: str
    n: int | None = Field(None, ge=1, le=20)  # for type top: how many keys (default 5)


class TagBase(Strict):
    """What every tag has: labels, group, type; the kind's own block is on the subclasses.

    Each kind reads the other kinds' blocks as None (``tag.fact``, ``tag.rule``, ``tag.model``),
    so code may ask any tag for its block.
    """

    id: TagId
    zh: str
    en: str
    description: str
    group: str
    group2: str | None = None
    kind: Kind
    type: ValueType
    values: list[str] | None = None
    window: str | None = None
    refresh: Literal["daily", "hourly", "weekly", "on_build"] = "daily"
    pii: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    cross_check: TagId | None = None  # another tag that should agree with this one
    file: str = Field("", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _blocks(cls, data: Any) -> Any:
        """The kind's block is there and no other kind's (clearer than a missing field)."""
        kind = cls.model_fields["kind"].default
        if isinstance(data, dict) and kind in KINDS:
            if data.get(kind) is None:
                raise ValueError(f"kind {kind!r} needs a `{kind}:` block")
            extra = [k for k in KINDS if k != kind and data.get(k) is not None]
            if extra:
                raise ValueError(f"kind {kind!r} cannot also have {extra}")
            data = {k: v for k, v in data.items() if k == kind or k not in KINDS}
        return data

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"tag id {v!r} must be lower_snake_case (a-z, 0-9, _)")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None and not _WINDOW.match(v):
            raise ValueError(f"window {v!r} must look like 30d (a number of days)")
        return v

    @model_validator(mode="after")
    def _definition(self) -> TagBase:
        if self.type == "enum" and not self.values:
            raise ValueError("type enum needs `values: [...]` (the allowed values)")
        self._check_kind()
        return self

    def _check_kind(self) -> None:
        if self.window:
            raise ValueError("`window` applies to facts over events only")

    @property
    def top_n(self) -> int:
        """How many keys a ``top`` tag holds (a fact's ``n``, or a model's, default 5)."""
        return 0

    @property
    def window_days(self) -> int | None:
        return int(self.window[:-1]) if self.window else None

    def definition(self) -> dict[str, Any]:
        """What decides the tag's values (the fingerprint covers exactly this)."""
        return self.model_dump(
            mode="json",
            by_alias=True,
            include={"kind", "type", "values", "window", "params", "fact", "rule", "model"},
            exclude_none=True,
        )

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class FactTag(TagBase):
    """Aggregated from the person's events, or read from their user record."""

    kind: Literal["fact"] = "fact"
    fact: FactDef
    rule: ClassVar[None] = None
    model: ClassVar[None] = None

    def _check_kind(self) -> None:
        if self.type not in AGG_TYPES[self.fact.agg]:
            allowed = " or ".join(sorted(AGG_TYPES[self.fact.agg]))
            raise ValueError(f"agg {self.fact.agg!r} gives {allowed}, not {self.type!r}")
        if self.window and self.fact.source != "events":
            super()._check_kind()

    @property
    def top_n(self) -> int:
        return self.fact.n


class RuleTag(TagBase):
    """Computed from other tags of the same person (or, for a score, of everyone)."""

    kind: Literal["rule"] = "rule"
    rule: RuleDef
    fact: ClassVar[None] = None
    model: ClassVar[None] = None


class ModelTag(TagBase):
    """Written by a trained model into ``model_scores``."""

    kind: Literal["model"] = "model"
    model: ModelDef
    fact: ClassVar[None] = None
    rule: ClassVar[None] = None

    def _check_kind(self) -> None:
        super()._check_kind()
        if self.model.n is not None and self.type != "top":
            raise ValueError("`model.n` applies to type top only")

    @property
    def top_n(self) -> int:
        return self.model.n or DEFAULT_TOP_N


def dependencies(tag: TagDef) -> set[str]:
    """The other tags a rule reads (none for facts and models)."""
    r = tag.rule
    if r is None:
        return set()
    deps: set[str] = set()
    for case in r.cases or []:
        deps |= columns(case.when)
    if r.compute is not None:
        deps |= formula_names(r.compute)
    if r.band is not None:
        deps.add(r.band.of)
    if r.score is not None:
        deps |= {r.score.of, *columns(r.score.where)}
    return deps


def formula_names(node: Any) -> set[str]:
    """The tags a ``compute`` formula reads."""
    if isinstance(node, str):
        return set() if node.startswith("$") else {node}
    if isinstance(node, dict):
        out: set[str] = set()
        for args in node.values():
            for a in args if isinstance(args, list) else [args]:
                out |= formula_names(a)
        return out
    return set()


# One tag of the catalog: which class by its ``kind``.
TagDef = Annotated[FactTag | RuleTag | ModelTag, Field(discriminator="kind")]
TAG_ADAPTER: TypeAdapter[FactTag | RuleTag | ModelTag] = TypeAdapter(TagDef)
TAG_CLASSES: dict[str, type[TagBase]] = {"fact": FactTag, "rule": RuleTag, "model": ModelTag}


class GroupDef(Strict):
    id: str
    zh: str
    en: str


class TagFile(Strict):
    """The top level of a tag file: its level-1 group and its tags."""

    group: GroupDef
    groups2: dict[str, dict[str, str]] = Field(default_factory=dict)  # id -> {zh, en}
    tags: list[dict[str, Any]]
