"""Record builders shared by test modules: ``from event_records import event``.

A plain module, not ``conftest``: several folders have a ``conftest.py``, and importing one by
name gets whichever was imported first. ``tests/`` is on the path (``pythonpath`` in
pyproject.toml), so this imports the same way from every folder.
"""

from __future__ import annotations

from typing import Any


def event(**fields: Any) -> dict[str, Any]:
    """A valid product_view event, overridden by ``fields`` (a value of ``...`` drops a field)."""
    base = {
        "event_id": "e1",
        "user_id": "u1",
        "ts": "2025-03-01T10:00:00Z",
        "type": "product_view",
        "product_id": "p1",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}
