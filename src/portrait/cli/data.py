"""Commands that bring data in: simulate, load-dataset, and the demo (the main job)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from portrait.cli.app import app
from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    batch_row,
    friendly_errors,
    open_ws,
    out,
    print_batches,
    print_json,
    print_summary,
    progress_bar,
)
from portrait.store.loader import BatchResult
from portrait.workspace import Workspace


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

    with progress_bar() as bar:
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
        Path | None, typer.Option(help="Data folder (default: $PORTRAIT_DATA, else ../shared/data)")
    ] = None,
    full: Annotated[bool, typer.Option(help="cdnow: the full master file.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Map a public data set into the canonical model and ingest it."""
    with open_ws(workspace) as ws, progress_bar() as bar:
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
def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Workspace folder for the demo shop (default: -w, else demo-workspace)",
            show_default=False,
        ),
    ] = None,
    users: Annotated[int, typer.Option(help="Users to simulate.")] = 50_000,
    days: Annotated[int, typer.Option(help="Days of activity.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    workspace: WorkspaceOpt = None,
) -> None:
    """The main job: create a workspace, simulate a shop, ingest it, summarise it and build
    every user's profile (checked against the simulator's ground truth)."""
    started = time.perf_counter()
    directory = directory or workspace or Path("demo-workspace")
    ws = Workspace.init(directory, name="demo-shop")
    out.print(f"[bold]Portrait demo[/]: workspace {ws.root}")
    with ws, progress_bar() as bar:
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
        sample_user = ws.identities.example_person()
    print_batches(results)
    print_summary(s)
    from portrait.cli.profiles import build_with_spinner, print_build, print_truth

    with ws:
        # the user profile: every tag of the catalog, checked against the simulator's truth
        result = build_with_spinner(ws)
        truth = ws.tag_quality().truth
    print_build(result)
    if truth:
        print_truth(truth)
    from portrait.cli.campaign_reports import print_suggestions

    with ws:
        # precision marketing: the playbook's campaign per group, sized on this build
        suggestions = ws.campaigns.suggest()
    out.print("[bold]Campaigns the playbook suggests[/] (`portrait campaign suggest`):")
    print_suggestions(suggestions)
    who = sample_user or "<user_id>"
    first = suggestions.suggestions[0].campaign if suggestions.suggestions else "NAME"
    out.print(
        f"Done in {time.perf_counter() - started:.1f} s. Next: "
        f"`portrait profile {who} -w {directory}`, `portrait tags quality -w {directory}`, "
        f"`portrait quarantine -w {directory}`, `portrait identity show {who} "
        f"-w {directory}`, `portrait campaign suggest --create {first} -w {directory}`, "
        f"`portrait serve -w {directory}`."
    )
