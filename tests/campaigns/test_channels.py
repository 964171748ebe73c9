"""Channel adapters against real local servers: SMTP (aiosmtpd) and an HTTP webhook receiver."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac

import httpx
import pytest
from campaign_shop import http_receiver, smtp_server

from portrait.campaigns.channels import (
    SIGNATURE_HEADER,
    ChannelNotConfiguredError,
    EmailChannel,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
    WebhookChannel,
    close_all,
)
from portrait.campaigns.settings import SmtpSettings, WebhookSettings


def message(key: str = "spring/u1/email", address: str = "ann@example.com") -> OutgoingMessage:
    return OutgoingMessage(
        send_key=key, campaign="spring", channel="email", user_id="u1", address=address,
        language="zh", subject="春季上新", body="满199减20，欢迎回来",
    )  # fmt: skip


def test_email_goes_through_a_real_smtp_server_with_a_message_id_from_the_send_key() -> None:
    with smtp_server() as (box, port):
        ch = EmailChannel(SmtpSettings(host="127.0.0.1", port=port, sender="Shop <news@shop.cn>"))
        provider_id = ch.send(message())
        again = ch.send(message())
    assert len(box.messages) == 2 and box.messages[0]["to"] == ["ann@example.com"]
    parsed = email.message_from_bytes(box.messages[0]["data"], policy=email.policy.default)
    key_hash = hashlib.sha256(b"spring/u1/email").hexdigest()[:32]
    assert parsed["Message-ID"] == f"<{key_hash}@shop.cn>" == provider_id == again
    assert parsed["X-Portrait-Campaign"] == "spring"
    assert "满199减20" in parsed.get_content()
    assert parsed["Subject"] == "春季上新"


def test_email_to_a_closed_port_is_transient() -> None:
    with smtp_server() as (_, port):
        pass  # stopped: nothing listens there now
    ch = EmailChannel(SmtpSettings(host="127.0.0.1", port=port, timeout_s=2))
    with pytest.raises(TransientChannelError):
        ch.send(message())


def test_email_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SmtpSettings(password_env="PORTRAIT_TEST_SMTP_PW")
    with pytest.raises(ValueError, match="PORTRAIT_TEST_SMTP_PW is not set"):
        EmailChannel(settings)
    monkeypatch.setenv("PORTRAIT_TEST_SMTP_PW", "s3cret")
    assert EmailChannel(settings).password == "s3cret"


def test_webhook_posts_json_with_idempotency_key_and_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTRAIT_TEST_SMS_KEY", "k3y")
    with http_receiver([200]) as (rx, url):
        ch = WebhookChannel("sms", WebhookSettings(url=url, secret_env="PORTRAIT_TEST_SMS_KEY"))
        provider_id = ch.send(message("spring/u1/sms", "13800000000"))
    assert provider_id == "prov-1"
    req = rx.requests[0]
    assert req["headers"]["Idempotency-Key"] == "spring/u1/sms"
    assert req["json"]["to"] == "13800000000" and req["json"]["text"] == "满199减20，欢迎回来"
    expected = hmac.new(b"k3y", req["body"], hashlib.sha256).hexdigest()
    assert req["headers"][SIGNATURE_HEADER] == f"sha256={expected}"


@pytest.mark.parametrize(("status", "error"), [(503, TransientChannelError),
                                               (429, TransientChannelError),
                                               (400, PermanentChannelError)])  # fmt: skip
def test_webhook_statuses_map_to_transient_or_permanent(status: int, error: type) -> None:
    with http_receiver([status]) as (_, url):
        ch = WebhookChannel("push", WebhookSettings(url=url))
        with pytest.raises(error, match=f"HTTP {status}"):
            ch.send(message("spring/u1/push"))


def test_webhook_without_url_is_not_configured() -> None:
    with pytest.raises(ChannelNotConfiguredError, match=r"campaigns\.sms\.url"):
        WebhookChannel("sms", WebhookSettings())


def test_webhook_channel_closes_its_client_and_makes_a_new_one_for_the_next_send() -> None:
    with http_receiver([200]) as (rx, url):
        with WebhookChannel("sms", WebhookSettings(url=url)) as ch:
            ch.send(message("spring/u1/sms"))
            first = ch.client
        assert first.is_closed
        ch.send(message("spring/u2/sms"))  # after close() a send connects again
        second = ch.client
        ch.close()
        ch.close()  # twice is fine
    assert second is not first and second.is_closed and len(rx.requests) == 2
    with httpx.Client() as given:  # a client passed in is the caller's to close
        ch = WebhookChannel("push", WebhookSettings(url="http://127.0.0.1:9/"), client=given)
        ch.close()
        assert not given.is_closed


def test_email_channel_as_a_context_manager_says_quit() -> None:
    with smtp_server() as (box, port):
        with EmailChannel(SmtpSettings(host="127.0.0.1", port=port)) as ch:
            ch.send(message())
            assert ch._smtp is not None
        assert ch._smtp is None
        ch.send(message())  # connects again
        ch.close()
    assert len(box.messages) == 2


def test_close_all_closes_every_channel_when_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    closed = []

    class Breaks:
        name = "sms"

        def close(self) -> None:
            raise OSError("socket gone")

    class Fine:
        name = "push"

        def close(self) -> None:
            closed.append(self.name)

    close_all([Breaks(), object(), Fine()])  # object(): a channel without close()
    assert closed == ["push"] and "closing the sms channel failed" in caplog.text
