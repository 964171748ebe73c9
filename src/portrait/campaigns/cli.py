"""`portrait campaign ...`: create, list, show, launch, report and suggest campaigns."""

from __future__ import annotations

import typer

from portrait.cli.app import app

campaign_app = typer.Typer(
    help="Campaigns: targeted offers and messages with control groups, and their results.",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")
