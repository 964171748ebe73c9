"""`portrait recs ...` and `portrait recommend`: the recommendation generators evaluated on
public data (``evaluate``, ``next-basket``), the recommender trained on a workspace (``train``),
and what it serves (``recommend``, added to the top-level app by ``portrait.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    friendly_errors,
    open_ws,
    out,
    print_json,
    progress_bar,
)
from portrait.recs.evaluation.metrics import METRICS, Estimate
from portrait.recs.evaluation.runner import PUBLISHED_NDCG10, Evaluation, evaluate
from portrait.recs.registry import GENERATORS, parse_names
from portrait.recs.results import BoughtTogether, Recommendations, SimilarProducts
from portrait.recs.rules import BusinessRules
from portrait.recs.serve_train import DEFAULT_MODEL

HEADERS = {
    "recall@10": "Recall@10",
    "recall@20": "Recall@20",
    "ndcg@10": "NDCG@10",
    "hit_rate@10": "Hit@10",
    "coverage@10": "Cover@10",
}

recs_app = typer.Typer(
    help="Recommendations: candidate generators and their evaluation.", no_args_is_help=True
)


@recs_app.command("evaluate")
@friendly_errors
def evaluate_cmd(
    dataset: Annotated[
        str, typer.Option(help="online-retail-ii, ta-feng or simulated.", show_default=False)
    ],
    path: Annotated[
        Path | None,
        typer.Option(
            help="Data root, the data set's folder or its file (default: data root); for "
            "simulated, a folder written by `portrait simulate` (default: the demo shop)."
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated generators (default: all: {', '.join(GENERATORS)})."),
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the test users.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Every generator alone on the last 28 days of a data set (protocol: docs/recs.md)."""
    names = parse_names(models)
    with progress_bar() as bar:
        task = bar.add_task(f"reading {dataset}", total=len(names) + 1)

        steps = iter(range(len(names) + 2))

        def step(msg: str) -> None:
            bar.update(task, description=msg, completed=next(steps))

        report = evaluate(dataset, path, names, resamples=resamples, seed=seed, progress=step)
        bar.update(task, description=f"{dataset}: done", completed=len(names) + 1)
    if as_json:
        print_json(report.as_dict())
    else:
        print_report(report)


def _cell(e: Estimate) -> str:
    if e.low is None or e.high is None:
        return f"{e.value:.3f}"
    return f"{e.value:.3f}\n[dim]{e.low:.3f}-{e.high:.3f}[/]"


def print_report(report: Evaluation) -> None:
    """One table: every generator alone, each metric with its 95% bootstrap interval."""
    published = PUBLISHED_NDCG10.get(report.dataset, {})
    table = Table(
        title=(
            f"{report.dataset}: test window {report.cutoff} .. {report.end} (exclusive), "
            f"{report.test_users:,} test users, catalogue {report.catalogue:,} items"
        ),
        caption=f"Below each value: its 95% user-bootstrap interval ({report.resamples} "
        "resamples); coverage has none. Published: reference NDCG@10 under the same protocol.",
    )
    table.add_column("generator", no_wrap=True)
    table.add_column("fit s", justify="right")
    for m in METRICS:
        table.add_column(HEADERS[m], justify="right", no_wrap=True)
    table.add_column("published\nNDCG@10", justify="right")
    for r in report.results:
        pub = published.get(r.name)
        table.add_row(
            r.name,
            f"{r.fit_seconds:.2f}",
            *(_cell(r.metrics[m]) for m in METRICS),
            "" if pub is None else f"{pub:.3f}",
        )
    out.print(table)
    for pair, d in report.differences.items():
        model, baseline = pair.split("-", 1)
        verdict = (
            "above zero"
            if d.low is not None and d.low > 0
            else "below zero"
            if d.high is not None and d.high < 0
            else "includes zero"
        )
        interval = "" if d.low is None else f" [{d.low:+.4f}, {d.high:+.4f}]"
        out.print(
            f"{model} - {baseline}: NDCG@10 difference {d.value:+.4f}{interval} (paired "
            f"bootstrap over the same test users; the interval is {verdict})",
            highlight=False,
        )
    for r in report.results:
        if r.tuning:
            weights = ", ".join(f"{k} {v}" for k, v in r.params.items())
            out.print(
                f"{r.name}: tuned on the validation window (the 28 days before the cut-off) in "
                f"{r.tuning['seconds']:.1f} s, validation NDCG@10 "
                f"{r.tuning['validation_ndcg@10']:.3f}; {weights}",
                highlight=False,
            )


