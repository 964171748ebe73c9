"""`portrait privacy ...`: the workspace key that encrypts the users' PII at rest; erasure on
request (forget, residue, compact)."""

from __future__ import annotations

from typing import Annotated

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
    out.print(f"PII tag values in clear in profile snapshots: {s.clear_tag_values:,}")


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


# --- erasure (right to be forgotten) --------------------------------------------------------
@privacy_app.command("forget")
@friendly_errors
def privacy_forget(
    user_id: Annotated[str, typer.Argument(help="A user id (or device id) of the person.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (the request's reference); audited.")
    ] = None,
    no_compact: Annotated[
        bool,
        typer.Option(
            "--no-compact",
            help="Leave the freed bytes in the warehouse file for now (then `portrait privacy "
            "compact`, once for many erasures).",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase the person USER_ID belongs to: every identifier tied to them (merged user ids,
    device ids) and everything derived; their ids are refused from now on."""
    with open_ws(workspace) as ws:
        r = ws.privacy.forget(user_id, reason=reason, compact=not no_compact)
    if as_json:
        print_json(r)
        return
    if r.already_erased:
        out.print(f"already erased ({r.erasure_id}): nothing of it is left to remove")
        return
    out.print(
        f"erased ({r.erasure_id}): {r.identifiers} identifier(s), {r.rows_removed:,} rows "
        f"removed, {r.bitmaps_updated} segment bitmap(s) updated, "
        f"{r.quarantine_removed} quarantined record(s) removed"
    )
    for table, n in r.removed.items():
        out.print(f"  {table}: {n:,}")
    for table, n in r.kept_anonymous.items():
        out.print(f"  kept under an unlinkable token: {table}: {n:,}")
    for f in r.files:
        rows = f" ({f.rows_removed:,} rows)" if f.rows_removed else ""
        out.print(f"  file {f.action}: {f.path}{rows}")
    out.print(f"warehouse file: {r.compaction}")


@privacy_app.command("residue")
@friendly_errors
def privacy_residue(
    user_id: Annotated[str, typer.Argument(help="A user id (or device id) of the person.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What still mentions the person USER_ID belongs to, in every table, bitmap and file
    (nothing after `portrait privacy forget`)."""
    with open_ws(workspace) as ws:
        r = ws.privacy.residue(user_id)
    if as_json:
        print_json(r)
        return
    state = f"erased ({r.erasure_id})" if r.erased else "not erased"
    out.print(
        f"{state}; searched {r.searched_in_clear} identifier(s) in clear and "
        f"{r.searched_by_pseudonym} by keyed pseudonym: {r.total:,} mention(s)"
    )
    for h in r.hits:
        out.print(f"  {h.kind} {h.place}: {h.count:,} (by {h.found_by})")


@privacy_app.command("compact")
@friendly_errors
def privacy_compact(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Rewrite the warehouse into a fresh file so deleted rows' bytes are gone (after
    erasures made with --no-compact)."""
    with open_ws(workspace) as ws:
        r = ws.privacy.compact()
    if as_json:
        print_json(r)
        return
    out.print(f"{r.path}: {r.bytes_before:,} -> {r.bytes_after:,} bytes in {r.seconds:.1f} s")
