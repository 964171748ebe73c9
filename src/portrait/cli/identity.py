"""`portrait identity ...`: who is who."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    friendly_errors,
    open_ws,
    out,
    print_json,
    shorten,
)

identity_app = typer.Typer(help="Identity resolution: who is who.", no_args_is_help=True)


@identity_app.command("show")
@friendly_errors
def identity_show(
    identifier: Annotated[str, typer.Argument(help="A user_id or an anonymous_id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Explain who an id belongs to: its person, every identifier, every link and why."""
    with open_ws(workspace) as ws:
        report = ws.identity(identifier)
    if as_json:
        print_json(report)
        return
    if report.anonymous_only:
        out.print(f"{identifier} is an anonymous visitor never linked to a user.")
        return
    out.print(f"[bold]{identifier}[/] belongs to person [bold]{report.person_id}[/].")
    t = Table(title="Identifiers")
    for c in ("identifier", "kind", "events", "conflict"):
        t.add_column(c)
    for i in report.identifiers:
        t.add_row(i.identifier, i.kind, str(i.events), "yes" if i.conflict else "")
    out.print(t)
    t = Table(title="Links (evidence)")
    for c in ("from", "to user", "rule", "evidence", "first seen", "batch", "in effect"):
        t.add_column(c, overflow="fold")
    for link in report.links:
        t.add_row(
            f"{link.from_kind}:{link.from_id}",
            link.to_user_id,
            link.rule,
            shorten(str(link.evidence or "")),
            link.first_seen.isoformat() if link.first_seen else "",
            str(link.batch_id or ""),
            "yes" if link.in_effect else "no",
        )
    out.print(t)
    for u in report.unmerges:
        out.print(
            f"[yellow]unmerged:[/] {u.user_id} and {u.apart_from} are two persons since "
            f"{u.unmerged_at.isoformat()} ({u.actor or 'unknown'}: "
            f"{u.reason or 'no reason given'}); "
            "links between them are ignored and no ingest links them again "
            "(`portrait identity merge` would)."
        )
    for c in report.conflicts:
        out.print(
            f"[yellow]conflict:[/] device {c.anonymous_id} was used by "
            f"{', '.join(c.seen_with_users)}; those users are not merged, and its "
            "anonymous history goes to the first of them."
        )


@identity_app.command("merge")
@friendly_errors
def identity_merge(
    user_a: str,
    user_b: str,
    reason: Annotated[str, typer.Option(help="Why they are one person.")] = "explicit merge",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that two user ids are the same person."""
    with open_ws(workspace) as ws:
        report = ws.merge_users(user_a, user_b, reason)
    if as_json:
        print_json(report)
    else:
        out.print(f"Merged: {user_a} and {user_b} are now person {report.person_id}.")


@identity_app.command("unmerge")
@friendly_errors
def identity_unmerge(
    user_id: Annotated[str, typer.Argument(help="The user to make its own person again.")],
    reason: Annotated[str, typer.Option(help="Why they are not one person.")] = "explicit unmerge",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo a merge: the user becomes its own person again, apart from every user it was
    merged with (by a shared phone or explicitly). Remembered: no later ingest links them."""
    with open_ws(workspace) as ws:
        report = ws.unmerge(user_id, reason)
    if as_json:
        print_json(report)
        return
    apart = sorted({u.apart_from for u in report.unmerges if u.user_id == user_id})
    out.print(
        f"Unmerged: {user_id} is its own person again, apart from {', '.join(apart)} "
        f"(`portrait identity show {user_id}` explains)."
    )
