"""Consent files, and recovering sends left in doubt by a dispatch that died: a webhook send is
sent again under the same Idempotency-Key (the provider deduplicates); nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from campaign_shop import http_receiver

from portrait.campaigns.channels import OutgoingMessage, WebhookChannel
from portrait.config import Settings
from portrait.workspace import Workspace

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
USERS = [f"u{i}" for i in range(5)]


@pytest.fixture
def ws(tmp_path: Path):
    workspace = Workspace(tmp_path, Settings(), in_memory=True)
    workspace.ingest_records(
        [{"user_id": u, "phone": f"1380000000{i}", "language": "zh"} for i, u in enumerate(USERS)],
        kind="users",
    )
    yield workspace
    workspace.close()


def sms_campaign(ws: Workspace, name: str = "sms1") -> None:
    ws.campaigns.create({
        "name": name, "trigger": {"type": "first_order"}, "channel": "sms", "control_share": 0.0,
        "schedule": {"quiet_hours": {"start": 0, "end": 0}},
        "variants": [{"name": "a", "offer": {"type": "first_order", "percent": 0.1},
                      "message": {"body": {"zh": "{{ offer.text }}"}}}],
    })  # fmt: skip
    ws.campaigns.launch(name, now=T0)
    ws.campaigns.enroll(name, [(u, None) for u in USERS], source="first_order", at=T0)


def test_consent_file_import_keeps_bad_lines(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "consents.csv"
    path.write_text(
        "user_id,channel,granted,source\nu0,sms,no,sms STOP\nu1,sms,yes,\nu2,fax,yes,\n"
        "u3,sms,maybe,\nu0,email,1,web form\n",
        "utf-8",
    )
    r = ws.campaigns.import_consents(path)
    assert r.imported == 3 and [b.line for b in r.rejected] == [4, 5]
    u0 = ws.campaigns.consent("u0").channels
    assert u0["sms"].granted is False and u0["sms"].source == "sms STOP"
    assert (u0["email"].granted, u0["email"].source) == (True, "web form")
    assert ws.campaigns.consent("u1").channels["sms"].source == "import"


class DiesAfterSending(WebhookChannel):
    def send(self, message: OutgoingMessage) -> str:
        super().send(message)
        raise KeyboardInterrupt  # the process is stopped mid-dispatch


def test_in_doubt_webhook_sends_go_again_under_the_same_key(ws: Workspace) -> None:
    sms_campaign(ws)
    with http_receiver([200]) as (rx, url):
        ws.settings.campaigns.sms.url = url
        ws.campaigns.channels["sms"] = DiesAfterSending("sms", ws.settings.campaigns.sms)
        with pytest.raises(KeyboardInterrupt):
            ws.campaigns.dispatch(now=T0 + timedelta(days=1))
        del ws.campaigns.channels["sms"]
        soon = ws.campaigns.dispatch(now=T0 + timedelta(days=1, seconds=60))
        assert soon.in_doubt_resent == 0  # the claim may still be alive: left alone
        later = ws.campaigns.dispatch(now=T0 + timedelta(days=1, hours=1))
    keys = [r["headers"]["Idempotency-Key"] for r in rx.requests]
    assert later.in_doubt_resent == 1 and later.sent + soon.sent == len(USERS)
    assert len(keys) == len(USERS) + 1 and keys.count(keys[0]) == 2  # the provider dedupes
    assert {s.status for s in ws.campaigns.sends("sms1")} == {"sent"}


def test_journey_reentry_queues_one_more_send_per_entry(ws: Workspace) -> None:
    ws.campaigns.create({
        "name": "cart", "trigger": {"type": "cart_abandonment", "hours": 2, "reenter_days": 7},
        "channel": "sms", "control_share": 0.0,
        "variants": [{"name": "a", "message": {"body": {"zh": "购物车里的宝贝还在等你"}}}],
    })  # fmt: skip
    ws.campaigns.launch("cart", now=T0)
    persons = [("u1", "u1")]
    first = ws.campaigns.enroll("cart", persons, "cart_abandonment", T0)
    soon = ws.campaigns.enroll("cart", persons, "cart_abandonment", T0 + timedelta(days=3))
    later = T0 + timedelta(days=8)
    again = ws.campaigns.enroll("cart", persons, "cart_abandonment", later)
    same = ws.campaigns.enroll("cart", persons, "cart_abandonment", later)
    keys = sorted(s.send_key for s in ws.campaigns.sends("cart"))
    assert (first.queued, soon.reentered, again.reentered) == (1, 0, 1)
    assert same.reentered == same.new_sends == 0  # the same entry again: nothing
    assert keys == ["cart/u1/sms", "cart/u1/sms/20260310T090000Z"]


@pytest.fixture
def made_clients(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Client]:
    """Every httpx.Client the channels make, to check that each was closed."""
    made: list[httpx.Client] = []

    class Recorded(httpx.Client):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr("portrait.campaigns.channels.httpx.Client", Recorded)
    return made


def test_dispatch_closes_the_webhook_client_it_opened(
    ws: Workspace, made_clients: list[httpx.Client]
) -> None:
    sms_campaign(ws)
    with http_receiver([200]) as (rx, url):
        ws.settings.campaigns.sms.url = url
        first = ws.campaigns.dispatch(now=T0 + timedelta(days=1))
        assert first.sent == len(USERS)
        assert len(made_clients) == 1 and made_clients[0].is_closed
        sms_campaign(ws, "sms2")  # the next dispatch opens a new client, and closes it too
        second = ws.campaigns.dispatch(now=T0 + timedelta(days=1))
    assert second.sent == len(USERS) and len(rx.requests) == 2 * len(USERS)
    assert len(made_clients) == 2 and all(c.is_closed for c in made_clients)


class Explodes(WebhookChannel):
    def send(self, message: OutgoingMessage) -> str:
        super().send(message)
        raise RuntimeError("a bug after the provider answered")


def test_dispatch_closes_the_client_even_when_it_fails(
    ws: Workspace, made_clients: list[httpx.Client]
) -> None:
    sms_campaign(ws)
    with http_receiver([200]) as (_, url):
        ws.settings.campaigns.sms.url = url
        ws.campaigns.channels["sms"] = Explodes("sms", ws.settings.campaigns.sms)
        with pytest.raises(RuntimeError, match="a bug"):
            ws.campaigns.dispatch(now=T0 + timedelta(days=1))
    assert len(made_clients) == 1 and made_clients[0].is_closed


def test_closing_the_workspace_closes_a_channel_a_send_left_open(
    ws: Workspace, made_clients: list[httpx.Client]
) -> None:
    with http_receiver([200]) as (rx, url):
        ws.settings.campaigns.sms.url = url
        channel = ws.campaigns.channel("sms")
        channel.send(OutgoingMessage(
            send_key="c/p1/sms", campaign="c", channel="sms", user_id=USERS[0],
            address="+10000", language="en", subject="", body="hi",
        ))  # fmt: skip
        assert len(rx.requests) == 1 and not made_clients[0].is_closed
        ws.close()
    assert len(made_clients) == 1 and made_clients[0].is_closed
