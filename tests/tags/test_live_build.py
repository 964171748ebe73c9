"""Builds of a past date are kept beside the live profile (the newest date's), never in its place:
reads without a date, the segment index and history, journeys and the next incremental build
all stay with the live build (issue 15, section 4)."""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from portrait.campaigns.definition import parse_campaign
from portrait.cli import app
from portrait.datasets.simulator import simulate
from portrait.tags import build_plan
from portrait.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app

LIVE, PAST = "2025-03-02", "2025-02-01"  # the shop's events run to 2025-03-01
EXPR = "orders_total >= 1 AND days_since_last_order <= 30"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    """A small simulated shop's files (60 days from 2025-01-01)."""
    return simulate(
        tmp_path_factory.mktemp("shop"), users=400, days=60, seed=3, start=date(2025, 1, 1)
    )


def load(ws: Workspace, shop, events: list[Path] | None = None) -> None:
    ws.ingest_file(shop.users[0], "users", timezone="UTC")
    ws.ingest_file(shop.products[0], "products", timezone="UTC")
    for p in events or [shop.events[0]]:
        ws.ingest_file(p, "events", timezone="UTC")


def rows(ws: Workspace, as_of: str | None = None) -> dict[str, dict]:
    return {r["person_id"]: r for r in ws.profile_table(as_of).to_pylist()}


def same_profiles(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert a.keys() == b.keys() and len(a) > 100
    for pid, ra in a.items():
        for tag, va in ra.items():
            vb = b[pid][tag]
            if isinstance(va, float) and isinstance(vb, float):
                assert math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-12), (pid, tag, va, vb)
            else:
                assert va == vb, (pid, tag, va, vb)


def reads(ws: Workspace) -> dict:
    """Everything that answers from the live profile when no date is given."""
    table = ws.profile_table(tags=["orders_total"]).to_pylist()
    person = min(r["person_id"] for r in table if (r["orders_total"] or 0) > 2)
    vip = ws.segments.show("vip")
    return {
        "count": ws.segments.count(EXPR).count,
        "count_as_of": str(ws.segments.count(EXPR).as_of),
        "warehouse_count": ws.segments.count(EXPR, engine="warehouse").count,
        "table": ws.profile_table().num_rows,
        "profile": ws.profile(person).as_of,
        "view": ws.warehouse.fetchone("SELECT count(*) FROM profile")[0],
        "tag_values": ws.warehouse.fetchone("SELECT count(DISTINCT build_id) || max(build_id) "
                                            "FROM tag_values")[0],
        "vip": (vip.size, vip.as_of, len(vip.history), vip.change),
        "list": {s.name: (s.size, s.build_id) for s in ws.segments.list()},
        "export": ws.segments.members("vip").num_rows,
        "index": ws.segments.index().build_id,
        "coverage": ws.tag("orders_total").coverage,
        "quality": ws.tag_quality().build.build_id,
    }  # fmt: skip


