"""Portrait: user profiles and precision marketing for e-commerce.

>>> from portrait import Workspace  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from portrait.workspace import Workspace


def __getattr__(name: str) -> Any:
    # Imported lazily: the warehouse stack is heavy and `portrait --help` should be quick.
    if name == "Workspace":
        from portrait.workspace import Workspace

        return Workspace
    raise AttributeError(name)


__all__ = ["Workspace", "__version__"]
