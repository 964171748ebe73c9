"""The Typer application the command modules register on."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Portrait: user profiles and precision marketing for e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
