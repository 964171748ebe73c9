"""Each batch count is taken from what was stored, not by subtraction; a loss fails the batch."""

from __future__ import annotations

import pytest

from event_records import event
from portrait.store import loader


def stored(ws) -> tuple[int, int, int]:
    return ws.warehouse.fetchone(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM quarantine), "
        "(SELECT count(*) FROM ingest_batches)"
    )


def test_an_insert_that_loses_a_row_fails_the_batch(ws, monkeypatch):
    ws.ingest_records([event(event_id="before")])
    real = loader._events_insert
    # A bug that drops a record on its way in: without counting duplicates on their own it
    # would show up as a "duplicate" and the batch would look fine.
    monkeypatch.setattr(
        loader, "_events_insert", lambda select, keep: real(select, keep + " AND s._row <> 1")
    )
    batch = [event(event_id="a"), event(event_id="b"), event(event_id="before"), 42]
    with pytest.raises(loader.BatchCountError, match="does not add up"):
        ws.ingest_records(batch)
    assert stored(ws) == (1, 0, 1)  # rolled back: nothing of the batch, no log row


def test_duplicates_are_counted_by_their_own_predicate(ws):
    ws.ingest_records([event(event_id="a")])
    r = ws.ingest_records(
        [
            event(event_id="a"),  # stored already
            event(event_id="b"),
            event(event_id="b"),  # repeated in the batch
            event(event_id="a"),  # both
            event(user_id=None),  # quarantined
        ]
    )
    assert (r.received, r.accepted, r.duplicates, r.quarantined) == (5, 1, 3, 1)
    assert ws.warehouse.fetchone("SELECT count(*) FROM events")[0] == 2
    log = ws.warehouse.fetchone(
        "SELECT received, accepted, duplicates, quarantined FROM ingest_batches WHERE batch_id = ?",
        [r.batch_id],
    )
    assert log == (5, 1, 3, 1)


def test_user_duplicates_are_superseded_or_unchanged_rows(ws):
    ws.ingest_records([{"user_id": "u1", "city": "Hangzhou"}], kind="users")
    r = ws.ingest_records(
        [
            {"user_id": "u1", "city": "Hangzhou"},  # identical to the stored row
            {"user_id": "u2", "city": "Beijing"},  # superseded by the next row
            {"user_id": "u2", "city": "Shanghai"},
            {"gender": "F"},  # no key: quarantined
        ],
        kind="users",
    )
    assert (r.received, r.accepted, r.duplicates, r.quarantined) == (4, 1, 2, 1)
    assert ws.warehouse.fetchall("SELECT user_id, city FROM users ORDER BY 1") == [
        ("u1", "Hangzhou"),
        ("u2", "Shanghai"),
    ]
