"""Shared fixtures: a fresh workspace per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path):
    """An empty workspace in a temporary folder (time zone UTC, currency CNY)."""
    workspace = Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()
