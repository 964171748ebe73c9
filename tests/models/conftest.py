"""A small simulated shop with the churn and propensity models trained on it, shared by the
model tests (one per session: training reads three point-in-time profiles per model).

500 users over 150 days hold a temporal holdout with 30-day windows: 30 days of history, a
training window from 2025-04-01 and a held-out one from 2025-05-01 (the events end on
2025-05-30). The shop's ground truth (``truth_users``) is attached, so the churn model's
truth check runs too. Tests that change the workspace work on a copy (``workspace_copy``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from portrait.datasets.base import DatasetFiles
from portrait.datasets.simulator import simulate
from portrait.models.registry import ModelCard
from portrait.workspace import Workspace

START = date(2025, 1, 1)
DAYS = 150
HORIZON = 30


@dataclass
class TrainedShop:
    root: Path  # the workspace folder
    files: DatasetFiles  # the simulated files (with the ground truth)
    churn: ModelCard
    propensity: ModelCard

    def open(self) -> Workspace:
        return Workspace.open(self.root)


@pytest.fixture(scope="session")
def shop_files(tmp_path_factory: pytest.TempPathFactory) -> DatasetFiles:
    return simulate(
        tmp_path_factory.mktemp("models-shop"), users=500, days=DAYS, seed=7, start=START
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, shop_files: DatasetFiles) -> TrainedShop:
    """The shop ingested, built, and both models trained with 30-day windows."""
    root = tmp_path_factory.mktemp("models-trained") / "ws"
    with Workspace.init(root) as ws:
        ws.ingest_dataset(shop_files)
        ws.build()
        churn = ws.models.train("churn", horizon_days=HORIZON)
        propensity = ws.models.train("propensity")
    return TrainedShop(root, shop_files, churn, propensity)


@pytest.fixture
def workspace_copy(tmp_path: Path, trained: TrainedShop) -> Callable[[], Workspace]:
    """Opens a copy of the trained workspace (a test may change it)."""

    def make() -> Workspace:
        target = tmp_path / "copy"
        if not target.exists():
            shutil.copytree(trained.root, target)
        return Workspace.open(target)

    return make