@recs_app.command("next-basket")
@friendly_errors
def next_basket_cmd(
    dataset: Annotated[str, typer.Option(help="ta-feng.", show_default=False)],
    path: Annotated[
        Path | None,
        typer.Option(help="Data root, the data set's folder or its file (default: data root)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the 72/8/20 user split.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Next-basket protocol of Li et al. (TOIS 2023): P-TopFreq, TIFU-KNN, ours (docs/recs.md)."""
    from portrait.recs.nextbasket.runner import REFERENCE, run_next_basket

    with progress_bar() as bar:
        task = bar.add_task(f"reading {dataset}", total=None)
        report = run_next_basket(
            dataset, path, seed=seed, progress=lambda m: bar.update(task, description=m)
        )
        bar.update(task, description=f"{dataset}: done", total=1, completed=1)
    if as_json:
        print_json(report.as_dict())
        return
    d, s = report.summary, report.split
    table = Table(
        title=(
            f"{report.dataset}, next basket: {d['users']:,} users ({s['train']:,} train, "
            f"{s['validation']:,} validation, {s['test']:,} test; seed {s['seed']}), "
            f"{d['items']:,} items, {d['history_baskets']:,} history baskets"
        ),
        caption="Test users; reference: Li et al. (TOIS 2023) under the same protocol. "
        f"{report.seconds:.0f} s in all.",
    )
    for col in ("model", "Recall@10", "NDCG@10", "reference\nRecall@10", "reference\nNDCG@10"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_column("val.\nNDCG@10", justify="right")
    table.add_column("seconds", justify="right")
    for r in report.results:
        ref = REFERENCE.get(r.name)
        table.add_row(
            r.name,
            f"{r.metrics['recall@10']:.3f}",
            f"{r.metrics['ndcg@10']:.3f}",
            "" if ref is None else f"{ref[0]:.3f}",
            "" if ref is None else f"{ref[1]:.3f}",
            f"{r.tuning['validation']['ndcg@10']:.3f}" if r.tuning else "",
            f"{r.seconds:.1f}",
        )
    out.print(table)
    for m, diff in report.difference.items():
        out.print(
            f"ours - tifu-knn, {m}: {diff['value']:+.4f} "
            f"[95% paired bootstrap {diff['low']:+.4f}, {diff['high']:+.4f}]",
            highlight=False,
        )
    for r in report.results:
        if r.tuning:
            out.print(
                f"{r.name}: tuned on the validation users ({r.tuning['grid_points']} points, "
                f"{r.tuning['seconds']:.1f} s): {r.params}",
                highlight=False,
            )


@recs_app.command("train")
@friendly_errors
def train_cmd(
    model: Annotated[
        str, typer.Option(help=f"Candidate generator: {', '.join(GENERATORS)}.")
    ] = DEFAULT_MODEL,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the recommender on the workspace's purchases and save it under <workspace>/recs/."""
    with open_ws(workspace) as ws:
        card = ws.recs.train(model)
    if as_json:
        print_json(card)
        return
    stats = card.metrics["training"]
    out.print(
        f"[bold]recs[/] trained in {card.training_seconds:.1f} s (run {card.run_id}): "
        f"{card.algorithm}; {stats['users']:,} buyers, {stats['items']:,} products bought, "
        f"{stats['baskets']:,} baskets, {stats['item_pairs']:,} product pairs bought together, "
        f"{stats['segments']:,} profile segments. `portrait recommend USER_ID` serves it.",
        highlight=False,
    )


@friendly_errors
def recommend_cmd(
    user_id: Annotated[str | None, typer.Argument(help="The user (or anonymous) id.")] = None,
    k: Annotated[int, typer.Option("--k", "-k", help="How many products.")] = 10,
    similar: Annotated[
        str | None, typer.Option(help="Products like this product id instead.", show_default=False)
    ] = None,
    bought_together: Annotated[
        str | None,
        typer.Option(help="Association rules from this product id instead.", show_default=False),
    ] = None,
    recent_days: Annotated[
        float, typer.Option(help="Leave out products bought in the last N days (not repeats).")
    ] = BusinessRules.recent_days,
    max_per_category: Annotated[
        int | None, typer.Option(help="At most M products per category.", show_default=False)
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Products for a user, each with its reason; or --similar / --bought-together PRODUCT_ID."""
    chosen = [x for x in (user_id, similar, bought_together) if x is not None]
    if len(chosen) != 1:
        raise typer.BadParameter("give one of USER_ID, --similar PRODUCT_ID, --bought-together")
    result: Recommendations | SimilarProducts | BoughtTogether
    with open_ws(workspace) as ws:
        if similar is not None:
            result = ws.recs.similar(similar, k=k)
        elif bought_together is not None:
            result = ws.recs.bought_together(bought_together, k=k)
        else:
            rules = BusinessRules(recent_days=recent_days, max_per_category=max_per_category)
            result = ws.recs.recommend(str(user_id), k=k, rules=rules)
    if as_json:
        print_json(result)
    else:
        print_items(result)


def print_items(result: Recommendations | SimilarProducts | BoughtTogether) -> None:
    """One row per product: rank, id, title, category, score (or the rule's figures), reason."""
    rules_columns = isinstance(result, BoughtTogether)
    if isinstance(result, Recommendations):
        title = f"for {result.user_id}" + (" (cold start)" if result.cold_start else "")
        if not result.personalised:
            title += " (not personalised: no consent; the shop's best sellers)"
        if result.session:
            title += f"; session: {', '.join(result.session[:5])}"
    elif isinstance(result, BoughtTogether):
        title = f"bought together with {result.product_id} ({result.baskets:,} baskets)"
    else:
        title = f"like {result.product_id}"
    table = Table(title=title)
    for col in ("#", "product", "title", "category"):
        table.add_column(col)
    figures = ("support", "confidence", "lift") if rules_columns else ("score",)
    for col in figures:
        table.add_column(col, justify="right")
    table.add_column("reason")
    for n, item in enumerate(result.items, 1):
        table.add_row(
            str(n),
            item.product_id,
            item.title or "",
            item.category or "",
            *(f"{getattr(item, f):.3f}" for f in figures),
            item.reason,
        )
    if not result.items:
        out.print(f"{title}: nothing to recommend", highlight=False)
        return
    out.print(table)
