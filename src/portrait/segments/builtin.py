"""The built-in segments shipped in ``builtin.yaml``: RFM groups, lifecycle stages, personas."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

BUILTIN_FILE = "builtin.yaml"
NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


class SegmentNameError(ValueError):
    """A segment name that is not allowed."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise SegmentNameError(
            f"segment name {name!r} is not allowed: use 1-64 lower-case letters, digits, '_' "
            "or '-', starting with a letter or digit (e.g. vip_beauty_f)"
        )
    return name


class BuiltinSegment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    family: Literal["rfm", "lifecycle", "persona"]
    expression: str
    description: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


class BuiltinFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    segments: list[BuiltinSegment]


@cache
def builtin_segments() -> tuple[BuiltinSegment, ...]:
    """The built-in segments, checked on load (the file ships inside the package)."""
    text = resources.files("portrait.segments").joinpath(BUILTIN_FILE).read_text("utf-8")
    try:
        parsed = BuiltinFile.model_validate(yaml.safe_load(text))
    except ValidationError as e:
        raise ValueError(f"builtin:{BUILTIN_FILE} is not valid: {e}") from None
    names = [s.name for s in parsed.segments]
    if len(set(names)) != len(names):
        raise ValueError(f"builtin:{BUILTIN_FILE} names a segment twice")
    return tuple(parsed.segments)
