"""Commands on a workspace: init, ingest, quarantine, batches, summary, schema, serve."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.app import app
from portrait.cli.common import (
    Column,
    JsonOpt,
    WorkspaceOpt,
    batch_row,
    fitted_table,
    friendly_errors,
    ingest_with_progress,
    open_ws,
    out,
    print_batches,
    print_json,
    print_summary,
)
from portrait.config import default_workspace_dir
from portrait.schema import describe_markdown
from portrait.workspace import Workspace


@app.command()
@friendly_errors
def init(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Folder to create the workspace in (default: -w, else "
            "$PORTRAIT_WORKSPACE, else the current folder)",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Workspace name.")] = None,
    timezone: Annotated[str | None, typer.Option(help="Time zone of naive source times.")] = None,
    currency: Annotated[str | None, typer.Option(help="Workspace currency.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a workspace: portrait.toml and an embedded DuckDB warehouse."""
    target = directory or workspace or default_workspace_dir()
    ws = Workspace.init(target, name=name, timezone=timezone, currency=currency)
    out.print(f"Workspace ready at {ws.root} (settings in {ws.root / 'portrait.toml'}).")
    out.print(
        f"PII (phones, e-mails, names, addresses) is encrypted with the key in "
        f"{ws.pii.secret.source}: back it up apart from the warehouse. Losing it loses the "
        "PII, and only the PII."
    )
    ws.close()


@app.command()
@friendly_errors
def ingest(
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON lines files.")],
    kind: Annotated[
        str | None,
        typer.Option(help="events, users or products (default: from the file name, else events)"),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="Time zone of timestamps without offset (default: ingest.timezone)"),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate, clean and store files; bad records go to quarantine with their reason."""
    with open_ws(workspace) as ws:
        results = ingest_with_progress(
            "ingest",
            len(files),
            lambda step: ws.ingest_files(files, kind=kind, timezone=timezone, progress=step),
        )
    if as_json:
        print_json([batch_row(r) for r in results])
    else:
        print_batches(results)


@app.command()
@friendly_errors
def quarantine(
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch id.")] = None,
    limit: Annotated[int, typer.Option(help="Most records to list.")] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List quarantined records with why each was rejected and how to fix it."""
    with open_ws(workspace) as ws:
        counts = ws.quarantine_counts()
        rows = ws.quarantine(limit=limit, reason=reason, batch_id=batch)
    if as_json:
        print_json({"counts": counts, "records": rows})
        return
    if not counts:
        out.print("Quarantine is empty: every record received was stored or was a duplicate.")
        return
    t = Table(title="Quarantine by reason")
    for c in ("kind", "reason", "count", "what it means / fix"):
        t.add_column(c)
    for c in counts:
        t.add_row(c.kind, c.reason_code, f"{c.count:,}", c.explanation)
    out.print(t)
    t = Table(title=f"Records (newest {len(rows)})")
    for c in ("batch", "source", "#", "reason", "detail", "raw"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(
            r.batch_id,
            Path(r.source or "").name,
            str(r.record_index),
            r.reason_code,
            r.detail or "",
            (r.raw or "")[:120],
        )
    out.print(t)


@app.command()
@friendly_errors
def batches(
    limit: Annotated[int, typer.Option(help="Most batches to list, newest first.")] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The ingest log: every batch with who sent it (an API key's id, or the CLI and its OS
    user) and its received/accepted/duplicate/quarantined counts."""
    with open_ws(workspace) as ws:
        rows = ws.batches(limit=limit)
    if as_json:
        print_json(rows)
        return
    columns = [
        Column("batch_id", priority=3, min_width=24),
        Column("kind", priority=2),
        Column("source", priority=1),
        Column("sent by", priority=1, min_width=12),
        Column("received", priority=2, justify="right"),
        Column("accepted", priority=3, justify="right"),
        Column("duplicates", priority=1, justify="right"),
        Column("quarantined", priority=3, justify="right"),
    ]
    cells = [
        [r.batch_id, r.kind, Path(r.source or "").name, r.actor or "",
         *(f"{n:,}" for n in (r.received, r.accepted, r.duplicates, r.quarantined))]
        for r in rows
    ]  # fmt: skip
    t = fitted_table(f"Ingest batches (newest {len(rows)})", columns, cells)
    out.print(t)


@app.command()
@friendly_errors
def summary(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """What the warehouse holds: users, events by type, quarantine, identity merges."""
    with open_ws(workspace) as ws:
        s = ws.summary()
    if as_json:
        print_json(s)
    else:
        print_summary(s)


@app.command()
@friendly_errors
def schema() -> None:
    """Print the canonical data model (tables, columns, PII flags, event types)."""
    out.print(describe_markdown(), markup=False, highlight=False)


@app.command()
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="(default: api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="(default: api.port)")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from portrait.api.app import create_app
    from portrait.api.handoff import announce

    ws = open_ws(workspace)
    ws.warehouse  # noqa: B018 - fail now, not on the first request, if it is locked
    host = host or ws.settings.api.host
    port = port or ws.settings.api.port
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    # serve.json tells `portrait build` in another shell where to hand its build
    # uvicorn re-raises the signal that stopped it once it has shut down: as SystemExit, so
    # that the note is removed and the workspace closed (the default would end the process)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with announce(ws.root, f"http://{local}:{port}"):
        uvicorn.run(create_app(ws), host=host, port=port, log_level="warning")
