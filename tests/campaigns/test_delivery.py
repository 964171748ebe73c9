"""The send pipeline on a small built shop: real SMTP and webhook receivers, exactly-once across
re-dispatch, re-launch and a crash with a restart, retries with backoff, consent, caps, budget."""

from __future__ import annotations

import email
import email.policy
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from campaign_shop import copy_shop, http_receiver, set_campaign_settings, smtp_server

from portrait.campaigns.channels import EmailChannel, OutgoingMessage
from portrait.campaigns.service import CampaignConflictError
from portrait.store.campaigns import contacts
from portrait.workspace import Workspace

NOW = datetime(2025, 2, 11, 9, tzinfo=UTC)  # 09:00 in the shop (UTC): not quiet
LATER = NOW + timedelta(days=2)  # every best hour has come by then
SEGMENT = "orders_total > 0"


def definition(name: str, channel: str = "email", **extra) -> dict:
    return {
        "name": name, "segment": SEGMENT, "channel": channel, "control_share": 0.2,
        "variants": [
            {"name": "discount", "offer": {"type": "threshold", "threshold": 199, "amount": 20},
             "message": {"subject": {"zh": "{{ name }}，{{ offer.text }}",
                                     "en": "{{ offer.text }}"},
                         "body": {"zh": "{{ offer.text }}，欢迎回来", "en": "Welcome back"}}},
            {"name": "care", "message": {"subject": {"en": "We miss you"},
                                         "body": {"en": "Hi {{ name }}"}}},
        ],
        **extra,
    }  # fmt: skip


