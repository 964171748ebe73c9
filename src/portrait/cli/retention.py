"""``portrait privacy retain``: apply ``[retention]`` of portrait.toml (see docs/privacy.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import JsonOpt, WorkspaceOpt, friendly_errors, open_ws, out, print_json
from portrait.cli.privacy import privacy_app
from portrait.privacy.retention import RetentionReport


@privacy_app.command("retain")
@friendly_errors
def privacy_retain(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show, per class, what would go and what stays.")
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete, per class of data, what is older than its limit in [retention] of
    portrait.toml (events_days, quarantine_days, sends_days, snapshots_days, snapshots_keep,
    audit_days); a class without a limit is kept forever."""
    with open_ws(workspace) as ws:
        report = ws.privacy.retain(dry_run=dry_run)
    print_json(report) if as_json else _print(report)


def _print(report: RetentionReport) -> None:
    if not report.classes:
        out.print(
            "no retention limit is set: everything is kept. Set one in portrait.toml, e.g.\n"
            "  [retention]\n  events_days = 730\n  quarantine_days = 90"
        )
        return
    verb = "would go" if report.dry_run else "removed"
    table = Table("class", "limit", "older than", verb, "oldest kept", "")
    for c in report.classes:
        table.add_row(
            c.name, c.limit, c.cutoff.strftime("%Y-%m-%d %H:%M") if c.cutoff else "",
            f"{c.rows:,}", str(c.oldest_kept or "nothing"), c.detail or "",
        )  # fmt: skip
    out.print(table)
    if report.dry_run:
        out.print(f"dry run: {report.rows:,} rows would go; run without --dry-run to remove them")
    else:
        out.print(f"{report.rows:,} rows removed (recorded in the audit log: privacy.retain)")
