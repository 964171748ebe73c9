"""`portrait build`, `portrait profile` and `portrait tags ...`: profiles and the tag catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from portrait.cli.app import app
from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    err,
    friendly_errors,
    on_server,
    open_ws,
    out,
    print_json,
)
from portrait.store.warehouse import WarehouseLockedError
from portrait.tags.build import BuildResult
from portrait.tags.results import TruthReport
from portrait.workspace import Workspace

tags_app = typer.Typer(help="The tag catalog: list, show, quality, docs.", no_args_is_help=True)
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        help="Build date YYYY-MM-DD: only events before it count (default: the day "
        "after the latest event)"
    ),
]
LangOpt = Annotated[str, typer.Option(help="Label language: zh or en.")]


@app.command()
@friendly_errors
def build(
    as_of: AsOfOpt = None,
    backend: Annotated[str, typer.Option(help="duckdb (embedded) or pyspark.")] = "duckdb",
    full: Annotated[bool, typer.Option(help="Recompute everyone, not only what changed.")] = False,
    with_models: Annotated[
        bool, typer.Option(help="Then train every model and build again to fill model tags.")
    ] = False,
    history: Annotated[bool, typer.Option("--list", help="List past builds instead.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute every tag into the profile table (a snapshot per build date)."""
    with open_ws(workspace) as ws:
        if history:
            rows = ws.profile_builds()
            if as_json:
                print_json(rows)
                return
            table = Table(
                "build", "as of", "live", "backend", "mode", "persons", "recomputed", "seconds"
            )  # fmt: skip
            for b in rows:
                table.add_row(
                    b.build_id, str(b.as_of), "live" if b.live else "", b.backend, b.mode,
                    f"{b.persons:,}", f"{b.recomputed:,}", f"{b.seconds:.2f}",
                )  # fmt: skip
            out.print(table)
            return
        try:
            result = build_with_spinner(
                ws, as_of=as_of, backend=backend, full=full, with_models=with_models
            )
        except WarehouseLockedError:  # a server holds the warehouse: it builds
            body = {"as_of": as_of, "backend": backend, "full": full, "with_models": with_models}
            result = build_on_server(ws, body)
    if as_json:
        print_json(result.as_dict())
    else:
        print_build(result)
    if with_models:
        from portrait.cli.models import print_outcomes
        from portrait.models.results import TrainOutcome

        if not as_json:
            print_outcomes([TrainOutcome.model_validate(m) for m in result.models])
            t = result.timings
            out.print(
                f"Models trained in {t['models']:.1f} s, between a build of "
                f"{t['first_build']:.1f} s and the build above ({t['total']:.1f} s in all)."
            )
        if any(m["status"] == "failed" for m in result.models):
            raise typer.Exit(1)


def build_on_server(ws: Workspace, body: dict[str, Any]) -> BuildResult:
    """Hand the build to the `portrait serve` holding the workspace (see ``on_server``)."""
    from dataclasses import fields

    from portrait.models.service import ModelsBuildResult

    data = on_server(ws, "/v1/build", body, "build")
    cls = ModelsBuildResult if "models" in data else BuildResult
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def build_with_spinner(ws: Any, **kw: Any) -> Any:
    """``Workspace.build`` with a spinner on stderr naming the current step."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("build", total=None)
        return ws.build(progress=lambda msg: bar.update(task, description=msg), **kw)


def print_build(result: Any) -> None:
    live = (
        "It is the live profile."
        if result.live
        else "The live profile is of a later date and stays; read this one with "
        f"--as-of {result.as_of}."
    )
    if result.mode == "unchanged":
        out.print(
            f"Profiles are up to date: nothing changed since build {result.build_id} as of "
            f"{result.as_of} ({result.persons:,} persons; checked in {result.seconds:.2f} s). "
            f"{live} --full rebuilds anyway."
        )
        return
    out.print(
        f"Built {result.tags} tags for {result.persons:,} persons as of {result.as_of} "
        f"({result.mode}, {result.backend}; {result.recomputed:,} recomputed) "
        f"in {result.seconds:.2f} s from {result.events:,} events. {live}"
    )
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


@app.command()
@friendly_errors
def profile(
    user_id: Annotated[str, typer.Argument(help="A user id or anonymous id.")],
    as_of: Annotated[
        str | None,
        typer.Option(help="Date of a build (default: the live one, of the newest date)."),
    ] = None,
    lang: LangOpt = "en",
    empty: Annotated[bool, typer.Option("--all", help="Also show tags with no value.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A person's tags grouped by the hierarchy, and their latest events."""
    with open_ws(workspace) as ws:
        p = ws.profile(user_id, as_of=as_of, lang=lang, include_empty=empty)
    if as_json:
        print_json(p)
        return
    head = "用户画像" if lang == "zh" else "Profile"
    out.print(f"[bold]{head} {p.person_id}[/] (as of {p.as_of}, build {p.build_id})")
    for g in p.groups:
        table = Table(title=g.label, title_justify="left", show_header=False, min_width=60)
        for sub in g.groups:
            for t in sub.tags:
                label = f"{sub.label} · {t.label}" if sub.label else t.label
                table.add_row(label, _show(t.value), f"[dim]{t.id} v{t.version}[/]")
        out.print(table)
    if p.empty_tags:
        out.print(f"[dim]{p.empty_tags} tags have no value (--all shows them).[/]")
    if p.timeline:
        table = Table("time", "event", "product", "detail", title="recent events")
        for e in p.timeline:
            quantity = "" if e.quantity is None else e.quantity
            detail = e.query or (f"{quantity} x {e.price}" if e.price is not None else "")
            product = e.title or e.product_id or ""
            table.add_row(e.ts[:19], e.type, product[:40], str(detail))
        out.print(table)


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(f"{v['key']} {v['weight']:.0%}" for v in value)
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


