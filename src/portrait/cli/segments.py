"""`portrait segment ...`: count, create, list, show, overlap, export, cluster."""

from __future__ import annotations

import typer

segment_app = typer.Typer(help="Segments: boolean expressions over tags.", no_args_is_help=True)
