"""The model facade a Workspace exposes as ``ws.models``."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from portrait.models.registry import TRAINERS, ModelCard, TrainOptions, save_card

if TYPE_CHECKING:
    from portrait.workspace import Workspace

Progress = Callable[[str], None]


class ModelService:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def train(self, name: str, progress: Progress | None = None, **options: Any) -> ModelCard:
        """Train model ``name`` (see ``TRAINERS``), store its card and return it."""
        if name not in TRAINERS:
            raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(TRAINERS)}")
        trainer = importlib.import_module(TRAINERS[name])
        opts = TrainOptions(**{k: v for k, v in options.items() if v is not None})
        tick = time.perf_counter()
        card: ModelCard = trainer.train(self.ws, opts, progress or (lambda _m: None))
        if not card.training_seconds:
            card.training_seconds = round(time.perf_counter() - tick, 3)
        save_card(self.ws.warehouse, card)
        return card
