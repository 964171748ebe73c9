"""Unmerge: a link made from ingested attributes (or an explicit merge) can be undone, and the
undo is remembered by every later ingest and rebuild."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from event_records import event
from portrait.api.app import create_app
from portrait.cli import app as cli_app
from portrait.identity.graph import merge_users
from portrait.store.identity_ops import rebuild_map
from portrait.workspace import UnknownIdentifierError

PHONE = "13800000001"


def person(ws, user_id: str) -> str:
    rows = ws.warehouse.fetchall(
        "SELECT DISTINCT person_id FROM events_resolved WHERE user_id = ?", [user_id]
    )
    assert len(rows) == 1
    return rows[0][0]


def shop(ws, *users: str) -> None:
    ws.ingest_records([{"user_id": u, "phone": PHONE} for u in users], kind="users")
    ws.ingest_records([event(event_id=f"e-{u}", user_id=u) for u in users])


def test_merge_users_keeps_apart_pairs_apart_unless_forced():
    links = [("b", "a"), ("c", "a")]
    assert merge_users(links, {}, apart=[("b", "a")]) == {"a": "a", "b": "b", "c": "a"}
    # a chain does not get round it: b-c would join b with a through c
    person = merge_users([*links, ("b", "c")], {}, apart=[("b", "a")])
    assert person["b"] == "b" and person["c"] == "a"
    assert merge_users(links, {}, apart=[("b", "a")], forced={("b", "a")})["b"] == "a"


def test_unmerge_undoes_a_phone_merge_and_is_remembered(ws):
    shop(ws, "a", "b")
    assert person(ws, "a") == person(ws, "b")
    report = ws.unmerge("b", reason="different people, shared family phone")
    assert report.person_id == "b"
    assert person(ws, "a") == "a" and person(ws, "b") == "b"
    (u,) = report.unmerges
    assert (u.user_id, u.apart_from) == ("b", "a")
    assert u.reason == "different people, shared family phone"
    assert u.actor.startswith("local:")
    (link,) = report.links
    assert (link.rule, link.in_effect) == ("same_phone", False)

    # re-sending the users, and a newcomer on the same phone, do not re-link a and b
    shop(ws, "a", "b", "0-new")
    assert person(ws, "a") == person(ws, "0-new")
    assert person(ws, "b") == "b"
    with ws.warehouse.transaction() as con:
        rebuild_map(con)
    assert person(ws, "b") == "b" and person(ws, "a") == person(ws, "0-new")


def test_an_explicit_merge_after_an_unmerge_merges_again(ws):
    shop(ws, "a", "b")
    ws.unmerge("b")
    ws.merge_users("a", "b", reason="they are one after all")
    assert person(ws, "a") == person(ws, "b")


def test_unmerge_of_an_explicit_merge(ws):
    ws.ingest_records([event(event_id=u, user_id=u) for u in ("x", "y")])
    ws.merge_users("x", "y")
    ws.unmerge("x")
    assert person(ws, "x") == "x" and person(ws, "y") == "y"


def test_unmerge_errors_are_clear(ws):
    ws.ingest_records([event(event_id="1", user_id="alone")])
    with pytest.raises(ValueError, match="not merged"):
        ws.unmerge("alone")
    with pytest.raises(UnknownIdentifierError, match="ghost"):
        ws.unmerge("ghost")


def test_unmerge_through_the_api_is_admin_only(ws):
    shop(ws, "a", "b")
    admin = {"Authorization": f"Bearer {ws.create_key('admin').token}"}
    ingest = {"Authorization": f"Bearer {ws.create_key('ingest').token}"}
    body = {"user_id": "b", "reason": "support ticket 7"}
    with TestClient(create_app(ws)) as client:
        assert client.post("/v1/identity/unmerge", json=body, headers=ingest).status_code == 403
        r = client.post("/v1/identity/unmerge", json=body, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["person_id"] == "b"
        assert r.json()["unmerges"][0]["actor"].startswith("key:")
        again = client.post("/v1/identity/unmerge", json=body, headers=admin)
        assert again.status_code == 422
        ghost = client.post("/v1/identity/unmerge", json={"user_id": "ghost"}, headers=admin)
        assert ghost.status_code == 404
    assert person(ws, "a") == "a"


def test_cli_unmerge_and_show_explain_it(tmp_path):
    root = tmp_path / "ws"
    runner = CliRunner()
    from portrait.workspace import Workspace

    with Workspace.init(root) as ws:
        shop(ws, "a", "b")
    r = runner.invoke(
        cli_app, ["identity", "unmerge", "b", "--reason", "twins", "-w", str(root)], env={}
    )
    assert r.exit_code == 0, r.stdout
    assert "apart from a" in " ".join(r.stdout.split())
    shown = runner.invoke(cli_app, ["identity", "show", "b", "-w", str(root)])
    assert shown.exit_code == 0, shown.stdout
    text = " ".join(shown.stdout.split())
    assert "unmerged: b and a are two persons" in text and "twins" in text
    assert "in effect" in text
    as_json = runner.invoke(cli_app, ["identity", "show", "a", "--json", "-w", str(root)])
    assert json.loads(as_json.stdout)["unmerges"][0]["actor"].startswith("cli:")
    batches = runner.invoke(cli_app, ["batches", "--json", "-w", str(root)])
    assert {b["actor"] for b in json.loads(batches.stdout)} == {
        json.loads(as_json.stdout)["unmerges"][0]["actor"].replace("cli:", "local:")
    }
