"""`portrait campaign report | journeys | suggest`: thin commands over ``ws.campaigns``
(``report_app``'s commands join ``portrait.cli.campaigns.campaign_app``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from portrait.campaigns.results import ArmReport, BanditSummary, CampaignReport, Suggestions
from portrait.cli.common import (
    Column,
    JsonOpt,
    WorkspaceOpt,
    fitted_table,
    friendly_errors,
    open_ws,
    out,
    print_json,
)
from portrait.experiments.results import TestResultPublic

report_app = typer.Typer()

AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="Evaluate as of this moment (ISO, e.g. 2026-05-10T12:00); now."),
]


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not a time; write it as 2026-05-10 or 2026-05-10T12:00"
        raise ValueError(msg) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _p(test: TestResultPublic | None) -> str:
    if test is None or test.p_value is None or test.difference is None:
        return "-"
    return f"{test.difference:+.4g} (p {test.p_value:.3f})"


@report_app.command("report")
@friendly_errors
def report(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    as_of: AtOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Results per variant and control: conversion, revenue (net of refunds), ROI, tests and
    SRM check."""
    with open_ws(workspace) as ws:
        r = ws.campaigns.report(name, as_of=_moment(as_of))
    if as_json:
        print_json(r)
        return
    print_report(r)


# At 80 columns the least needed ones give way (named in the caption; --json has them all).
REPORT_COLUMNS = (
    Column("arm", 10),
    Column("assigned", 6, "right"),
    Column("delivered", 2, "right"),
    Column("open", 2, "right"),
    Column("CTR", 3, "right"),
    Column("conv.", 9, "right"),
    Column("rev/user", 8, "right"),
    Column("refunds", 1, "right"),
    Column("cost", 3, "right"),
    Column("incr. revenue", 4, "right"),
    Column("ROI", 7, "right"),
    Column("conv. diff", 6, "right"),
    Column("rev diff", 5, "right"),
    Column("P(beat ctl)", 7, "right"),
)
PLAYBOOK_COLUMNS = (
    Column("campaign", 10, min_width=30),  # the name to pass to --create, whole
    Column("group", 4),
    Column("size", 8, "right"),
    Column("channel", 5),
    Column("offers", 3),
    Column("expected cost", 7, "right"),
)


def print_report(r: CampaignReport) -> None:
    """The report as one table per arm row, the SRM verdict, the bandit's state and notes."""
    out.print(f"[bold]{r.campaign}[/] ({r.status}), goal {r.goal}, "
              f"attribution {r.attribution_days:g} days, as of {r.as_of[:16]}")  # fmt: skip
    rows = [_arm_row(a, r.primary_metric) for a in r.arms]
    out.print(fitted_table(None, REPORT_COLUMNS, rows))
    if r.srm:
        verdict = "[red]MISMATCH[/]" if r.srm.mismatch else "ok"
        p = "-" if r.srm.p_value is None else f"{r.srm.p_value:.3f}"
        out.print(f"sample ratio: {verdict} (p {p})")
    if r.bandit:
        _print_bandit(r.bandit)
    for note in r.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")


def _arm_row(a: ArmReport, primary_metric: str) -> list[str]:
    vs = a.vs_control
    cells = [
        a.arm, f"{a.assigned:,}", _pct(a.delivery_rate), _pct(a.open_rate), _pct(a.ctr),
        _pct(a.conversion_rate), _money(a.revenue_per_user), _money(a.refunds), _money(a.cost),
    ]  # fmt: skip
    if vs is None:
        return [*cells, "-", "-", "-", "-", "-"]
    conv, rev = vs.conversion, vs.revenue_per_user
    beat = (conv if primary_metric == "conversion" else rev).bayesian
    return [
        *cells, _money(vs.incremental_revenue), _pct(vs.roi), _p(conv.frequentist),
        _p(rev.frequentist), _pct(beat.chance_to_beat_control),
    ]  # fmt: skip


def _print_bandit(b: BanditSummary) -> None:
    chances = ", ".join(f"{a} {c:.0%}" for a, c in b.chance_best.items())
    share = "-" if b.share_to_best is None else f"{b.share_to_best:.0%}"
    out.print(
        f"bandit: best so far {b.best_arm} ({share} of sends); chance of being best: "
        f"{chances}; regret against always sending the best offer "
        f"{b.regret_conversions:.1f} conversions (an equal split: "
        f"{b.equal_split_regret_conversions:.1f}), from the observed rates",
        highlight=False,
    )


@report_app.command("journeys")
@friendly_errors
def journeys(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say who would enter; change nothing.")
    ] = False,
    at: AtOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Enroll who newly meets a launched campaign's trigger (also run by `portrait build`)."""
    with open_ws(workspace) as ws:
        r = ws.campaigns.journeys(at=_moment(at), dry_run=dry_run)
    if as_json:
        print_json(r)
        return
    if not r.campaigns:
        out.print("No launched campaign has a trigger.")
        return
    verb = "would enter" if dry_run else "entered"
    for c in r.campaigns:
        if c.error is not None:
            out.print(f"[red]{c.campaign}[/]: {escape(c.error)}")
            continue
        n = c.entering if dry_run else c.entered
        out.print(f"[bold]{c.campaign}[/] ({c.trigger}): {c.candidates} meet the "
                  f"trigger, {c.already_entered} entered before, {n} {verb}")  # fmt: skip
        for note in c.notes:
            out.print(f"  [yellow]note:[/] {escape(note)}")


@report_app.command("suggest")
@friendly_errors
def suggest(
    create: Annotated[
        list[str] | None,
        typer.Option("--create", help="Store this suggestion as a draft (repeatable)."),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the titles: zh or en.")] = "en",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Playbook campaigns per persona/lifecycle group, sized on the latest build."""
    with open_ws(workspace) as ws:
        if create:
            made = ws.campaigns.create_suggested(create)
            if as_json:
                print_json(made)
            else:
                for c in made:
                    out.print(f"Saved campaign [bold]{c.name}[/] (draft).")
            return
        r = ws.campaigns.suggest(lang=lang)
    if as_json:
        print_json(r)
        return
    print_suggestions(r)


def print_suggestions(r: Suggestions) -> None:
    """The playbook's suggestions as a table (``ws.campaigns.suggest()``)."""
    rows = [
        [s.campaign + (" (exists)" if s.exists else ""), escape(s.title), f"{s.size:,}",
         s.channel, ", ".join(v.offer for v in s.variants), _money(s.expected_cost.total)]
        for s in r.suggestions
    ]  # fmt: skip
    out.print(fitted_table(None, PLAYBOOK_COLUMNS, rows))
    if r.skipped:
        out.print("skipped: " + ", ".join(f"{s.campaign} ({s.reason})" for s in r.skipped))
    for note in r.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