def test_past_date_build_leaves_the_live_profile(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop)
    first = ws.build(as_of="2025-02-20")
    ws.segments.create("vip", "m_score >= 4")
    live = ws.build()  # the day after the last event
    assert live.as_of == LIVE
    before = reads(ws)
    assert before["count_as_of"] == LIVE and before["profile"] == LIVE
    assert before["index"] == before["quality"] == live.build_id
    assert before["view"] == before["table"] == live.persons
    assert before["vip"][2] == 2 and before["vip"][3] is not None  # two live builds: a change

    past = ws.build(as_of=PAST)
    assert reads(ws) == before  # nothing read without a date moved
    assert not past.live and past.mode == "full" and past.persons < live.persons
    assert past.as_dict()["live"] is False

    # the past build is stored and read by its date, on the bitmap index and the warehouse
    at = ws.segments.count(EXPR, as_of=PAST)
    assert str(at.as_of) == PAST and at.build_id == past.build_id
    assert at.count == ws.segments.count(EXPR, as_of=PAST, engine="warehouse").count
    assert at.count != before["count"] and at.persons == past.persons
    assert ws.profile_table(PAST).num_rows == past.persons
    assert (
        ws.warehouse.fetchone("SELECT count(*) FROM tag_stats WHERE build_id = ?", [past.build_id])[
            0
        ]
        > 100
    )
    vip_past = ws.segments.show("vip", as_of=PAST)
    assert str(vip_past.as_of) == PAST and vip_past.change is None
    assert reads(ws) == before  # reading it put nothing into the live history
    assert first.live and live.live
    logged = {b.build_id: b.live for b in ws.profile_builds()}
    assert logged == {first.build_id: False, live.build_id: True, past.build_id: False}

    # two builds of the past date: the second replaces the first's snapshot, still not live
    again = ws.build(as_of=PAST)
    assert again.mode == "unchanged" and not again.live
    rebuilt = ws.build(as_of=PAST, full=True)
    assert not rebuilt.live and rebuilt.build_id != past.build_id
    assert ws.segments.count(EXPR, as_of=PAST).build_id == rebuilt.build_id
    assert reads(ws) == before
    # the live date rebuilt with nothing new: unchanged, and live
    assert ws.build().mode == "unchanged"
    assert ws.build().live

    # a build of a date newer than the live one becomes live
    newer = ws.build(as_of="2025-03-10")
    assert newer.live
    after = reads(ws)
    assert after["count_as_of"] == after["profile"] == "2025-03-10"
    assert after["index"] == after["quality"] == newer.build_id
    assert after["view"] == newer.persons
    assert after["vip"][2] == 3  # the live history: 02-20, 03-02, 03-10 (not 02-01)
    assert after["list"]["vip"][1] == newer.build_id
    ws.close()


def test_next_live_build_starts_from_the_live_build(shop, tmp_path: Path, monkeypatch) -> None:
    """After a past date's build, the next live build is incremental from the live build (not
    the past one) and equals a full rebuild, with new events and an identity merge between."""
    t = pq.read_table(shop.events[0])
    cut = pa.scalar(datetime(2025, 2, 15, tzinfo=UTC), type=t.schema.field("ts").type)
    pq.write_table(t.filter(pc.less(t["ts"], cut)), tmp_path / "early.parquet")
    late = t.filter(pc.greater_equal(t["ts"], cut))
    pq.write_table(late.slice(0, 200), tmp_path / "late.parquet")
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop, [tmp_path / "early.parquet"])
    live = ws.build(as_of="2025-02-15")
    users = [r[0] for r in ws.warehouse.fetchall("SELECT user_id FROM users ORDER BY 1 LIMIT 2")]
    ws.merge_users(users[0], users[1], "test merge")  # identity changes before the past build
    past = ws.build(as_of=PAST)
    assert live.live and not past.live
    ws.ingest_file(tmp_path / "late.parquet", "events", timezone="UTC")

    bases = []
    choose = build_plan._base

    def spy(*args):
        found = choose(*args)
        bases.append(found and found.build_id)
        return found

    monkeypatch.setattr(build_plan, "_base", spy)
    inc = ws.build(as_of="2025-02-16")
    assert bases == [live.build_id]
    assert inc.live and inc.mode == "incremental" and 0 < inc.recomputed < inc.persons
    incremental = rows(ws)
    full = ws.build(as_of="2025-02-16", full=True)
    assert full.mode == "full"
    same_profiles(incremental, rows(ws))
    assert len([p for p in incremental if p in users]) == 1  # merged: one person
    ws.close()


def test_incremental_needs_the_identity_map_of_its_base(shop, tmp_path: Path) -> None:
    """The identity map kept for the next build's diff is not the base build's (a build that
    failed after saving it, say): the next build is full."""
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop)
    ws.build(as_of="2025-02-20")
    ws.warehouse.execute("DELETE FROM profile_identity WHERE rowid % 7 = 0")
    assert ws.build(as_of="2025-02-21").mode == "full"
    assert ws.build(as_of="2025-02-22").mode == "incremental"
    ws.close()


