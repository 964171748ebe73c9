"""Erasure on request (right to be forgotten): ``ws.privacy.forget`` removes a merged person
(two user ids and a device) from every table, bitmap and file, keeps campaign reports as they
were, leaves no byte of their ids in the workspace folder, refuses their ids afterwards, and
``residue`` finds nothing; the REST route and the CLI command do the same."""

from __future__ import annotations

import json
import threading
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portrait.api.app import create_app
from portrait.cli import app as cli_app
from portrait.errors import ConflictError
from portrait.privacy.erasure import UnknownPersonError
from portrait.privacy.files import byte_mentions
from portrait.store.segments import latest_sizes, member_history
from portrait.workspace import Workspace
from privacy.erasure_shop import (
    ALICE,
    ALICE_DEVICE,
    ALICE_IDS,
    ALICE_PHONE,
    ALICE_WORK,
    AS_OF,
    T0,
    InApp,
    erasure_shop,
)

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("erasure")


@pytest.fixture
def shop(base: Path, tmp_path: Path) -> tuple[Workspace, Path]:
    """A private copy of the shop, opened, and its segment exported outside the folder."""
    root = erasure_shop(base, tmp_path / "ws")
    ws = Workspace.open(root)
    ws.campaigns.channels["in_app"] = InApp()
    export = tmp_path / "out" / "buyers.csv"
    export.parent.mkdir()
    ws.export_segment("buyers", export)
    yield ws, export
    ws.close()


def every_file(ws: Workspace, export: Path) -> list[Path]:
    return [*sorted(p for p in ws.root.rglob("*") if p.is_file()), export]


def test_forget_erases_the_merged_person_everywhere_and_residue_finds_nothing(shop):
    ws, export = shop
    before = ws.privacy.residue(ALICE_WORK)
    places = {h.place for h in before.hits}
    assert not before.erased and before.searched_in_clear == 3
    for place in ("events.user_id", "events.anonymous_id", "users.user_id",
                  "model_scores.person_id", "campaign_sends.person_id", "identity_map.identifier",
                  "snapshots.profile_20250315.person_id", "snapshots.profile_20250415.person_id",
                  "segment_members.bitmap", "quarantine", str(export),
                  str(ws.root / "recs" / "users.json")):  # fmt: skip
        assert place in places, place
    sizes = latest_sizes(ws.warehouse)

    result = ws.privacy.forget(ALICE_WORK, reason="request 117")

    assert result.identifiers == 3 and len(result.pseudonyms) == 3
    assert not any(i in json.dumps(result.model_dump(mode="json")) for i in ALICE_IDS)
    assert result.removed["events"] == 6 and result.removed["users"] == 2
    assert result.removed["snapshots.profile_20250315"] == 1
    assert result.quarantine_removed == 1 and result.index_dropped
    assert result.kept_anonymous["campaign_sends"] == 1
    for identifier in ALICE_IDS:
        after = ws.privacy.residue(identifier)
        assert after.erased and after.erasure_id == result.erasure_id
        assert after.searched_by_pseudonym == 3
        assert after.hits == [], identifier
    # the person left every segment they were in; nobody else did
    now = latest_sizes(ws.warehouse)
    assert now["buyers"][0] == sizes["buyers"][0] - 1
    with pytest.raises(LookupError):
        ws.identity(ALICE)
    # the export keeps everyone else
    rows = export.read_text().splitlines()
    assert len(rows) == 1 + sizes["buyers"][0] - 1 and ALICE not in export.read_text()
    assert ALICE not in (ws.root / "recs" / "users.json").read_text()
    assert ws.recs.recommend(ALICE, k=3).cold_start  # the recommender knows her no more


def test_campaign_reports_are_the_same_before_and_after(shop):
    ws, _ = shop
    sent = {s.person_id: s for s in ws.campaigns.sends("spring")}
    assert sent[ALICE].status == "sent"  # she was sent the offer, and ordered 3 days later
    before = ws.campaigns.report("spring", as_of=AS_OF)
    outcomes = ws.campaigns.outcomes("spring", as_of=AS_OF)
    bandit_before = ws.campaigns.bandit_state("spring", save=False)

    ws.privacy.forget(ALICE)

    assert ws.campaigns.report("spring", as_of=AS_OF) == before
    assert ws.campaigns.bandit_state("spring", save=False) == bandit_before
    after = ws.campaigns.outcomes("spring", as_of=AS_OF)
    assert after.num_rows == outcomes.num_rows
    assert sorted(after["revenue"].to_pylist()) == sorted(outcomes["revenue"].to_pylist())
    sends = ws.campaigns.sends("spring")
    assert len(sends) == len(sent) and ALICE not in {s.person_id for s in sends}
    token = [s for s in sends if s.person_id.startswith("erased:")]
    assert len(token) == 1 and token[0].user_id is None


