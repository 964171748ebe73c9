"""The Typer application the command modules register on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from portrait.config import set_default_workspace

app = typer.Typer(
    help="Portrait: user profiles and precision marketing for e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def workspace_first(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "-w",
            "--workspace",
            help="Workspace folder for the command that follows (it may also come after it)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Portrait: user profiles and precision marketing for e-commerce."""
    set_default_workspace(workspace)  # set (or cleared) for every command line
