from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portrait.recs import IdMap


def test_round_trip_and_unknown_ids(tmp_path: Path) -> None:
    m = IdMap.fit(["0042", "a", "0042", None, 7])
    assert m.ids == ["0042", "7", "a"]  # strings, sorted; leading zeros kept; None dropped
    assert m.to_index(["a", "0042", "42", 7]).tolist() == [2, 0, -1, 1]
    assert m.to_ids(np.array([1, -1, 2])).tolist() == ["7", None, "a"]
    assert "a" in m and "b" not in m
    assert IdMap.load(m.save(tmp_path / "users.json")) == m


def test_duplicates_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        IdMap(["a", "a"])
