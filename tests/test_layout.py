"""The test tree itself: pytest's default import mode needs unique test module names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_modules_have_unique_names() -> None:
    """Two test files of one name in different folders collect here (cached imports) but fail
    on a fresh clone with "import file mismatch"; this catches them before CI does."""
    root = Path(__file__).parent
    names = Counter(p.name for p in root.rglob("*.py") if p.name != "conftest.py")
    twice = sorted(n for n, c in names.items() if c > 1)
    assert not twice, f"test files sharing a name: {twice}; rename one of each"
