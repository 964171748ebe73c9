"""The demo's dirty feed: every spoiled record ends as the outcome it was made for."""

from __future__ import annotations

from collections import Counter

from portrait.datasets.dirty import SPOILERS, dirty_batch
from portrait.datasets.simulator import simulate


def test_dirty_feed_outcomes_match_how_records_were_spoiled(ws, tmp_path):
    files = simulate(tmp_path / "shop", users=300, days=20, seed=3)
    ws.ingest_dataset(files)
    batch = dirty_batch(files.events[0], n=600, seed=1)
    r = ws.ingest_records(batch, source="dirty feed")
    assert r.received == 600 and r.accepted == 0
    expected = {outcome for _, _, outcome in SPOILERS}
    got = Counter(x.reason_code for x in r.rejections)
    assert set(got) <= expected
    assert set(got) == expected - {"duplicate"}
    assert r.duplicates + sum(got.values()) == 600