def test_pruning_keeps_the_live_snapshot_and_missing_dates_are_named(shop, tmp_path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop)
    ws.settings.profile.keep_snapshots = 1
    live = ws.build()
    ws.build(as_of=PAST)
    ws.build(as_of="2025-01-15")  # drops the snapshot of 02-01, never the live one
    stored = {
        r[0]
        for r in ws.warehouse.fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'snapshots'"
        )
    }
    assert stored == {"profile_20250302", "profile_20250115"}
    assert ws.profile_table().num_rows == live.persons
    assert str(ws.segments.count(EXPR).as_of) == LIVE
    named = (
        r"no profile build as of 2025-02-01 is stored; builds are kept as of 2025-03-02, 2025-01-15"
    )
    with pytest.raises(LookupError, match=named):
        ws.profile_table(PAST)
    with pytest.raises(LookupError, match=named):
        ws.segments.count(EXPR, as_of=PAST)
    person = ws.profile_table(tags=["orders_total"]).column("person_id")[0].as_py()
    with pytest.raises(LookupError, match="2025-03-02, 2025-01-15"):
        ws.profile(person, as_of="2024-12-01")
    # the next live build is incremental from the live build, not from the 01-15 one
    assert ws.build(as_of="2025-03-03").mode == "incremental"
    ws.close()


def add_win_back(ws: Workspace) -> None:
    c = parse_campaign({
        "name": "winback", "trigger": {"type": "win_back"}, "channel": "email",
        "variants": [{"name": "a", "message": {"body": {"en": "Hi"}}}],
    })  # fmt: skip
    now = datetime.now(UTC)
    ws.warehouse.execute(
        "INSERT INTO campaigns (name, definition, status, created_at, updated_at) "
        "VALUES (?, ?, 'launched', ?, ?)",
        [c.name, c.model_dump_json(), now, now],
    )


def test_journeys_run_after_live_builds_only(shop, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    load(ws, shop)
    add_win_back(ws)
    live = ws.build()
    assert "journeys" in live.timings
    entered = ws.warehouse.fetchone("SELECT count(*) FROM journey_entries")[0]
    past = ws.build(as_of=PAST)
    assert not past.live and "journeys" not in past.timings
    assert ws.warehouse.fetchone("SELECT count(*) FROM journey_entries")[0] == entered
    ws.close()


def test_cli_and_rest_say_whether_the_build_is_live(shop, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = Workspace.init(root)
    load(ws, shop)
    ws.build()
    token = ws.create_key("admin", "test").token
    with TestClient(create_app(ws)) as client:
        r = client.post(
            "/v1/build?wait=600", json={"as_of": PAST}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"]["live"] is False and r.json()["result"]["as_of"] == PAST
        r = client.post("/v1/segments/count", json={"expression": EXPR},
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["as_of"] == LIVE
    ws.close()
    runner = CliRunner()
    r = runner.invoke(app, ["build", "--as-of", "2025-01-20", "-w", str(root)])
    assert r.exit_code == 0, r.output
    assert "The live profile is of a later date" in r.stdout and "--as-of 2025-01-20" in r.stdout
    r = runner.invoke(app, ["build", "--as-of", "2025-03-05", "--json", "-w", str(root)])
    assert r.exit_code == 0 and json.loads(r.stdout)["live"] is True
    r = runner.invoke(app, ["build", "--list", "-w", str(root)])
    assert r.exit_code == 0 and "live" in r.stdout
    r = runner.invoke(app, ["segment", "count", EXPR, "--json", "-w", str(root)])
    assert r.exit_code == 0 and json.loads(r.stdout)["as_of"] == "2025-03-05"
    r = runner.invoke(app, ["segment", "count", EXPR, "--as-of", "2025-02-02", "-w", str(root)])
    assert r.exit_code == 2 and "2025-03-05, 2025-03-02" in r.output
