"""What an ingest key can learn and do (issue 15): nothing about stored values, every change
recorded with the key that sent it, and no merging of persons by posting a phone."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.api.batcher import GroupCommitter
from portrait.config import write_settings
from portrait.workspace import Workspace

TS = "2025-03-01T10:00:00Z"


def ev(event_id: str, user_id: str = "u1") -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user_id, "ts": TS, "type": "page_view"}


@dataclass
class Served:
    client: TestClient
    ws: Workspace
    ingest_id: str
    ingest: dict[str, str]
    admin: dict[str, str]

    def post(self, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        r = self.client.post(path, json=body, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()

    def person(self, user_id: str) -> str:
        row = self.ws.warehouse.fetchone(
            "SELECT person_id FROM identity_map WHERE id_kind = 'user' AND identifier = ?",
            [user_id],
        )
        return row[0] if row else user_id


def serve(root: Path, auto_merge: str | None = None) -> Iterator[Served]:
    ws = Workspace.init(root)
    if auto_merge is not None:
        ws.settings.identity.auto_merge = auto_merge  # type: ignore[assignment]
        write_settings(ws.root, ws.settings)
    ingest = ws.create_key("ingest", "feed")
    admin = ws.create_key("admin", "ops")
    with TestClient(create_app(ws)) as client:
        yield Served(
            client,
            ws,
            ingest.key_id,
            {"Authorization": f"Bearer {ingest.token}"},
            {"Authorization": f"Bearer {admin.token}"},
        )
    ws.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path / "ws")


# --- answers reveal nothing stored ------------------------------------------------------------


def test_an_ingest_key_cannot_tell_a_stored_email_from_a_new_one(api: Served):
    api.post("/v1/users", [{"user_id": "victim", "email": "v@example.com"}], api.admin)
    right = api.post("/v1/users", [{"user_id": "victim", "email": "v@example.com"}], api.ingest)
    wrong = api.post("/v1/users", [{"user_id": "victim", "email": "x@example.com"}], api.ingest)
    drop = ("batch_id",)
    assert {k: v for k, v in right.items() if k not in drop} == {
        k: v for k, v in wrong.items() if k not in drop
    }
    assert (right["accepted"], right["duplicates"]) == (1, 0)


def test_an_ingest_key_cannot_tell_which_event_ids_exist(api: Served):
    api.post("/v1/events", [ev("known")], api.admin)
    body = api.post("/v1/events", [ev("known"), ev("new"), ev("new")], api.ingest)
    assert (body["received"], body["accepted"], body["duplicates"]) == (3, 3, 0)
    # the admin key (and the CLI) keep the full breakdown
    again = api.post("/v1/events", [ev("known"), ev("other")], api.admin)
    assert (again["accepted"], again["duplicates"]) == (1, 1)


def test_products_answers_fold_duplicates_too(api: Served):
    product = [{"product_id": "p1", "title": "Tea", "price": 10.0}]
    api.post("/v1/products", product, api.admin)
    body = api.post("/v1/products", product, api.ingest)
    assert (body["accepted"], body["duplicates"], body["quarantined"]) == (1, 0, 0)


def test_rejections_are_still_reported_to_an_ingest_key(api: Served):
    body = api.post("/v1/events", [ev("ok"), {**ev("bad"), "type": "teleport"}], api.ingest)
    assert (body["accepted"], body["duplicates"], body["quarantined"]) == (1, 0, 1)
    assert body["rejected"][0]["reason_code"] == "unknown_event_type"


# --- every batch records who sent it ----------------------------------------------------------


def test_an_update_is_applied_and_recorded_with_the_key_that_sent_it(api: Served):
    api.post("/v1/users", [{"user_id": "u1", "email": "a@example.com"}], api.admin)
    body = api.post("/v1/users", [{"user_id": "u1", "email": "b@example.com"}], api.ingest)
    from portrait.store.pii import user_pii

    batch = api.ws.warehouse.fetchone("SELECT batch_id FROM users WHERE user_id = 'u1'")[0]
    assert batch == body["batch_id"]  # the update was applied (the e-mail is stored sealed)
    assert user_pii(api.ws.warehouse, api.ws.pii, ["u1"])["u1"]["email"] == "b@example.com"
    log = {b["batch_id"]: b for b in api.client.get("/v1/batches", headers=api.admin).json()}
    assert log[body["batch_id"]]["actor"] == f"key:{api.ingest_id}"
    assert {b["actor"] for b in log.values()} == {
        f"key:{api.ingest_id}",
        f"key:{api.ws.list_keys()[1].key_id}",
    }


def test_python_ingest_records_the_local_actor(ws):
    r = ws.ingest_records([ev("e1")])
    (row,) = ws.batches()
    assert row.batch_id == r.batch_id
    assert row.actor.startswith("local:")


def test_group_commit_never_mixes_keys_in_one_batch(ws):
    committer = GroupCommitter(ws, linger=0.05)
    try:
        jobs = [
            (f"key:k{i % 3}", [orjson.dumps(ev(f"g{i}-{j}")).decode() for j in range(5)])
            for i in range(24)
        ]
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(
                pool.map(lambda j: committer.submit("events", j[1], j[0]).result(), jobs)
            )
    finally:
        committer.close()
    actor_of = {b.batch_id: b.actor for b in ws.batches(limit=1000)}
    for (actor, _), outcome in zip(jobs, outcomes, strict=True):
        assert actor_of[outcome.batch_id] == actor
    stored = ws.warehouse.fetchall("SELECT batch_id, count(*) FROM events GROUP BY 1")
    assert sum(n for _, n in stored) == 24 * 5


# --- identity: an ingest key's phone merges nobody (auto_merge = "trusted") -------------------


def test_an_ingest_key_cannot_merge_persons_by_posting_a_phone(api: Served):
    api.post("/v1/users", [{"user_id": "victim", "phone": "13800000001"}], api.admin)
    api.post("/v1/users", [{"user_id": "attacker", "phone": "13800000001"}], api.ingest)
    assert api.person("attacker") == "attacker" and api.person("victim") == "victim"
    # nor later, when a trusted batch of anyone arrives (links are made on trusted phones only)
    api.post("/v1/users", [{"user_id": "bystander", "phone": "13900000002"}], api.admin)
    assert api.person("attacker") == "attacker"
    links = api.ws.warehouse.fetchone("SELECT count(*) FROM identity_links")[0]
    assert links == 0


def test_trusted_senders_still_merge_by_phone(api: Served):
    api.post("/v1/users", [{"user_id": "a", "phone": "13800000001"}], api.admin)
    api.post("/v1/users", [{"user_id": "b", "phone": "+86 138 0000 0001"}], api.admin)
    assert api.person("a") == api.person("b")


def test_auto_merge_all_links_on_every_senders_phone(tmp_path: Path):
    for api in serve(tmp_path / "ws", auto_merge="all"):
        api.post("/v1/users", [{"user_id": "a", "phone": "13800000001"}], api.admin)
        api.post("/v1/users", [{"user_id": "b", "phone": "13800000001"}], api.ingest)
        assert api.person("a") == api.person("b")


def test_auto_merge_off_links_nobody_by_phone(tmp_path: Path):
    for api in serve(tmp_path / "ws", auto_merge="off"):
        api.post("/v1/users", [{"user_id": "a", "phone": "13800000001"}], api.admin)
        api.post("/v1/users", [{"user_id": "b", "phone": "13800000001"}], api.admin)
        assert api.person("a") == "a" and api.person("b") == "b"
        r = api.client.post(
            "/v1/identity/merge", json={"user_a": "a", "user_b": "b"}, headers=api.admin
        )
        assert r.status_code == 200
        assert api.person("a") == api.person("b")  # explicit merges still work


def test_default_auto_merge_is_trusted_and_written_to_new_workspaces(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    try:
        assert ws.settings.identity.auto_merge == "trusted"
        assert 'auto_merge = "trusted"' in (ws.root / "portrait.toml").read_text()
    finally:
        ws.close()
