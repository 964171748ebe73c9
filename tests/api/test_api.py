"""The REST API end to end: keys and roles, the ingest contract, upserts, quarantine, identity.

Every test talks to ``create_app(Workspace.init(tmp_path / "ws"))`` through FastAPI's
TestClient (the lifespan runs, so the group-commit writer is started and stopped).
"""

from __future__ import annotations

import sqlite3
import stat
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.workspace import Workspace

TS = "2025-03-01T10:00:00Z"


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    """A valid page_view event of user u1, overridden by ``fields`` (``...`` drops a key)."""
    base: dict[str, Any] = {"event_id": event_id, "user_id": "u1", "ts": TS, "type": "page_view"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


@dataclass
class Api:
    client: TestClient
    ws: Workspace
    ingest_key: str
    admin_key: str

    @property
    def ingest(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ingest_key}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None, status=200):
        r = self.client.post(path, json=body, headers=self.ingest if headers is None else headers)
        assert r.status_code == status, r.text
        return r.json()

    def count(self, sql: str, params: list | None = None) -> int:
        return self.ws.warehouse.fetchone(sql, params)[0]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    ws = Workspace.init(tmp_path / "ws")
    ingest_key = ws.create_key("ingest", "test sender").token
    admin_key = ws.create_key("admin", "test admin").token
    with TestClient(create_app(ws)) as client:
        yield Api(client, ws, ingest_key, admin_key)
    ws.close()


def assert_adds_up(body: dict[str, Any]) -> None:
    assert body["accepted"] + body["duplicates"] + body["quarantined"] == body["received"], body
    assert len(body["rejected"]) == body["quarantined"], body


# --- meta ---------------------------------------------------------------------------------


