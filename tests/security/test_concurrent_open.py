"""Two openers at once: a new workspace's key file is made by exactly one of them and read
whole by the others (threads and processes), and a workspace makes one copy of a service
however many threads ask for it at the same moment, and opens its warehouse once."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from portrait import workspace as workspace_module
from portrait.security import secrets as secrets_module
from portrait.security.secrets import SECRET_ENV, load_secret
from portrait.workspace import Workspace

OPENERS = 8


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)


def test_threads_making_a_key_at_once_all_get_the_one_key(tmp_path: Path, monkeypatch) -> None:
    # a slow disk: a key file created in place would be seen (and read) before it is whole
    real_fdopen = os.fdopen

    def slow_fdopen(*args, **kwargs):
        time.sleep(0.05)
        return real_fdopen(*args, **kwargs)

    monkeypatch.setattr(secrets_module.os, "fdopen", slow_fdopen)
    start = threading.Barrier(OPENERS)

    def open_key(_: int) -> str:
        start.wait()
        return load_secret(tmp_path, create=True).key_id

    with ThreadPoolExecutor(OPENERS) as pool:
        ids = list(pool.map(open_key, range(OPENERS)))
    assert len(set(ids)) == 1
    assert ids[0] == load_secret(tmp_path).key_id
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temporary file left


def _open_key_in_a_process(root: str, start, out) -> None:
    start.wait()
    out.put(load_secret(Path(root), create=True).key_id)


def test_processes_making_a_key_at_once_all_get_the_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open_key_in_a_process, args=(str(tmp_path), start, out))
             for _ in range(4)]  # fmt: skip
    for p in procs:
        p.start()
    ids = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(set(ids)) == 1 and ids[0] == load_secret(tmp_path).key_id


def test_a_service_is_made_once_though_threads_ask_at_once(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    made: list[object] = []

    def slow_make() -> object:
        time.sleep(0.05)  # long enough for every thread to ask meanwhile
        made.append(object())
        return made[-1]

    start = threading.Barrier(OPENERS)

    def ask(_: int) -> object:
        start.wait()
        return ws._service("slow", slow_make)

    with ThreadPoolExecutor(OPENERS) as pool:
        got = list(pool.map(ask, range(OPENERS)))
    assert len(made) == 1 and all(g is made[0] for g in got)
    ws.close()


def test_the_warehouse_is_opened_once_though_threads_ask_at_once(
    tmp_path: Path, monkeypatch
) -> None:
    Workspace.init(tmp_path / "ws").close()
    ws = Workspace.open(tmp_path / "ws")
    opened: list[object] = []
    real = workspace_module.Warehouse

    def slow_warehouse(*args: object, **kwargs: object) -> object:
        time.sleep(0.05)  # long enough for every thread to ask meanwhile
        opened.append(real(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(workspace_module, "Warehouse", slow_warehouse)
    start = threading.Barrier(OPENERS)

    def ask(_: int) -> object:
        start.wait()
        return ws.warehouse

    with ThreadPoolExecutor(OPENERS) as pool:
        got = list(pool.map(ask, range(OPENERS)))
    assert len(opened) == 1 and all(g is opened[0] for g in got)
    ws.close()
