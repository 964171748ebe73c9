"""`portrait recs train` and `portrait recommend`: recommendations served from a workspace."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from portrait.cli.app import app
from portrait.cli.common import JsonOpt, WorkspaceOpt, friendly_errors, open_ws, out, print_json
from portrait.recs.cli import recs_app
from portrait.recs.registry import GENERATORS
from portrait.recs.rules import BusinessRules
from portrait.recs.serve_train import DEFAULT_MODEL


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
        print_json(card.model_dump(mode="json"))
        return
    stats = card.metrics["training"]
    out.print(
        f"[bold]recs[/] trained in {card.training_seconds:.1f} s (run {card.run_id}): "
        f"{card.algorithm}; {stats['users']:,} buyers, {stats['items']:,} products bought, "
        f"{stats['baskets']:,} baskets, {stats['item_pairs']:,} product pairs bought together, "
        f"{stats['segments']:,} profile segments. `portrait recommend USER_ID` serves it.",
        highlight=False,
    )


@app.command("recommend")
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
        print_items(result, rules_columns=bought_together is not None)


def print_items(result: dict[str, Any], rules_columns: bool = False) -> None:
    """One row per product: rank, id, title, category, score (or the rule's figures), reason."""
    if "user_id" in result:
        title = f"for {result['user_id']}" + (" (cold start)" if result["cold_start"] else "")
        if result["session"]:
            title += f"; session: {', '.join(result['session'][:5])}"
    elif rules_columns:
        title = f"bought together with {result['product_id']} ({result['baskets']:,} baskets)"
    else:
        title = f"like {result['product_id']}"
    table = Table(title=title)
    for col in ("#", "product", "title", "category"):
        table.add_column(col)
    figures = ("support", "confidence", "lift") if rules_columns else ("score",)
    for col in figures:
        table.add_column(col, justify="right")
    table.add_column("reason")
    for n, item in enumerate(result["items"], 1):
        table.add_row(
            str(n),
            item["product_id"],
            item["title"] or "",
            item["category"] or "",
            *(f"{item[f]:.3f}" for f in figures),
            item["reason"],
        )
    if not result["items"]:
        out.print(f"{title}: nothing to recommend", highlight=False)
        return
    out.print(table)
