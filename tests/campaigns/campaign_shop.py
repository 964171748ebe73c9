"""Helpers for the campaign send tests: one small built shop per session (copied per test),
a local SMTP server and a local webhook receiver, both real and in-process."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from portrait.workspace import Workspace

AS_OF = "2025-02-10"
_built: dict[str, Path] = {}


def built_shop(base: Path) -> Path:
    """A 150-user simulated shop built as of AS_OF (made once, under ``base``)."""
    if "shop" not in _built:
        root = base / "campaign-shop"
        ws = Workspace.init(root)
        ws.simulate(users=150, days=40, seed=7)
        ws.build(as_of=AS_OF)
        ws.close()
        _built["shop"] = root
    return _built["shop"]


def copy_shop(base: Path, dest: Path) -> Path:
    """A private copy of the built shop (tests that send change the ledger)."""
    shutil.copytree(built_shop(base), dest)
    return dest


def set_campaign_settings(root: Path, **sections: Any) -> None:
    """Write ``[campaigns]`` settings into the workspace's portrait.toml."""
    from portrait.config import load_settings, write_settings

    settings = load_settings(root)
    data = settings.campaigns.model_dump()
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    settings.campaigns = type(settings.campaigns).model_validate(data)
    write_settings(root, settings)


# --- a real SMTP server ---------------------------------------------------------------------------
@dataclass
class Mailbox:
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {"to": list(envelope.rcpt_tos), "from": envelope.mail_from,
             "data": bytes(envelope.content)}
        )  # fmt: skip
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """An aiosmtpd server on a free local port; yields (mailbox, port)."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


# --- a real HTTP receiver -------------------------------------------------------------------------
@dataclass
class Receiver:
    """Answers each POST with the next status of ``script`` (then the last one forever),
    counting over all requests or, with ``per_key``, per Idempotency-Key."""

    script: list[int]
    per_key: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            seen = self.requests
            if self.per_key:
                key = seen[-1]["headers"].get("Idempotency-Key")
                seen = [r for r in seen if r["headers"].get("Idempotency-Key") == key]
            return self.script[min(len(seen) - 1, len(self.script) - 1)]


@contextmanager
def http_receiver(script: list[int], per_key: bool = False) -> Iterator[tuple[Receiver, str]]:
    """A local HTTP server in a thread; yields (receiver, url)."""
    receiver = Receiver(script, per_key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.requests.append(
                    {"headers": dict(self.headers), "body": body, "json": json.loads(body)}
                )
            status = receiver.next_status()
            reply = json.dumps({"id": f"prov-{len(receiver.requests)}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        server.shutdown()
        server.server_close()
