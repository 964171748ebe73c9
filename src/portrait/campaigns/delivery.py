"""Dispatch: send the queued messages that are due, exactly once.

For each due row of the ledger, at send time: the campaign's schedule end, quiet hours (a
message that comes due in them waits for the next allowed hour), the person's consent to
marketing, the user's consent for the channel, a contact address, the frequency cap over every
campaign and the campaign's budget. A row that fails a check is recorded as suppressed with the
reason; one that passes is rendered, **claimed** (queued -> sending, in one statement) and only
then handed to the channel. The address (decrypted from the users table) and the rendered
message go to the channel and are never written to the ledger, which keeps the person, the
channel, the variant, the language, times, costs and the outcome. The outcome is written right
after: sent, a retry later (transient error, exponential backoff, up to
``retry.max_attempts``), or failed (permanent error, retries exhausted). A run that decrypted
contacts records one audit entry (``campaign.dispatch``): messages handed to channels, per
campaign and per channel, not one entry per person.

A dispatch that dies between the claim and the outcome leaves the row ``sending``. Once the
claim is older than ``claim_timeout_s`` the next dispatch resolves it: channels whose provider
deduplicates by the send key (webhooks, in-app) send it again with the same key; e-mail, where
SMTP servers would deliver a second copy, is failed as ``in_doubt`` instead of risking it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from portrait.campaigns import timing
from portrait.campaigns.channels import (
    ChannelNotConfiguredError,
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
    close_all,
)
from portrait.campaigns.definition import Campaign
from portrait.campaigns.personalise import address_of
from portrait.campaigns.results import Dispatched
from portrait.campaigns.templates import TemplateRenderError
from portrait.store import campaign_messages, campaign_state
from portrait.store import campaigns as store

if TYPE_CHECKING:
    from portrait.campaigns.service import CampaignService


def backoff(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: base, 2 x base, 4 x base..."""
    return min(base_s * 2 ** max(attempts - 1, 0), max_s)


def offer_cost(c: Campaign, variant: str, avg_order: float) -> float:
    """Expected offer cost of one send: redemption share x the discount on an average order."""
    v = next(v for v in c.variants if v.name == variant)
    return c.budget.expected_redemption * v.offer.discount(avg_order)


