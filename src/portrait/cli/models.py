"""`portrait models ...`: train, list, show predictive models."""

from __future__ import annotations

import typer

models_app = typer.Typer(help="Predictive models that fill model tags.", no_args_is_help=True)
