"""The after-ingest and after-build hooks: listed in portrait.hooks, run by the facade."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from portrait import hooks
from portrait.workspace import Workspace


def event(event_id: str) -> dict[str, str]:
    return {
        "event_id": event_id,
        "user_id": "u1",
        "ts": "2025-03-01T10:00:00Z",
        "type": "page_view",
    }


@pytest.fixture
def ws(tmp_path):
    with Workspace.init(tmp_path / "ws") as ws:
        yield ws


def test_the_campaign_journeys_are_default_hooks():
    assert hooks.cart_journeys in hooks.AFTER_INGEST
    assert hooks.triggered_journeys in hooks.AFTER_BUILD


def test_after_ingest_hooks_run_once_per_committed_events_batch(ws, monkeypatch):
    seen = []
    monkeypatch.setattr(hooks, "AFTER_INGEST", [lambda w, r: seen.append((w, r.batch_id))])
    r = ws.ingest_records([event("e1"), event("e2")])
    ws.ingest_records([{"user_id": "u1"}], kind="users")  # not an events batch: no hook
    assert seen == [(ws, r.batch_id)]


def test_the_server_takes_the_after_ingest_hooks_elsewhere(ws, monkeypatch):
    ran, handed = [], []
    monkeypatch.setattr(hooks, "AFTER_INGEST", [lambda w, r: ran.append(r)])
    ws.on_events_committed = handed.append
    r = ws.ingest_records([event("e1")])
    assert ran == [] and [b.batch_id for b in handed] == [r.batch_id]


def test_after_build_hooks_see_the_build(ws, monkeypatch):
    seen = []
    result = SimpleNamespace(build_id="b1", live=True)
    monkeypatch.setattr(hooks, "AFTER_BUILD", [lambda w, r: seen.append(r)])
    monkeypatch.setattr(ws.profiles, "build", lambda **_: result)
    assert ws.build() is result
    assert seen == [result]
