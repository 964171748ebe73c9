"""``portrait audit``: the audit log, and ``portrait audit verify`` for its hash chain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import JsonOpt, WorkspaceOpt, friendly_errors, open_ws, out, print_json

audit_app = typer.Typer(
    help="The audit log: who read or changed what, about which persons, from where.",
)


@audit_app.callback(invoke_without_command=True)
@friendly_errors
def audit_list(
    ctx: typer.Context,
    person: Annotated[
        str | None, typer.Option(help="Entries about this user, anonymous or person id.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this day on (YYYY-MM-DD, UTC).")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (profile.read...).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List audit entries, newest first (persons are shown by keyed pseudonym)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_ws(workspace) as ws:
        entries = ws.audit.entries(person=person, since=since, action=action, limit=limit)
    if as_json:
        print_json(entries)
        return
    table = Table("seq", "at (UTC)", "who", "from", "action", "command", "about", "rows")
    for e in entries:
        about = e.segment or (f"{len(e.persons)} person(s)" if e.persons else "")
        about = about or ", ".join(e.params.get("changed") or [])  # settings.change: names
        who = e.actor + (f" ({e.role})" if e.role else "")
        rows = "" if e.rows is None else f"{e.rows:,}"
        table.add_row(
            str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), who, e.origin, e.action, e.command,
            about, rows,
        )  # fmt: skip
    out.print(table)
    if not entries:
        out.print("[dim]no entries[/]")


@audit_app.command("verify")
@friendly_errors
def audit_verify(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Walk the hash chain from its start and check it ends at the keyed head; exit 1 naming
    the first entry that does not hold, or a cut tail."""
    with open_ws(workspace) as ws:
        result = ws.audit.verify()
    if as_json:
        print_json(result)
    elif result.ok:
        since = f" after the anchor {result.anchor_seq} (pruned)" if result.anchor_seq else ""
        out.print(
            f"audit log ok: {result.entries:,} entries chain{since}, head {result.head_hash} "
            f"(entry {result.head_seq}, keyed)"
        )
    elif result.broken_at is not None:
        first = (result.anchor_seq or 0) + 1
        out.print(
            f"[bold red]audit log broken at entry {result.broken_at}[/]: its hash does not "
            f"match its content and the entry before it (entries {first}-"
            f"{first + result.verified - 1} hold)"
        )
    else:
        out.print(f"[bold red]audit log not intact[/]: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)
