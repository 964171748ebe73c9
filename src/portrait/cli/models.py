"""`portrait models ...`: train, list, show predictive models."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

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
from portrait.models.registry import TRAINERS, ModelCard
from portrait.models.results import KeyMetric, TrainOutcome
from portrait.models.service import ModelService, trained
from portrait.store.warehouse import WarehouseLockedError

models_app = typer.Typer(help="Predictive models that fill model tags.", no_args_is_help=True)


def spinner() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err
    )


@models_app.command("train")
@friendly_errors
def train(
    name: Annotated[str, typer.Argument(help=f"{', '.join(TRAINERS)} or all.")],
    as_of: Annotated[
        str | None, typer.Option(help="Training date T YYYY-MM-DD (default: from the data).")
    ] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(help="Label window after T in days [churn: 90, propensity: 30]."),
    ] = None,
    holdout_days: Annotated[
        int | None, typer.Option(help="Held-out period at the end of the data, in days.")
    ] = None,
    calibration_end: Annotated[
        str | None, typer.Option(help="Last day of the calibration period (clv), YYYY-MM-DD.")
    ] = None,
    time_unit: Annotated[str, typer.Option(help="Time unit of clv: D (days) or W (weeks).")] = "D",
    features: Annotated[
        str | None,
        typer.Option(help="Comma-separated tags to learn from (default: every numeric tag)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a model (or all), evaluate it on a held-out period, write its tags."""
    if time_unit.upper() not in ("D", "W"):
        raise typer.BadParameter(f"--time-unit {time_unit!r}: use D (days) or W (weeks)")
    options: dict[str, Any] = {
        "as_of": as_of,
        "horizon_days": horizon_days,
        "holdout_days": holdout_days,
        "calibration_end": calibration_end,
        "time_unit": time_unit.upper(),
        "seed": seed,
        "features": [f.strip() for f in features.split(",") if f.strip()] if features else None,
    }
    with open_ws(workspace) as ws:
        try:
            outcomes = _train_here(ws, name, options)
        except WarehouseLockedError:  # a server holds the warehouse: it trains
            outcomes = _train_on_server(ws, name, options)
    if as_json:
        print_json(outcomes)
    else:
        print_outcomes(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def _train_here(ws: Any, name: str, options: dict[str, Any]) -> list[TrainOutcome]:
    with spinner() as bar:
        task = bar.add_task(f"training {name}", total=None)

        def say(msg: str) -> None:
            bar.update(task, description=msg)

        if name.strip().lower() == "all":
            return ws.models.train_all(progress=say, **options)
        return [trained(ws.models.train(name, progress=say, **options))]


def _train_on_server(ws: Any, name: str, options: dict[str, Any]) -> list[TrainOutcome]:
    name = name.strip().lower()
    if name != "all":
        name = ModelService.resolve(name)  # a static check: the warehouse is the server's
    result = on_server(ws, f"/v1/models/{name}/train", options, f"training of {name}")
    if name == "all":
        return [TrainOutcome.model_validate(o) for o in result["models"]]
    return [trained(ModelCard.model_validate(result))]


def print_outcomes(outcomes: list[TrainOutcome]) -> None:
    """One line per model: its headline metric beside its baseline, or its error."""
    for o in outcomes:
        if o.status == "failed":
            err.print(f"[bold red]{o.model} failed:[/] {o.error}", highlight=False)
            continue
        written = ", ".join(f"{k} ({v:,})" for k, v in o.tags_written.items()) or "no tags"
        out.print(
            f"[bold]{o.model}[/] trained in {o.training_seconds or 0.0:.1f} s "
            f"(run {o.run_id}): {metric_text(o.key_metric)}; wrote {written}. "
            f"`portrait models show {o.model}` shows the card."
        )


def metric_text(key: KeyMetric | None) -> str:
    if key is None:
        return "no headline metric"
    text = f"{key.name} {_fmt(key.model)}"
    if key.baseline is not None:
        text += f" (baseline {_fmt(key.baseline)})"
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


@models_app.command("list")
@friendly_errors
def list_models(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """The latest card of every model: when trained, headline metric, training time."""
    with open_ws(workspace) as ws:
        rows = ws.models.list()
    if as_json:
        print_json(rows)
        return
    table = Table("model", "trained at", "key metric", "training s", "algorithm", "run")
    for r in rows:
        if r.status != "trained" or r.trained_at is None:
            table.add_row(r.model, "[dim]not trained[/]", "", "", "", "")
            continue
        table.add_row(
            r.model, r.trained_at.isoformat()[:19], metric_text(r.key_metric),
            f"{r.training_seconds or 0.0:.1f}", r.algorithm or "", r.run_id or "",
        )  # fmt: skip
    out.print(table)


@models_app.command("show")
@friendly_errors
def show(
    name: Annotated[str, typer.Argument(help="A model: churn, propensity, clv, ...")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A model's latest card: data window, features, metrics beside baselines, calibration."""
    with open_ws(workspace) as ws:
        card = ws.models.show(name)
    if as_json:
        print_json(card)
        return
    print_card(card)


def print_card(card: ModelCard) -> None:
    out.print(
        f"[bold]{card.model}[/] — {card.algorithm}; run {card.run_id}, trained "
        f"{card.trained_at.isoformat()[:19]} in {card.training_seconds:.1f} s on {card.dataset}"
    )
    window = Table("", "", title="data window", title_justify="left", show_header=False)
    for k, v in card.data_window.items():
        window.add_row(k.replace("_", " "), _fmt(v) if not isinstance(v, list) else " .. ".join(v))
    out.print(window)
    out.print(f"features ({len(card.features)}): " + ", ".join(card.features))
    print_metrics(card.metrics)
    if card.calibration:
        rows = card.calibration
        table = Table(*rows[0].keys(), title="calibration (held-out period)", title_justify="left")
        for r in rows:
            table.add_row(*(_fmt(v) for v in r.values()))
        out.print(table)
    if card.tags_written:
        out.print(
            "tags written: "
            + ", ".join(f"{k} ({v:,} persons)" for k, v in card.tags_written.items())
        )
    for note in card.notes:
        out.print(f"[dim]- {note}[/]")


def print_metrics(metrics: dict[str, Any], title: str = "metrics") -> None:
    """Scalars in one table; a {model, baseline} pair side by side; a mapping of records (per
    category) or a list of records (skipped categories) as a table; other mappings nested."""
    scalars = Table("metric", "value", title=title, title_justify="left")
    later: list[tuple[str, Any]] = []
    for k, v in metrics.items():
        pair = isinstance(v, dict) and {"model", "baseline"} <= v.keys()
        if pair and not isinstance(v["model"], dict):
            label = f"{k} ({v['name']})" if "name" in v else k
            scalars.add_row(label, f"{_fmt(v['model'])} (baseline {_fmt(v['baseline'])})")
        elif (isinstance(v, dict) and v) or (isinstance(v, list) and _records_only(v)):
            later.append((k, v))
        elif isinstance(v, list):
            scalars.add_row(k, ", ".join(map(str, v)))
        else:
            scalars.add_row(k, _fmt(v))
    if scalars.row_count:
        out.print(scalars)
    for k, v in later:
        if isinstance(v, list):
            _records(f"{title}: {k}", v)
        elif {"model", "baseline"} <= v.keys():
            _side_by_side(f"{title}: {k}", v["model"], v["baseline"])
        elif _records_only(list(v.values())):
            _records(f"{title}: {k}", [{"": key, **row} for key, row in v.items()])
        else:
            print_metrics(v, f"{title}: {k}")


def _records_only(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(x, dict) for x in values)


def _side_by_side(title: str, model: dict[str, Any], baseline: dict[str, Any]) -> None:
    table = Table("metric", "model", "baseline", title=title, title_justify="left")
    for k in dict.fromkeys([*model, *baseline]):
        a, b = model.get(k), baseline.get(k)
        if isinstance(a, list | dict) or isinstance(b, list | dict):
            continue
        table.add_row(k, "" if a is None else _fmt(a), "" if b is None else _fmt(b))
    out.print(table)


def _records(title: str, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    table = Table(*columns, title=title, title_justify="left")
    for r in rows:
        table.add_row(*("" if r.get(c) is None else _fmt(r.get(c)) for c in columns))
    out.print(table)
