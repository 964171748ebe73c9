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

Conditions (``where``, ``when``) are mappings of column (or tag) to a test, combined with AND;
``any``/``all``/``not`` combine conditions. A test is a value (equals), a list (one of) or a
mapping of operators (``eq ne gt ge lt le in not_in is_null``). Computed rule values are
expression trees: a tag name, a number, ``$param``, or ``{op: [args]}`` (see ``OPERATORS``).
Values written ``$name`` are read from the tag's ``params``, so thresholds live in the tag.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TagId = str
ValueType = Literal["bool", "int", "float", "enum", "text", "top", "date", "timestamp"]
Kind = Literal["fact", "rule", "model"]
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
COND_OPS = {"eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "is_null"}
_WINDOW = re.compile(r"^(\d+)d$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FactDef(Strict):
    """An aggregate over one person's events, or a column of their user record."""

    source: FactSource = Field(alias="from")
    agg: Aggregate
    of: str | None = None
    where: dict[str, Any] | None = None
    share_where: dict[str, Any] | None = None  # for share: the rows counted as the numerator
    n: int = Field(5, ge=1, le=20)  # for top
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
    when: dict[str, Any]
    then: Any


class RuleDef(Strict):
    """A value computed from other tags: cases (first match wins), a formula, band or score."""

    cases: list[Case] | None = None
    otherwise: Any = Field(None, alias="else")
    compute: Any = None
    band: dict[str, Any] | None = None  # {of: tag, edges: [...], labels: [...]}
    score: dict[str, Any] | None = None  # {of: tag, buckets: 5, order: asc|desc}

    @model_validator(mode="after")
    def _one(self) -> RuleDef:
        given = [k for k in ("cases", "compute", "band", "score") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a rule has exactly one of `cases`, `compute`, `band` or `score` "
                f"(found {given or 'none'})"
            )
        if self.band is not None:
            edges, labels = self.band.get("edges"), self.band.get("labels")
            if not self.band.get("of") or edges is None or labels is None:
                raise ValueError("band needs `of`, `edges` and `labels`")
            both_lists = not isinstance(edges, str) and not isinstance(labels, str)
            if both_lists and len(labels) != len(edges) + 1:
                raise ValueError(
                    f"band has {len(edges)} edges so it needs {len(edges) + 1} labels, "
                    f"got {len(labels)}"
                )
        if self.score is not None:
            if not self.score.get("of"):
                raise ValueError("score needs `of: <tag>`")
            if self.score.get("order", "asc") not in ("asc", "desc"):
                raise ValueError("score `order` is asc (higher value, higher score) or desc")
        return self


class ModelDef(Strict):
    """Filled from the ``model_scores`` table, which a trained model writes."""

    model: str
    n: int | None = Field(None, ge=1, le=20)  # for type top: how many keys (default 5)


class TagDef(Strict):
    """One tag of the catalog."""

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
    fact: FactDef | None = None
    rule: RuleDef | None = None
    model: ModelDef | None = None
    cross_check: str | None = None  # another tag that should agree with this one
    file: str = Field("", exclude=True)

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
    def _definition(self) -> TagDef:
        blocks = {"fact": self.fact, "rule": self.rule, "model": self.model}
        if blocks[self.kind] is None:
            raise ValueError(f"kind {self.kind!r} needs a `{self.kind}:` block")
        extra = [k for k, v in blocks.items() if v is not None and k != self.kind]
        if extra:
            raise ValueError(f"kind {self.kind!r} cannot also have {extra}")
        if self.type == "enum" and not self.values:
            raise ValueError("type enum needs `values: [...]` (the allowed values)")
        if self.fact is not None and self.type not in AGG_TYPES[self.fact.agg]:
            allowed = " or ".join(sorted(AGG_TYPES[self.fact.agg]))
            raise ValueError(f"agg {self.fact.agg!r} gives {allowed}, not {self.type!r}")
        if self.window and not (self.fact and self.fact.source == "events"):
            raise ValueError("`window` applies to facts over events only")
        if self.model is not None and self.model.n is not None and self.type != "top":
            raise ValueError("`model.n` applies to type top only")
        return self

    @property
    def top_n(self) -> int:
        """How many keys a ``top`` tag holds (a fact's ``n``, or a model's, default 5)."""
        if self.fact is not None:
            return self.fact.n
        if self.model is not None:
            return self.model.n or 5
        return 0

    @property
    def window_days(self) -> int | None:
        return int(self.window[:-1]) if self.window else None

    def definition(self) -> dict[str, Any]:
        """What decides the tag's values (the fingerprint covers exactly this)."""
        body = self.model_dump(
            mode="json",
            by_alias=True,
            include={"kind", "type", "values", "window", "params", "fact", "rule", "model"},
            exclude_none=True,
        )
        return body

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.definition(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class GroupDef(Strict):
    id: str
    zh: str
    en: str


class TagFile(Strict):
    """The top level of a tag file: its level-1 group and its tags."""

    group: GroupDef
    groups2: dict[str, dict[str, str]] = Field(default_factory=dict)  # id -> {zh, en}
    tags: list[dict[str, Any]]