@tags_app.command("list")
@friendly_errors
def tags_list(
    group: Annotated[str | None, typer.Option(help="Only this level-1 group.")] = None,
    lang: LangOpt = "en",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every tag: group, kind, type, version and coverage in the latest build."""
    with open_ws(workspace) as ws:
        rows = [t for t in ws.tags() if group is None or t.group == group]
    if as_json:
        print_json(rows)
        return
    table = Table("tag", "label", "group", "kind", "type", "window", "version", "coverage")
    for t in rows:
        cov = "" if t.coverage is None else f"{t.coverage:.1%}"
        group_label = t.group + (f"/{t.group2}" if t.group2 else "")
        table.add_row(
            t.id, getattr(t, lang), group_label, t.kind, t.type, t.window or "",
            str(t.version or ""), cov,
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(rows)} tags")


@tags_app.command("show")
@friendly_errors
def tags_show(
    tag_id: Annotated[str, typer.Argument(help="The tag id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One tag: definition, fingerprint, versions and statistics of the latest build."""
    with open_ws(workspace) as ws:
        t = ws.tag(tag_id)
    if as_json:
        print_json(t)
        return
    out.print(f"[bold]{t.id}[/] — {t.zh} / {t.en}  ({t.group}, {t.kind}, {t.type})")
    out.print(t.description)
    out.print(f"file: {t.file}   fingerprint: {t.fingerprint}   version: {t.version}")
    if t.depends_on:
        out.print("reads: " + ", ".join(t.depends_on))
    out.print("definition:")
    out.print(json.dumps(t.definition, ensure_ascii=False, indent=2))
    if t.stats:
        s = t.stats
        out.print(f"coverage: {s.coverage:.1%} of {s.persons:,} persons")
        if t.pii:
            out.print("personal data: its values are not summarised (coverage only)")
        if s.mean is not None:
            out.print(f"mean {s.mean:.4g}  p50 {s.p50:.4g}  min {s.min:.4g}  max {s.max:.4g}")
        if s.distribution:
            out.print("values: " + ", ".join(f"{k} {v:.1%}" for k, v in s.distribution.items()))


@tags_app.command("docs")
@friendly_errors
def tags_docs(
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the page to this file instead.")
    ] = None,
) -> None:
    """The tag reference as Markdown (docs/tags.md): writing tag files, every built-in tag."""
    from portrait.tags.docs import tags_markdown

    text = tags_markdown()
    if out_path is None:
        typer.echo(text, nl=False)  # raw: a rich console would wrap long lines
        return
    out_path.write_text(text, encoding="utf-8")
    err.print(f"Wrote {out_path}.")


@tags_app.command("quality")
@friendly_errors
def tags_quality(
    build_id: Annotated[
        str | None, typer.Option("--build", help="A build (default: latest).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Coverage, distribution and drift per tag, cross-checks, and simulator truth scores."""
    with open_ws(workspace) as ws:
        q = ws.tag_quality(build_id)
    if as_json:
        print_json(q)
        return
    table = Table("tag", "kind", "coverage", "summary", "drift", title=f"build {q.build.build_id}")
    for t in q.tags:
        summary = ""
        if t.summary:
            summary = f"mean {t.summary.mean:.4g} p50 {t.summary.p50:.4g}"
        elif t.distribution:
            summary = ", ".join(f"{k} {v:.0%}" for k, v in list(t.distribution.items())[:3])
        d = t.drift.model_dump() if t.drift else {}
        drift = ", ".join(f"{k} {v:+.3g}" for k, v in d.items() if v is not None)
        table.add_row(t.id, t.kind, f"{t.coverage:.1%}", summary, drift or "")
    out.print(table)
    for c in q.cross_checks:
        agree = "n/a" if c.agreement is None else f"{c.agreement:.1%}"
        out.print(
            f"cross-check {c.tag} vs {c.against}: {agree} agree "
            f"({c.persons_with_both:,} persons have both)"
        )
    if q.truth:
        print_truth(q.truth)


def print_truth(truth: TruthReport) -> None:
    """The simulator ground-truth report: persona precision/recall and category affinity."""
    table = Table(
        "persona",
        "with evidence",
        "precision",
        "recall",
        "target met",
        title="simulator ground truth",
    )
    for name, r in truth.personas.items():
        table.add_row(
            name,
            f"{r.with_evidence:,}/{r.truth_users:,}",
            str(r.precision),
            str(r.recall),
            "yes" if r.meets_target else "no",
        )
    out.print(table)
    for name, r in truth.personas.items():
        if r.population:
            out.print(f"[dim]{name} is scored over {r.population}[/]")
    a = truth.category_affinity
    if a:
        out.print(
            f"top-3 category affinity holds the true top category for "
            f"{a.top3_hit_rate or 0:.1%} of {a.users:,} users with {a.min_orders}+ "
            f"orders (top-1: {a.top1_hit_rate or 0:.1%}); target 90%"
        )
