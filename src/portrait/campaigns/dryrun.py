"""``launch --dry-run``: what a launch would do, changing nothing.

Per arm: persons; of the treated newcomers, how many would be sent and how many suppressed by
reason (consent, address, frequency cap, budget, as they stand now); the cost estimate; and one
rendered message per variant and language, for a real user of that language where there is one.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from portrait.campaigns import assign
from portrait.campaigns.definition import Campaign
from portrait.campaigns.delivery import offer_cost
from portrait.campaigns.enrolment import arms_for
from portrait.campaigns.personalise import address_of
from portrait.campaigns.results import DryRun, DryRunCost, MessageSample
from portrait.campaigns.templates import (
    TemplateRenderError,
    offer_context,
    render_message,
    sample_context,
)
from portrait.security.masking import mask_contact
from portrait.store import campaign_messages, campaign_state
from portrait.store import campaigns as store

if TYPE_CHECKING:
    from portrait.campaigns.service import CampaignService

Person = tuple[str, str | None]


def dry_run(
    service: CampaignService,
    c: Campaign,
    persons: list[Person],
    now: datetime,
    show_pii: bool = True,
) -> DryRun:
    """The launch of ``c`` for ``persons`` as it would happen at ``now`` (``show_pii`` False:
    the sample messages render the person's PII masked)."""
    wh = service.wh
    users = {p: u or p for p, u in persons}
    pids = list(users)
    already = store.assigned(wh, c.name, pids) if pids else set()
    new = [p for p in pids if p not in already]
    arms = arms_for(service, c, new, save=False)
    treated = [p for p in new if arms[p] != assign.CONTROL]
    contacts = store.contacts(wh, treated) if treated else {}
    consents = campaign_state.consents(wh, [users[p] for p in treated]) if treated else {}
    recent = store.recent_sends(wh, treated, now - timedelta(days=c.caps.per_days))
    default = service.settings.consent_default[c.channel]
    aov = campaign_messages.avg_order_value(wh)
    sends, spent = store.campaign_spent(wh, c.name)
    reasons: Counter[str] = Counter()
    per_arm: Counter[str] = Counter()
    offer_total = 0.0
    for p in treated:
        uid = users[p]
        expected = offer_cost(c, arms[p], aov)
        if not consents.get((uid, c.channel), default):
            reasons["no_consent"] += 1
        elif not address_of(c.channel, uid, contacts.get(p)):
            reasons["no_address"] += 1
        elif recent.get(p, 0) >= c.caps.max_messages:
            reasons["frequency_cap"] += 1
        elif c.budget.max_sends is not None and sends >= c.budget.max_sends:
            reasons["budget_max_sends"] += 1
        elif c.budget.max_cost is not None and spent + c.send_cost + expected > c.budget.max_cost:
            reasons["budget_max_cost"] += 1
        else:
            sends += 1
            spent += c.send_cost + expected
            offer_total += expected
            per_arm[arms[p]] += 1
    n = sum(per_arm.values())
    return DryRun(
        campaign=c.name,
        channel=c.channel,
        persons=len(pids),
        already_in=len(already),
        arms=assign.arm_counts(arms[p] for p in new),
        would_send=n,
        would_send_by_arm=dict(sorted(per_arm.items())),
        suppressed=dict(reasons.most_common()),
        cost=DryRunCost(
            sends=n,
            send_cost=round(n * c.send_cost, 4),
            expected_offer_cost=round(offer_total, 2),
            total=round(n * c.send_cost + offer_total, 2),
            average_order_value=round(aov, 2),
            expected_redemption=c.budget.expected_redemption,
        ),
        samples=samples(service, c, treated, users, contacts, show_pii),
    )


def samples(
    service: CampaignService,
    c: Campaign,
    treated: list[str],
    users: dict[str, str],
    contacts: dict[str, dict[str, Any]],
    show_pii: bool = True,
) -> list[MessageSample]:
    """One rendered message per variant and language, for a real user where there is one:
    their contact decrypted (masked unless ``show_pii``), the preview recorded in the audit
    log (``campaign.preview``, the users by pseudonym) when it rendered one."""
    tags = service.personaliser.tags(treated[:2000])
    by_language: dict[str, str] = {}
    for p in treated[:2000]:
        lang = (contacts.get(p) or {}).get("language") or (tags.get(p) or {}).get("language")
        by_language.setdefault(str(lang), p)
    chosen = sorted(set(by_language.values()))
    contacts = store.contacts(service.wh, chosen, service.pii()) if chosen else {}
    if not show_pii:
        contacts = {p: mask_contact(v) or {} for p, v in contacts.items()}
    out = []
    for v in c.variants:
        for language in v.message.body:
            p = by_language.get(language)
            try:
                if p is not None:
                    lang, subject, body = service.personaliser.render(
                        c, v, users[p], contacts.get(p), tags.get(p)
                    )
                else:  # nobody speaks it in this audience: a made-up user
                    ctx = sample_context(language, offer_context(v.offer, language))
                    lang, (subject, body) = language, render_message(v.message, language, ctx)
            except TemplateRenderError as e:
                out.append(MessageSample(variant=v.name, language=language, error=str(e)))
                continue
            out.append(
                MessageSample(variant=v.name, language=lang, user_id=users[p] if p else None,
                              subject=subject, body=body)
            )  # fmt: skip
    if chosen:
        arguments = {"name": c.name, "show_pii": show_pii}
        service.recorded("campaigns.launch", arguments, [users[p] for p in chosen])
    return out
