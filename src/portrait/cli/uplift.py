"""`portrait experiment uplift`: uplift models on a real randomised campaign (Hillstrom);
``uplift_app``'s command joins ``portrait.cli.experiments.experiment_app``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import JsonOpt, friendly_errors, out, print_json, progress_bar
from portrait.experiments.uplift_benchmark import (
    ALL_MODELS,
    K,
    ModelResult,
    UpliftReport,
    check_protocol,
    parse_models,
    run_uplift_benchmark,
)

uplift_app = typer.Typer()


@uplift_app.command("uplift")
@friendly_errors
def uplift_cmd(
    dataset: Annotated[str, typer.Option(help="hillstrom.", show_default=False)],
    path: Annotated[
        Path | None,
        typer.Option(help="Data root, the data set's folder or its file (default: data root)."),
    ] = None,
    arm: Annotated[str, typer.Option(help="E-mail arm against No E-Mail: womens or mens.")] = (
        "womens"
    ),
    target: Annotated[str, typer.Option(help="Outcome: visit or conversion.")] = "visit",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Comma-separated models, method[/learner] (default: all: "
            f"{', '.join(ALL_MODELS)}).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Split, model and bootstrap seed.")] = 42,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the test half.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Uplift models on a 50/50 stratified split, scored on the test half (docs/experiments.md)."""
    arm, target = arm.strip().lower(), target.strip().lower()
    check_protocol(dataset, arm, target)
    models = parse_models(model)
    with progress_bar() as bar:
        task = bar.add_task(f"reading {dataset}", total=len(models) + 2)
        steps = iter(range(len(models) + 3))

        def step(msg: str) -> None:
            bar.update(task, description=msg, completed=next(steps))

        report = run_uplift_benchmark(
            dataset,
            path,
            arm=arm,
            target=target,
            models=models,
            seed=seed,
            resamples=resamples,
            progress=step,
        )
        bar.update(task, description=f"{dataset}: done", completed=len(models) + 2)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(report)


def _pct(v: float) -> str:
    return f"{v * 100:+.2f} pp"


METHOD_LABELS = {
    "class-transformation": "class transform",
    "two-model": "two-model",
    "x-learner": "X-learner",
}


def _row(r: ModelResult, reference: float | None, best: bool) -> list[str]:
    u = r.uplift_at_30
    method, _, learner = r.name.partition("/")
    method = METHOD_LABELS.get(method, method)
    if best:
        method, learner = f"[bold]{method}[/]", f"[bold]{learner}[/]"
    return [
        method,
        learner,
        f"{u.value:.4f}\n[dim]{u.low:.3f}-{u.high:.3f}[/]",
        "" if reference is None else f"{reference:.4f}",
        f"{r.qini_auc:.4f}",
        f"{r.uplift_auc:.4f}",
        f"{r.fit_seconds:.1f}" if r.name != "random" else "",
    ]


def print_report(report: UpliftReport) -> None:
    """One table: every model and the random baseline on the test half, then the ATEs."""
    ref = report.reference_uplift_at_30
    table = Table(
        title=(
            f"{report.dataset}: {report.arm} e-mail vs no e-mail, target {report.target}; "
            f"{report.rows:,} rows, {report.train_rows:,} train / {report.test_rows:,} test "
            f"(50/50 stratified by treatment and target, seed {report.seed})"
        ),
        caption=(
            f"Scores on the test half. Below uplift@{K:.0%}: its 95% bootstrap interval "
            f"({report.resamples} resamples). Qini: Qini AUC, AUUC: uplift-curve AUC, both "
            "normalised by the perfect curve (1 perfect, 0 random) as in scikit-uplift. ref.: "
            "scikit-uplift's published class-transformation pipeline."
        ),
    )
    for col in ("model", "learner", f"uplift@{K:.0%}", "ref.", "Qini", "AUUC", "fit s"):
        table.add_column(col, justify="left" if col in ("model", "learner") else "right")
    best = report.best() if report.results else None
    for r in report.results:
        table.add_row(*_row(r, ref, r is best))
    if report.random is not None:
        table.add_row(*_row(report.random, ref, False), style="dim")
    out.print(table)
    a, at = report.ate_all, report.ate_test
    expected = "" if report.reference_ate is None else f" (published {_pct(report.reference_ate)})"
    out.print(
        f"ATE of the {report.arm} e-mail on {report.target}: {_pct(a.value)} "
        f"[95% CI {_pct(a.low)}, {_pct(a.high)}] on all {report.rows:,} rows{expected}; "
        f"{_pct(at.value)} on the test half.",
        highlight=False,
    )
    if best is not None and ref is not None:
        u = best.uplift_at_30
        verdict = (
            "above the reference beyond the bootstrap noise"
            if u.low > ref
            else "below the reference beyond the noise"
            if u.high < ref
            else "within the noise of the reference"
        )
        out.print(
            f"Best: {best.name}, uplift@{K:.0%} {u.value:.4f} vs reference {ref:.4f} "
            f"({u.value - ref:+.4f}; {verdict}; chosen on the test half, so mildly optimistic). "
            f"{report.seconds:.0f} s in all.",
            highlight=False,
        )
