"""`portrait validate`: personas, clusters and models against truth and held-out data."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from portrait.cli.app import app
from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    friendly_errors,
    open_ws,
    out,
    print_json,
    progress_bar,
)
from portrait.validate import (
    SUITE,
    ModelChecked,
    ValidationReport,
    run_suite,
    workspace_report,
)


@app.command()
@friendly_errors
def validate(
    suite: Annotated[
        bool,
        typer.Option(
            "--suite",
            help="Run the whole protocol in fresh workspaces: the simulated shop and the real "
            "data sets that are present (Online Retail II, Ta-Feng, CDNOW).",
        ),
    ] = False,
    datasets: Annotated[
        str,
        typer.Option(help=f"With --suite: comma-separated, of {', '.join(SUITE)}."),
    ] = ",".join(SUITE),
    path: Annotated[
        Path | None, typer.Option(help="With --suite: the data root holding the data sets.")
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(help="With --suite: keep the workspaces here (default: a temporary folder)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How good the profiles, clusters and models are: simulator truth and held-out metrics."""
    if suite:
        names = [d.strip() for d in datasets.split(",") if d.strip()]
        with (
            tempfile.TemporaryDirectory(prefix="portrait-validate-") as tmp,
            progress_bar() as bar,
        ):
            task = bar.add_task("validating", total=None)
            reports = run_suite(
                workdir or Path(tmp),
                names,
                data_root=path,
                progress=lambda msg: bar.update(task, description=msg),
            )
    else:
        with open_ws(workspace) as ws:
            reports = {str(ws.root): workspace_report(ws)}
    if as_json:
        print_json(reports)
        return
    for name, report in reports.items():
        print_report(name, report)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


def print_report(name: str, report: ValidationReport) -> None:
    out.print(f"\n[bold]{name}[/]")
    if report.skipped:
        out.print(f"  skipped: {report.skipped}")
        return
    if report.build:
        b = report.build
        out.print(f"  profile build {b.build_id} as of {b.as_of}: {b.persons:,} persons")
    if report.personas:
        table = Table("persona", "precision", "recall", "with evidence", "target met")
        for tag, p in report.personas.items():
            table.add_row(
                tag, _fmt(p["precision"]), _fmt(p["recall"]), f"{p['with_evidence']:,}",
                "yes" if p["meets_target"] else "no",
            )  # fmt: skip
        out.print(table)
    aff = report.category_affinity
    if aff:
        out.print(
            f"  top-3 category affinity holds the true top category for "
            f"{aff['top3_hit_rate']:.1%} of {aff['users']:,} users with {aff['min_orders']}+ "
            f"orders (top-1 {aff['top1_hit_rate']:.1%})"
        )
    cl = report.clusters
    if cl:
        line = f"  clusters: k={cl.k} ({cl.method})"
        if cl.truth:
            line += f", adjusted Rand index vs latent classes {cl.truth['adjusted_rand_index']}"
        out.print(line)
        for d in cl.descriptions:
            out.print(f"    {d}")
    if report.models:
        table = Table("model", "held-out result (model vs baseline)", "trained in")
        for model, m in report.models.items():
            table.add_row(model, "\n".join(model_lines(m)), f"{m.training_seconds:.1f} s")
        out.print(table)
    for model, status in (report.trained or {}).items():
        if status != "trained":
            out.print(f"  {model}: {status}")


def model_lines(m: ModelChecked) -> list[str]:
    """The headline figures of one model card, each beside its baseline."""
    metrics, lines = m.metrics, []
    key = metrics.get("key")
    if key:
        lines.append(f"{key['name']}: {_fmt(key['model'])} vs {_fmt(key['baseline'])}")
    truth = metrics.get("truth") or {}
    if "auc_vs_latent_churn" in truth:
        t = truth["auc_vs_latent_churn"]
        lines.append(
            f"AUC vs the simulator's latent churn: {_fmt(t['model'])} vs {_fmt(t['baseline'])}"
        )
    cats = metrics.get("categories") or {}
    if cats:
        better = sum(1 for c in cats.values() if c.get("auc", 0) > c.get("baseline_auc", 1))
        lines.append(f"per category: AUC above baseline in {better} of {len(cats)}")
    hold = metrics.get("holdout") or {}
    if "cumulative_error_pct" in hold:
        forecast, actual = hold["cumulative_repeat_forecast"], hold["cumulative_repeat_actual"]
        lines.append(
            f"cumulative repeat purchases: {_fmt(forecast)} forecast vs {_fmt(actual)} actual "
            f"({hold['cumulative_error_pct']:+.2f}%)"
        )
    for part in ("bgnbd", "gamma_gamma"):
        fitted = m.params.get(part)
        if fitted:
            shown = {k: v for k, v in fitted.items() if k != "log_likelihood"}
            line = f"{part}: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items())
            published = (m.published or {}).get(part)
            if published:
                line += " (published " + ", ".join(f"{k} {v}" for k, v in published.items()) + ")"
            lines.append(line)
    return lines or [_fmt({k: v for k, v in metrics.items() if not isinstance(v, list | dict)})]
