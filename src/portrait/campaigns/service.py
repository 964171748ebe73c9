"""The campaign facade a Workspace exposes as ``ws.campaigns``.

>>> ws.campaigns.create(load_campaign_file("examples/campaigns/winback.yaml"))  # doctest: +SKIP
>>> ws.campaigns.launch("winback", dry_run=True)["arms"]                         # doctest: +SKIP
{'control': 31, 'discount': 142, 'perk': 139}
>>> ws.campaigns.launch("winback")                                               # doctest: +SKIP
>>> ws.campaigns.dispatch()["sent"]                                              # doctest: +SKIP

A launch assigns every person of the target segment to the control group or a variant and
queues one send per treated person in the ledger (``campaign_sends``); ``dispatch`` sends what
is due, checking consent, caps and budget at send time. Journeys add persons with ``enroll``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson

from portrait.campaigns import assign, consent, timing
from portrait.campaigns.channels import Channel, make_channel
from portrait.campaigns.definition import (
    Campaign,
    CampaignDefinitionError,
    parse_campaign,
)
from portrait.campaigns.personalise import Personaliser
from portrait.campaigns.templates import validate_templates
from portrait.errors import ConflictError
from portrait.store import campaign_state
from portrait.store import campaigns as store

if TYPE_CHECKING:
    from portrait.store.warehouse import Warehouse
    from portrait.workspace import Workspace

Progress = Callable[[int, int], None]
Person = tuple[str, str | None]  # (person_id, user_id)


class CampaignNotFoundError(LookupError):
    """No campaign by that name."""


class CampaignConflictError(ConflictError, ValueError):
    """The name is taken, or the campaign is not in a state that allows it (e.g. launched)."""


class CampaignService:
    """Campaigns of one workspace: definitions, launches, the send ledger, consent, inbox."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._ready_for: object | None = None
        self.personaliser = Personaliser(ws)
        # channel objects by name; tests and embedders may put their own here
        self.channels: dict[str, Channel] = {}

    @property
    def wh(self) -> Warehouse:
        """The workspace's warehouse, with the campaign tables made once per connection."""
        wh = self.ws.warehouse
        if self._ready_for is not wh:
            store.ensure_tables(wh)
            self._ready_for = wh
        return wh

    @property
    def settings(self):
        return self.ws.settings.campaigns

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.ws.settings.shop_timezone)

    def channel(self, name: str) -> Channel:
        """The configured channel (made on first use)."""
        if name not in self.channels:
            self.channels[name] = make_channel(
                name, self.settings, lambda m: campaign_state.put_inapp(self.wh, m)
            )
        return self.channels[name]

    # --- definitions ----------------------------------------------------------------------
    def create(self, definition: dict[str, Any] | Campaign, replace: bool = False) -> dict:
        """Validate and store a draft; ``replace`` overwrites a draft of the same name."""
        c = definition if isinstance(definition, Campaign) else parse_campaign(definition)
        validate_templates(c)
        self._check_segment(c)
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

    def _check_segment(self, c: Campaign) -> None:
        """A segment is a saved segment's name or an expression over known tags."""
        if c.segment is None:
            return
        segments = self.ws.segments
        if any(s["name"] == c.segment for s in segments.list()):
            return
        try:
            segments.engine.parse(c.segment)
        except ValueError as e:
            raise CampaignDefinitionError(
                f"segment: {c.segment!r} is neither a saved segment nor a valid expression: {e}"
            ) from e

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

    def list(self) -> list[dict[str, Any]]:
        """Every campaign with its status, channel, audience and send counts."""
        out = []
        for row in store.list_campaigns(self.wh):
            c = Campaign.model_validate_json(row["definition"])
            counts = store.campaign_counts(self.wh, c.name)
            out.append(
                {
                    "name": c.name,
                    "status": row["status"],
                    "channel": c.channel,
                    "segment": c.segment,
                    "trigger": c.trigger.type if c.trigger else None,
                    "variants": [v.name for v in c.variants],
                    "persons": sum(counts["arms"].values()),
                    "sent": counts["sends"].get("sent", 0),
                    "created_at": row["created_at"].isoformat(),
                }
            )
        return out

    def show(self, name: str) -> dict[str, Any]:
        """Definition, status, persons per arm, sends per status and reasons, cost so far."""
        row = self._row(name)
        return {
            "name": name,
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
            "launched_at": row["launched_at"].isoformat() if row["launched_at"] else None,
            "build_id": row["build_id"],
            "definition": orjson.loads(row["definition"]),
            **store.campaign_counts(self.wh, name),
        }

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

    def audience_with_targeting(self, c: Campaign) -> tuple[list[Person], dict[str, Any] | None]:
        """The audience and, with uplift targeting, what the model kept and why."""
        if c.segment is None and c.targeting is None:
            return [], None
        pids = self._segment_persons(c.segment) if c.segment else self._all_persons()
        summary = None
        if c.targeting is not None:
            from portrait.campaigns.targeting import pick

            pids, summary = pick(self.ws, c, pids)
        contacts = store.contacts(self.wh, pids)
        return [(p, (contacts.get(p) or {}).get("user_id") or p) for p in pids], summary

    def _all_persons(self) -> list[str]:
        return self.ws.profile_table(tags=[]).column("person_id").to_pylist()

    def _segment_persons(self, segment: str) -> list[str]:
        segments = self.ws.segments
        if any(s["name"] == segment for s in segments.list()):
            return segments.members(segment).column("user_id").to_pylist()
        else:
            from portrait.segments import bitmaps, storage

            engine = segments.engine
            engine.ready()
            build = engine.build()
            answer = engine.answer(engine.parse(segment, build), build, members=True)
            assert answer.members is not None
            table = storage.member_rows(
                self.wh, build["snapshot"], bitmaps.to_numpy(answer.members), []
            )
            return table.column("user_id").to_pylist()

    def launch(
        self,
        name: str,
        dry_run: bool = False,
        now: datetime | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Assign the segment's persons and queue their sends (again: only newcomers);
        ``dry_run`` changes nothing and says what would happen.

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
        persons, targeting = self.audience_with_targeting(c)
        extra = {} if targeting is None else {"targeting": targeting}
        if dry_run:
            from portrait.campaigns.dryrun import dry_run as simulate

            return {**simulate(self, c, persons, now), **extra}
        build_id = self.ws.segments.engine.build()["build_id"]
        source = "uplift" if c.targeting else "segment"
        result = self.enroll(name, persons, source, now, progress)
        store.set_status(self.wh, name, "launched", now, build_id)
        return {**result, "status": "launched", "build_id": build_id, **extra}

    def stop(self, name: str, now: datetime | None = None) -> dict[str, Any]:
        """Stop a campaign for good: nothing more is sent, queued sends are withdrawn (kept in
        the ledger as suppressed, reason campaign_stopped), a journey lets nobody in; its
        results stay reportable."""
        row = self._row(name)
        if row["status"] == "draft":
            raise CampaignConflictError(
                f"campaign {name!r} is a draft: nothing to stop (delete it instead)"
            )
        if row["status"] == "stopped":
            return {"campaign": name, "status": "stopped", "withdrawn": 0}
        withdrawn = store.stop_campaign(self.wh, name, now or datetime.now(UTC))
        return {"campaign": name, "status": "stopped", "withdrawn": withdrawn}

    def uplift_check(
        self, name: str, method: str = "class_transformation", learner: str = "lightgbm"
    ) -> dict[str, Any]:
        """How well an uplift model learnt from past campaign ``name`` ranks persons (fitted
        on half of its persons, judged on the other half); see ``campaigns.targeting``."""
        from portrait.campaigns.targeting import check

        self._row(name)  # unknown campaign: not found
        return check(self.ws, name, method, learner)

    def _start_journey(
        self, name: str, c: Campaign, dry_run: bool, now: datetime
    ) -> dict[str, Any]:
        from portrait.campaigns.journeys import run_campaign

        if dry_run:
            return {"status": "running", "dry_run": True,
                    "journey": run_campaign(self.ws, name, c, now, dry_run=True)}  # fmt: skip
        store.set_status(self.wh, name, "running", now, None)
        step = run_campaign(self.ws, name, c, now)
        return {"campaign": name, "status": "running", "entered": step.get("entered", 0),
                "journey": step}  # fmt: skip

    def enroll(
        self,
        campaign_name: str,
        persons: list[Person],
        source: str,
        at: datetime,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Assign persons entering the campaign (segment launch or a journey trigger) and queue
        a send for each treated one at their send time; persons already in it keep their arm
        and get no second send, except a journey with ``reenter_days``: a treated person whose
        last entry is at least that old gets one more send, keyed by this entry's time, so
        calling again for the same entry queues nothing.

        ``persons``: (person_id, user_id) pairs (user_id None: looked up). Returns counts:
        persons, entered, already_in, reentered, arms (of those entering), queued, suppressed
        by reason.
        """
        c = self.get(campaign_name)
        if self._row(campaign_name)["status"] == "stopped":
            raise CampaignConflictError(f"campaign {campaign_name!r} was stopped: nobody enters")
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        users = dict(persons)
        pids = list(users)
        already = store.assigned(self.wh, c.name, pids) if pids else set()
        new = [p for p in pids if p not in already]
        missing = [p for p in new if not users[p]]
        if missing:
            contacts = store.contacts(self.wh, missing)
            users.update({p: (contacts.get(p) or {}).get("user_id") or p for p in missing})
        arms = self.arms_for(c, new)
        spend = store.pre_spend(self.wh, new, at) if new else {}
        treated = [p for p in new if arms[p] != assign.CONTROL]
        tags = self.personaliser.tags(treated)
        assignments, sends, suppressed = [], [], {}
        for i, p in enumerate(new):
            assignments.append(
                {"assign_key": f"{c.name}/{p}", "campaign": c.name, "person_id": p,
                 "user_id": users[p], "arm": arms[p], "assigned_at": at, "source": source,
                 "pre_spend": spend.get(p, 0.0)}
            )  # fmt: skip
            if arms[p] == assign.CONTROL:
                continue
            when = timing.schedule_for(c, at, tags.get(p), self.tz, self.settings.default_send_hour)
            status, reason = "queued", None
            if timing.after_end(c, when, self.tz):
                status, reason = "suppressed", "after_schedule_end"
                suppressed[reason] = suppressed.get(reason, 0) + 1
            sends.append(_send_row(c, p, users[p], arms[p], status, reason, when, at))
            if progress and i % 500 == 0:
                progress(i, len(new))
        reentered = self._reentries(c, sorted(already), at)
        sends.extend(reentered)
        n_assigned, n_sends = store.record_enrolment(self.wh, assignments, sends)
        if progress:
            progress(len(new), len(new))
        return {
            "campaign": c.name,
            "source": source,
            "persons": len(pids),
            "entered": n_assigned,
            "already_in": len(already),
            "reentered": len(reentered),
            "arms": assign.arm_counts(arms[p] for p in new),
            "queued": sum(1 for s in sends if s["status"] == "queued"),
            "suppressed": suppressed,
            "new_sends": n_sends,
        }

    def _reentries(self, c: Campaign, pids: list[str], at: datetime) -> list[dict[str, Any]]:
        """Sends for treated persons re-entering a journey ``reenter_days`` after their last
        entry (same arm; the send key carries the entry time)."""
        days = c.trigger.reenter_days if c.trigger is not None else None
        if not days or not pids:
            return []
        due = {
            p: (arm, uid)
            for p, (arm, uid, last) in store.last_entries(self.wh, c.name, pids).items()
            if arm != assign.CONTROL and at - last >= timedelta(days=days)
        }
        tags = self.personaliser.tags(list(due))
        out = []
        for p, (arm, uid) in due.items():
            when = timing.schedule_for(c, at, tags.get(p), self.tz, self.settings.default_send_hour)
            ended = timing.after_end(c, when, self.tz)
            status, reason = ("suppressed", "after_schedule_end") if ended else ("queued", None)
            row = _send_row(c, p, uid, arm, status, reason, when, at)
            row["send_key"] += f"/{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            out.append(row)
        return out

    def arms_for(self, c: Campaign, pids: list[str], save: bool = True) -> dict[str, str]:
        """Control or variant per person (bandit campaigns: by the sampler, else weights)."""
        arms = {p: assign.CONTROL for p in pids if assign.is_control(c, p)}
        treated = [p for p in pids if p not in arms]
        if c.bandit and treated:
            state = self.bandit_state(c.name, save=save)
            seed = int(assign.bucket(c.name, str(sum(n for n, _ in state.values())), "bandit")
                       * 2**32)  # fmt: skip
            arms.update(assign.bandit_arms(c, treated, state, seed=seed))
            return arms
        arms.update({p: assign.weighted_variant(c, p) for p in treated})
        return arms

    def bandit_state(self, name: str, save: bool = True) -> dict[str, tuple[int, int]]:
        """A bandit campaign's (sends, conversions) per variant from the ledger and the orders
        within the attribution window; stored in ``campaign_bandit`` unless ``save`` is off."""
        c = self.get(name)
        state = campaign_state.bandit_outcomes(self.wh, c.name, c.goal.attribution_days)
        state = {v.name: state.get(v.name, (0, 0)) for v in c.variants}
        if save and store.writable(self.wh):
            campaign_state.put_bandit_state(self.wh, c.name, state, datetime.now(UTC))
        return state

    # --- sending --------------------------------------------------------------------------
    def dispatch(self, now: datetime | None = None, progress: Progress | None = None) -> dict:
        """Send every queued message that is due; see ``portrait.campaigns.delivery``."""
        from portrait.campaigns.delivery import Dispatcher

        return Dispatcher(self).run(now, progress)

    def sends(self, name: str | None = None) -> list[dict[str, Any]]:
        """The ledger rows (of one campaign)."""
        if name is not None:
            self._row(name)
        return store.sends_of(self.wh, name)

    # --- results, journeys, playbook (see report.py, journeys.py, playbook.py) ---------------
    def report(self, name: str, as_of: datetime | None = None, alpha: float = 0.05) -> dict:
        """Per variant and control: reach, delivery, opens, clicks, conversion, revenue,
        activity, cost, ROI and the A/B statistics (``portrait.campaigns.report``)."""
        from portrait.campaigns.report import campaign_report

        self.wh  # noqa: B018 - the campaign tables exist
        return campaign_report(self.ws, name, as_of, alpha)

    def outcomes(self, name: str, as_of: datetime | None = None) -> Any:
        """One row per assigned person (pyarrow.Table): the uplift training table."""
        from portrait.campaigns.report import campaign_outcomes

        self.wh  # noqa: B018
        return campaign_outcomes(self.ws, name, as_of)

    def journeys(self, at: datetime | None = None, dry_run: bool = False) -> dict:
        """Enroll who newly meets a launched campaign's trigger (``campaigns.journeys``)."""
        from portrait.campaigns.journeys import run_journeys

        self.wh  # noqa: B018
        return run_journeys(self.ws, at, dry_run)

    def suggest(self, lang: str = "en") -> dict:
        """The playbook's campaigns for the current segments, with sizes and expected cost."""
        from portrait.campaigns.playbook import suggestions

        self.wh  # noqa: B018
        return suggestions(self.ws, lang)

    def create_suggested(self, names: list[str]) -> list[dict[str, Any]]:
        """Store chosen playbook campaigns as drafts."""
        from portrait.campaigns.playbook import create_suggestions

        return create_suggestions(self.ws, names)

    # --- consent and the in-app inbox (see ``portrait.campaigns.consent``) ----------------
    def set_consent(
        self, user_id: str, channel: str, granted: bool, source: str = "api"
    ) -> dict[str, Any]:
        """Record a user's yes or no for a channel (the latest word wins)."""
        return consent.set_consent(self.wh, self.settings, user_id, channel, granted, source)

    def consent(self, user_id: str) -> dict[str, Any]:
        """Per channel: granted or not, and whether that is recorded or the default."""
        return consent.consent_of(self.wh, self.settings, user_id)

    def import_consents(self, path: str | Path, source: str = "import") -> dict[str, Any]:
        """Read a CSV with columns user_id, channel, granted (true/false/1/0/yes/no)."""
        return consent.import_consents(self.wh, path, source)

    def import_consents_csv(
        self, text: str, source: str = "import", label: str = "request body"
    ) -> dict[str, Any]:
        """The same import from CSV text (``POST /v1/consents/import``); bad lines returned."""
        return consent.import_consents_text(self.wh, text, source, label)

    def inbox(self, user_id: str, unread_only: bool = False) -> list[dict[str, Any]]:
        """The user's in-app messages, newest first."""
        return consent.inbox(self.wh, user_id, unread_only)

    def mark_read(self, user_id: str, message_ids: list[str] | None = None) -> int:
        """Mark the user's messages (all, or these) read; returns how many changed."""
        return consent.mark_read(self.wh, user_id, message_ids)


def _send_row(
    c: Campaign, pid: str, uid: str | None, arm: str, status: str, reason: str | None,
    when: datetime, at: datetime,
) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = dict.fromkeys(store.SEND_COLUMNS)
    row.update(
        send_key=f"{c.name}/{pid}/{c.channel}", campaign=c.name, person_id=pid, user_id=uid,
        variant=arm, channel=c.channel, status=status, reason=reason, attempts=0,
        scheduled_at=when, updated_at=at, entered_at=at,
    )  # fmt: skip
    return row
