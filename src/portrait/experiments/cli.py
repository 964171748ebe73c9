"""`portrait experiment ...`: sample sizes, A/B statistics, uplift models and bandits."""

from __future__ import annotations

import typer

from portrait.cli.app import app

experiment_app = typer.Typer(
    help="Experiments: sample-size planning, A/B statistics, uplift models, bandits.",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")
