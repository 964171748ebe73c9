"""REST routes for experiments, registered by `create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.
from typing import Any

from fastapi import FastAPI


def register(app: FastAPI, WorkspaceDep: Any, Admin: Any) -> None:
    """Add the experiments routes to `app`."""
