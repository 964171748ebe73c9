"""The ``[consent]`` section of ``portrait.toml``: whether a person with no recorded answer
for a purpose consents to it.

.. code-block:: toml

    [consent]
    default = "denied"       # opt-in regime: nobody without a recorded yes
    analytics = "granted"    # except for analytics

``default`` applies to every purpose not named; each purpose may override it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What a person's data may be used for, besides being kept and built into a profile.
PURPOSES = ("marketing", "personalisation", "analytics")
PURPOSE_HELP = {
    "marketing": "campaign messages, and segment exports and member listings for activation",
    "personalisation": "recommendations from the person's own history and profile",
    "analytics": "segment exports and member listings that state purpose analytics",
}
Answer = Literal["granted", "denied"]
ANSWERS = ("granted", "denied")


def check_purpose(purpose: str) -> str:
    """``purpose`` if it is one of :data:`PURPOSES`, else a ValueError naming them."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; use {', '.join(PURPOSES)}")
    return purpose


class ConsentSettings(BaseModel):
    """Per purpose, what a person with no recorded answer is taken to have said."""

    model_config = ConfigDict(extra="forbid")

    default: Answer = Field(
        "granted",
        description="For every purpose not named below: 'granted', or 'denied' for an opt-in "
        "regime (nobody without a recorded yes).",
    )
    marketing: Answer | None = Field(None, description="Overrides default for marketing.")
    personalisation: Answer | None = Field(
        None, description="Overrides default for personalisation."
    )
    analytics: Answer | None = Field(None, description="Overrides default for analytics.")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - {"default", *PURPOSES})
            if unknown:
                raise ValueError(
                    f"unknown purpose(s) {unknown}; name default or a purpose: "
                    f"{', '.join(PURPOSES)}"
                )
            bad = {k: v for k, v in data.items() if v is not None and v not in ANSWERS}
            if bad:
                raise ValueError(
                    f"{', '.join(f'{k} = {v!r}' for k, v in bad.items())}: "
                    'use "granted" or "denied"'
                )
        return data

    def granted_by_default(self, purpose: str) -> bool:
        """Whether a person with no recorded answer consents to ``purpose``."""
        return (getattr(self, check_purpose(purpose)) or self.default) == "granted"