@pytest.fixture
def shop(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return copy_shop(tmp_path_factory.getbasetemp(), tmp_path / "ws")


def person_ids(sends) -> list[str]:
    return sorted({s.person_id for s in sends})


def statuses(ws: Workspace, name: str) -> Counter:
    return Counter(s.status for s in ws.campaigns.sends(name))


def recipients(box) -> Counter:
    return Counter(to for m in box.messages for to in m["to"])


def test_email_campaign_sends_once_per_treated_person_with_an_address(shop: Path) -> None:
    with smtp_server() as (box, port):
        set_campaign_settings(shop, smtp={"host": "127.0.0.1", "port": port})
        with Workspace.open(shop) as ws:
            ws.campaigns.create(definition("winback"))
            launched = ws.campaigns.launch("winback", now=NOW)
            first = ws.campaigns.dispatch(now=LATER)
            again = ws.campaigns.dispatch(now=LATER + timedelta(days=1))
            relaunch = ws.campaigns.launch("winback", now=LATER)
            sends = ws.campaigns.sends("winback")
            shown = ws.campaigns.show("winback")
            # the ledger keeps the person, not the address (read from users, decrypted)
            to = {
                p: c["email"] for p, c in contacts(ws.warehouse, person_ids(sends), ws.pii).items()
            }
        with Workspace.open(shop) as ws:  # a restart
            after_restart = ws.campaigns.dispatch(now=LATER + timedelta(days=3))
            ws.warehouse.execute("CHECKPOINT")
            kept = ws.warehouse.fetchone(
                "SELECT count(*) FROM campaign_sends WHERE address IS NOT NULL "
                "OR subject IS NOT NULL OR body IS NOT NULL"
            )[0]
    treated = launched.arms["discount"] + launched.arms["care"]
    assert launched.queued == treated == len(sends) and launched.arms["control"] > 0
    sent = [s for s in sends if s.status == "sent"]
    no_address = [s for s in sends if s.reason == "no_address"]
    assert no_address and len(sent) + len(no_address) == treated
    assert first.sent == len(sent) == len(box.messages)
    assert again.processed == after_restart.processed == 0
    assert relaunch.entered == 0 and relaunch.already_in == launched.entered
    assert max(recipients(box).values()) == 1
    assert {to[s.person_id] for s in sent} == set(recipients(box))
    assert kept == 0  # no address, subject or body in the ledger, nor in any file
    assert [f.name for f in shop.iterdir() if f.is_file() and any(
        a.encode() in f.read_bytes() for a in recipients(box))] == []  # fmt: skip
    assert shown.sends == {"sent": len(sent), "suppressed": len(no_address)}
    parsed = [
        email.message_from_bytes(m["data"], policy=email.policy.default) for m in box.messages
    ]
    zh = next(s for s in sent if s.language == "zh" and s.variant == "discount")
    mail = next(p for p in parsed if p["To"] == to[zh.person_id])
    assert mail["Subject"].endswith("满199减20")
    assert "满199减20，欢迎回来" in mail.get_content()
    assert all(s.scheduled_at >= NOW for s in sends)


class CrashingEmail(EmailChannel):
    """Delivers, then dies before the dispatch can record it (on the ``at``-th message)."""

    def __init__(self, settings, at: int) -> None:
        super().__init__(settings)
        self.calls, self.at = 0, at

    def send(self, message: OutgoingMessage) -> str:
        self.calls += 1
        provider_id = super().send(message)
        if self.calls == self.at:
            raise RuntimeError("process killed")
        return provider_id


def test_a_crash_after_the_claim_never_leads_to_a_second_email(shop: Path) -> None:
    with smtp_server() as (box, port):
        set_campaign_settings(shop, smtp={"host": "127.0.0.1", "port": port})
        ws = Workspace.open(shop)
        ws.campaigns.create(definition("crash"))
        ws.campaigns.launch("crash", now=NOW)
        ws.campaigns.channels["email"] = CrashingEmail(ws.settings.campaigns.smtp, at=3)
        with pytest.raises(RuntimeError, match="process killed"):
            ws.campaigns.dispatch(now=LATER)
        assert statuses(ws, "crash")["sending"] == 1
        ws.close()
        with Workspace.open(shop) as ws:  # restart, after the claim timeout
            result = ws.campaigns.dispatch(now=LATER + timedelta(hours=1))
            sends = ws.campaigns.sends("crash")
            to = {
                p: c["email"] for p, c in contacts(ws.warehouse, person_ids(sends), ws.pii).items()
            }
    doubt = [s for s in sends if s.reason == "in_doubt"]
    sent = [s for s in sends if s.status == "sent"]
    assert len(doubt) == 1 and doubt[0].status == "failed" and result.failed == 1
    assert max(recipients(box).values()) == 1  # nobody got two
    assert len(box.messages) == len(sent) + 1  # the in-doubt one did arrive, once
    assert to[doubt[0].person_id] in recipients(box)


def test_transient_failures_are_retried_with_backoff_then_sent(shop: Path) -> None:
    # the provider answers 503 twice to every message, then accepts it
    with http_receiver([503, 503, 200], per_key=True) as (rx, url):
        set_campaign_settings(
            shop, sms={"url": url}, retry={"max_attempts": 4, "backoff_s": 0.01, "wait_s": 1.0}
        )
        with Workspace.open(shop) as ws:
            ws.campaigns.create(definition("retry", "sms", budget={"max_sends": 3}))
            queued = ws.campaigns.launch("retry", now=NOW).queued
            result = ws.campaigns.dispatch(now=LATER)
            sends = [s for s in ws.campaigns.sends("retry") if s.status == "sent"]
    assert result.sent == len(sends) == 3
    assert result.reasons == {"budget_max_sends": queued - 3}
    assert all(s.attempts == 3 and "HTTP 503" in s.last_error for s in sends)
    keys = Counter(r["headers"]["Idempotency-Key"] for r in rx.requests)
    assert all(keys[s.send_key] == 3 for s in sends)
    # at most two tries for the rest before the budget stops them
    assert max(keys.values()) == 3 and len(rx.requests) <= 2 * queued + 3


def test_permanent_failures_are_failed_at_once_and_exhausted_retries_stop(shop: Path) -> None:
    with http_receiver([400]) as (rx, url):
        set_campaign_settings(shop, push={"url": url}, retry={"backoff_s": 0.0, "max_attempts": 3})
        with Workspace.open(shop) as ws:
            ws.campaigns.create(definition("bad", "push", budget={"max_sends": 4}))
            ws.campaigns.launch("bad", now=NOW)
            first = ws.campaigns.dispatch(now=LATER)
            second = ws.campaigns.dispatch(now=LATER + timedelta(days=1))
            failed = [s for s in ws.campaigns.sends("bad") if s.status == "failed"]
    assert first.reasons["permanent_error"] == len(failed) == len(rx.requests)
    assert second.processed == 0 and all(s.attempts == 1 for s in failed)
    assert "HTTP 400" in failed[0].last_error
    with http_receiver([503]) as (rx, url):
        set_campaign_settings(shop, push={"url": url})
        with Workspace.open(shop) as ws:
            ws.campaigns.create(definition("down", "push", budget={"max_sends": 2}))
            ws.campaigns.launch("down", now=NOW + timedelta(days=30))
            r = ws.campaigns.dispatch(now=LATER + timedelta(days=30))
    assert r.reasons == {"retries_exhausted": r.failed} and r.failed > 0
    assert len(rx.requests) == 3 * r.failed  # max_attempts each, then it stops


def test_consent_caps_and_budget_are_checked_at_send_time(shop: Path) -> None:
    with Workspace.open(shop) as ws:
        cs = ws.campaigns
        cs.create(definition("first", "in_app", caps={"max_messages": 1, "per_days": 7}))
        cs.create(definition("second", "in_app", caps={"max_messages": 1, "per_days": 7}))
        cs.create(definition("capped", "in_app", budget={"max_sends": 5}))
        cs.launch("first", now=NOW)
        queued = [s.user_id for s in cs.sends("first")]
        cs.set_consent(queued[0], "in_app", False, source="unsubscribe link")
        r1 = cs.dispatch(now=LATER)
        cs.launch("second", now=LATER)
        r2 = cs.dispatch(now=LATER + timedelta(days=2))
        cs.launch("capped", now=LATER + timedelta(days=30))
        r3 = cs.dispatch(now=LATER + timedelta(days=32))
        inbox = cs.inbox(queued[1])
        assert cs.mark_read(queued[1]) == len(inbox) and cs.inbox(queued[1], unread_only=True) == []
        assert cs.inbox(queued[0]) == []
        consent = cs.consent(queued[0]).channels
    assert r1.reasons == {"no_consent": 1} and r1.sent == len(queued) - 1
    assert consent["in_app"].granted is False and consent["in_app"].source == "unsubscribe link"
    assert consent["in_app"].updated_at is not None
    assert consent["email"].source == "default"
    # the second campaign's persons who got the first one within 7 days are capped
    assert r2.reasons.get("frequency_cap", 0) > 0
    assert r2.reasons.get("no_consent", 0) == (1 if queued[0] in _users(shop, "second") else 0)
    others = r3.reasons.get("no_consent", 0)
    assert r3.sent == 5 and r3.reasons["budget_max_sends"] == r3.processed - 5 - others
    assert inbox and inbox[0].campaign == "first"


def _users(shop: Path, name: str) -> set[str]:
    with Workspace.open(shop, read_only=True) as ws:
        return {r[0] for r in ws.warehouse.fetchall(
            "SELECT user_id FROM campaign_sends WHERE campaign = ?", [name])}  # fmt: skip


def test_quiet_hours_at_dispatch_and_enrolment_by_journeys(shop: Path) -> None:
    with Workspace.open(shop) as ws:
        cs = ws.campaigns
        cs.create(definition("journey", "in_app", segment=None,
                             trigger={"type": "win_back"}))  # fmt: skip
        launched = cs.launch("journey", now=NOW)
        assert launched.status == "running" and launched.entered == 0
        persons = [(p, p) for p in ("u0000001", "u0000002", "u0000003", "u0000004")]
        first = cs.enroll("journey", persons, source="win_back", at=NOW)
        again = cs.enroll("journey", persons, source="win_back", at=NOW + timedelta(days=1))
        assert first.entered == 4 and (again.entered, again.already_in) == (0, 4)
        late = datetime(2025, 2, 14, 23, 30, tzinfo=UTC)  # 23:30 UTC: quiet
        r = cs.dispatch(now=late)
        rows = [s for s in cs.sends("journey")]
        pre = ws.warehouse.fetchall(
            "SELECT count(*), count(pre_spend) FROM campaign_assignments WHERE campaign = 'journey'"
        )[0]
    assert r.sent == 0 and r.rescheduled == first.queued
    assert all(s.scheduled_at == datetime(2025, 2, 15, 8, tzinfo=UTC) for s in rows)
    assert pre == (4, 4)


def test_a_journey_launch_enrolls_only_whom_the_trigger_lets_in(shop: Path) -> None:
    """A campaign with a trigger and a segment: the segment narrows the trigger, it is not
    enrolled as a whole at launch."""
    with Workspace.open(shop) as ws:
        cs = ws.campaigns
        cs.create(definition("carts", "in_app", trigger={"type": "cart_abandonment"}))
        segment_size = len(cs.audience(cs.get("carts")))
        dry = cs.launch("carts", dry_run=True, now=NOW)
        assert cs.show("carts").status == "draft" and dry.journey.candidates >= 0
        launched = cs.launch("carts", now=NOW)
        step = launched.journey
        assigned = ws.warehouse.fetchall(
            "SELECT count(*) FROM campaign_assignments WHERE campaign = 'carts'"
        )[0][0]
    assert segment_size > 0 and launched.status == "running"
    assert assigned == launched.entered == step.entering <= step.candidates
    assert assigned < segment_size


def test_a_stopped_campaign_sends_nothing_more(shop: Path) -> None:
    with Workspace.open(shop) as ws:
        cs = ws.campaigns
        cs.create(definition("stopme", "in_app"))
        with pytest.raises(CampaignConflictError, match="draft"):
            cs.stop("stopme")
        queued = cs.launch("stopme", now=NOW).queued
        r = cs.stop("stopme", now=NOW)
        sent = cs.dispatch(now=NOW + timedelta(days=1)).sent
        reasons = Counter(s.reason for s in cs.sends("stopme"))
        with pytest.raises(CampaignConflictError, match="stopped"):
            cs.launch("stopme", now=NOW)
        with pytest.raises(CampaignConflictError, match="stopped"):
            cs.enroll("stopme", [("u0000001", "u0000001")], source="test", at=NOW)
        assert cs.stop("stopme").withdrawn == 0  # stopping twice changes nothing
        status = cs.show("stopme").status
    assert queued > 0 and r.model_dump() == {
        "campaign": "stopme",
        "status": "stopped",
        "withdrawn": queued,
    }
    assert sent == 0 and reasons["campaign_stopped"] == queued and status == "stopped"
