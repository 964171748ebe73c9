from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from portrait.recs import Interactions, RepeatPurchase


def test_arrow_columns_and_datetime_timestamps() -> None:
    ts = pa.array(np.array(["2024-01-01", "2024-01-02", "2024-01-02"], dtype="datetime64[s]"))
    data = Interactions.from_arrays(pa.array([0, 1, 1]), pa.array([2, 2, 2]), timestamps=ts)
    assert (data.n_users, data.n_items) == (2, 3)
    assert data.last_timestamp == np.datetime64("2024-01-02", "s").astype(np.int64)
    m = data.to_csr()
    assert m[1, 2] == 2.0  # repeated pairs summed
    assert data.to_csr(binary=True)[1, 2] == 1.0


def test_half_life_halves_the_weight_of_an_older_purchase() -> None:
    day = 86_400
    data = Interactions.from_arrays([0, 0], [0, 1], timestamps=[0, 10 * day])
    rec = RepeatPurchase(half_life_days=10).fit(data).recommend([0], k=2)
    assert rec.ids[0].tolist() == [1, 0]
    assert rec.scores[0].tolist() == pytest.approx([1.0, 0.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": [0, -1], "items": [0, 1]}, ">= 0"),
        ({"users": [0], "items": [0, 1]}, "same length"),
        ({"users": [0, 1], "items": [0, 1], "timestamps": [1]}, "one value per"),
        ({"users": [0, 5], "items": [0, 1], "n_users": 3}, "smaller than the largest"),
    ],
)
def test_bad_input_is_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Interactions.from_arrays(**kwargs)
