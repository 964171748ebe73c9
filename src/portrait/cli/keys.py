"""`portrait keys ...`: API keys for the REST API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from portrait.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    friendly_errors,
    open_ws,
    out,
    print_json,
)

keys_app = typer.Typer(
    help="API keys for the REST API (kept in keys.sqlite: these work while a server runs).",
    no_args_is_help=True,
)


@keys_app.command("create")
@friendly_errors
def keys_create(
    role: Annotated[
        str,
        typer.Option(
            help="admin (everything), analyst (reads profiles, segments, models; PII masked), "
            "marketer (segments and campaigns; PII masked), ingest (sends data only) or "
            "tracker (browser collect only); see docs/privacy.md."
        ),
    ],
    note: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an API key. The token is shown once; only its hash is stored."""
    with open_ws(workspace) as ws:
        k = ws.create_key(role, note)
    if as_json:
        print_json({"key_id": k.key_id, "role": k.role, "token": k.token})
    else:
        out.print(f"key {k.key_id} ({k.role}); token, shown only now:")
        print(k.token)


@keys_app.command("list")
@friendly_errors
def keys_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """List API keys (never their secrets)."""
    with open_ws(workspace) as ws:
        rows = ws.list_keys()
    if as_json:
        print_json(rows)
        return
    t = Table(title="API keys")
    for c in ("key_id", "role", "note", "created_at", "revoked_at"):
        t.add_column(c)
    for r in rows:
        t.add_row(
            r.key_id,
            r.role,
            r.note or "",
            r.created_at.isoformat(),
            r.revoked_at.isoformat() if r.revoked_at else "",
        )
    out.print(t)


@keys_app.command("revoke")
@friendly_errors
def keys_revoke(key_id: str, workspace: WorkspaceOpt = None) -> None:
    """Revoke an API key: a running server refuses it from its next request."""
    with open_ws(workspace) as ws:
        ws.revoke_key(key_id)
    out.print(f"key {key_id} revoked.")
