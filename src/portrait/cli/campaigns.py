"""`portrait campaign ...`: create, list, show, launch, dispatch, consent and inbox (thin
commands over ``ws.campaigns``); report, journeys and suggest come from
``portrait.cli.campaign_reports``, added to ``campaign_app`` below."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from portrait.campaigns.definition import load_campaign_file
from portrait.campaigns.results import DryRun, JourneyStarted, TargetingSummary
from portrait.cli.campaign_reports import report_app
from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    friendly_errors,
    open_ws,
    out,
    print_json,
    progress_bar,
)

campaign_app = typer.Typer(
    help="Campaigns: targeted offers and messages with control groups, and their results.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Campaign name.")]


@campaign_app.command("create")
@friendly_errors
def create(
    file: Annotated[Path, typer.Argument(help="Campaign definition (YAML or JSON).")],
    replace: Annotated[bool, typer.Option(help="Replace a draft of that name.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a campaign file (templates included) and store it as a draft."""
    campaign = load_campaign_file(file)
    with open_ws(workspace) as ws:
        c = ws.campaigns.create(campaign, replace=replace)
    if as_json:
        print_json(c)
        return
    d = c.definition
    variants = ", ".join(v.name for v in d.variants)
    out.print(
        f"Saved campaign [bold]{c.name}[/] (draft): {d.channel}, variants {variants}, "
        f"control {d.control_share:.0%}."
    )


