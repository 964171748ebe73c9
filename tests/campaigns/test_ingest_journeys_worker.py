"""Cart journeys after ingest run in a worker of their own (the REST server's): the ingesting
thread never waits for them, bursts of batches coalesce, close finishes what was asked."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from portrait.campaigns import journeys
from portrait.campaigns.journeys import IngestJourneys


class Batch:
    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.kind = "events"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    state: dict[str, Any] = {"seen": [], "gate": threading.Event(), "started": threading.Event()}

    def slow_after_ingest(ws: object, result: Batch) -> None:
        state["started"].set()
        assert state["gate"].wait(10), "the test never opened the gate"
        state["seen"].append(result.batch_id)
        if result.batch_id == "boom":
            raise RuntimeError("a journey bug")

    monkeypatch.setattr(journeys, "after_ingest", slow_after_ingest)
    return state


def test_kick_returns_at_once_and_a_burst_makes_one_more_run(calls: dict[str, Any]) -> None:
    worker = IngestJourneys(ws=object())  # type: ignore[arg-type]
    try:
        worker.kick(Batch("b1"))  # type: ignore[arg-type]
        assert calls["started"].wait(5)  # b1 is running, held at the gate
        for i in range(2, 6):  # the ingesting side is not held up meanwhile
            worker.kick(Batch(f"b{i}"))  # type: ignore[arg-type]
        assert not worker.wait_idle(0.05)
        calls["gate"].set()
        assert worker.wait_idle(10)
        assert calls["seen"] == ["b1", "b5"] and worker.runs == 2  # b2..b4 coalesced into b5
    finally:
        calls["gate"].set()
        worker.close()


def test_a_failing_run_does_not_stop_the_worker(calls: dict[str, Any]) -> None:
    calls["gate"].set()
    worker = IngestJourneys(ws=object())  # type: ignore[arg-type]
    try:
        worker.kick(Batch("boom"))  # type: ignore[arg-type]
        assert worker.wait_idle(10)
        worker.kick(Batch("after"))  # type: ignore[arg-type]
        assert worker.wait_idle(10)
        assert calls["seen"] == ["boom", "after"] and worker.runs == 2
    finally:
        worker.close()


def test_close_runs_the_batch_it_was_asked_for_then_stops(calls: dict[str, Any]) -> None:
    worker = IngestJourneys(ws=object())  # type: ignore[arg-type]
    worker.kick(Batch("b1"))  # type: ignore[arg-type]
    assert calls["started"].wait(5)
    worker.kick(Batch("last"))  # type: ignore[arg-type]
    calls["gate"].set()
    worker.close()
    assert calls["seen"] == ["b1", "last"] and not worker._thread.is_alive()
