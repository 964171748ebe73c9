"""The server under concurrent work: builds run as jobs while reads and ingest go on.

Before the warehouse gave every reading thread a connection of its own, a build issued while
any other request ran answered 500 ("connection is busy with another call"), and so did reads
issued while a build ran.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from portrait.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portrait.api.app import create_app


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("concurrency") / "ws"
    with Workspace.init(root) as ws:
        ws.simulate(users=600, days=60, seed=11)
        ws.build()
    return root


def _admin(ws: Workspace) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws.create_key('admin').token}"}


def _event(i: int) -> dict[str, Any]:
    return {
        "event_id": f"conc-{i}",
        "user_id": f"conc-user-{i % 17}",
        "ts": "2025-02-20T10:00:00+00:00",
        "type": "page_view",
    }


def test_builds_reads_and_ingest_at_once_never_fail(shop: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(shop, root)
    ws = Workspace.open(root)
    admin = _admin(ws)
    person = ws.warehouse.fetchone("SELECT person_id FROM profile LIMIT 1")[0]
    statuses: dict[str, list[int]] = {}
    errors: list[str] = []
    stop = threading.Event()
    sent = []

    with TestClient(create_app(ws)) as client:

        def record(route: str, r: Any, ok: tuple[int, ...] = (200,)) -> None:
            statuses.setdefault(route, []).append(r.status_code)
            if r.status_code not in ok:
                errors.append(f"{route}: {r.status_code} {r.text[:300]}")

        def builder() -> None:
            for _ in range(3):
                r = client.post("/v1/build", json={"full": True}, headers=admin)
                record("build", r, (202, 200))
                job = r.json()["job_id"]
                while not stop.is_set():
                    j = client.get(f"/v1/jobs/{job}", headers=admin)
                    record("job", j)
                    if j.json()["state"] in ("succeeded", "failed"):
                        if j.json()["state"] == "failed":
                            errors.append(f"build job failed: {j.json()['error']}")
                        break
                    time.sleep(0.05)
            stop.set()

        def reader(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                record("summary", client.get("/v1/summary", headers=admin))
                record("batches", client.get("/v1/batches", headers=admin))
                record("quarantine", client.get("/v1/quarantine", headers=admin))
                record("profile", client.get(f"/v1/users/{person}/profile", headers=admin))
                record(
                    "segment count",
                    client.post(
                        "/v1/segments/count",
                        json={"expression": "orders_total >= 1"},
                        headers=admin,
                    ),
                )
                record("tags/quality", client.get("/v1/tags/quality", headers=admin))
                batch = [_event(n * 100_000 + i * 10 + k) for k in range(10)]
                r = client.post("/v1/events", json=batch, headers=admin)
                record("ingest", r)
                if r.status_code == 200:
                    sent.extend(e["event_id"] for e in batch)

        threads = [threading.Thread(target=builder)]
        threads += [threading.Thread(target=reader, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not any(t.is_alive() for t in threads)

    stored = ws.warehouse.fetchone(
        "SELECT count(*), count(DISTINCT event_id) FROM events WHERE starts_with(event_id, 'conc-')"
    )
    builds = ws.warehouse.fetchone("SELECT count(*) FROM tag_builds")[0]
    ws.close()
    assert errors == []
    assert len(statuses["build"]) == 3 and builds >= 4
    assert sum(len(v) for k, v in statuses.items() if k not in ("build", "job")) > 20
    assert stored == (len(sent), len(sent))  # nothing lost, nothing doubled


def test_one_build_at_a_time(shop: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(shop, root)
    ws = Workspace.open(root)
    admin = _admin(ws)
    with TestClient(create_app(ws)) as client:
        first = client.post("/v1/build", json={"full": True}, headers=admin)
        assert first.status_code == 202
        job = first.json()
        assert job["state"] in ("queued", "running") and job["kind"] == "build"
        again = client.post("/v1/build", json={"full": True}, headers=admin)
        other = client.post("/v1/build", json={"as_of": "2025-02-01"}, headers=admin)
        done = client.get(f"/v1/jobs/{job['job_id']}", headers=admin).json()
        if done["state"] in ("queued", "running"):  # the same build again: the same job
            assert again.status_code in (200, 202)
            assert again.json()["job_id"] == job["job_id"]
        if other.status_code == 409:  # another build while one runs: named in the answer
            assert job["job_id"] in other.json()["detail"]
        else:  # the first had finished already: the other one is a job of its own
            assert other.status_code in (200, 202) and other.json()["job_id"] != job["job_id"]
            app_jobs = client.app.state.jobs
            app_jobs.wait(other.json()["job_id"], timeout=300)
        app_jobs = client.app.state.jobs
        app_jobs.wait(job["job_id"], timeout=300)
        waited = client.post("/v1/build?wait=300", json={"full": True}, headers=admin)
        assert waited.status_code == 200, waited.text
        body = waited.json()
        assert body["state"] == "succeeded" and body["result"]["mode"] == "full"
        assert body["progress"] and body["result"]["persons"] > 100
        listed = client.get("/v1/jobs", headers=admin).json()
        assert job["job_id"] in {j["job_id"] for j in listed}
        assert client.get("/v1/jobs/nope", headers=admin).status_code == 404
        bad = client.post("/v1/build", json={"as_of": "soon"}, headers=admin)
        assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    ws.close()


def test_in_process_second_build_is_refused(shop: Path, tmp_path: Path) -> None:
    import shutil

    from portrait.tags.build import BuildError

    root = tmp_path / "ws"
    shutil.copytree(shop, root)
    ws = Workspace.open(root)
    started = threading.Event()
    outcome: list[Any] = []

    def slow(msg: str) -> None:
        started.set()
        time.sleep(0.2)

    t = threading.Thread(target=lambda: outcome.append(ws.build(full=True, progress=slow)))
    t.start()
    assert started.wait(60)
    with pytest.raises(BuildError, match="already running"):
        ws.build(full=True)
    t.join(120)
    assert outcome and outcome[0].mode == "full"
    ws.close()


def test_readers_do_not_wait_for_the_writer(ws: Workspace) -> None:
    wh = ws.warehouse
    wh.execute("CREATE TABLE t AS SELECT range AS i FROM range(10)")
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with wh.transaction() as con:
            con.execute("INSERT INTO t VALUES (99)")
            held.set()
            release.wait(10)

    def read() -> tuple[int, int, float]:
        tick = time.perf_counter()
        n = wh.fetchone("SELECT count(*) FROM t")[0]
        m = wh.to_arrow(wh.table("t")).num_rows
        return n, m, time.perf_counter() - tick

    t = threading.Thread(target=writer)
    t.start()
    assert held.wait(10)
    seen: list[tuple[int, int, float]] = []
    reader = threading.Thread(target=lambda: seen.append(read()))  # a server's request thread
    reader.start()
    reader.join(5)
    release.set()
    t.join()
    assert seen and seen[0][:2] == (10, 10)  # the committed state, at once
    assert seen[0][2] < 2
    # the thread that opened the warehouse reads through the writer's connection, as before
    assert wh.fetchone("SELECT count(*) FROM t")[0] == 11


def test_a_session_keeps_its_temporary_tables(ws: Workspace) -> None:
    wh = ws.warehouse
    with wh.session():
        wh.execute_local("CREATE TEMP TABLE mine AS SELECT 1 AS x")
        assert wh.fetchone("SELECT count(*) FROM mine")[0] == 1
        with wh.lock:  # a write from the session sees them too
            assert wh.fetchone("SELECT x FROM mine")[0] == 1
    with pytest.raises(Exception, match="mine"):
        wh.fetchone("SELECT count(*) FROM mine")


def test_staging_left_by_a_killed_build_is_dropped(shop: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(shop, root)
    with Workspace.open(root) as ws:
        ws.warehouse.execute("CREATE TABLE snapshots._staging_dead AS SELECT 1 AS x")

    def staging(ws: Workspace) -> list[str]:
        return [
            r[0]
            for r in ws.warehouse.fetchall(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'snapshots' "
                "AND starts_with(table_name, '_staging_')"
            )
        ]

    with Workspace.open(root) as ws:  # opening cleans up
        assert staging(ws) == []
        ws.warehouse.execute("CREATE TABLE snapshots._staging_dead2 AS SELECT 1 AS x")
        ws.build()  # and so does a build
        assert staging(ws) == []


def test_a_failed_build_leaves_no_staging(shop: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    from portrait.store import tag_stats

    root = tmp_path / "ws"
    shutil.copytree(shop, root)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed mid-save")

    monkeypatch.setattr(tag_stats, "compute_stats", boom)
    with Workspace.open(root) as ws:
        with pytest.raises(RuntimeError, match="killed"):
            ws.build(full=True)
        left = ws.warehouse.fetchone(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'snapshots' "
            "AND starts_with(table_name, '_staging_')"
        )[0]
        assert left == 0


def test_close_drops_every_cached_service(ws: Workspace) -> None:
    recs, campaigns, profiles = ws.recs, ws.campaigns, ws.profiles
    ws.close()
    assert ws.recs is not recs
    assert ws.campaigns is not campaigns
    assert ws.profiles is not profiles
