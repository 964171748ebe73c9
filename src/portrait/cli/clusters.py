"""`portrait segment cluster`: learned behavioural segments (k-means / GMM over tags)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    err,
    friendly_errors,
    open_ws,
    out,
    print_json,
    progress_bar,
)
from portrait.cli.segments import segment_app
from portrait.models import clusters


@segment_app.command("cluster")
@friendly_errors
def cluster(
    k: Annotated[
        str, typer.Option(help="Number of clusters, or 'auto' to choose it from the data.")
    ] = "auto",
    method: Annotated[str, typer.Option(help="kmeans (silhouette) or gmm (BIC).")] = "kmeans",
    features: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated numeric tags to cluster on (default: discount_share, "
            "brand_concentration, new_arrival_share)."
        ),
    ] = None,
    min_orders: Annotated[
        int, typer.Option(help="Cluster persons with at least this many orders in 365 days.")
    ] = 3,
    k_max: Annotated[int, typer.Option(help="Largest k tried by --k auto.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Learn behavioural clusters, describe each in words and save them as segments
    cluster_1..cluster_k (the profile is rebuilt so `behaviour_cluster` is filled)."""
    if k != "auto" and not k.isdigit():
        raise typer.BadParameter(f"--k {k!r}: give a number of clusters or 'auto'")
    chosen = [f.strip() for f in features.split(",") if f.strip()] if features else None
    with open_ws(workspace) as ws, progress_bar() as bar:
        task = bar.add_task("clustering", total=None)
        result = clusters.cluster_segments(
            ws,
            k=None if k == "auto" else int(k),
            method=method,
            features=chosen,
            min_orders=min_orders,
            k_max=k_max,
            seed=seed,
            progress=lambda msg: bar.update(task, description=msg),
        )
    if as_json:
        print_json(result)
        return
    m = result.metrics
    line = f"{m['k']} clusters ({m['method']}) of {result.population:,} persons"
    if "silhouette" in m:
        line += f", silhouette {m['silhouette']:.3f}"
    if "truth" in m:
        ari = m["truth"]["adjusted_rand_index"]
        line += f", adjusted Rand index vs the simulator's latent classes {ari:.3f}"
    out.print(line)
    table = Table("segment", "persons", "share", "description")
    for c in result.clusters:
        table.add_row(c.segment, f"{c.size:,}", f"{c.share:.1%}", c.description)
    out.print(table)
    if result.removed_segments:
        err.print(
            "removed the segments of an earlier clustering with more clusters: "
            + ", ".join(result.removed_segments)
        )