def test_health_needs_no_key(api: Api):
    r = api.client.get("/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_openapi_schema_lists_the_routes_and_the_bearer_scheme(api: Api):
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    paths = schema["paths"]
    for path in ("/v1/events", "/v1/users", "/v1/products", "/v1/quarantine", "/v1/summary"):
        assert path in paths
    post = paths["/v1/events"]["post"]
    assert post["security"] == [{"HTTPBearer": []}]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    # The routes take no query parameters that a client would have to fill in.
    assert not [p for p in post.get("parameters", []) if p.get("required")]
    ok = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/IngestResponse")


# --- authentication and roles ---------------------------------------------------------------

PROTECTED = [
    ("POST", "/v1/events"),
    ("POST", "/v1/users"),
    ("POST", "/v1/products"),
    ("GET", "/v1/summary"),
    ("GET", "/v1/quarantine"),
    ("GET", "/v1/identity/u1"),
    ("POST", "/v1/identity/merge"),
]
ADMIN_ONLY = [
    ("GET", "/v1/summary"),
    ("GET", "/v1/quarantine"),
    ("GET", "/v1/identity/u1"),
    ("POST", "/v1/identity/merge"),
]


def _body_for(path: str) -> Any:
    if path == "/v1/identity/merge":
        return {"user_a": "u1", "user_b": "u2"}
    return [ev("auth-1")]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_key_is_401_and_says_how_to_get_one(api: Api, method: str, path: str):
    r = api.client.request(method, path, json=_body_for(path) if method == "POST" else None)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in r.json()["detail"]
    assert "portrait keys create" in r.json()["detail"]


def _wrong_tokens(api: Api) -> dict[str, str]:
    key_id, secret = api.ingest_key.split("_", 2)[1:]
    return {
        "garbage": "Bearer not-a-key",
        "no secret": f"Bearer pt_{key_id}_",
        "wrong prefix": f"Bearer xx_{key_id}_{secret}",
        "unknown key id": f"Bearer pt_000000000000_{secret}",
        "wrong secret": f"Bearer pt_{key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
        "key id only": f"Bearer {key_id}",
        "basic scheme": f"Basic {api.ingest_key}",
        "empty bearer": "Bearer ",
    }


@pytest.mark.parametrize(
    "which",
    [
        "garbage",
        "no secret",
        "wrong prefix",
        "unknown key id",
        "wrong secret",
        "key id only",
        "basic scheme",
        "empty bearer",
    ],
)
def test_wrong_or_malformed_key_is_401_and_stores_nothing(api: Api, which: str):
    header = _wrong_tokens(api)[which]
    r = api.client.post("/v1/events", json=[ev("e1")], headers={"Authorization": header})
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert api.count("SELECT count(*) FROM events") == 0
    assert api.count("SELECT count(*) FROM ingest_batches") == 0


def test_revoked_key_is_401(api: Api):
    assert api.post("/v1/events", [ev("before")])["accepted"] == 1
    key_id = api.ingest_key.split("_", 2)[1]
    api.ws.revoke_key(key_id)
    r = api.client.post("/v1/events", json=[ev("after")], headers=api.ingest)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    assert api.count("SELECT count(*) FROM events WHERE event_id = 'after'") == 0
    # The other key still works.
    assert api.post("/v1/events", [ev("after")], headers=api.admin)["accepted"] == 1


def test_keys_are_stored_hashed(api: Api):
    path = api.ws.root / "keys.sqlite"
    with closing(sqlite3.connect(path)) as con:
        rows = con.execute("SELECT key_id, secret_hash FROM api_keys").fetchall()
        dump = str(con.execute("SELECT * FROM api_keys").fetchall())
    assert len(rows) == 2
    for token in (api.ingest_key, api.admin_key):
        _, key_id, secret = token.split("_", 2)
        stored = dict(rows)[key_id]
        assert secret not in stored and token not in stored
        assert len(stored) == 64  # a SHA-256 hex digest
    assert api.ingest_key.split("_", 2)[2] not in dump
    assert api.ingest_key.split("_", 2)[2] not in path.read_bytes().decode("latin-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_ingest_key_may_not_use_admin_routes(api: Api, method: str, path: str):
    body = _body_for(path) if method == "POST" else None
    r = api.client.request(method, path, json=body, headers=api.ingest)
    assert r.status_code == 403, r.text
    assert "admin" in r.json()["detail"]


def test_admin_key_may_ingest_too(api: Api):
    assert api.post("/v1/events", [ev("e1")], headers=api.admin)["accepted"] == 1


# --- the ingest contract ------------------------------------------------------------------


def mixed_batch() -> list[Any]:
    return [
        ev("ok-1"),  # 0 accepted
        ev("ok-1"),  # 1 duplicate of 0 (same event_id within the batch)
        ev("no-identity", user_id=...),  # 2
        ev("bad-ts", ts="yesterday at noon"),  # 3
        ev("bad-type", type="teleport"),  # 4
        ev("neg-price", type="order", order_id="o1", product_id="p1", quantity=1, price=-5),  # 5
        5,  # 6 not an object
        "x",  # 7 not an object
        ev("extras", colour="red", size=42, nested={"a": [1, 2]}),  # 8 accepted
        ev("anon-only", user_id=..., anonymous_id="a-9"),  # 9 accepted
    ]


EXPECTED_REJECTED = {
    2: "missing_identity",
    3: "bad_timestamp",
    4: "unknown_event_type",
    5: "negative_price",
    6: "not_an_object",
    7: "not_an_object",
}


def test_mixed_batch_every_record_is_accounted_for(api: Api):
    batch = mixed_batch()
    body = api.post("/v1/events", batch, headers=api.admin)
    assert body["kind"] == "events"
    assert body["received"] == len(batch)
    assert (body["accepted"], body["duplicates"], body["quarantined"]) == (3, 1, 6)
    assert_adds_up(body)
    got = {r["index"]: r["reason_code"] for r in body["rejected"]}
    assert got == EXPECTED_REJECTED
    for r in body["rejected"]:
        assert r["message"], r
        if r["detail"]:
            assert r["detail"] in r["message"]
        assert "fix:" in r["message"]
    details = {r["index"]: r["detail"] for r in body["rejected"]}
    assert "yesterday at noon" in details[3]
    assert "teleport" in details[4]
    assert "-5" in details[5]
    stored = {r[0] for r in api.ws.warehouse.fetchall("SELECT event_id FROM events")}
    assert stored == {"ok-1", "extras", "anon-only"}


def test_extra_fields_land_in_properties(api: Api):
    api.post("/v1/events", [ev("extras", colour="red", size=42, nested={"a": [1, 2]})])
    props = api.ws.warehouse.fetchone("SELECT properties FROM events WHERE event_id = 'extras'")[0]
    assert orjson.loads(props) == {"colour": "red", "size": 42, "nested": {"a": [1, 2]}}
    cols = {r[0] for r in api.ws.warehouse.fetchall("DESCRIBE events")}
    assert not {"colour", "size", "nested"} & cols


def test_extra_fields_merge_with_given_properties(api: Api):
    api.post("/v1/events", [ev("p", properties={"a": 1}, colour="red")])
    props = api.ws.warehouse.fetchone("SELECT properties FROM events WHERE event_id = 'p'")[0]
    assert orjson.loads(props) == {"a": 1, "colour": "red"}


def test_null_properties_mean_no_properties(api: Api):
    # JSON clients commonly send absent optional fields as null; for every other field a null
    # is simply "not given", and so it must be for properties too.
    body = api.post("/v1/events", [ev("null-props", properties=None)])
    assert body["rejected"] == []
    assert body["accepted"] == 1


def test_quarantine_keeps_raw_payload_of_each_rejected_record(api: Api):
    batch = mixed_batch()
    body = api.post("/v1/events", batch)
    rows = [  # sealed at rest: read back decrypted
        (q.record_index, q.reason_code, q.raw)
        for q in api.ws.quarantine(batch_id=body["batch_id"], limit=1000)
    ]
    assert {r[0]: r[1] for r in rows} == EXPECTED_REJECTED
    for index, _, raw in rows:
        assert orjson.loads(raw) == batch[index]


def test_reposting_the_same_batch_accepts_nothing(api: Api):
    batch = mixed_batch()
    first = api.post("/v1/events", batch, headers=api.admin)
    again = api.post("/v1/events", batch, headers=api.admin)
    assert again["received"] == len(batch)
    assert again["accepted"] == 0
    assert again["duplicates"] == first["accepted"] + first["duplicates"]
    assert {r["index"] for r in again["rejected"]} == set(EXPECTED_REJECTED)
    assert_adds_up(again)
    assert api.count("SELECT count(*) FROM events") == first["accepted"]


@pytest.mark.parametrize("wrap", [False, True], ids=["bare array", "events object"])
def test_both_body_forms_are_accepted(api: Api, wrap: bool):
    batch = [ev("a"), ev("b"), ev("c", type="bogus")]
    body = api.post("/v1/events", {"events": batch} if wrap else batch)
    assert (body["received"], body["accepted"], body["quarantined"]) == (3, 2, 1)
    assert body["rejected"][0]["index"] == 2


def test_empty_batch_is_fine(api: Api):
    body = api.post("/v1/events", [])
    assert (body["received"], body["accepted"], body["duplicates"], body["quarantined"]) == (
        0,
        0,
        0,
        0,
    )


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2,", b"", b"\xff\xfe", b"[{'single': 'quotes'}]"]
)
def test_invalid_json_body_is_400_with_a_message(api: Api, raw: bytes):
    r = api.client.post(
        "/v1/events",
        content=raw,
        headers={**api.ingest, "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert "not valid JSON" in r.json()["detail"]
    assert api.count("SELECT count(*) FROM ingest_batches") == 0


@pytest.mark.parametrize(
    "payload",
    [5, "x", None, {"a": 1}, {"events": 5}, {"events": {"event_id": "e"}}, {"users": []}],
    ids=["int", "str", "null", "other object", "events int", "events object", "wrong key"],
)
def test_a_body_that_is_not_a_list_is_422(api: Api, payload: Any):
    r = api.client.post("/v1/events", content=orjson.dumps(payload), headers=api.ingest)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "JSON array" in detail
    assert api.count("SELECT count(*) FROM ingest_batches") == 0


def test_batch_over_max_batch_is_413(api: Api):
    api.ws.settings.api.max_batch = 3
    assert api.post("/v1/events", [ev(f"m{i}") for i in range(3)])["accepted"] == 3
    r = api.client.post("/v1/events", json=[ev(f"n{i}") for i in range(4)], headers=api.ingest)
    assert r.status_code == 413, r.text
    assert "api.max_batch" in r.json()["detail"]
    assert api.count("SELECT count(*) FROM events") == 3


def test_a_body_over_max_body_mb_is_413_before_it_is_parsed(api: Api):
    api.ws.settings.api.max_body_mb = 0.01  # 10,485 bytes
    try:
        batch = [ev(f"big{i}") for i in range(200)]
        assert len(orjson.dumps(batch)) > 0.01 * 2**20
        r = api.client.post("/v1/events", json=batch, headers=api.ingest)
        assert r.status_code == 413, r.text
        assert "api.max_body_mb" in r.json()["detail"]
    finally:
        api.ws.settings.api.max_body_mb = 64.0
    assert api.count("SELECT count(*) FROM events WHERE event_id LIKE 'big%'") == 0


def test_concurrent_requests_each_get_their_own_outcome(api: Api):
    def send(i: int) -> dict[str, Any]:
        bad = i % 20
        batch = [ev(f"c{i}-{j}") for j in range(20)]
        batch[bad] = ev(f"c{i}-bad", type="teleport")
        batch.append(dict(batch[1 if bad == 0 else 0]))  # repeats a record of this request
        return api.post("/v1/events", batch, headers=api.admin)

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(send, range(16)))
    for i, body in enumerate(bodies):
        assert body["received"] == 21
        assert [(r["index"], r["reason_code"]) for r in body["rejected"]] == [
            (i % 20, "unknown_event_type")
        ]
        assert (body["accepted"], body["duplicates"], body["quarantined"]) == (19, 1, 1)
    assert api.count("SELECT count(*) FROM events") == 16 * 19


# --- users and products: upserts -------------------------------------------------------------


def test_users_upsert_updates_changed_rows_and_counts_identical_ones_as_duplicates(api: Api):
    users = [
        {"user_id": "u1", "city": "Beijing", "gender": "female"},
        {"user_id": "u2", "city": "Shanghai"},
    ]
    first = api.post("/v1/users", users, headers=api.admin)
    assert (first["kind"], first["accepted"], first["duplicates"]) == ("users", 2, 0)
    changed = [dict(users[0]), {**users[1], "city": "Hangzhou"}]
    second = api.post("/v1/users", {"users": changed}, headers=api.admin)
    assert (second["accepted"], second["duplicates"], second["quarantined"]) == (1, 1, 0)
    third = api.post("/v1/users", changed, headers=api.admin)
    assert (third["accepted"], third["duplicates"]) == (0, 2)
    rows = dict(api.ws.warehouse.fetchall("SELECT user_id, city FROM users"))
    assert rows == {"u1": "Beijing", "u2": "Hangzhou"}
    assert api.ws.warehouse.fetchone("SELECT gender FROM users WHERE user_id = 'u1'")[0] == "F"


def test_users_without_id_are_rejected_with_reason(api: Api):
    body = api.post("/v1/users", [{"city": "Nowhere"}, {"user_id": "u9"}, 7])
    assert_adds_up(body)
    assert [(r["index"], r["reason_code"]) for r in body["rejected"]] == [
        (0, "missing_user_id"),
        (2, "not_an_object"),
    ]


def test_products_upsert(api: Api):
    first = api.post(
        "/v1/products", [{"product_id": "p1", "title": "Tea", "price": 10.0}], headers=api.admin
    )
    assert (first["kind"], first["accepted"]) == ("products", 1)
    second = api.post(
        "/v1/products", {"products": [{"product_id": "p1", "price": 12.5}]}, headers=api.admin
    )
    assert (second["accepted"], second["duplicates"]) == (1, 0)
    # A field the update does not give keeps its stored value.
    row = api.ws.warehouse.fetchone("SELECT title, price FROM products WHERE product_id = 'p1'")
    assert row == ("Tea", 12.5)
    same = api.post(
        "/v1/products", [{"product_id": "p1", "title": "Tea", "price": 12.5}], headers=api.admin
    )
    assert (same["accepted"], same["duplicates"]) == (0, 1)
    bad = api.post("/v1/products", [{"product_id": "p2", "price": -1}, {"title": "no id"}])
    assert [(r["index"], r["reason_code"]) for r in bad["rejected"]] == [
        (0, "negative_price"),
        (1, "missing_product_id"),
    ]
    assert api.count("SELECT count(*) FROM products") == 1


# --- admin routes -----------------------------------------------------------------------------


def test_quarantine_route_returns_raw_payload_and_explanation(api: Api):
    batch = mixed_batch()
    posted = api.post("/v1/events", batch)
    r = api.client.get("/v1/quarantine", headers=api.admin)
    assert r.status_code == 200
    records = r.json()
    assert len(records) == len(EXPECTED_REJECTED)
    by_index = {rec["record_index"]: rec for rec in records}
    assert {i: rec["reason_code"] for i, rec in by_index.items()} == EXPECTED_REJECTED
    for i, rec in by_index.items():
        assert rec["batch_id"] == posted["batch_id"]
        assert rec["kind"] == "events"
        assert orjson.loads(rec["raw"]) == batch[i]
        assert rec["explanation"] and "fix:" in rec["explanation"]
    assert "yesterday at noon" in by_index[3]["explanation"]

    only = api.client.get(
        "/v1/quarantine", params={"reason": "not_an_object"}, headers=api.admin
    ).json()
    assert sorted(rec["record_index"] for rec in only) == [6, 7]
    assert len(api.client.get("/v1/quarantine?limit=2", headers=api.admin).json()) == 2
    other = api.post("/v1/events", [ev("zz", type="bogus")])
    by_batch = api.client.get(
        "/v1/quarantine", params={"batch_id": other["batch_id"]}, headers=api.admin
    ).json()
    assert [rec["raw"] for rec in by_batch] == [orjson.dumps(ev("zz", type="bogus")).decode()]
    assert api.client.get("/v1/quarantine?limit=0", headers=api.admin).status_code == 422


def test_summary_counts_add_up(api: Api):
    api.post("/v1/events", mixed_batch())
    api.post("/v1/events", mixed_batch())
    r = api.client.get("/v1/summary", headers=api.admin)
    assert r.status_code == 200
    s = r.json()
    assert s["batches"] == 2
    assert s["received"] == 2 * len(mixed_batch())
    assert s["accepted"] + s["duplicates"] + s["quarantined"] == s["received"]
    assert s["events"] == s["accepted"] == 3
    assert s["quarantine_by_reason"]["events: not_an_object"] == 4


def test_identity_after_login_links_anonymous_id_to_user(api: Api):
    api.post(
        "/v1/events",
        [
            ev("v1", user_id=..., anonymous_id="anon-7", ts="2025-03-01T09:00:00Z"),
            ev("v2", user_id=..., anonymous_id="anon-7", ts="2025-03-01T09:05:00Z"),
            ev("login-1", user_id="alice", anonymous_id="anon-7", type="login"),
        ],
    )
    r = api.client.get("/v1/identity/anon-7", headers=api.admin)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["person_id"] == "alice"
    assert rep["anonymous_only"] is False
    ids = {i["identifier"]: i for i in rep["identifiers"]}
    assert ids["alice"]["kind"] == "user"
    assert ids["anon-7"]["kind"] == "anonymous"
    assert ids["anon-7"]["events"] == 3
    [link] = rep["links"]
    assert (link["from_id"], link["to_user_id"], link["rule"], link["evidence"]) == (
        "anon-7",
        "alice",
        "seen_together",
        "login-1",
    )
    assert api.client.get("/v1/identity/alice", headers=api.admin).json()["person_id"] == "alice"


def test_identity_of_an_unknown_id_is_404(api: Api):
    r = api.client.get("/v1/identity/nobody", headers=api.admin)
    assert r.status_code == 404
    assert "nobody" in r.json()["detail"]


def test_identity_merge(api: Api):
    api.post("/v1/users", [{"user_id": "alice"}, {"user_id": "alice-2"}])
    r = api.client.post(
        "/v1/identity/merge",
        json={"user_a": "alice", "user_b": "alice-2", "reason": "same e-mail"},
        headers=api.admin,
    )
    assert r.status_code == 200, r.text
    person = r.json()["person_id"]
    assert person in ("alice", "alice-2")
    for u in ("alice", "alice-2"):
        assert api.client.get(f"/v1/identity/{u}", headers=api.admin).json()["person_id"] == person
    links = r.json()["links"]
    assert any(
        link["rule"] == "explicit_merge" and link["evidence"] == "same e-mail" for link in links
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"user_a": "alice", "user_b": "ghost"}, 404),
        ({"user_a": "alice", "user_b": "alice"}, 422),
        ({"user_a": "alice"}, 422),
    ],
    ids=["unknown user", "same user", "missing field"],
)
def test_identity_merge_errors(api: Api, body: dict[str, str], status: int):
    api.post("/v1/users", [{"user_id": "alice"}])
    r = api.client.post("/v1/identity/merge", json=body, headers=api.admin)
    assert r.status_code == status, r.text


def test_batches_log_lists_each_batch_with_its_counts(api: Api):
    body = api.post("/v1/events", mixed_batch(), headers=api.admin)
    r = api.client.get("/v1/batches", headers=api.admin)
    assert r.status_code == 200, r.text
    (batch,) = r.json()
    assert batch["batch_id"] == body["batch_id"]
    assert (batch["received"], batch["accepted"], batch["duplicates"], batch["quarantined"]) == (
        body["received"],
        body["accepted"],
        body["duplicates"],
        body["quarantined"],
    )
    assert api.client.get("/v1/batches", headers=api.ingest).status_code == 403
