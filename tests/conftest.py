"""Shared fixtures: a fresh workspace per test, one simulated demo shop per test session
(see ``tests/shops.py``), and how tests are grouped on workers under ``pytest -n``.

Modules whose assertions need another shop (size, seed, dates) keep their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portrait.workspace import Workspace
from shops import DEMO_DAYS, DEMO_SEED, DEMO_USERS, DemoShop, copy_workspace


@pytest.fixture(scope="session")
def empty_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace made by ``Workspace.init`` once, closed; copied for each ``ws``."""
    root = tmp_path_factory.mktemp("empty-workspace") / "ws"
    Workspace.init(root).close()
    return root


@pytest.fixture
def ws(tmp_path: Path, empty_workspace: Path):
    """An empty workspace in a temporary folder (time zone UTC, currency CNY)."""
    workspace = Workspace.init(copy_workspace(empty_workspace, tmp_path / "ws"))
    yield workspace
    workspace.close()


@pytest.fixture(scope="session")
def demo_shop(tmp_path_factory: pytest.TempPathFactory) -> DemoShop:
    """The simulated demo shop, ingested once per session (read only: copy it to write)."""
    root = tmp_path_factory.mktemp("demo-shop") / "ws"
    with Workspace.init(root) as workspace:
        workspace.simulate(users=DEMO_USERS, days=DEMO_DAYS, seed=DEMO_SEED)
    return DemoShop(root)


@pytest.fixture
def demo_shop_copy(tmp_path: Path, demo_shop: DemoShop) -> Path:
    """A writable copy of the demo shop for one test (``tmp_path / "ws"``)."""
    return demo_shop.copy(tmp_path / "ws")


# --- parallel runs (pytest-xdist, ``--dist loadgroup``) --------------------------------------
# Session-scoped shops of a folder's conftest worth building once: (folder, fixture name).
SHARED_SHOPS = {("models", "trained")}  # tests/models/conftest.py: the trained models shop


def _xdist_group(item: pytest.Item) -> str:
    """Which worker a test shares with others.

    Spark tests share one worker (one JVM); the tests over a folder's shared shop share one,
    so it is built once; every other test goes with its module, so that a module's fixtures
    are built once.
    """
    if item.get_closest_marker("spark"):
        return "spark"
    folder = item.path.parent.name
    for shop_folder, fixture in SHARED_SHOPS:
        if folder == shop_folder and fixture in item.fixturenames:
            return f"{folder}/{fixture}"
    return item.nodeid.split("::")[0]


def pytest_configure(config: pytest.Config) -> None:
    # xdist declares the marker too; this keeps --strict-markers happy with -p no:xdist
    config.addinivalue_line("markers", "xdist_group(name): run on the worker of this group")


@pytest.hookimpl(tryfirst=True)  # before xdist's hook turns the groups into scopes
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))
