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


def event(**fields):
    """A valid product_view event, overridden by ``fields``."""
    base = {
        "event_id": "e1",
        "user_id": "u1",
        "ts": "2025-03-01T10:00:00Z",
        "type": "product_view",
        "product_id": "p1",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}