class Dispatcher:
    """One dispatch run over the ledger."""

    def __init__(self, service: CampaignService) -> None:
        self.service = service
        self.wh = service.wh
        self.settings = service.settings
        self.tz = service.tz
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self._campaigns: dict[str, Campaign | None] = {}
        self._spent: dict[str, list[float]] = {}
        self._avg_order: float | None = None
        self._marketing: set[str] = set()  # persons of the batch that consent to marketing
        # for the audit log: persons whose contact was decrypted, messages handed to channels
        self.decrypted = 0
        self.handed: Counter[tuple[str, str]] = Counter()  # (campaign, channel) -> messages

    # --- the loop -------------------------------------------------------------------------
    def run(
        self, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Dispatched:
        """Send what is due as of ``now`` (and retries that come due meanwhile)."""
        base = now or datetime.now(UTC)
        t0 = time.monotonic()

        def clock() -> datetime:
            return base + timedelta(seconds=time.monotonic() - t0)

        try:
            self._loop(clock, progress)
        finally:  # the SMTP session and HTTP clients this dispatch opened, even on error
            close_all(self.service.channels.values())
            if self.decrypted:  # one entry per run that opened contacts, even on error
                self.service.recorded("campaigns.dispatch", {}, self.audited())
        still_queued, next_due = store.queued_summary(self.wh)
        return Dispatched(
            at=base.isoformat(),
            processed=sum(self.counts.values()),
            sent=self.counts["sent"],
            suppressed=self.counts["suppressed"],
            failed=self.counts["failed"],
            retries=self.counts["retry"],
            rescheduled=self.counts["rescheduled"],
            in_doubt_resent=self.counts["in_doubt_resent"],
            reasons=dict(self.reasons.most_common()),
            still_queued=still_queued,
            next_due=next_due.isoformat() if next_due else None,
        )

    def audited(self) -> dict[str, Any]:
        """What the run's audit entry keeps: messages handed to channels (their addresses
        decrypted), per campaign and per channel, and how many persons' contacts it opened."""
        campaigns: Counter[str] = Counter()
        channels: Counter[str] = Counter()
        for (campaign, channel), n in self.handed.items():
            campaigns[campaign] += n
            channels[channel] += n
        return {
            "handed": sum(self.handed.values()), "campaigns": dict(campaigns),
            "channels": dict(channels), "contacts_decrypted": self.decrypted,
            "sent": self.counts["sent"],
        }  # fmt: skip

    def _loop(
        self, clock: Callable[[], datetime], progress: Callable[[int, int], None] | None
    ) -> None:
        """Rounds of due sends until none is due, waiting in-process for retries that come
        due within ``retry.wait_s``."""
        self._resolve_in_doubt(clock())
        done = 0
        while True:
            rows = store.due_sends(self.wh, clock(), self.settings.batch_size)
            if not rows:
                nxt = store.next_due(self.wh)
                wait = None if nxt is None else (nxt - clock()).total_seconds()
                if wait is None or wait > self.settings.retry.wait_s:
                    return
                time.sleep(max(wait, 0.0) + 0.001)
                continue
            self._batch(rows, clock)
            done += len(rows)
            if progress:
                progress(done, done + len(store.due_sends(self.wh, clock(), 1)))

    def _campaign(self, name: str) -> Campaign | None:
        if name not in self._campaigns:
            row = store.get_campaign(self.wh, name)
            ok = row is not None and row["status"] in ("launched", "running")
            self._campaigns[name] = Campaign.model_validate_json(row["definition"]) if ok else None
        return self._campaigns[name]

    def _resolve_in_doubt(self, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.settings.claim_timeout_s)
        for row in store.in_doubt(self.wh, cutoff):
            try:
                idempotent = self.service.channel(row["channel"]).idempotent
            except (ChannelNotConfiguredError, ValueError):
                idempotent = False
            if idempotent:
                store.update_send(self.wh, row["send_key"], now, status="queued")
                self.counts["in_doubt_resent"] += 1
            else:
                self._finish(
                    row, now, "failed", "in_doubt",
                    last_error="the dispatch that claimed it stopped before recording the "
                    "outcome; not sent again, to avoid a duplicate",
                )  # fmt: skip

    # --- one batch ------------------------------------------------------------------------
    def _batch(self, rows: list[dict[str, Any]], clock: Callable[[], datetime]) -> None:
        pids = list({r["person_id"] for r in rows})
        contacts = store.contacts(self.wh, pids, self.service.pii())  # decrypted to send
        self.decrypted += len(contacts)
        users = list({r["user_id"] for r in rows if r["user_id"]})
        consents = campaign_state.consents(self.wh, users)
        self._marketing = self.service.consents.allowed("marketing", pids)  # now, not at launch
        tags = self.service.personaliser.tags(pids)
        recent: dict[float, dict[str, int]] = {}
        now = clock()
        self.service.personaliser.prefetch(
            [
                r["user_id"] or r["person_id"]
                for r in rows
                if r["person_id"] in self._marketing
                and consents.get((r["user_id"], r["channel"]),
                                 self.settings.consent_default[r["channel"]])
                and address_of(r["channel"], r["user_id"] or r["person_id"],
                               contacts.get(r["person_id"]))
            ]
        )  # fmt: skip
        for row in rows:
            c = self._campaign(row["campaign"])
            if c is None:
                self._finish(row, now, "suppressed", "campaign_not_running")
                continue
            days = c.caps.per_days
            if days not in recent:
                since = now - timedelta(days=days)
                recent[days] = store.recent_sends(self.wh, pids, since)
            self._one(row, c, contacts.get(row["person_id"]), consents, tags, recent[days], clock)

    def _one(
        self,
        row: dict[str, Any],
        c: Campaign,
        contact: dict[str, Any] | None,
        consents: dict[tuple[str, str], bool],
        tags: dict[str, dict[str, Any]],
        recent: dict[str, int],
        clock: Callable[[], datetime],
    ) -> None:
        now = clock()
        pid, uid, channel = row["person_id"], row["user_id"] or row["person_id"], row["channel"]
        if timing.after_end(c, now, self.tz):
            return self._finish(row, now, "suppressed", "schedule_ended")
        allowed = timing.next_allowed(now, self.tz, c.schedule.quiet_hours)
        if allowed > now:
            store.update_send(self.wh, row["send_key"], now, scheduled_at=allowed)
            self.counts["rescheduled"] += 1
            return None
        if pid not in self._marketing:
            return self._finish(row, now, "suppressed", "no_marketing_consent")
        if not consents.get((uid, channel), self.settings.consent_default[channel]):
            return self._finish(row, now, "suppressed", "no_consent")
        address = address_of(channel, uid, contact)
        if not address:
            return self._finish(row, now, "suppressed", "no_address")
        if recent.get(pid, 0) >= c.caps.max_messages:
            return self._finish(row, now, "suppressed", "frequency_cap")
        sends, spent = self._spent_of(c.name)
        cost = c.send_cost
        expected = offer_cost(c, row["variant"], self._aov())
        if c.budget.max_sends is not None and sends >= c.budget.max_sends:
            return self._finish(row, now, "suppressed", "budget_max_sends")
        if c.budget.max_cost is not None and spent + cost + expected > c.budget.max_cost:
            return self._finish(row, now, "suppressed", "budget_max_cost")
        try:
            channel_impl = self.service.channel(channel)
        except ChannelNotConfiguredError as e:
            return self._finish(row, now, "failed", "channel_not_configured", last_error=str(e))
        variant = next(v for v in c.variants if v.name == row["variant"])
        try:
            language, subject, body = self.service.personaliser.render(
                c, variant, uid, contact, tags.get(pid)
            )
        except TemplateRenderError as e:
            return self._finish(row, now, "failed", "template_error", last_error=str(e))
        # the ledger keeps who and how, not where to nor what: the address and the rendered
        # message go to the channel only (a retry resolves and renders them again)
        claimed = store.claim_send(
            self.wh, row["send_key"], now,
            {"language": language, "cost": cost, "offer_cost": expected, "user_id": uid},
        )  # fmt: skip
        if not claimed:
            return None  # another dispatch has it
        recent[pid] = recent.get(pid, 0) + 1
        self._spent[c.name] = [sends + 1, spent + cost + expected]
        message = OutgoingMessage(
            send_key=row["send_key"], campaign=c.name, channel=channel, user_id=uid,
            address=address, language=language, subject=subject, body=body,
        )  # fmt: skip
        attempts = row["attempts"] + 1
        self.handed[(c.name, channel)] += 1
        try:
            provider_id = channel_impl.send(message)
        except TransientChannelError as e:
            recent[pid] -= 1
            self._spent[c.name] = [sends, spent]
            return self._transient(row, attempts, str(e), clock())
        except PermanentChannelError as e:
            recent[pid] -= 1
            self._spent[c.name] = [sends, spent]
            return self._finish(row, clock(), "failed", "permanent_error", last_error=str(e))
        done = clock()
        store.update_send(
            self.wh, row["send_key"], done, status="sent", sent_at=done, provider_id=provider_id,
            reason=None, next_attempt_at=None,
        )  # fmt: skip
        self.counts["sent"] += 1
        return None

    def _transient(self, row: dict[str, Any], attempts: int, error: str, now: datetime) -> None:
        retry = self.settings.retry
        if attempts >= retry.max_attempts:
            return self._finish(row, now, "failed", "retries_exhausted", last_error=error)
        wait = backoff(attempts, retry.backoff_s, retry.max_backoff_s)
        store.update_send(
            self.wh, row["send_key"], now, status="queued", last_error=error,
            next_attempt_at=now + timedelta(seconds=wait),
        )  # fmt: skip
        self.counts["retry"] += 1
        return None

    def _finish(
        self, row: dict[str, Any], now: datetime, status: str, reason: str, **fields: Any
    ) -> None:
        store.update_send(self.wh, row["send_key"], now, status=status, reason=reason, **fields)
        self.counts[status] += 1
        self.reasons[reason] += 1

    def _spent_of(self, campaign: str) -> tuple[int, float]:
        if campaign not in self._spent:
            self._spent[campaign] = list(store.campaign_spent(self.wh, campaign))
        sends, spent = self._spent[campaign]
        return int(sends), float(spent)

    def _aov(self) -> float:
        if self._avg_order is None:
            self._avg_order = campaign_messages.avg_order_value(self.wh)
        return self._avg_order
