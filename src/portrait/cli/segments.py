"""`portrait segment ...`: count, create, list, show, overlap, export, delete, index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    err,
    friendly_errors,
    open_ws,
    out,
    print_json,
)
from portrait.segments.results import SegmentDetail

segment_app = typer.Typer(help="Segments: boolean expressions over tags.", no_args_is_help=True)
ExprArg = Annotated[
    str,
    typer.Argument(
        help="A condition over tags in SQL WHERE syntax, e.g. "
        "\"gender = 'F' AND rfm_segment IN ('champions', 'loyal')\"."
    ),
]
AsOfOpt = Annotated[
    str | None, typer.Option(help="Use the build of this date YYYY-MM-DD (default: the live one).")
]


@segment_app.command("count")
@friendly_errors
def count(
    expression: ExprArg,
    as_of: AsOfOpt = None,
    engine: Annotated[
        str, typer.Option(help="auto (bitmap index, warehouse where needed), bitmap or warehouse.")
    ] = "auto",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many persons an expression selects, and which path answered."""
    with open_ws(workspace) as ws:
        r = ws.segments.count(expression, as_of=as_of, engine=engine)
    if as_json:
        print_json(r)
        return
    out.print(
        f"[bold]{r.count:,}[/] persons ({r.share:.1%} of {r.persons:,}) as of "
        f"{r.as_of}: {r.path}, {r.evaluate_ms:.1f} ms"
    )
    for c in r.warehouse_conditions:
        out.print(f"[dim]warehouse answered: {escape(c)}[/]")
    for w in r.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")


@segment_app.command("create")
@friendly_errors
def create(
    name: Annotated[str, typer.Argument(help="Segment name: lower-case letters, digits, _ or -.")],
    expression: ExprArg,
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a segment of that name.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a segment; its members are stored with every build from now on."""
    with open_ws(workspace) as ws:
        s = ws.segments.create(name, expression, description=description, replace=replace)
    if as_json:
        print_json(s)
        return
    size = "no build yet" if s.size is None else f"{s.size:,} persons as of {s.as_of}"
    out.print(f"Saved segment [bold]{s.name}[/]: {escape(s.normalized)} ({size}).")


@segment_app.command("list")
@friendly_errors
def list_segments(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every saved segment (yours, then the built-in ones) with its latest size."""
    with open_ws(workspace) as ws:
        rows = ws.segments.list()
    if as_json:
        print_json(rows)
        return
    table = Table("segment", "persons", "expression", "description")
    for s in rows:
        size = "" if s.size is None else f"{s.size:,}"
        name = s.name + (" [dim](built-in)[/]" if s.builtin else "")
        table.add_row(name, size, escape(s.expression), escape(s.description or ""))
    out.print(table)


@segment_app.command("show")
@friendly_errors
def show(
    name: Annotated[str, typer.Argument(help="A saved segment.")],
    by: Annotated[
        str | None, typer.Option(help="Composition by these tags (comma-separated).")
    ] = None,
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Size, composition by key tags, and who joined and left build after build."""
    with open_ws(workspace) as ws:
        s = ws.segments.show(name, by=_split(by), as_of=as_of)
    if as_json:
        print_json(s)
        return
    _print_segment(s)


@segment_app.command("overlap")
@friendly_errors
def overlap(
    names: Annotated[list[str], typer.Argument(help="Two or more saved segments.")],
    as_of: AsOfOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pairwise intersections and Jaccard indexes of segments."""
    with open_ws(workspace) as ws:
        r = ws.segments.overlap(names, as_of=as_of)
    if as_json:
        print_json(r)
        return
    sizes = ", ".join(f"{s.name} {s.size:,}" for s in r.segments)
    out.print(f"As of {r.as_of}: {sizes}; {r.union:,} in any.")
    table = Table("a", "b", "both", "jaccard", "share of a", "share of b")
    for p in r.pairs:
        table.add_row(
            p.a, p.b, f"{p.both:,}", f"{p.jaccard:.3f}", f"{p.share_of_a:.1%}",
            f"{p.share_of_b:.1%}",
        )  # fmt: skip
    out.print(table)


@segment_app.command("export")
@friendly_errors
def export(
    name: Annotated[str, typer.Argument(help="A saved segment.")],
    out_path: Annotated[Path, typer.Option("--out", help="File to write: .csv or .parquet.")],
    tags: Annotated[
        str | None, typer.Option(help="Tags to add beside the user ids (comma-separated).")
    ] = None,
    as_of: AsOfOpt = None,
    purpose: Annotated[
        str | None,
        typer.Option(help="Why: needed to export a personal-data (pii) tag, e.g. birth_date."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the members' user ids (and some tags) to CSV or Parquet."""
    with open_ws(workspace) as ws:
        r = ws.export_segment(name, out_path, tags=_split(tags), as_of=as_of, purpose=purpose)
    if as_json:
        print_json(r)
        return
    out.print(f"Wrote {r.rows:,} persons of {r.name} (as of {r.as_of}) to {r.path}.")


@segment_app.command("delete")
@friendly_errors
def delete(
    name: Annotated[str, typer.Argument(help="A saved segment (not a built-in one).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Delete a saved segment and its stored memberships."""
    with open_ws(workspace) as ws:
        ws.segments.delete(name)
    out.print(f"Deleted segment {name}.")


@segment_app.command("index")
@friendly_errors
def index(as_of: AsOfOpt = None, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """What a build's bitmap index holds (made now for a build that has none)."""
    with open_ws(workspace) as ws:
        r = ws.segments.index(as_of=as_of)
    if as_json:
        print_json(r)
        return
    out.print(
        f"Build {r.build_id} (as of {r.as_of}): {r.tags} tags over {r.persons or 0:,} "
        f"persons, {r.mib:.2f} MiB, built in {r.seconds or 0:.2f} s."
    )
    for tag, why in r.skipped.items():
        out.print(f"[dim]{tag}: left to the warehouse ({escape(why)})[/]")


def _print_segment(s: SegmentDetail) -> None:
    """A segment's size, composition tables and history, as ``portrait segment show`` prints."""
    kind = " (built-in)" if s.builtin else ""
    out.print(f"[bold]{s.name}[/]{kind}: {escape(s.normalized)}")
    if s.description:
        out.print(escape(s.description))
    if s.size is None or s.persons is None or s.share is None:
        out.print("No profile build yet: run `portrait build`.")
        return
    line = f"{s.size:,} persons ({s.share:.1%} of {s.persons:,}) as of {s.as_of}"
    if s.change:
        c = s.change
        line += f"; since {c.since}: +{c.joined:,} joined, -{c.left:,} left"
    out.print(line)
    for tag, rows in s.composition.items():
        table = Table("value", "persons", "share", "lift", title=tag, title_justify="left")
        for r in rows:
            lift = "" if r.lift is None else f"{r.lift:.2f}x"
            value = "(no value)" if r.value is None else escape(r.value)
            table.add_row(value, f"{r.persons:,}", f"{r.share:.1%}", lift)
        out.print(table)
    if len(s.history) > 1:
        table = Table("build", "as of", "persons", "joined", "left", title="history")
        for h in s.history:
            table.add_row(h.build_id, str(h.as_of), f"{h.size:,}", _n(h.joined), _n(h.left))
        out.print(table)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"
