"""Ranking a numeric column's values for the stepped index, and cumulative steps."""

import numpy as np
import pytest
from pyroaring import BitMap

from portrait.segments import bitmaps as bm
from portrait.segments.encode import distinct_codes


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, -2, 3, 0, 7, -2, 7, 7], dtype=np.int64),  # narrow: counted
        np.array([5], dtype=np.int64),
        np.array([0, 10**12, -(10**12), 10**12], dtype=np.int64),  # wide: sorted
        np.array([0.5, -1.25, 0.5, 3.0, np.inf], dtype=np.float64),
        np.array([], dtype=np.int64),
    ],
)
def test_distinct_codes_rank_values_like_np_unique(values: np.ndarray) -> None:
    uniq, codes = distinct_codes(values)
    want_uniq, want_codes = np.unique(values, return_inverse=True)
    assert uniq.dtype == values.dtype
    np.testing.assert_array_equal(uniq, want_uniq)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_array_equal(uniq[codes], values)


def test_distinct_codes_random_integers_match_np_unique() -> None:
    rng = np.random.default_rng(3)
    for span in (3, 700, 50_000, 10**9):
        values = rng.integers(-span, span, 20_000)
        uniq, codes = distinct_codes(values)
        want_uniq, want_codes = np.unique(values, return_inverse=True)
        np.testing.assert_array_equal(uniq, want_uniq)
        np.testing.assert_array_equal(codes, want_codes)


def test_cumulative_steps_are_unions_of_the_parts_up_to_each_end() -> None:
    parts = [BitMap([1, 9]), BitMap([4]), BitMap(), BitMap([2, 70_000]), BitMap([5])]
    steps = bm.cumulative(parts, [0, 2, 3])
    assert [sorted(s) for s in steps] == [[1, 9], [1, 4, 9], [1, 2, 4, 9, 70_000]]
    assert bm.cumulative(parts, []) == []
