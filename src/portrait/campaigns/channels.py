"""Channels: one interface, ``send(message) -> provider id``, for e-mail, SMS, push and in-app.

A channel raises ``TransientChannelError`` for what may work later (a 503, a dropped
connection: the send is retried with backoff) and ``PermanentChannelError`` for what never will
(a 400, a refused recipient: the send is failed at once). Every message carries its send key,
which each channel hands to the provider as an idempotency key: the e-mail's Message-ID, the
webhook's ``Idempotency-Key`` header, the in-app message's id.

A channel holds its connection (an SMTP session, an HTTP client) from its first send until
``close()``, which is safe to call twice; a send after it connects again. ``with channel:``
closes on leaving, and a dispatch closes every channel it used when it ends, error or not
(``close_all``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Protocol

import httpx
import orjson

from portrait.campaigns.settings import (
    CampaignSettings,
    SmtpSettings,
    WebhookSettings,
    secret_from_env,
)

SIGNATURE_HEADER = "X-Portrait-Signature"
log = logging.getLogger(__name__)


class ChannelError(Exception):
    """A send that did not go through."""


class TransientChannelError(ChannelError):
    """May work on a later attempt (timeouts, 5xx, 429, connection errors)."""


class PermanentChannelError(ChannelError):
    """Will not work however often it is tried (bad address, 4xx, rejected content)."""


class ChannelNotConfiguredError(PermanentChannelError):
    """The channel has no provider in ``portrait.toml``."""


@dataclass(frozen=True)
class OutgoingMessage:
    send_key: str  # campaign/person_id/channel
    campaign: str
    channel: str
    user_id: str
    address: str
    language: str
    subject: str
    body: str

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(self.send_key.encode()).hexdigest()[:32]


class Channel(Protocol):
    """What every channel does."""

    name: str
    idempotent: bool  # a resend with the same key is deduplicated by the provider

    def send(self, message: OutgoingMessage) -> str: ...

    def close(self) -> None: ...


class ClosableChannel:
    """``close()`` (a no-op here) and ``with channel:``, which closes on leaving."""

    def close(self) -> None:
        """Release what the channel holds open; the next send opens it again."""

    def __enter__(self) -> ClosableChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def close_all(channels: Iterable[Any]) -> None:
    """Close every channel that can be closed, each even when closing another fails (logged,
    not raised: the sends are recorded by then, and a dispatch's own error is not masked)."""
    for channel in list(channels):
        close = getattr(channel, "close", None)
        if close is None:
            continue
        try:
            close()
        except Exception:
            log.warning("closing the %s channel failed", getattr(channel, "name", "?"),
                        exc_info=True)  # fmt: skip


class EmailChannel(ClosableChannel):
    """E-mail over SMTP (smtplib); the Message-ID is derived from the send key."""

    name = "email"
    idempotent = False  # SMTP servers deliver a repeated Message-ID again

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.password = secret_from_env(settings.password_env, "campaigns.smtp.password_env")
        self._smtp: smtplib.SMTP | None = None  # kept open across a dispatch

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            try:
                if s.starttls:
                    smtp.starttls()
                if s.username:
                    smtp.login(s.username, self.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        """Say QUIT to the server (the next send connects again)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def message_id(self, message: OutgoingMessage) -> str:
        domain = parseaddr(self.settings.sender)[1].rpartition("@")[2] or "portrait.local"
        return f"<{message.key_hash}@{domain}>"

    def build(self, message: OutgoingMessage) -> EmailMessage:
        m = EmailMessage()
        m["From"] = self.settings.sender
        m["To"] = message.address
        m["Subject"] = message.subject
        m["Message-ID"] = self.message_id(message)
        m["Date"] = formatdate(localtime=False)
        m["X-Portrait-Campaign"] = message.campaign
        m.set_content(message.body)
        return m

    def send(self, message: OutgoingMessage) -> str:
        s = self.settings
        email = self.build(message)
        try:
            try:
                self._connection().send_message(email)
            except smtplib.SMTPServerDisconnected:  # an idle connection the server dropped
                self.close()
                self._connection().send_message(email)
        except smtplib.SMTPRecipientsRefused as e:
            raise PermanentChannelError(f"recipient refused: {_first_reply(e.recipients)}") from e
        except smtplib.SMTPResponseException as e:
            error = f"SMTP {e.smtp_code}: {e.smtp_error.decode(errors='replace')}"
            if 400 <= e.smtp_code < 500:
                raise TransientChannelError(error) from e
            raise PermanentChannelError(error) from e
        except (TimeoutError, smtplib.SMTPException, OSError) as e:
            self.close()
            raise TransientChannelError(f"SMTP {s.host}:{s.port}: {e}") from e
        return str(email["Message-ID"])


def _first_reply(recipients: dict[str, tuple[int, bytes]]) -> str:
    for address, (code, text) in recipients.items():
        return f"{address}: {code} {text.decode(errors='replace')}"
    return "no recipient accepted"


class WebhookChannel(ClosableChannel):
    """SMS or app push through a provider webhook: a JSON POST with an ``Idempotency-Key``
    header (the send key) and, with a secret, an HMAC-SHA256 signature of the body.

    The channel makes its ``httpx.Client`` on the first send and closes it in ``close()``; a
    client passed in belongs to the caller, who closes it."""

    idempotent = True

    def __init__(
        self, name: str, settings: WebhookSettings, client: httpx.Client | None = None
    ) -> None:
        if not settings.url:
            raise ChannelNotConfiguredError(
                f"no webhook for {name}: set campaigns.{name}.url in portrait.toml"
            )
        self.name = name
        self.settings = settings
        self.secret = secret_from_env(settings.secret_env, f"campaigns.{name}.secret_env")
        self._client = client
        self._owns_client = client is None

    @property
    def client(self) -> httpx.Client:
        """The HTTP client (made now if the channel has none open)."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout_s)
        return self._client

    def close(self) -> None:
        """Close the channel's own HTTP client (not one passed in)."""
        if not self._owns_client:
            return
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def payload(self, message: OutgoingMessage) -> bytes:
        return orjson.dumps(
            {
                "id": message.send_key,
                "channel": self.name,
                "campaign": message.campaign,
                "user_id": message.user_id,
                "to": message.address,
                "language": message.language,
                "title": message.subject,
                "text": message.body,
            }
        )

    def send(self, message: OutgoingMessage) -> str:
        body = self.payload(message)
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.send_key}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            r = self.client.post(str(self.settings.url), content=body, headers=headers)
        except httpx.HTTPError as e:
            raise TransientChannelError(f"{self.name} webhook: {type(e).__name__}: {e}") from e
        if r.status_code in (408, 425, 429) or r.status_code >= 500:
            raise TransientChannelError(f"{self.name} webhook: HTTP {r.status_code} {r.text[:200]}")
        if r.status_code >= 400:
            raise PermanentChannelError(f"{self.name} webhook: HTTP {r.status_code} {r.text[:200]}")
        return _provider_id(r) or message.send_key


def _provider_id(r: httpx.Response) -> str | None:
    try:
        data = r.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "messageId"):
            if data.get(key) is not None:
                return str(data[key])
    return None


class InAppChannel(ClosableChannel):
    """Messages stored in the warehouse for the app to fetch (``GET /v1/users/{id}/inbox``)."""

    name = "in_app"
    idempotent = True  # the message id is the send key's hash: storing twice keeps one

    def __init__(self, store: Callable[[dict[str, Any]], None]) -> None:
        self.store = store

    def send(self, message: OutgoingMessage) -> str:
        message_id = message.key_hash
        self.store(
            {
                "message_id": message_id,
                "campaign": message.campaign,
                "user_id": message.user_id,
                "subject": message.subject,
                "body": message.body,
                "created_at": datetime.now(UTC),
            }
        )
        return message_id


def make_channel(
    name: str, settings: CampaignSettings, store_inapp: Callable[[dict[str, Any]], None]
) -> Channel:
    """The configured channel ``name``."""
    if name == "email":
        return EmailChannel(settings.smtp)
    if name in ("sms", "push"):
        return WebhookChannel(name, getattr(settings, name))
    if name == "in_app":
        return InAppChannel(store_inapp)
    raise ValueError(f"unknown channel {name!r}; use email, sms, push or in_app")
