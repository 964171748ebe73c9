"""Workspace settings: read from ``portrait.toml`` by a function, never at import time."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from portrait.campaigns.settings import CampaignSettings
from portrait.consent.settings import ConsentSettings
from portrait.privacy.settings import RetentionSettings

CONFIG_FILE = "portrait.toml"
WAREHOUSE_FILE = "warehouse.duckdb"
WORKSPACE_ENV = "PORTRAIT_WORKSPACE"


class ConfigError(ValueError):
    """``portrait.toml`` is missing or wrong; the message names the field and the fix."""


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone, else a ValueError saying what to use."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Asia/Shanghai'"
        ) from e
    return name


class IngestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="Time zone of source timestamps that carry no offset.")
    currency: str = Field("CNY", description="Workspace currency; prices are stored in it.")
    currency_rates: dict[str, float] = Field(
        default_factory=dict,
        description="Units of the workspace currency per unit of another currency.",
    )
    earliest_valid: str = Field(
        "1990-01-01", description="Events dated before this are rejected as implausible."
    )
    max_future_hours: float = Field(
        24.0, description="Events dated more than this ahead of now are rejected."
    )
    # Limits: a record with a value beyond them is quarantined, never stored (lengths are
    # UTF-8 bytes).
    max_id_length: int = Field(
        256, ge=1, description="Longest id (event, user, anonymous, product, order, ...), bytes."
    )
    max_text_length: int = Field(
        4096, ge=1, description="Longest other text field (query, title, name, ...), bytes."
    )
    max_long_text_length: int = Field(
        65_536, ge=1, description="Longest review/question text (events.text), bytes."
    )
    max_json_length: int = Field(
        65_536, ge=2, description="Longest properties/attributes JSON object, bytes."
    )
    max_price: float = Field(
        100_000_000.0,
        gt=0,
        description="Largest unit price or discount, in the workspace currency.",
    )
    max_quantity: int = Field(1_000_000, ge=1, description="Largest quantity (either sign).")
    max_line_bytes: int = Field(
        1_048_576,
        ge=1024,
        le=1_000_000_000,
        description="Longest line of a CSV or JSON-lines file; a longer line is quarantined.",
    )
    max_raw_length: int = Field(
        4096,
        ge=64,
        description="Characters of a rejected record's raw payload kept in quarantine.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("currency_rates")
    @classmethod
    def _positive_rates(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: r for k, r in v.items() if not r > 0}
        if bad:
            raise ValueError(f"currency rates must be > 0, got {bad}")
        return {k.upper(): r for k, r in v.items()}


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8765
    max_batch: int = Field(10_000, description="Most records accepted in one HTTP request.")
    max_body_mb: float = Field(
        64.0, gt=0, description="Largest request body accepted (ingest, consent import), MiB."
    )


class ProfileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(
        None,
        description="Shop time zone for local hours, weekdays and build dates "
        "(default: the ingest time zone).",
    )
    tags_dir: str = Field("tags", description="Folder (in the workspace) of the shop's own tags.")
    keep_snapshots: int = Field(30, ge=1, description="Profile snapshots (build dates) kept.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)


class IdentitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_merge: Literal["trusted", "all", "off"] = Field(
        "trusted",
        description="Which ingested phones merge users into one person: 'trusted' those sent "
        "by the CLI, Python or a key whose role may merge (identity:write; admin), never an "
        "ingest key's; 'all' every batch's; 'off' none (only explicit merges).",
    )


class Settings(BaseModel):
    """Everything ``portrait.toml`` holds."""

    model_config = ConfigDict(extra="forbid")

    name: str = "portrait"
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    profile: ProfileSettings = Field(default_factory=ProfileSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @property
    def shop_timezone(self) -> str:
        return self.profile.timezone or self.ingest.timezone


_workspace_given: Path | None = None  # `portrait -w DIR <command>`: for this command line


def set_default_workspace(path: Path | None) -> None:
    """The workspace of commands that name none themselves (``portrait -w DIR build``)."""
    global _workspace_given
    _workspace_given = path


def default_workspace_dir() -> Path:
    """The folder given before the command (``portrait -w DIR ...``), else
    ``$PORTRAIT_WORKSPACE``, else the current folder."""
    if _workspace_given is not None:
        return _workspace_given.resolve()
    return Path(os.environ.get(WORKSPACE_ENV) or ".").resolve()


def load_settings(workspace_dir: Path) -> Settings:
    """Read and validate ``workspace_dir/portrait.toml``."""
    path = workspace_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(
            f"{workspace_dir} is not a Portrait workspace (no {CONFIG_FILE}); "
            f"create one with `portrait init {workspace_dir}` or pass -w DIR"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    try:
        return Settings.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{path}: {problems}") from e


def write_settings(workspace_dir: Path, settings: Settings) -> Path:
    """Write ``settings`` to ``workspace_dir/portrait.toml``."""
    path = workspace_dir / CONFIG_FILE
    path.write_text(tomli_w.dumps(settings.model_dump(exclude_none=True)), encoding="utf-8")
    return path


def create_settings(
    workspace_dir: Path,
    name: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
) -> Settings:
    """A new workspace's settings, written to ``portrait.toml`` (made with ``workspace_dir``
    if missing); an existing file is kept and read instead."""
    workspace_dir.mkdir(parents=True, exist_ok=True)
    if (workspace_dir / CONFIG_FILE).exists():
        return load_settings(workspace_dir)
    ingest = {"timezone": timezone, "currency": currency.upper() if currency else None}
    settings = Settings(
        name=name or workspace_dir.name,
        ingest=IngestSettings(**{k: v for k, v in ingest.items() if v is not None}),
    )
    write_settings(workspace_dir, settings)
    return settings
