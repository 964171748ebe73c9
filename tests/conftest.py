"""Shared fixtures: a fresh workspace per test, one simulated demo shop per test session
(see ``tests/shops.py``), and how tests are grouped on workers under ``pytest -n``.

Modules whose assertions need another shop (size, seed, dates) keep their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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


# --- parallel runs (pytest-xdist, ``make test``: ``-n auto --dist loadgroup``) ----------------
# Session-scoped shops of a folder's conftest worth building once: (folder, fixture name).
SHARED_SHOPS = {("models", "trained")}  # tests/models/conftest.py: the trained models shop


def _xdist_group(item: pytest.Item) -> str | None:
    """The worker-sharing group of a test, or None for a test any worker may run alone.

    Spark tests share one worker (one JVM); the tests over a folder's shared shop share one,
    so it is built once; a test over a module-scoped fixture goes with its module, so the
    fixture is built once. Tests with fixtures of their own only are spread one by one.
    """
    if item.get_closest_marker("spark"):
        return "spark"
    folder = item.path.parent.name
    for shop_folder, fixture in SHARED_SHOPS:
        if folder == shop_folder and fixture in item.fixturenames:
            return f"{folder}/{fixture}"
    fixtures = getattr(item, "_fixtureinfo", None)
    scopes = (
        {defs[-1].scope for defs in fixtures.name2fixturedefs.values() if defs}
        if fixtures
        else set()
    )
    if scopes & {"module", "class", "package"}:
        return item.nodeid.split("::")[0]
    return None


def _suffix_node_id(item: pytest.Item, group: str) -> None:
    """Give the node id the ``@group`` suffix that xdist's loadgroup scheduler reads.

    pytest 9.2 keeps a node's id in ``_id``; xdist 3.8 still writes the suffix to ``_nodeid``,
    so its groups silently stop working (pytest-xdist issue 1386, fix pending in PR 1388).
    Once an xdist release writes it where pytest keeps it, this finds the suffix and stops.
    """
    node_id = getattr(item, "_id", None)
    if node_id is not None and "@" not in str(node_id).rpartition("]")[2]:
        item._id = type(node_id).parse(f"{node_id}@{group}")


def pytest_configure(config: pytest.Config) -> None:
    # xdist declares the marker too; this keeps --strict-markers happy with -p no:xdist
    config.addinivalue_line("markers", "xdist_group(name): run on the worker of this group")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The main process's GNU readline wrote COLUMNS=80 and LINES=24 into the environment
        # the workers inherit; rich would fix the CLI's width at 80 when it is imported, and
        # the tests that pass COLUMNS to CliRunner would see wrapped tables. A plain run has
        # neither variable, so a worker drops them too.
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
        # one DuckDB thread per worker: the workers already use every core, and two
        # databases of two threads each on two cores only add switching
        os.environ.setdefault("PORTRAIT_THREADS", "1")
        os.environ.setdefault("PORTRAIT_SPARK_MASTER", "local[1]")  # Spark's tasks likewise


@pytest.hookimpl(tryfirst=True)  # before xdist's hook turns the groups into scopes
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests (see ``_xdist_group``); under ``--dist loadgroup``, also hand out the
    work longest first, as far as it is known: slow tests and groups with a slow test, then
    groups by size, then single tests, so that no worker is left with a long piece at the end
    while the others idle (the order within a group is kept)."""
    groups = {id(item): _xdist_group(item) for item in items}
    for item in items:
        if groups[id(item)] is not None:
            item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers
        return
    for item in items:
        if groups[id(item)] is not None:
            _suffix_node_id(item, groups[id(item)])
    items.sort(key=_longest_first(items, groups))


def _longest_first(
    items: list[pytest.Item], groups: dict[int, str | None]
) -> Callable[[pytest.Item], tuple[int, int, int]]:
    """A sort key handing out slow work first, then large groups, then single tests."""
    size: dict[str, int] = {}
    slow_groups: set[str] = set()
    first: dict[str, int] = {}
    for n, item in enumerate(items):
        group = groups[id(item)]
        if group is not None:
            size[group] = size.get(group, 0) + 1
            first.setdefault(group, n)
            if item.get_closest_marker("slow"):
                slow_groups.add(group)

    def key(item: pytest.Item) -> tuple[int, int, int]:
        group = groups[id(item)]
        if group is None:  # a single test: slow ones first, the rest last (stable order)
            return (0 if item.get_closest_marker("slow") else 2, 0, 0)
        return (0 if group in slow_groups else 1, -size[group], first[group])

    return key