def test_no_file_of_the_workspace_holds_their_ids_afterwards(shop):
    ws, export = shop
    ws.warehouse.execute("CHECKPOINT")
    found = {p.name for p in every_file(ws, export) if byte_mentions(p, ALICE_IDS)}
    assert {"users.json", "history.npz", "buyers.csv"} <= found  # the search finds them

    ws.privacy.forget(ALICE_DEVICE)
    ws.close()

    for path in every_file(ws, export):
        data = path.read_bytes()
        for identifier in ALICE_IDS:
            for encoding in ("utf-8", "utf-16-le", "utf-32-le"):
                assert identifier.encode(encoding) not in data, (path, identifier, encoding)


def test_their_ids_are_refused_afterwards_and_nothing_of_the_records_is_kept(shop):
    ws, _ = shop
    ws.privacy.forget(ALICE)
    events = ws.summary().events
    later = (T0 + timedelta(days=40)).isoformat()
    r = ws.ingest_records([
        {"event_id": "late-1", "anonymous_id": ALICE_DEVICE, "type": "page_view", "ts": later},
        {"event_id": "late-2", "user_id": ALICE_WORK, "type": "page_view", "ts": later},
        {"event_id": "late-3", "user_id": "u001", "type": "page_view", "ts": later},
    ])  # fmt: skip
    assert (r.accepted, r.quarantined) == (1, 2)
    u = ws.ingest_records([{"user_id": ALICE, "phone": ALICE_PHONE}], kind="users")
    assert (u.accepted, u.quarantined) == (0, 1)
    refused = ws.quarantine(reason="erased_person")
    assert len(refused) == 3
    assert all(q.raw is None and q.detail is None for q in refused)
    assert "erased" in refused[0].explanation
    assert ws.summary().events == events + 1
    for identifier in ALICE_IDS:
        assert ws.privacy.residue(identifier).hits == []


def test_consent_for_their_ids_is_refused_and_names_them_nowhere(shop):
    ws, _ = shop
    ws.privacy.forget(ALICE)
    with pytest.raises(LookupError):  # the user is gone
        ws.set_consent(ALICE_WORK, "email", False)
    csv_text = (
        "user_id,channel,purpose,granted\n"
        f"{ALICE_WORK},email,,no\nu001,,marketing,no\n{ALICE},,analytics,no\nu001,fax,,no\n"
    )
    r = ws.import_consents_csv(csv_text)
    assert r.imported == 1
    assert [(x.line, x.reason) for x in r.rejected] == [
        (2, "erased_person"), (4, "erased_person"), (5, "invalid"),
    ]  # fmt: skip
    assert ws.campaigns.consent("u001").purposes["marketing"].granted is False
    for identifier in ALICE_IDS:
        assert ws.privacy.residue(identifier).hits == []


def test_forget_again_unknown_and_empty_ids(shop):
    ws, _ = shop
    first = ws.privacy.forget(ALICE)
    again = ws.privacy.forget(ALICE_WORK)
    assert again.already_erased and again.erasure_id == first.erasure_id
    assert again.rows_removed == 0
    with pytest.raises(UnknownPersonError, match="never erased"):
        ws.privacy.forget("nobody-at-all")
    with pytest.raises(ValueError, match="empty"):
        ws.privacy.forget("  ")
    # a build running (another thread holds the lock): its snapshot would bring them back
    held, done = threading.Event(), threading.Event()

    def build() -> None:
        with ws.warehouse.build_lock:
            held.set()
            done.wait(10)

    runner = threading.Thread(target=build)
    runner.start()
    held.wait(10)
    try:
        with pytest.raises(ConflictError, match="build is running"):
            ws.privacy.forget("u001")
    finally:
        done.set()
        runner.join()


def test_without_compaction_the_file_is_compacted_later(shop):
    ws, _ = shop
    result = ws.privacy.forget(ALICE, compact=False)
    assert result.compaction == "skipped"
    waiting = ws.privacy.residue(ALICE).hits  # the file's freed blocks may hold her bytes
    assert {h.place for h in waiting} == {str(ws.warehouse.path)}
    assert "freed blocks" in {h.found_by for h in waiting}
    done = ws.privacy.compact()
    assert done.bytes_after > 0
    assert ws.privacy.residue(ALICE).hits == []
    # the warehouse works on after the file was swapped
    assert ws.summary().events > 0 and ws.segments.count("total_spend > 0").count > 0


def test_the_audit_log_records_the_erasure_by_pseudonym_only(shop):
    ws, _ = shop
    ws.privacy.forget(ALICE_WORK, reason="request 117")
    entries = ws.audit.entries(action="privacy.erase")
    assert len(entries) == 1
    assert entries[0].persons == [ws.audit.pseudonym(ALICE_WORK)]
    assert entries[0].params["reason"] == "request 117"
    assert ws.audit.entries(person=ALICE_WORK, action="privacy.erase")


