"""The ``portrait`` command: thin commands over the Workspace facade."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from portrait.config import ConfigError, default_workspace_dir
from portrait.datasets.base import DatasetMissingError
from portrait.ingest.plan import SourceSchemaError
from portrait.ingest.readers import UnsupportedSourceError
from portrait.schema import describe_markdown
from portrait.security.keys import InvalidRoleError
from portrait.store.loader import BatchResult
from portrait.store.warehouse import WarehouseLockedError
from portrait.workspace import UnknownIdentifierError, Workspace

app = typer.Typer(
    help="Portrait: user profiles and precision marketing for e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
identity_app = typer.Typer(help="Identity resolution: who is who.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "-w",
        "--workspace",
        help="Workspace folder [default: $PORTRAIT_WORKSPACE, else the current folder]",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

USER_ERRORS = (
    ConfigError,
    SourceSchemaError,
    UnsupportedSourceError,
    FileNotFoundError,
    DatasetMissingError,
    UnknownIdentifierError,
    WarehouseLockedError,
    InvalidRoleError,
    KeyError,
    ValueError,
)

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Print a user error as one clear line and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def open_ws(workspace: Path | None) -> Workspace:
    return Workspace.open(workspace or default_workspace_dir())


def _short(text: str, width: int = 16) -> str:
    """Long evidence (a phone hash) shortened for a table; --json shows it whole."""
    return text if len(text) <= width else text[: width - 1] + "…"


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def _bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def batch_row(r: BatchResult) -> dict[str, Any]:
    return {
        "batch_id": r.batch_id,
        "kind": r.kind,
        "source": r.source,
        "received": r.received,
        "accepted": r.accepted,
        "duplicates": r.duplicates,
        "quarantined": r.quarantined,
        "seconds": round(r.seconds, 3),
    }


def print_batches(results: list[BatchResult]) -> None:
    t = Table(title="Ingest batches")
    for col in ("source", "kind", "received", "accepted", "duplicates", "quarantined", "s"):
        t.add_column(col, justify="left" if col in ("source", "kind") else "right")
    for r in results:
        t.add_row(
            Path(r.source).name if r.source != "http" else r.source,
            r.kind,
            f"{r.received:,}",
            f"{r.accepted:,}",
            f"{r.duplicates:,}",
            f"{r.quarantined:,}",
            f"{r.seconds:.2f}",
        )
    out.print(t)
    if any(r.quarantined for r in results):
        out.print("Quarantined records are kept with their reason: `portrait quarantine`.")


def ingest_with_progress(
    label: str,
    total: int,
    run: Callable[[Callable], list[BatchResult]],
) -> list[BatchResult]:
    with _bar() as bar:
        task = bar.add_task(label, total=total)

        def step(path: Path, r: BatchResult) -> None:
            bar.update(task, advance=1, description=f"{label}: {path.name}")

        return run(step)


@app.command()
@friendly_errors
def init(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Folder to create the workspace in [default: -w, else "
            "$PORTRAIT_WORKSPACE, else the current folder]",
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
    ws.close()


@app.command()
@friendly_errors
def ingest(
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON lines files.")],
    kind: Annotated[
        str | None,
        typer.Option(help="events, users or products [default: from the file name, else events]"),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="Time zone of timestamps without offset [default: ingest.timezone]"),
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
        t.add_row(c["kind"], c["reason_code"], f"{c['count']:,}", c["explanation"])
    out.print(t)
    t = Table(title=f"Records (newest {len(rows)})")
    for c in ("batch", "source", "#", "reason", "detail", "raw"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(
            r["batch_id"],
            Path(r["source"] or "").name,
            str(r["record_index"]),
            r["reason_code"],
            r["detail"] or "",
            (r["raw"] or "")[:120],
        )
    out.print(t)


@app.command()
@friendly_errors
def batches(
    limit: Annotated[int, typer.Option(help="Most batches to list, newest first.")] = 20,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The ingest log: every batch with its received/accepted/duplicate/quarantined counts."""
    with open_ws(workspace) as ws:
        rows = ws.batches(limit=limit)
    if as_json:
        print_json(rows)
        return
    t = Table(title=f"Ingest batches (newest {len(rows)})")
    for c in ("batch_id", "kind", "source", "received", "accepted", "duplicates", "quarantined"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(
            r["batch_id"],
            r["kind"],
            Path(r["source"] or "").name,
            f"{r['received']:,}",
            f"{r['accepted']:,}",
            f"{r['duplicates']:,}",
            f"{r['quarantined']:,}",
        )
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


def print_summary(s: dict[str, Any]) -> None:
    t = Table(title=f"Portrait workspace {s['workspace']}", show_header=False)
    t.add_column("what")
    t.add_column("count", justify="right")
    for k in ("users", "products", "events", "orders"):
        t.add_row(k, f"{s[k]:,}")
    t.add_row("period", f"{s['first_event']} .. {s['last_event']}")
    t.add_row("records received", f"{s['received']:,}")
    t.add_row("  accepted", f"{s['accepted']:,}")
    t.add_row("  duplicates", f"{s['duplicates']:,}")
    t.add_row("  quarantined", f"{s['quarantined']:,}")
    for k, v in s["identity"].items():
        t.add_row(k.replace("_", " "), f"{v:,}")
    out.print(t)
    t = Table(title="Events by type")
    t.add_column("type")
    t.add_column("events", justify="right")
    for k, v in s["events_by_type"].items():
        t.add_row(k, f"{v:,}")
    out.print(t)
    if s["quarantine_by_reason"]:
        t = Table(title="Quarantine by reason")
        t.add_column("reason")
        t.add_column("records", justify="right")
        for k, v in s["quarantine_by_reason"].items():
            t.add_row(k, f"{v:,}")
        out.print(t)


@app.command()
@friendly_errors
def simulate(
    users: Annotated[int, typer.Option(min=1, help="Registered users to simulate.")] = 5000,
    days: Annotated[int, typer.Option(min=1, help="Days of activity.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same shop.")] = 42,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Only write the Parquet files here; do not ingest.")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Generate a realistic demo shop (with ground-truth traits) and ingest it."""
    from portrait.datasets.simulator import simulate as run_simulation

    with _bar() as bar:
        task = bar.add_task("simulate users", total=users)
        progress = lambda done, total: bar.update(task, completed=done)  # noqa: E731
        if out_dir is not None:
            files = run_simulation(out_dir, users=users, days=days, seed=seed, progress=progress)
            results: list[BatchResult] = []
        else:
            ws = open_ws(workspace)
            with ws:
                t_ingest = bar.add_task("ingest", total=None)
                files, results = ws.simulate(
                    users=users,
                    days=days,
                    seed=seed,
                    progress=progress,
                    ingest_progress=lambda p, r: bar.update(
                        t_ingest, description=f"ingest {p.name}", advance=1
                    ),
                )
    if as_json:
        print_json(
            {
                "files": {
                    k: [str(p) for p in getattr(files, k)] for k in ("users", "products", "events")
                },
                "extra": {k: str(v) for k, v in files.extra.items()},
                "batches": [batch_row(r) for r in results],
            }
        )
        return
    if results:
        print_batches(results)
    else:
        out.print(f"Wrote the simulated shop to {out_dir}.")


@app.command("load-dataset")
@friendly_errors
def load_dataset(
    name: Annotated[str, typer.Argument(help="online-retail-ii, ta-feng, cdnow or reviews-zh")],
    path: Annotated[
        Path | None, typer.Option(help="Data folder [default: $PORTRAIT_DATA, else ../shared/data]")
    ] = None,
    full: Annotated[bool, typer.Option(help="cdnow: the full master file.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Map a public data set into the canonical model and ingest it."""
    with open_ws(workspace) as ws, _bar() as bar:
        task = bar.add_task(f"convert {name}", total=None)
        files, results = ws.load_dataset(
            name,
            path,
            full=full,
            progress=lambda p, r: bar.update(task, description=f"ingest {p.name}", advance=1),
        )
    if as_json:
        print_json(
            {"dataset": name, "notes": files.notes, "batches": [batch_row(r) for r in results]}
        )
        return
    print_batches(results)
    for note in files.notes:
        out.print(f"- {note}")


@app.command()
@friendly_errors
def schema() -> None:
    """Print the canonical data model (tables, columns, PII flags, event types)."""
    out.print(describe_markdown(), markup=False, highlight=False)


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
    if report["anonymous_only"]:
        out.print(f"{identifier} is an anonymous visitor never linked to a user.")
        return
    out.print(f"[bold]{identifier}[/] belongs to person [bold]{report['person_id']}[/].")
    t = Table(title="Identifiers")
    for c in ("identifier", "kind", "events", "conflict"):
        t.add_column(c)
    for i in report["identifiers"]:
        t.add_row(i["identifier"], i["kind"], str(i["events"]), "yes" if i["conflict"] else "")
    out.print(t)
    t = Table(title="Links (evidence)")
    for c in ("from", "to user", "rule", "evidence", "first seen", "batch"):
        t.add_column(c, overflow="fold")
    for link in report["links"]:
        t.add_row(
            f"{link['from_kind']}:{link['from_id']}",
            link["to_user_id"],
            link["rule"],
            _short(str(link["evidence"] or "")),
            str(link["first_seen"] or ""),
            str(link["batch_id"] or ""),
        )
    out.print(t)
    for c in report["conflicts"]:
        out.print(
            f"[yellow]conflict:[/] device {c['anonymous_id']} was used by "
            f"{', '.join(c['seen_with_users'])}; those users are not merged, and its "
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
        out.print(f"Merged: {user_a} and {user_b} are now person {report['person_id']}.")


@keys_app.command("create")
@friendly_errors
def keys_create(
    role: Annotated[str, typer.Option(help="ingest (may send data) or admin (everything).")],
    note: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an API key. The token is shown once; only its hash is stored."""
    with open_ws(workspace) as ws:
        k = ws.create_key(role, note)
    if as_json:
        print_json({"key_id": k.key_id, "role": k.role, "token": k.token})
    else:
        out.print(f"key {k.key_id} ({k.role}); token, shown only now:")
        print(k.token)


@keys_app.command("list")
@friendly_errors
def keys_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List API keys (never their secrets)."""
    with open_ws(workspace) as ws:
        rows = ws.list_keys()
    if as_json:
        print_json(rows)
        return
    t = Table(title="API keys")
    for c in ("key_id", "role", "note", "created_at", "revoked_at"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            *(str(r[c] or "") for c in ("key_id", "role", "note", "created_at", "revoked_at"))
        )
    out.print(t)


@keys_app.command("revoke")
@friendly_errors
def keys_revoke(key_id: str, workspace: WorkspaceOpt = None) -> None:
    """Revoke an API key."""
    with open_ws(workspace) as ws:
        ws.revoke_key(key_id)
    out.print(f"key {key_id} revoked.")


@app.command()
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="[default: api.host]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: api.port]")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from portrait.api.app import create_app

    ws = open_ws(workspace)
    ws.warehouse  # noqa: B018 - fail now, not on the first request, if it is locked
    uvicorn.run(
        create_app(ws),
        host=host or ws.settings.api.host,
        port=port or ws.settings.api.port,
        log_level="warning",
    )


@app.command()
@friendly_errors
def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Workspace folder for the demo shop [default: -w, else demo-workspace]",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="Users to simulate.")] = 50_000,
    days: Annotated[int, typer.Option(help="Days of activity.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    workspace: WorkspaceOpt = None,
) -> None:
    """The main job: create a workspace, simulate a shop, ingest it and summarise it."""
    started = time.perf_counter()
    directory = directory or workspace or Path("demo-workspace")
    ws = Workspace.init(directory, name="demo-shop")
    out.print(f"[bold]Portrait demo[/]: workspace {ws.root}")
    with ws, _bar() as bar:
        task = bar.add_task("simulate users", total=users)
        t_ingest = bar.add_task("ingest", total=3)
        files, results = ws.simulate(
            users=users,
            days=days,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done),
            ingest_progress=lambda p, r: bar.update(
                t_ingest, advance=1, description=f"ingest {p.name}"
            ),
        )
    from portrait.datasets.dirty import dirty_batch

    with ws:
        # A feed with resent and broken records, through the same path as POST /v1/events.
        results.append(ws.ingest_records(dirty_batch(files.events[0]), source="dirty feed"))
        s = ws.summary()
        sample_user = ws.warehouse.fetchone(
            "SELECT person_id FROM identity_map WHERE id_kind = 'user' "
            "AND identifier <> person_id ORDER BY person_id LIMIT 1"
        )
    print_batches(results)
    print_summary(s)
    who = sample_user[0] if sample_user else "<user_id>"
    out.print(
        f"Done in {time.perf_counter() - started:.1f} s. Next: "
        f"`portrait quarantine -w {directory}`, `portrait identity show {who} "
        f"-w {directory}`, `portrait serve -w {directory}`."
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
