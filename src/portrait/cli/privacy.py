"""`portrait privacy ...`: the workspace key that encrypts the users' PII at rest."""

from __future__ import annotations

import typer

from portrait.cli.common import JsonOpt, WorkspaceOpt, friendly_errors, open_ws, out, print_json
from portrait.security.at_rest import PiiStatus

privacy_app = typer.Typer(
    help="PII at rest: the workspace key, sealing an older warehouse, key rotation "
    "(see docs/privacy.md).",
    no_args_is_help=True,
)


def _print_status(s: PiiStatus) -> None:
    out.print(f"key {s.key_id}, read from {s.key_source}")
    if s.sealed_now:
        out.print(f"{s.sealed_now:,} rows stored in clear by an older version: encrypted")
    out.print(f"users rows with PII in clear: {s.clear_values:,}")
    out.print(f"quarantined records in clear: {s.clear_quarantine:,}")


@privacy_app.command("status")
@friendly_errors
def privacy_status(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Which key the PII is under, where it is read from, and whether any is in clear."""
    with open_ws(workspace) as ws:
        s = ws.pii_status()
    print_json(s) if as_json else _print_status(s)


@privacy_app.command("migrate")
@friendly_errors
def privacy_migrate(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Encrypt the PII an older version stored in clear (opening the workspace does it once;
    this repeats it and reports)."""
    with open_ws(workspace) as ws:
        s = ws.migrate_pii()
    print_json(s) if as_json else _print_status(s)


@privacy_app.command("rotate-key")
@friendly_errors
def privacy_rotate_key(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Make a new workspace key and re-encrypt every PII value under it (the old key file is
    kept as secret.key.old until that is done). Back up the new secret.key."""
    with open_ws(workspace) as ws:
        r = ws.rotate_key()
    if as_json:
        print_json(r)
        return
    out.print(
        f"key {r.old_key_id} -> {r.new_key_id}: {r.users_resealed:,} users rows re-encrypted; "
        f"the new key is in {r.key_file} (back it up: the old one no longer opens the PII)"
    )