def test_forget_in_memory(tmp_path: Path):
    from portrait.config import Settings

    ws = Workspace(tmp_path, Settings(), in_memory=True)
    try:
        ws.ingest_records([{"user_id": "a1"}, {"user_id": "b2"}], kind="users")
        ws.ingest_records([{"event_id": "e1", "user_id": "a1", "type": "page_view",
                            "ts": "2025-03-01T10:00:00Z"}])  # fmt: skip
        result = ws.privacy.forget("a1")
        assert result.compaction == "in memory" and result.removed == {"events": 1, "users": 1}
        assert ws.privacy.residue("a1").hits == []
    finally:
        ws.close()


# --- the surfaces ---------------------------------------------------------------------------
def test_rest_delete_is_for_admin_and_answers_no_identifier(shop):
    ws, _ = shop
    tokens = {role: ws.create_key(role).token for role in ("admin", "analyst")}
    with TestClient(create_app(ws)) as client:

        def call(method: str, path: str, role: str):
            return client.request(method, path, headers={"Authorization": f"Bearer {tokens[role]}"})

        assert call("DELETE", f"/v1/users/{ALICE}", "analyst").status_code == 403
        assert call("GET", f"/v1/privacy/residue/{ALICE}", "analyst").status_code == 403
        residue = call("GET", f"/v1/privacy/residue/{ALICE}", "admin").json()
        assert residue["total"] > 0 and not residue["erased"]
        r = call("DELETE", f"/v1/users/{ALICE_WORK}?reason=req-9", "admin")
        assert r.status_code == 200, r.text
        assert r.json()["identifiers"] == 3 and not any(i in r.text for i in ALICE_IDS)
        residue = call("GET", f"/v1/privacy/residue/{ALICE}", "admin").json()
        assert residue["total"] == 0 and residue["erased"]
        assert call("DELETE", "/v1/users/nobody-at-all", "admin").status_code == 404
        assert call("POST", "/v1/privacy/compact", "admin").status_code == 200


def test_cli_forget_and_residue(shop):
    ws, _ = shop
    root = ws.root
    ws.close()
    runner = CliRunner()
    r = runner.invoke(cli_app, ["-w", str(root), "privacy", "residue", ALICE])
    assert r.exit_code == 0 and "not erased" in r.stdout
    r = runner.invoke(cli_app, ["-w", str(root), "privacy", "forget", ALICE, "--reason", "x",
                                "--json"])  # fmt: skip
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["identifiers"] == 3
    r = runner.invoke(cli_app, ["-w", str(root), "privacy", "residue", ALICE_DEVICE, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 0
    r = runner.invoke(cli_app, ["-w", str(root), "privacy", "forget", "nobody-at-all"])
    assert r.exit_code == 2 and "never erased" in r.stderr


def test_a_person_merged_after_a_build_leaves_the_bitmaps_of_both_former_persons(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.ingest_records([{"user_id": u} for u in ("x1", "x2", "y1", "y2")], kind="users")
        ws.ingest_records([
            {"event_id": f"{u}-{k}", "user_id": u, "type": "order", "order_id": f"{u}-o{k}",
             "product_id": "p1", "quantity": 1, "price": 10.0, "ts": f"2025-03-0{k + 1}T10:00:00Z"}
            for u in ("x1", "x2", "y1", "y2") for k in range(2)
        ])  # fmt: skip
        ws.build(as_of="2025-03-05")  # x1 and x2: two persons, two dense ids
        ws.segments.create("buyers", "total_spend > 0")
        ws.segments.members("buyers")
        ws.merge_users("x1", "x2")
        ws.build(as_of="2025-03-06")
        ws.segments.members("buyers")
        before = ws.privacy.residue("x1")
        assert {h.place for h in before.hits if h.kind == "bitmap"} >= {"segment_members.bitmap"}
        result = ws.privacy.forget("x2")
        assert result.identifiers == 2 and result.bitmaps_updated >= 2
        assert ws.privacy.residue("x1").hits == [] and ws.privacy.residue("x2").hits == []
        history = member_history(ws.warehouse, "buyers")
        assert [m.size for m in history] == [2, 2]  # y1 and y2 in each build, nobody else
        assert all(len(m.members) == 2 for m in history)
    finally:
        ws.close()


def test_tombstones_survive_a_key_rotation(shop):
    ws, _ = shop
    ws.privacy.forget(ALICE)
    ws.rotate_key()
    later = (T0 + timedelta(days=40)).isoformat()
    r = ws.ingest_records(
        [{"event_id": "late-9", "anonymous_id": ALICE_DEVICE, "type": "page_view", "ts": later}]
    )
    assert (r.accepted, r.quarantined) == (0, 1)  # still refused under the new key
    after = ws.privacy.residue(ALICE_WORK)
    assert after.erased and after.searched_by_pseudonym == 3 and after.hits == []
    assert ws.privacy.forget(ALICE_DEVICE).already_erased
