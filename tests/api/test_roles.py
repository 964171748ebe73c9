"""Each key does only what its role names: every route is classified in the role table.

The table is ``portrait.security.roles``; these tests walk the OpenAPI document, so a route
added without a classification (or without the caller dependency) fails here.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app
from portrait.security import roles
from portrait.workspace import Workspace

INGEST_ROUTES = {("POST", "/v1/events"), ("POST", "/v1/users"), ("POST", "/v1/products")}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict]]:
    ws = Workspace.init(Path(tmp_path_factory.mktemp("roles")) / "ws")
    tokens = {role: ws.create_key(role, f"{role} test").token for role in roles.ROLES}
    with TestClient(create_app(ws)) as client:
        yield client, tokens
    ws.close()


def operations(client: TestClient) -> list[tuple[str, str, dict]]:
    paths = client.app.openapi()["paths"]
    return [(m.upper(), p, op) for p, ops in paths.items() for m, op in ops.items()]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_route_is_classified_and_the_table_names_only_real_routes(served):
    client, _ = served
    ops = {(m, p) for m, p, _ in operations(client)}
    missing = sorted(ops - set(roles.ROUTES))
    assert not missing, f"classify these routes in portrait/security/roles.py ROUTES: {missing}"
    stale = sorted(set(roles.ROUTES) - ops)
    assert not stale, f"ROUTES names routes the app does not have: {stale}"


def test_protected_routes_document_the_bearer_scheme_and_public_ones_do_not(served):
    client, _ = served
    for method, path, op in operations(client):
        public = roles.ROUTES[(method, path)] == roles.PUBLIC
        assert bool(op.get("security")) != public, (method, path)


def test_the_ingest_role_may_only_ingest():
    assert roles.permissions_of("ingest") == {"ingest:write"}
    assert roles.permissions_of("admin") == set(roles.PERMISSIONS)
    ingest_only = {r for r, p in roles.ROUTES.items() if p == "ingest:write"}
    assert ingest_only == INGEST_ROUTES


def test_an_ingest_key_gets_403_on_every_other_route(served):
    client, tokens = served
    headers = {"Authorization": f"Bearer {tokens['ingest']}"}
    checked = 0
    for method, path, _ in operations(client):
        needed = roles.ROUTES[(method, path)]
        if needed == roles.PUBLIC or (method, path) in INGEST_ROUTES:
            continue
        r = client.request(method, concrete(path), headers=headers)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert needed in r.json()["detail"] and "admin" in r.json()["detail"]
        checked += 1
    assert checked > 40


def test_no_key_gets_401_on_every_protected_route(served):
    client, _ = served
    for method, path, _ in operations(client):
        if roles.ROUTES[(method, path)] == roles.PUBLIC:
            continue
        r = client.request(method, concrete(path))
        assert r.status_code == 401, (method, path, r.status_code, r.text)


def test_an_admin_key_passes_every_check(served):
    client, tokens = served
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    for method, path, _ in operations(client):
        if method != "GET":  # reads only: a write would change the shared workspace
            continue
        r = client.request(method, concrete(path), headers=headers)
        assert r.status_code not in (401, 403), (method, path, r.text)


def test_an_unclassified_route_is_refused_to_all_but_admin(tmp_path: Path):
    with Workspace.init(tmp_path / "ws") as ws:
        tokens = {role: ws.create_key(role).token for role in ("ingest", "admin")}
        app = create_app(ws)

        @app.get("/v1/not-in-the-table")
        def extra() -> dict[str, str]:
            return {"ok": "yes"}

        with TestClient(app) as client:
            for role, status in (("ingest", 403), ("admin", 200)):
                r = client.get(
                    "/v1/not-in-the-table", headers={"Authorization": f"Bearer {tokens[role]}"}
                )
                assert r.status_code == status, (role, r.text)
            assert client.get("/v1/not-in-the-table").status_code == 401


def test_ingest_routes_accept_the_ingest_key(served):
    client, tokens = served
    headers = {"Authorization": f"Bearer {tokens['ingest']}"}
    for method, path in sorted(INGEST_ROUTES):
        r = client.request(method, path, json=[], headers=headers)
        assert r.status_code == 200, (path, r.text)


# --- the least-privilege roles (issue 17) --------------------------------------------------
def test_only_admin_reads_pii_and_the_narrow_roles_hold_what_they_are_for():
    assert roles.roles_with("pii:read") == ["admin"]
    assert roles.roles_with("keys:manage") == ["admin"]
    assert not roles.allows("analyst", "campaigns:send")
    assert roles.allows("marketer", "campaigns:send") and roles.allows("analyst", "models:read")
    assert roles.permissions_of("tracker") == {"collect:write"}
    # the collect route is the collection issue's (#11): no route needs collect:write yet
    assert "collect:write" not in set(roles.ROUTES.values())


@pytest.mark.parametrize("role", ["analyst", "marketer", "tracker"])
def test_a_key_is_refused_exactly_the_routes_its_role_lacks(served, role):
    client, tokens = served
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    refused = allowed = 0
    for method, path, _ in operations(client):
        needed = roles.ROUTES[(method, path)]
        if needed == roles.PUBLIC:
            continue
        if not roles.allows(role, needed):
            r = client.request(method, concrete(path), headers=headers)
            assert r.status_code == 403, (role, method, path, r.status_code, r.text)
            assert repr(role) in r.json()["detail"] and needed in r.json()["detail"]
            refused += 1
        elif method == "GET":  # reads only: a write would change the shared workspace
            r = client.request(method, concrete(path), headers=headers)
            assert r.status_code not in (401, 403), (role, method, path, r.text)
            allowed += 1
    assert refused > 10 and (allowed > 10 or role == "tracker")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, demo_shop) -> Iterator[tuple[TestClient, dict]]:
    ws = Workspace.open(demo_shop.copy(tmp_path_factory.mktemp("roles-built") / "ws"))
    ws.build()
    tokens = {role: ws.create_key(role, f"{role} test").token for role in roles.ROLES}
    with TestClient(create_app(ws)) as client:
        yield client, tokens
    ws.close()


def _get(client: TestClient, token: str, path: str, **params) -> dict:
    r = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def _birth_dates(profile: dict) -> list:
    return [
        t["value"] for g in profile["groups"] for s in g["groups"] for t in s["tags"] if t["pii"]
    ]


def test_profiles_come_masked_to_analyst_and_marketer_and_clear_to_admin(built):
    client, tokens = built
    clear = _birth_dates(_get(client, tokens["admin"], "/v1/users/u0000001/profile"))
    assert len(clear) == 1 and "*" not in clear[0]
    for role in ("analyst", "marketer"):
        masked = _birth_dates(_get(client, tokens[role], "/v1/users/u0000001/profile"))
        assert masked == [f"{clear[0][:4]}-**-**"], role


def test_the_identity_report_hides_the_phone_hash_from_an_analyst(built):
    client, tokens = built
    owner = client.app.state.workspace
    links = owner.table("identity_links").to_pylist()
    user = next(x["to_user_id"] for x in links if x["rule"] == "same_phone")
    path = f"/v1/identity/{user}"
    shown = [x for x in _get(client, tokens["admin"], path)["links"] if x["rule"] == "same_phone"]
    hidden = [
        x for x in _get(client, tokens["analyst"], path)["links"] if x["rule"] == "same_phone"
    ]
    assert shown and all(len(x["evidence"]) == 64 for x in shown)
    assert [x["evidence"] for x in hidden] == ["****"] * len(shown)


def test_a_pii_export_needs_an_admin_key_and_a_purpose(built):
    client, tokens = built
    path = "/v1/segments/rfm_champions/export"

    def export(role: str, **params) -> object:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        return client.get(path, params={"tags": "birth_date", **params}, headers=headers)

    refused = export("analyst", purpose="curiosity")
    assert refused.status_code == 403 and "'pii:read'" in refused.json()["detail"]
    assert export("marketer", purpose="x").status_code == 403
    assert "state why" in export("admin").json()["detail"]
    done = export("admin", purpose="birthday mailing")
    assert done.status_code == 200 and "birth_date" in done.text.splitlines()[0]
    recorded = client.app.state.workspace.audit.entries(action="segment.export", limit=1)[0]
    assert recorded.params["purpose"] == "birthday mailing" and recorded.role == "admin"
    plain = client.get(
        path, params={"tags": "gender"}, headers={"Authorization": f"Bearer {tokens['analyst']}"}
    )
    assert plain.status_code == 200 and "gender" in plain.text
