"""The ``[campaigns]`` section of ``portrait.toml``: channels, retries, consent defaults.

Secrets (SMTP password, webhook signing keys) are never written in the file: the settings name
the environment variable that holds them, so a copied workspace carries no credentials.

.. code-block:: toml

    [campaigns]
    default_send_hour = 10

    [campaigns.smtp]
    host = "smtp.example.com"
    port = 587
    sender = "Shop <news@example.com>"
    username = "news@example.com"
    password_env = "PORTRAIT_SMTP_PASSWORD"
    starttls = true

    [campaigns.sms]
    url = "https://sms-gateway.example.com/v1/messages"
    secret_env = "PORTRAIT_SMS_SECRET"

    [campaigns.retry]
    max_attempts = 4
    backoff_s = 30.0
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHANNEL_NAMES = ("email", "sms", "push", "in_app")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def secret_from_env(name: str | None, what: str) -> str | None:
    """The value of the environment variable ``name`` (None when no variable is named)."""
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"{what}: environment variable {name} is not set; export it or remove it")
    return value


class SmtpSettings(_Section):
    host: str = Field("localhost", description="SMTP server host.")
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("shop@example.com", description="From address of campaign e-mails.")
    username: str | None = Field(None, description="Login, when the server needs one.")
    password_env: str | None = Field(None, description="Environment variable with the password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    timeout_s: float = Field(10.0, gt=0)


class WebhookSettings(_Section):
    url: str | None = Field(None, description="Provider endpoint that receives a JSON POST.")
    secret_env: str | None = Field(
        None, description="Environment variable with the HMAC-SHA256 signing key (optional)."
    )
    timeout_s: float = Field(10.0, gt=0)


class RetrySettings(_Section):
    max_attempts: int = Field(4, ge=1, description="Attempts per send before it is failed.")
    backoff_s: float = Field(30.0, ge=0, description="Wait before the 2nd attempt; doubles after.")
    max_backoff_s: float = Field(3600.0, ge=0)
    wait_s: float = Field(
        5.0, ge=0, description="Longest a dispatch waits in-process for a retry to come due."
    )


class CampaignSettings(_Section):
    default_send_hour: int = Field(
        10, ge=0, le=23, description="Local hour for users without a best_send_hour tag."
    )
    consent_default: dict[str, bool] = Field(
        default_factory=lambda: dict.fromkeys(CHANNEL_NAMES, True),
        description="Whether a user with no consent record may be contacted, per channel "
        "(false = opt-in required).",
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    sms: WebhookSettings = Field(default_factory=WebhookSettings)
    push: WebhookSettings = Field(default_factory=WebhookSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    batch_size: int = Field(500, ge=1, description="Sends read per dispatch round.")
    claim_timeout_s: float = Field(
        600.0, gt=0, description="After this, a send claimed by a dispatch that died is in doubt."
    )
    journeys_on_ingest: bool = Field(
        True,
        description="Run launched cart_abandonment journeys after each events ingest batch "
        "(they also run after builds and on demand).",
    )

    @field_validator("consent_default")
    @classmethod
    def _channels(cls, v: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(v) - set(CHANNEL_NAMES))
        if unknown:
            raise ValueError(f"unknown channel(s) {unknown}; use {', '.join(CHANNEL_NAMES)}")
        return {**dict.fromkeys(CHANNEL_NAMES, True), **v}
