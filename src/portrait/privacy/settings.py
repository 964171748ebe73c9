"""The ``[retention]`` section of ``portrait.toml``: how long each class of data is kept.

.. code-block:: toml

    [retention]
    events_days = 730       # raw events, by event time
    quarantine_days = 90    # quarantined records (their sealed payloads)
    sends_days = 365        # campaign sends in a final state (sent, failed, suppressed)
    snapshots_days = 400    # profile snapshots, by build date (the live one is always kept)
    snapshots_keep = 12     # and/or at most this many build dates
    audit_days = 1095       # audit entries (pruned behind a keyed anchor)
    schedule = "daily"      # `portrait serve` applies it once a day; "off": only by command

A class left out is kept forever. ``portrait privacy retain`` applies it (``--dry-run`` shows
what would go); see docs/privacy.md, "Retention".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

CLASSES = {  # setting -> the class of data it keeps
    "events_days": "events",
    "quarantine_days": "quarantine",
    "sends_days": "sends",
    "snapshots_days": "snapshots",
    "snapshots_keep": "snapshots",
    "audit_days": "audit",
}


class RetentionSettings(BaseModel):
    """How long each class of data is kept (None: forever)."""

    model_config = ConfigDict(extra="forbid")

    events_days: int | None = Field(None, ge=1, description="Raw events, by event time.")
    quarantine_days: int | None = Field(None, ge=1, description="Quarantined records.")
    sends_days: int | None = Field(
        None, ge=1, description="Campaign sends in a final state (sent, failed, suppressed)."
    )
    snapshots_days: int | None = Field(
        None, ge=1, description="Profile snapshots, by build date (never the live one)."
    )
    snapshots_keep: int | None = Field(
        None, ge=1, description="At most this many snapshot build dates (the newest)."
    )
    audit_days: int | None = Field(None, ge=1, description="Audit entries.")
    schedule: Literal["daily", "off"] = Field(
        "daily", description="'daily': the REST server applies retention once a day."
    )

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = [*CLASSES, "schedule"]
            for name in data:
                if name not in known:
                    raise ValueError(
                        f"unknown retention setting {name!r}; use {', '.join(known)} "
                        "(days as whole numbers, snapshots_keep a count)"
                    )
        return data

    @property
    def any_set(self) -> bool:
        """Whether any class has a limit (else retention has nothing to do)."""
        return any(getattr(self, name) is not None for name in CLASSES)
