"""The model facade a Workspace exposes as ``ws.models``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portrait.workspace import Workspace


class ModelService:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
