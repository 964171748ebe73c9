"""The demo shop built once for the audit tests (each test works on a copy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.workspace import Workspace


@pytest.fixture(scope="session")
def audit_shop(tmp_path_factory: pytest.TempPathFactory, demo_shop) -> Path:
    root = demo_shop.copy(tmp_path_factory.mktemp("audit") / "ws")
    with Workspace.open(root) as ws:
        ws.build()
    return root
