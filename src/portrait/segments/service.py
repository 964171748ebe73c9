"""The segment facade a Workspace exposes as ``ws.segments``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portrait.workspace import Workspace


class SegmentService:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
