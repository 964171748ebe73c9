"""Group commit: concurrent requests share a transaction but each gets its own outcome."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import orjson

from portrait.api.batcher import GroupCommitter, split_outcome
from portrait.store.loader import BatchResult, Rejection


def lines(prefix: str, n: int, bad: int | None = None, repeat: bool = False) -> list[str]:
    recs = [
        {
            "event_id": f"{prefix}-{i}",
            "user_id": "u1",
            "ts": "2025-03-01T10:00:00Z",
            "type": "page_view",
        }
        for i in range(n)
    ]
    if repeat:
        recs[-1] = dict(recs[0])
    if bad is not None:
        recs[bad]["type"] = "bogus"
    return [orjson.dumps(r).decode() for r in recs]


def test_split_outcome_cuts_counts_and_indices_per_request():
    result = BatchResult(
        batch_id="b",
        kind="events",
        source="http",
        received=10,
        accepted=6,
        duplicates=2,
        quarantined=2,
        rejections=[Rejection(1, "x", None), Rejection(7, "y", "d")],
        accepted_rows=[0, 2, 3, 4, 5, 9],
    )
    a, b = split_outcome(result, [4, 6])
    assert (a.received, a.accepted, a.duplicates, a.quarantined) == (4, 3, 0, 1)
    assert (b.received, b.accepted, b.duplicates, b.quarantined) == (6, 3, 2, 1)
    assert [(r.index, r.reason_code) for r in b.rejections] == [(3, "y")]


def test_concurrent_requests_each_get_their_own_counts(ws):
    committer = GroupCommitter(ws)
    try:
        batches = [lines(f"r{k}", 50, bad=1 + k % 48, repeat=k % 2 == 0) for k in range(24)]
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda b: committer.submit("events", b).result(), batches))
        for k, o in enumerate(outcomes):
            assert o.received == 50
            assert o.quarantined == 1 and o.rejections[0].index == 1 + k % 48
            assert o.duplicates == (1 if k % 2 == 0 else 0)
            assert o.accepted + o.duplicates + o.quarantined == 50
        stored = ws.warehouse.fetchone("SELECT count(*) FROM events")[0]
        assert stored == sum(o.accepted for o in outcomes)
        again = committer.submit("events", batches[0]).result()
        assert again.accepted == 0
    finally:
        committer.close()
