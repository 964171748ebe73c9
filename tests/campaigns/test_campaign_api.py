"""The campaign REST routes on a small built shop: definitions, launch, dispatch, consent,
inbox, and the error statuses (404 unknown, 409 conflicts, 422 invalid)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from campaign_shop import copy_shop

from portrait.api.app import create_app
from portrait.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def news(name: str = "news", body_en: str = "{{ offer.text }}, {{ name }}") -> dict[str, Any]:
    return {
        "name": name, "segment": "orders_total > 0", "channel": "in_app", "control_share": 0.2,
        "schedule": {"quiet_hours": {"start": 0, "end": 0}},
        "variants": [{"name": "a", "offer": {"type": "percent", "percent": 0.1},
                      "message": {"subject": {"en": "For you"},
                                  "body": {"en": body_en, "zh": "{{ name }}，{{ offer.text }}"}}}],
    }  # fmt: skip


class Api:
    def __init__(self, client: TestClient, ws: Workspace, token: str) -> None:
        self.client, self.ws = client, ws
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        r = self.client.request(method, path, headers=headers, **kw)
        assert r.status_code == status, r.text
        return r.json()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = copy_shop(tmp_path_factory.getbasetemp(), tmp_path_factory.mktemp("api") / "ws")
    ws = Workspace.open(root)
    token = ws.create_key("admin", "campaign tests").token
    with TestClient(create_app(ws)) as client:
        yield Api(client, ws, token)
    ws.close()


def test_definitions_crud_and_errors(api: Api) -> None:
    created = api.call("POST", "/v1/campaigns", json=news("draft1"))
    assert created["status"] == "draft" and created["definition"]["channel"] == "in_app"
    assert "exists" in api.call("POST", "/v1/campaigns", 409, json=news("draft1"))["detail"]
    api.call("POST", "/v1/campaigns", json={**news("draft1"), "replace": True})
    bad = api.call("POST", "/v1/campaigns", 422, json=news("bad", "{{ nmae }}"))
    assert "variants.a.message.body.en: unknown name(s) nmae" in bad["detail"]
    assert "channel" in api.call("POST", "/v1/campaigns", 422, json={"name": "x"})["detail"]
    assert [c["name"] for c in api.call("GET", "/v1/campaigns")] == ["draft1"]
    assert api.call("GET", "/v1/campaigns/draft1")["arms"] == {}
    assert "no campaign 'nope'" in api.call("GET", "/v1/campaigns/nope", 404)["detail"]
    assert api.call("DELETE", "/v1/campaigns/draft1") == {"deleted": "draft1"}
    api.call("DELETE", "/v1/campaigns/draft1", 404)
    assert api.client.get("/v1/campaigns").status_code in (401, 403)  # a key is needed


def test_launch_dispatch_consent_inbox(api: Api) -> None:
    api.call("POST", "/v1/campaigns", json=news())
    dry = api.call("POST", "/v1/campaigns/news/launch", params={"dry_run": True})
    assert dry["dry_run"] and dry["samples"][0]["body"].startswith("10% off")
    launched = api.call("POST", "/v1/campaigns/news/launch")
    assert launched["arms"] == dry["arms"] and launched["queued"] == dry["would_send"]
    assert "only drafts" in api.call("DELETE", "/v1/campaigns/news", 409)["detail"]
    api.ws.warehouse.execute(  # time passes: every send comes due
        "UPDATE campaign_sends SET scheduled_at = now() - INTERVAL 1 HOUR WHERE campaign = 'news'"
    )
    users = [s.user_id for s in api.ws.campaigns.sends("news")]
    consent = api.call(
        "PUT", f"/v1/users/{users[0]}/consent/in_app", json={"granted": False, "source": "app"}
    )
    assert consent["channels"]["in_app"]["granted"] is False
    api.call("PUT", f"/v1/users/{users[0]}/consent/fax", 422, json={"granted": True})
    api.call("PUT", "/v1/users/nobody/consent/sms", 404, json={"granted": True})
    assert api.call("GET", f"/v1/users/{users[0]}/consent")["channels"]["sms"]["source"] == (
        "default"
    )
    sent = api.call("POST", "/v1/campaigns/dispatch")
    assert sent["sent"] == len(users) - 1 and sent["reasons"] == {"no_consent": 1}
    assert api.call("POST", "/v1/campaigns/dispatch")["processed"] == 0
    inbox = api.call("GET", f"/v1/users/{users[1]}/inbox")
    assert len(inbox) == 1 and inbox[0]["subject"] == "For you" and inbox[0]["read_at"] is None
    assert "10%" in inbox[0]["body"]
    assert api.call("POST", f"/v1/users/{users[1]}/inbox/read", json={}) == {"marked": 1}
    assert api.call("GET", f"/v1/users/{users[1]}/inbox", params={"unread": True}) == []
    assert api.call("GET", f"/v1/users/{users[0]}/inbox") == []
    shown = api.call("GET", "/v1/campaigns/news")
    assert shown["sends"] == {"sent": len(users) - 1, "suppressed": 1}


def test_stop_route(api: Api) -> None:
    api.call("POST", "/v1/campaigns", json=news("halt"))
    assert "draft" in api.call("POST", "/v1/campaigns/halt/stop", 409)["detail"]
    queued = api.call("POST", "/v1/campaigns/halt/launch")["queued"]
    stopped = api.call("POST", "/v1/campaigns/halt/stop")
    assert stopped == {"campaign": "halt", "status": "stopped", "withdrawn": queued}
    assert "stopped" in api.call("POST", "/v1/campaigns/halt/launch", 409)["detail"]
    api.call("POST", "/v1/campaigns/nope/stop", 404)


def test_consent_import_over_rest(api: Api, tmp_path: Path) -> None:
    u1, u2 = (r[0] for r in api.ws.warehouse.fetchall(
        "SELECT user_id FROM users ORDER BY user_id LIMIT 2"
    ))  # fmt: skip
    text = (
        "user_id,channel,granted,source\n"
        f"{u1},sms,yes,\n"  # line 2: ok, the default source
        f"{u1},fax,yes,\n"  # line 3: unknown channel
        f"{u2},email,maybe,\n"  # line 4: not a yes or no
        ",push,no,\n"  # line 5: no user
        f"{u2},push,true,first\n"  # line 6: ...overridden by line 7 (the latest word wins)
        f"{u2},push,0,app STOP\n"
        f"{u1},e-mail,no,form,extra\n"  # line 8: rejected, its extra field shown too
        f"{u2},email\n"  # line 9: short
        "not-yet-a-user,email,no,\n"  # line 10: stored, the user is named as unknown
    )
    r = api.call(
        "POST", "/v1/consents/import", content=text.encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert r["path"] == "request body" and r["imported"] == 4
    assert r["unknown_users"] == 1 and r["unknown_user_ids"] == ["not-yet-a-user"]
    assert [b["line"] for b in r["rejected"]] == [3, 4, 5, 8, 9]
    assert r["rejected"][0]["record"] == {
        "user_id": u1, "channel": "fax", "granted": "yes", "source": "",
    }  # fmt: skip
    assert r["rejected"][3]["record"] == {
        "user_id": u1, "channel": "e-mail", "granted": "no", "source": "form", "_extra": ["extra"],
    }  # fmt: skip
    assert r["rejected"][4]["record"] == {
        "user_id": u2, "channel": "email", "granted": None, "source": None,
    }  # fmt: skip
    c1 = api.call("GET", f"/v1/users/{u1}/consent")["channels"]
    c2 = api.call("GET", f"/v1/users/{u2}/consent")["channels"]
    assert c1["sms"]["granted"] is True and c1["sms"]["source"] == "import"
    assert c2["push"]["granted"] is False and c2["push"]["source"] == "app STOP"
    assert c1["email"]["source"] == "default"  # line 8 was not stored
    # the same file through the Python API (the CLI's path) gives the same summary
    path = tmp_path / "consents.csv"
    path.write_text(text, "utf-8")
    assert {**api.ws.campaigns.import_consents(path).model_dump(), "path": "request body"} == r
    # an upload (multipart), with a byte-order mark and a source named in the query
    upload = f"\ufeffuser_id,channel,granted,source\n{u1},email,false,\n{u1},sms,nope,退订\n"
    r = api.call(
        "POST", "/v1/consents/import", params={"source": "crm"},
        files={"file": ("opt-outs.csv", upload.encode(), "text/csv")},
    )  # fmt: skip
    assert r == {
        "path": "opt-outs.csv", "imported": 1,
        "rejected": [{"line": 3, "record": {
            "user_id": u1, "channel": "sms", "granted": "nope", "source": "退订",
        }, "reason": "invalid"}],
        "unknown_users": 0, "unknown_user_ids": [],
    }  # fmt: skip
    email = api.call("GET", f"/v1/users/{u1}/consent")["channels"]["email"]
    assert email["granted"] is False and email["source"] == "crm"
    # errors: nothing to import, not UTF-8, no key
    empty = api.call("POST", "/v1/consents/import", 422, content=b"\n")
    assert "send the CSV" in empty["detail"]
    assert "UTF-8" in api.call("POST", "/v1/consents/import", 422, content=b"\xff\xfe")["detail"]
    assert api.client.post("/v1/consents/import", content=text).status_code in (401, 403)


def test_a_consent_import_over_the_body_limit_is_413_and_imports_nothing(api: Api) -> None:
    before = api.ws.warehouse.fetchone("SELECT count(*) FROM consents")[0]
    limit = api.ws.settings.api.max_body_mb
    api.ws.settings.api.max_body_mb = 0.001  # 1,048 bytes
    try:
        text = "user_id,channel,granted\n" + "".join(f"u{i},email,yes\n" for i in range(200))
        big = api.call("POST", "/v1/consents/import", 413, content=text.encode())
        assert "api.max_body_mb" in big["detail"]

        def chunks():  # no Content-Length: refused while it is read
            yield text.encode()

        r = api.client.post("/v1/consents/import", content=chunks(), headers=api.headers)
        assert r.status_code == 413, r.text
    finally:
        api.ws.settings.api.max_body_mb = limit
    assert api.ws.warehouse.fetchone("SELECT count(*) FROM consents")[0] == before


def test_posted_events_run_cart_journeys(api: Api) -> None:
    """POST /v1/events commits a batch; a launched cart journey enrolls who waited, no build."""
    api.call("POST", "/v1/campaigns", json={
        "name": "cart-rest", "trigger": {"type": "cart_abandonment", "hours": 2},
        "channel": "in_app", "control_share": 0.0,
        "variants": [{"name": "a", "message": {"body": {"en": "Your cart misses you"}}}],
    })  # fmt: skip
    assert api.call("POST", "/v1/campaigns/cart-rest/launch")["status"] == "running"
    (user,) = api.ws.warehouse.fetchone("SELECT min(user_id) FROM users")
    ago = datetime.now(UTC) - timedelta(hours=3)
    cart = {"event_id": "rest-cart-1", "user_id": user, "ts": ago.isoformat(),
            "type": "add_to_cart", "product_id": "p1", "quantity": 1}  # fmt: skip
    assert api.call("POST", "/v1/events", json=[cart])["accepted"] == 1
    journeys = api.client.app.state.committer.journeys  # they run beside the ingest, not in it
    assert journeys.wait_idle(30) and journeys.runs >= 1
    entered = api.ws.warehouse.fetchall(
        "SELECT person_id FROM journey_entries WHERE campaign = 'cart-rest'"
    )
    assert [r[0] for r in entered] == [user]
    assert api.call("GET", "/v1/campaigns/cart-rest")["sends"] == {"queued": 1}