@campaign_app.command("list")
@friendly_errors
def list_campaigns(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every campaign with its status and sends."""
    with open_ws(workspace) as ws:
        rows = ws.campaigns.list()
    if as_json:
        print_json(rows)
        return
    table = Table("campaign", "status", "channel", "audience", "variants", "persons", "sent")
    for r in rows:
        audience = r.segment or ""
        if r.trigger:
            audience = f"{audience} + trigger {r.trigger}".strip(" +")
        table.add_row(
            r.name, r.status, r.channel, escape(audience), ", ".join(r.variants),
            f"{r.persons:,}", f"{r.sent:,}",
        )  # fmt: skip
    out.print(table)


@campaign_app.command("show")
@friendly_errors
def show(name: NameArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Definition, persons per arm, sends per status and suppressions by reason."""
    with open_ws(workspace) as ws:
        c = ws.campaigns.show(name)
    if as_json:
        print_json(c)
        return
    d = c.definition
    trigger = d.trigger.model_dump(mode="json") if d.trigger else None
    out.print(f"[bold]{c.name}[/] ({c.status}): {d.channel}, audience "
              f"{escape(str(d.segment or trigger))}")  # fmt: skip
    if c.launched_at:
        out.print(f"launched {c.launched_at} on build {c.build_id}")
    _counts("persons per arm", c.arms)
    _counts("sends", c.sends)
    _counts("suppressed or failed, by reason", c.reasons)
    out.print(f"cost so far: sends {c.send_cost:.2f}, expected offers "
              f"{c.expected_offer_cost:.2f}")  # fmt: skip


def _counts(title: str, counts: dict[str, int]) -> None:
    if counts:
        out.print(f"{title}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@campaign_app.command("delete")
@friendly_errors
def delete(name: NameArg, workspace: WorkspaceOpt = None) -> None:
    """Delete a draft (a launched campaign keeps its history)."""
    with open_ws(workspace) as ws:
        ws.campaigns.delete(name)
    out.print(f"Deleted campaign {name}.")


@campaign_app.command("stop")
@friendly_errors
def stop(name: NameArg, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Stop a launched campaign or journey for good: queued sends are withdrawn (recorded as
    suppressed, campaign_stopped); its results stay in `report`."""
    with open_ws(workspace) as ws:
        r = ws.campaigns.stop(name)
    if as_json:
        print_json(r)
        return
    out.print(f"Stopped campaign {name}: {r.withdrawn:,} queued sends withdrawn.")


@campaign_app.command("launch")
@friendly_errors
def launch(
    name: NameArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign the segment to control and variants and queue the sends (`dispatch` sends)."""
    with open_ws(workspace) as ws, progress_bar() as bar:
        task = bar.add_task("assigning", total=None)
        r = ws.campaigns.launch(
            name, dry_run=dry_run, progress=lambda n, t: bar.update(task, completed=n, total=t)
        )
    if as_json:
        print_json(r)
        return
    if isinstance(r, JourneyStarted):
        _print_journey_start(name, r)
        return
    if r.targeting:
        _print_targeting(r.targeting)
    if isinstance(r, DryRun):
        _print_dry_run(r)
        return
    arms = ", ".join(f"{k} {v:,}" for k, v in r.arms.items()) or "nobody new"
    out.print(
        f"Launched [bold]{r.campaign}[/]: {r.entered:,} persons entered ({arms}), "
        f"{r.queued:,} sends queued; {r.already_in:,} were already in. "
        "Run `portrait campaign dispatch` to send what is due."
    )


def _print_targeting(t: TargetingSummary) -> None:
    kept = t.mean_predicted_uplift_kept
    whole = t.mean_predicted_uplift_all or 0.0
    out.print(
        f"Uplift targeting from [bold]{t.uplift_from}[/] ({t.method}, {t.learner}; "
        f"trained on {t.trained_on.treated:,} treated and {t.trained_on.control:,} "
        f"control): kept {t.kept:,} of {t.scored:,} scored persons"
        + ("" if kept is None else f", predicted uplift {kept:+.4f} vs {whole:+.4f} for all")
        + (f"; {t.without_profile:,} without a profile left out" if t.without_profile else ""),
        highlight=False,
    )


def _print_journey_start(name: str, r: JourneyStarted) -> None:
    step = r.journey
    verb = "would enter" if r.dry_run else "entered"
    out.print(
        f"Journey [bold]{name}[/] ({step.trigger}) "
        f"{'would run' if r.dry_run else 'is running'}: {step.candidates:,} persons "
        f"meet the trigger now, {step.entering:,} {verb} "
        f"({step.already_entered:,} entered before). It runs again after every build and on "
        "`portrait campaign journeys`; `portrait campaign dispatch` sends what is due."
    )
    for note in step.notes:
        out.print(f"note: {note}", highlight=False)


def _print_dry_run(r: DryRun) -> None:
    out.print(f"[bold]{r.campaign}[/] dry run ({r.channel}): {r.persons:,} persons, "
              f"{r.already_in:,} already in")  # fmt: skip
    table = Table("arm", "persons", "would send")
    for arm, n in r.arms.items():
        table.add_row(arm, f"{n:,}", f"{r.would_send_by_arm.get(arm, 0):,}")
    out.print(table)
    if r.suppressed:
        _counts("suppressed", r.suppressed)
    cost = r.cost
    out.print(
        f"cost estimate: {cost.sends:,} sends {cost.send_cost:.2f} + expected offers "
        f"{cost.expected_offer_cost:.2f} = [bold]{cost.total:.2f}[/] (redemption "
        f"{cost.expected_redemption:.0%} of an average order of {cost.average_order_value})"
    )
    for s in r.samples:
        who = f" to {s.user_id}" if s.user_id else " (sample user)"
        out.print(f"\n[bold]{s.variant} / {s.language}[/]{who}")
        if s.error is not None:
            out.print(f"[red]{escape(s.error)}[/]")
            continue
        if s.subject:
            out.print(f"subject: {escape(s.subject)}")
        out.print(escape(s.body or ""))


@campaign_app.command("uplift")
@friendly_errors
def uplift(
    name: NameArg,
    method: Annotated[
        str, typer.Option(help="class_transformation, two_model or x_learner.")
    ] = "class_transformation",
    learner: Annotated[str, typer.Option(help="lightgbm or logistic.")] = "lightgbm",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check an uplift model learnt from past campaign NAME before targeting with it (fitted on
    half of its persons, judged on the other half); target with `targeting: {uplift_from: NAME}`
    in a new campaign's definition."""
    if method not in ("class_transformation", "two_model", "x_learner"):
        raise typer.BadParameter(
            "use class_transformation, two_model or x_learner", param_hint="--method"
        )
    if learner not in ("lightgbm", "logistic"):
        raise typer.BadParameter("use lightgbm or logistic", param_hint="--learner")
    with open_ws(workspace) as ws, progress_bar() as bar:
        bar.add_task(f"learning from {name}", total=None)
        r = ws.campaigns.uplift_check(name, method, learner)
    if as_json:
        print_json(r)
        return
    a, h = r.ate, r.holdout
    out.print(
        f"[bold]{name}[/]: {r.persons:,} persons with profiles ({r.treated:,} treated, "
        f"{r.control:,} control; features as of {r.features_as_of}); average effect "
        f"{a.value:+.4f} [{a.low:+.4f}, {a.high:+.4f}].\n"
        f"{method} ({learner}) on the held-out half ({h.persons:,}): Qini AUC "
        f"{h.qini_auc:.4f}, uplift in the top 30% {h.uplift_at_30:+.4f} vs "
        f"{h.ate:+.4f} for everyone (a Qini AUC near 0: it ranks no better than chance).",
        highlight=False,
    )


@campaign_app.command("dispatch")
@friendly_errors
def dispatch(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Send every queued message that is due (consent, caps and budget checked now)."""
    with open_ws(workspace) as ws, progress_bar() as bar:
        task = bar.add_task("sending", total=None)
        r = ws.campaigns.dispatch(progress=lambda n, t: bar.update(task, completed=n, total=t))
    if as_json:
        print_json(r)
        return
    out.print(
        f"sent {r.sent:,}, suppressed {r.suppressed:,}, failed {r.failed:,}, "
        f"retries {r.retries:,}, moved out of quiet hours {r.rescheduled:,}; "
        f"{r.still_queued:,} still queued" + (f" (next due {r.next_due})" if r.next_due else "")
    )
    _counts("reasons", r.reasons)


@campaign_app.command("consent")
@friendly_errors
def consent(
    user: Annotated[str, typer.Argument(help="User id.")],
    channel: Annotated[
        str,
        typer.Argument(
            help="A channel (email, sms, push, in_app) or a purpose (marketing, "
            "personalisation, analytics)."
        ),
    ],
    grant: Annotated[
        bool | None, typer.Option("--grant/--revoke", help="Record a yes or a no.")
    ] = None,
    source: Annotated[str, typer.Option(help="Where the answer came from.")] = "cli",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record (--grant/--revoke) a user's consent for a channel or a purpose, or show it per
    channel and purpose."""
    with open_ws(workspace) as ws:
        if grant is None:
            r = ws.campaigns.consent(user)
        else:
            r = ws.set_consent(user, channel, grant, source=source)
    if as_json:
        print_json(r)
        return
    for ch, c in [*r.channels.items(), *r.purposes.items()]:
        mark = "granted" if c.granted else "[red]refused[/]"
        out.print(f"{ch}: {mark} ({c.source})")


@campaign_app.command("consent-import")
@friendly_errors
def consent_import(
    file: Annotated[
        Path, typer.Argument(help="CSV: user_id, channel or purpose, granted[, source].")
    ],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import consents from a CSV file; lines that do not check are listed, not dropped."""
    with open_ws(workspace) as ws:
        r = ws.import_consents(file)
    if as_json:
        print_json(r)
        return
    out.print(f"imported {r.imported:,} consents from {escape(r.path)}")
    if r.unknown_users:
        shown = ", ".join(r.unknown_user_ids[:5])
        more = " ..." if r.unknown_users > 5 else ""
        out.print(
            f"[yellow]{r.unknown_users:,} user id(s) have no user record yet[/] "
            f"({escape(shown)}{more}): their consents are kept and apply once they arrive"
        )
    for bad in r.rejected[:20]:
        why = " (an erased person's id)" if bad.reason == "erased_person" else ""
        out.print(f"[yellow]line {bad.line} rejected{why}:[/] {escape(str(bad.record))}")
    if len(r.rejected) > 20:
        out.print(f"... and {len(r.rejected) - 20:,} more rejected lines (--json lists all)")


@campaign_app.command("inbox")
@friendly_errors
def inbox(
    user: Annotated[str, typer.Argument(help="User id.")],
    mark_read: Annotated[bool, typer.Option(help="Mark the messages read.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The user's in-app messages, newest first."""
    with open_ws(workspace) as ws:
        rows = ws.campaigns.inbox(user)
        if mark_read:
            ws.campaigns.mark_read(user)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no in-app messages for {escape(user)}")
    for m in rows:
        state = "" if m.read_at else " [bold](unread)[/]"
        out.print(f"[dim]{m.created_at}[/] {m.campaign}{state}: "
                  f"{escape(m.subject or '')}\n{escape(m.body)}")  # fmt: skip


campaign_app.add_typer(report_app)  # report, journeys, suggest: `portrait campaign report ...`
