"""What every command shares: consoles, options, error handling, progress, output."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console, JustifyMethod
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
from typer.main import get_current_context

from portrait.api.handoff import HandoffError
from portrait.audit.context import AuditCaller
from portrait.config import ConfigError, default_workspace_dir
from portrait.datasets.base import DatasetMissingError
from portrait.ingest.plan import SourceSchemaError
from portrait.ingest.readers import UnsupportedSourceError
from portrait.ingest.results import IngestedBatch, WarehouseSummary
from portrait.security.keys import InvalidRoleError
from portrait.store.loader import BatchCountError, BatchResult
from portrait.store.warehouse import WarehouseLockedError
from portrait.tags.build import BuildError
from portrait.tags.spark import SparkUnavailableError
from portrait.workspace import UnknownIdentifierError, Workspace, local_actor

# soft_wrap: a line of text is never broken at the console's width (80 columns when the
# output is not a terminal), so a path or a command in it stays whole for scripts and users;
# tables still fit the width (see ``fitted_table``).
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "-w",
        "--workspace",
        help="Workspace folder (default: $PORTRAIT_WORKSPACE, else the current folder)",
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
    HandoffError,
    InvalidRoleError,
    KeyError,
    ValueError,
    LookupError,
    BuildError,
    SparkUnavailableError,
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
            print_error(msg)
            raise typer.Exit(2) from None
        except BatchCountError as e:  # a bug, not the user's: said plainly, exit 1
            print_error(str(e))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


MAX_ERROR_CHARS = 2000


def print_error(msg: str) -> None:
    """``error: msg`` on stderr as one line: never wrapped (a path or a command in it must stay
    whole for the user and for scripts, whatever the terminal's width, or none) and never
    more than a screenful."""
    msg = re.sub(r"\s*[\r\n]+\s*", " ", str(msg)).strip()
    if len(msg) > MAX_ERROR_CHARS:
        msg = msg[:MAX_ERROR_CHARS] + f"... [{len(msg) - MAX_ERROR_CHARS:,} more characters]"
    err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)


def open_ws(workspace: Path | None) -> Workspace:
    ws = Workspace.open(workspace or default_workspace_dir())
    ws.actor = local_actor("cli")  # recorded on the batches this command ingests
    ws.audit_caller = AuditCaller(ws.actor, ws.role, "cli", "cli", command_line())  # admin
    return ws


def command_line() -> str:
    """``portrait <group> <command>`` running now (what the audit log records; never its
    arguments, which may name a person)."""
    ctx, names = get_current_context(silent=True), []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["portrait", *reversed(names)])


def shorten(text: str, width: int = 16) -> str:
    """Long evidence (a phone hash) shortened for a table; --json shows it whole."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _jsonable(data: Any) -> Any:
    """Models (or lists/dicts of them) as plain JSON data, so commands can hand their typed
    results straight to ``print_json``."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_jsonable(x) for x in data]
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    return data


def print_json(data: Any) -> None:
    """``--json`` output: a model, a list of models or plain data, indented, never wrapped."""
    body = orjson.dumps(_jsonable(data), option=orjson.OPT_INDENT_2, default=str).decode()
    sys.stdout.write(body + "\n")


@dataclass(frozen=True)
class Column:
    """A column of a ``fitted_table``: the lower its ``priority``, the sooner it is left out
    when the console is too narrow for every column."""

    header: str
    priority: int = 0
    justify: JustifyMethod = "left"
    min_width: int = 8  # narrower than this, a column's values are unreadable


def fitted_table(
    title: str | None,
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    width: int | None = None,
) -> Table:
    """A table that fits ``width`` (default: the console's): when the columns cannot all get
    their minimum width, the lowest-priority ones (rightmost first among equals) are left out
    and named in the caption, and long values fold within their column. Wide reports (a
    campaign report, the playbook) stay readable at 80 columns; ``--json`` has every column."""
    rows = [list(r) for r in rows]
    width = width or out.width
    keep = list(range(len(columns)))
    while len(keep) > 1 and _table_width(columns, rows, keep) > width:
        keep.remove(min(reversed(keep), key=lambda i: columns[i].priority))
    hidden = [c.header for i, c in enumerate(columns) if i not in keep]
    caption = f"not shown at this width: {', '.join(hidden)} (see --json)" if hidden else None
    t = Table(title=title, caption=caption)
    for i, w in zip(keep, _widths(columns, rows, keep, width), strict=True):
        t.add_column(columns[i].header, justify=columns[i].justify, overflow="fold", width=w)
    for r in rows:
        t.add_row(*(r[i] for i in keep))
    return t


def _widths(
    columns: Sequence[Column], rows: list[list[str]], keep: list[int], width: int
) -> list[int]:
    """Each kept column's width: its widest value (or header) when everything fits; else the
    room left after every column's least width is shared among the columns that want more, in
    proportion to what they want (set here rather than left to Rich, whose shrinking stops at
    the widest column's minimum)."""
    want = [max([len(columns[i].header), *(len(r[i]) for r in rows)]) for i in keep]
    least = [_least(columns[i], rows, i) for i in keep]
    room = width - (3 * len(keep) + 1)
    if sum(want) <= room:
        return want
    spare = max(0, room - sum(least))
    extra = [w - m for w, m in zip(want, least, strict=True)]
    total = sum(extra) or 1
    return [m + (spare * e) // total for m, e in zip(least, extra, strict=True)]


def _table_width(columns: Sequence[Column], rows: list[list[str]], keep: list[int]) -> int:
    """The narrowest the kept columns can be: each its header's or its minimum width (or its
    widest value, when narrower), plus 3 characters of border and padding per column."""
    return sum(_least(columns[i], rows, i) + 3 for i in keep) + 1


def _least(column: Column, rows: list[list[str]], i: int) -> int:
    widest = max((len(r[i]) for r in rows), default=0)
    return max(len(column.header), min(column.min_width, widest))


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def batch_row(r: BatchResult) -> IngestedBatch:
    """A batch's counts for ``--json`` (without its rejections and timings)."""
    return r.counts()


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
    with progress_bar() as bar:
        task = bar.add_task(label, total=total)

        def step(path: Path, r: BatchResult) -> None:
            bar.update(task, advance=1, description=f"{label}: {path.name}")

        return run(step)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def print_summary(s: WarehouseSummary) -> None:
    t = Table(title=f"Portrait workspace {s.workspace}", show_header=False)
    t.add_column("what")
    t.add_column("count", justify="right")
    for k in ("users", "products", "events", "orders"):
        t.add_row(k, f"{getattr(s, k):,}")
    t.add_row("period", f"{_iso(s.first_event)} .. {_iso(s.last_event)}")
    t.add_row("records received", f"{s.received:,}")
    t.add_row("  accepted", f"{s.accepted:,}")
    t.add_row("  duplicates", f"{s.duplicates:,}")
    t.add_row("  quarantined", f"{s.quarantined:,}")
    for k, v in s.identity.model_dump().items():
        t.add_row(k.replace("_", " "), f"{v:,}")
    out.print(t)
    t = Table(title="Events by type")
    t.add_column("type")
    t.add_column("events", justify="right")
    for k, v in s.events_by_type.items():
        t.add_row(k, f"{v:,}")
    out.print(t)
    if s.quarantine_by_reason:
        t = Table(title="Quarantine by reason")
        t.add_column("reason")
        t.add_column("records", justify="right")
        for k, v in s.quarantine_by_reason.items():
            t.add_row(k, f"{v:,}")
        out.print(t)


def on_server(ws: Workspace, path: str, body: dict[str, Any], what: str) -> Any:
    """Run a job on the `portrait serve` that holds the workspace's warehouse (the CLI cannot
    open it then) with a key made for it and revoked after, showing its progress; the job's
    result. Without such a server another process holds the warehouse, and that is the error."""
    from portrait.api.handoff import run_remote_job, running_server

    info = running_server(ws.root)
    if info is None:
        raise WarehouseLockedError(
            f"{ws.root} is in use by another process that is not a `portrait serve` of it; "
            "wait for that process to end"
        )
    err.print(
        f"`portrait serve` at {info.url} (pid {info.pid}) holds the workspace: "
        f"the {what} runs there"
    )
    key = ws.create_key("admin", note=f"portrait {what} (CLI hand-off)")
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err
        ) as bar:
            task = bar.add_task(f"{what} (on the server)", total=None)
            job = run_remote_job(
                info, key.token, path, body, lambda m: bar.update(task, description=m)
            )
    finally:
        ws.revoke_key(key.key_id)
    return job["result"]
