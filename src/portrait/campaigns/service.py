"""The campaign facade a Workspace exposes as ``ws.campaigns``.

>>> ws.campaigns.create(load_campaign_file("examples/campaigns/winback.yaml"))  # doctest: +SKIP
>>> ws.campaigns.launch("winback", dry_run=True).arms                            # doctest: +SKIP
{'control': 31, 'discount': 142, 'perk': 139}
>>> ws.campaigns.launch("winback")                                               # doctest: +SKIP
>>> ws.campaigns.dispatch().sent                                                 # doctest: +SKIP

A launch assigns every person of the target segment to the control group or a variant and
queues one send per treated person in the ledger (``campaign_sends``); ``dispatch`` sends what
is due, checking consent, caps and budget at send time. Journeys add persons with ``enroll``.
The service works on what it is given (the warehouse, the settings, the segment and profile
services, a way to recommend products), never on the whole workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from portrait.campaigns import consent, enrolment, journeys, playbook, report
from portrait.campaigns.audience import Audiences, Person
from portrait.campaigns.channels import Channel, make_channel
from portrait.campaigns.definition import Campaign, CampaignDefinitionError, parse_campaign
from portrait.campaigns.errors import CampaignConflictError, CampaignNotFoundError
from portrait.campaigns.personalise import Personaliser, Recommend
from portrait.campaigns.results import (
    BanditState,
    CampaignPublic,
    CampaignReport,
    CampaignSummary,
    ConsentImport,
    ConsentState,
    Dispatched,
    Enrolment,
    InboxMessage,
    JourneysRun,
    JourneyStarted,
    Launched,
    LaunchResult,
    Send,
    Stopped,
    Suggestions,
    TargetingSummary,
    UpliftCheck,
)
from portrait.campaigns.settings import CampaignSettings
from portrait.campaigns.templates import validate_templates
from portrait.consent.policy import Consents
from portrait.store import campaign_state
from portrait.store import campaigns as store

if TYPE_CHECKING:
    from portrait.audit.recorded import Recorder
    from portrait.config import Settings
    from portrait.security.pii import PiiCipher
    from portrait.segments.service import SegmentService
    from portrait.store.warehouse import Warehouse
    from portrait.tags.service import ProfileService

Progress = Callable[[int, int], None]


class CampaignService:
    """Campaigns of one workspace: definitions, launches, the send ledger, consent, inbox."""

    def __init__(
        self,
        warehouse: Warehouse,
        settings: Settings,
        segments: SegmentService,
        profiles: ProfileService,
        recommend: Recommend | None = None,
        pii: Callable[[], PiiCipher | None] = lambda: None,
        recorded: Recorder | None = None,
    ) -> None:
        self.wh = warehouse
        # the cipher that opens the contacts a send needs (the workspace's current one)
        self.pii = pii
        # records what decrypts contacts in the audit log: a dispatch run, a launch preview
        self.recorded = recorded or (lambda name, arguments, result: None)
        self._settings = settings
        self.consents = Consents(warehouse, settings)  # per purpose: marketing for campaigns
        self.audiences = Audiences(segments, profiles)
        self.personaliser = Personaliser(warehouse, self.audiences, settings.name, recommend)
        # channel objects by name; tests and embedders may put their own here
        self.channels: dict[str, Channel] = {}

    @property
    def settings(self) -> CampaignSettings:
        """The ``[campaigns]`` settings (read each time: a caller may change them)."""
        return self._settings.campaigns

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self._settings.shop_timezone)

    def channel(self, name: str) -> Channel:
        """The configured channel (made on first use)."""
        if name not in self.channels:
            self.channels[name] = make_channel(
                name, self.settings, lambda m: campaign_state.put_inapp(self.wh, m)
            )
        return self.channels[name]

    # --- definitions ----------------------------------------------------------------------
    def create(
        self, definition: dict[str, Any] | Campaign, replace: bool = False
    ) -> CampaignPublic:
        """Validate and store a draft; ``replace`` overwrites a draft of the same name."""
        c = definition if isinstance(definition, Campaign) else parse_campaign(definition)
        validate_templates(c)
        if c.segment is not None:
            self.audiences.check(c.segment)
        self._check_targeting(c)
        existing = store.get_campaign(self.wh, c.name)
        if existing and not replace:
            raise CampaignConflictError(
                f"campaign {c.name!r} exists ({existing['status']}); delete it first or replace "
                'the draft (--replace; over REST, "replace": true)'
            )
        if existing and existing["status"] != "draft":
            raise CampaignConflictError(
                f"campaign {c.name!r} is {existing['status']}: its definition cannot change; "
                "create a new campaign under another name"
            )
        store.put_campaign(self.wh, c.name, c.model_dump_json(), datetime.now(UTC))
        return self.show(c.name)

    def _check_targeting(self, c: Campaign) -> None:
        """Uplift targeting learns from a campaign that was launched with a control group."""
        if c.targeting is None:
            return
        past = store.get_campaign(self.wh, c.targeting.uplift_from)
        if past is None or past["status"] == "draft":
            state = "does not exist" if past is None else "was never launched"
            raise CampaignDefinitionError(
                f"targeting.uplift_from: campaign {c.targeting.uplift_from!r} {state}; name a "
                "past campaign launched with a control group (see `portrait campaign list`)"
            )

    def get(self, name: str) -> Campaign:
        """The validated definition of a stored campaign."""
        return Campaign.model_validate_json(self._row(name)["definition"])

    def _row(self, name: str) -> dict[str, Any]:
        row = store.get_campaign(self.wh, name)
        if row is None:
            known = [r["name"] for r in store.list_campaigns(self.wh)]
            hint = f" (known: {', '.join(known[:10])})" if known else ""
            raise CampaignNotFoundError(f"no campaign {name!r}{hint}; see `portrait campaign list`")
        return row

    def list(self) -> list[CampaignSummary]:
        """Every campaign with its status, channel, audience and send counts."""
        out = []
        for row in store.list_campaigns(self.wh):
            c = Campaign.model_validate_json(row["definition"])
            counts = store.campaign_counts(self.wh, c.name)
            out.append(CampaignSummary(
                name=c.name, status=row["status"], channel=c.channel, segment=c.segment,
                trigger=c.trigger.type if c.trigger else None,
                variants=[v.name for v in c.variants], persons=sum(counts["arms"].values()),
                sent=counts["sends"].get("sent", 0), created_at=row["created_at"].isoformat(),
            ))  # fmt: skip
        return out

    def show(self, name: str) -> CampaignPublic:
        """Definition, status, persons per arm, sends per status and reasons, cost so far."""
        row = self._row(name)
        return CampaignPublic(
            name=name,
            status=row["status"],
            created_at=row["created_at"].isoformat(),
            launched_at=row["launched_at"].isoformat() if row["launched_at"] else None,
            build_id=row["build_id"],
            definition=Campaign.model_validate_json(row["definition"]),
            **store.campaign_counts(self.wh, name),
        )

    def launch_day(self, name: str) -> date | None:
        """The day campaign ``name`` was launched (None for a draft)."""
        launched = self._row(name)["launched_at"]
        return launched.date() if launched else None

    def delete(self, name: str) -> None:
        """Forget a draft (a launched campaign keeps its ledger: it is history)."""
        row = self._row(name)
        if row["status"] != "draft":
            raise CampaignConflictError(
                f"campaign {name!r} is {row['status']}: only drafts can be deleted"
            )
        store.delete_campaign(self.wh, name)

    # --- launching ------------------------------------------------------------------------
    def audience(self, c: Campaign) -> list[Person]:
        """The persons of the campaign's segment (a saved segment's name or an expression) in
        the latest build, with the user id messages go to; with uplift targeting, only those it
        keeps (see ``audience_with_targeting``)."""
        return self.audience_with_targeting(c)[0]

    def audience_with_targeting(self, c: Campaign) -> tuple[list[Person], TargetingSummary | None]:
        """The audience and, with uplift targeting, what the model kept and why."""
        return self._audience(c)[:2]

    def _audience(self, c: Campaign) -> tuple[list[Person], TargetingSummary | None, int]:
        """The audience, the targeting summary, and how many persons of the segment were left
        out because they do not consent to marketing."""
        if c.segment is None and c.targeting is None:
            return [], None, 0
        everyone, refused = self.audiences.persons(c)
        marketing = self.consents.allowed("marketing", everyone)
        pids = [p for p in everyone if p in marketing]
        summary = None
        if c.targeting is not None:
            from portrait.campaigns import targeting  # loads the uplift learners

            pids, summary = targeting.pick(self, c, pids)
        contacts = store.contacts(self.wh, pids)
        persons = [(p, (contacts.get(p) or {}).get("user_id") or p) for p in pids]
        return persons, summary, refused + len(everyone) - len(pids)

    def profile_table(
        self, as_of: str | date | None = None, tags: list[str] | None = None
    ) -> pa.Table:
        """The profile table of a build (default: the live one), as uplift models read it."""
        return self.audiences.profile_table(as_of, tags)

    def launch(
        self,
        name: str,
        dry_run: bool = False,
        now: datetime | None = None,
        progress: Progress | None = None,
        show_pii: bool = True,
    ) -> LaunchResult:
        """Assign the segment's persons and queue their sends (again: only newcomers);
        ``dry_run`` changes nothing and says what would happen (``show_pii`` False: its
        sample messages render the person's name and addresses masked).

        A campaign with a trigger is a journey: launching starts it (status ``running``) and
        runs its first journey step now; its segment only narrows whom the trigger lets in, so
        the segment is not enrolled as a whole."""
        c = self.get(name)
        now = now or datetime.now(UTC)
        if self._row(name)["status"] == "stopped":
            raise CampaignConflictError(
                f"campaign {name!r} was stopped; create a new campaign to send again"
            )
        if c.trigger is not None:
            return self._start_journey(name, c, dry_run, now)
        persons, kept, refused = self._audience(c)
        if dry_run:
            from portrait.campaigns.dryrun import dry_run as simulate

            dry = simulate(self, c, persons, now, show_pii)
            return dry.model_copy(update={"targeting": kept, "no_marketing_consent": refused})
        build_id = self.audiences.latest_build()["build_id"]
        source = "uplift" if c.targeting else "segment"
        result = self.enroll(name, persons, source, now, progress)
        store.set_status(self.wh, name, "launched", now, build_id)
        return Launched(
            **result.model_dump(), status="launched", build_id=build_id, targeting=kept,
            no_marketing_consent=refused,
        )  # fmt: skip

    def _start_journey(
        self, name: str, c: Campaign, dry_run: bool, now: datetime
    ) -> JourneyStarted:
        if not dry_run:
            store.set_status(self.wh, name, "running", now, None)
        step = journeys.run_campaign(self, name, c, now, dry_run=dry_run)
        return JourneyStarted(
            campaign=name, status="running", dry_run=dry_run, entered=step.entered, journey=step
        )

    def stop(self, name: str, now: datetime | None = None) -> Stopped:
        """Stop a campaign for good: nothing more is sent, queued sends are withdrawn (kept in
        the ledger as suppressed, reason campaign_stopped), a journey lets nobody in; its
        results stay reportable."""
        row = self._row(name)
        if row["status"] == "draft":
            raise CampaignConflictError(
                f"campaign {name!r} is a draft: nothing to stop (delete it instead)"
            )
        if row["status"] == "stopped":
            return Stopped(campaign=name, status="stopped", withdrawn=0)
        withdrawn = store.stop_campaign(self.wh, name, now or datetime.now(UTC))
        return Stopped(campaign=name, status="stopped", withdrawn=withdrawn)

    def uplift_check(
        self, name: str, method: str = "class_transformation", learner: str = "lightgbm"
    ) -> UpliftCheck:
        """How well an uplift model learnt from past campaign ``name`` ranks persons (fitted
        on half of its persons, judged on the other half); see ``campaigns.targeting``."""
        from portrait.campaigns import targeting  # loads the uplift learners

        self._row(name)  # unknown campaign: not found
        return targeting.check(self, name, method, learner)

    def enroll(
        self,
        campaign_name: str,
        persons: list[Person],
        source: str,
        at: datetime,
        progress: Progress | None = None,
    ) -> Enrolment:
        """Assign persons entering the campaign (segment launch or a journey trigger) and queue
        a send for each treated one at their send time (``campaigns.enrolment``); persons
        already in it keep their arm. ``persons``: (person_id, user_id) pairs (user_id None:
        looked up)."""
        c = self.get(campaign_name)
        if self._row(campaign_name)["status"] == "stopped":
            raise CampaignConflictError(f"campaign {campaign_name!r} was stopped: nobody enters")
        return enrolment.enroll(self, c, persons, source, at, progress)

    def bandit_state(self, name: str, save: bool = True) -> BanditState:
        """A bandit campaign's (sends, conversions) per variant from the ledger and the orders
        within the attribution window; stored in ``campaign_bandit`` unless ``save`` is off."""
        return enrolment.bandit_state(self, self.get(name), save)

    # --- sending --------------------------------------------------------------------------
    def dispatch(self, now: datetime | None = None, progress: Progress | None = None) -> Dispatched:
        """Send every queued message that is due; see ``portrait.campaigns.delivery``."""
        from portrait.campaigns.delivery import Dispatcher

        return Dispatcher(self).run(now, progress)

    def sends(self, name: str | None = None) -> list[Send]:
        """The ledger rows (of one campaign)."""
        if name is not None:
            self._row(name)
        return [Send.model_validate(r) for r in store.sends_of(self.wh, name)]

    # --- results, journeys, playbook (see report.py, journeys.py, playbook.py) ---------------
    def report(
        self, name: str, as_of: datetime | None = None, alpha: float = 0.05
    ) -> CampaignReport:
        """Per variant and control: reach, delivery, opens, clicks, conversion, revenue,
        activity, cost, ROI and the A/B statistics (``portrait.campaigns.report``)."""
        return report.campaign_report(self, name, as_of, alpha)

    def outcomes(self, name: str, as_of: datetime | None = None) -> pa.Table:
        """One row per assigned person: the uplift training table."""
        return report.campaign_outcomes(self.wh, name, as_of)

    def journeys(self, at: datetime | None = None, dry_run: bool = False) -> JourneysRun:
        """Enroll who newly meets a launched campaign's trigger (``campaigns.journeys``)."""
        return journeys.run_journeys(self, at, dry_run)

    def suggest(self, lang: str = "en") -> Suggestions:
        """The playbook's campaigns for the current segments, with sizes and expected cost."""
        return playbook.suggestions(self.wh, self.audiences, lang)

    def create_suggested(self, names: list[str]) -> list[CampaignPublic]:
        """Store chosen playbook campaigns as drafts (edit, then launch them)."""
        return [self.create(e.campaign) for e in playbook.entries(names)]

    # --- consent and the in-app inbox (see ``portrait.campaigns.consent``) ----------------
    def set_consent(
        self, user_id: str, channel: str, granted: bool, source: str = "api"
    ) -> ConsentState:
        """Record a user's yes or no for a channel (email, sms, push, in_app) or a purpose
        named in its place (marketing, personalisation, analytics); the latest word wins."""
        args = (self.wh, self.settings, self.consents, user_id, channel, granted, source)
        return consent.set_consent(*args)

    def consent(self, user_id: str) -> ConsentState:
        """Per channel and purpose: granted or not, and whether recorded or the default."""
        return consent.consent_of(self.wh, self.settings, self.consents, user_id)

    def import_consents(self, path: str | Path, source: str = "import") -> ConsentImport:
        """Read a CSV: user_id, channel or purpose, granted (true/false/yes/no/1/0)[, source]."""
        return consent.import_consents(self.wh, path, source, self.pii())

    def import_consents_csv(
        self, text: str, source: str = "import", label: str = "request body"
    ) -> ConsentImport:
        """The same import from CSV text (``POST /v1/consents/import``); bad lines returned."""
        return consent.import_consents_text(self.wh, text, source, label, self.pii())

    def inbox(self, user_id: str, unread_only: bool = False) -> list[InboxMessage]:
        """The user's in-app messages, newest first."""
        return consent.inbox(self.wh, user_id, unread_only)

    def mark_read(self, user_id: str, message_ids: list[str] | None = None) -> int:
        """Mark the user's messages (all, or these) read; returns how many changed."""
        return consent.mark_read(self.wh, user_id, message_ids)


__all__ = ["CampaignConflictError", "CampaignNotFoundError", "CampaignService", "Progress"]
