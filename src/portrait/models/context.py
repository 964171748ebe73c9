"""What model code is given to work with: the warehouse (through ``portrait.store``), the
profile service (catalog, time zone, builds, profile frames) and the workspace folder.

A trainer (``train(ctx, options, progress)``) and the feature helpers take a
:class:`ModelContext`, not the whole Workspace: :class:`TrainContext` is what ``ModelService``
hands them; a ``Workspace`` has the same three attributes, so notebooks and tests may pass one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from portrait.store.warehouse import Warehouse
    from portrait.tags.service import ProfileService


class ModelContext(Protocol):
    """The three things a trainer reads and writes through."""

    @property
    def warehouse(self) -> Warehouse: ...

    @property
    def profiles(self) -> ProfileService: ...

    @property
    def root(self) -> Path: ...


@dataclass(frozen=True)
class TrainContext:
    """A :class:`ModelContext` made of exactly those parts."""

    warehouse: Warehouse
    profiles: ProfileService
    root: Path
