"""The demo shop shared by the test session, and copies of workspaces for tests that write.

Simulating and ingesting a shop, and above all building it, are what the suite spends its time
on; so the demo shop is made once per session (per worker process under ``pytest -n``, by the
``demo_shop`` fixture of ``tests/conftest.py``) and a test or module that writes to it works on
a copy: copying a workspace folder takes milliseconds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

# 300 simulated users over 40 days from 2025-01-01 (the simulator's default start), seed 5,
# ingested with their ground truth, not built.
DEMO_USERS, DEMO_DAYS, DEMO_SEED = 300, 40, 5


def copy_workspace(source: Path, dest: Path) -> Path:
    """Copy a closed workspace folder (warehouse, keys, settings, sources) to ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, dest)
    return dest


@dataclass(frozen=True)
class DemoShop:
    """The session's demo shop; never written to: :meth:`copy` it first."""

    root: Path

    def copy(self, dest: Path) -> Path:
        """A private copy of the shop's workspace at ``dest``; returns ``dest``."""
        return copy_workspace(self.root, dest)
