"""PII at rest for one workspace: the key it is under, sealing an older warehouse, rotation.

``open_cipher`` runs when the facade opens the warehouse: it reads the workspace secret (made on
first open of a workspace that has none, see :mod:`portrait.security.secrets`), refuses a key
other than the one the stored PII is under, finishes a rotation a crash interrupted, and seals
the values an older version stored in clear (then records the key). ``rotate_key`` re-encrypts
everything under a new key, keeping the old key file as ``secret.key.old`` until it is done.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from portrait.config import load_settings
from portrait.security.pii import PiiCipher
from portrait.security.secrets import (
    OLD_SECRET_FILE,
    SECRET_ENV,
    SecretKeyError,
    WorkspaceSecret,
    decode_key,
    env_secret,
    key_file,
    load_secret,
    new_secret,
    write_key_file,
)
from portrait.store import pii as stored_pii
from portrait.store import pii_tags, quarantine
from portrait.store.warehouse import Warehouse

NEW_SECRET_FILE = "secret.key.new"


class KeyRotation(BaseModel):
    """What ``portrait privacy rotate-key`` did."""

    old_key_id: str
    new_key_id: str
    users_resealed: int
    key_file: str


class PiiStatus(BaseModel):
    """Where the workspace key is and what it protects."""

    key_id: str
    key_source: str
    recorded_key_id: str | None
    clear_values: int  # users rows with a PII value in clear (0 once sealed)
    clear_quarantine: int = 0  # quarantined records whose payload is in clear (0 once sealed)
    clear_tag_values: int = 0  # PII tag values in clear in profile snapshots (0 once sealed)
    sealed_now: int = 0  # rows an older version stored in clear, sealed by this call


def _finish_interrupted_rotation(root: Path, recorded: str) -> None:
    """A rotation that committed the re-encryption but crashed before the new key file took
    ``secret.key``'s place: move the file whose key the warehouse records into place."""
    main = key_file(root)
    for name in (NEW_SECRET_FILE, OLD_SECRET_FILE):
        other = root / name
        if other.exists() and decode_key(other.read_text(), str(other)).key_id == recorded:
            os.replace(other, main)
            return


def open_cipher(wh: Warehouse, root: Path, in_memory: bool = False) -> PiiCipher:
    """The workspace's PII cipher, checked against the key the warehouse records; an older
    warehouse (no key recorded) gets its key file and its clear values sealed, unless it is
    open read-only (nothing is written then)."""
    if not wh.read_only:  # birth dates as text, to hold tokens (sealed below)
        stored_pii.widen_birth_date(wh)
    if in_memory:  # nothing persisted: a key for this process, unless one is given
        return PiiCipher(env_secret() or new_secret("in-memory"))
    recorded = stored_pii.recorded_key(wh)
    writable = not wh.read_only
    if recorded is not None and writable and env_secret() is None:
        with contextlib.suppress(SecretKeyError, OSError):
            if load_secret(root).key_id != recorded:
                _finish_interrupted_rotation(root, recorded)
        if not key_file(root).exists():
            _finish_interrupted_rotation(root, recorded)
    cipher = PiiCipher(load_secret(root, create=recorded is None and writable))
    if recorded is not None and recorded != cipher.key_id:
        raise SecretKeyError(
            f"the workspace secret ({cipher.secret.source}) is key {cipher.key_id}, but this "
            f"warehouse's PII is encrypted with key {recorded}: restore the secret.key this "
            f"workspace was made with (or set ${SECRET_ENV} to it)"
        )
    if writable and (recorded is None or stored_pii.clear_value_count(wh)):
        stored_pii.seal_clear_rows(wh, cipher)  # also birth dates an older version kept clear
    if writable:  # records an older version quarantined in clear (none after the first time)
        quarantine.seal_clear_rows(wh, cipher)
    if writable and pii_tags.snapshot_tables(wh):  # PII tags an older build kept in clear
        pii_tags.seal_snapshots(wh, pii_tag_ids(wh), cipher, typed_only=True)
    return cipher


@functools.cache
def _builtin_pii_tags() -> tuple[str, ...]:
    from portrait.tags.catalog import load_catalog  # the YAML catalog: parsed once

    return tuple(t.id for t in load_catalog() if t.pii)


def pii_tag_ids(wh: Warehouse) -> list[str]:
    """The personal-data tags (``pii: true``) of the workspace's catalog: the built-in ones
    and its own (``tags/*.yaml``; if those cannot be read, the built-in ones: a build would
    refuse them anyway)."""
    from portrait.tags.catalog import load_catalog

    ids = list(_builtin_pii_tags())
    if wh.path is None:
        return ids
    root = wh.path.parent
    with contextlib.suppress(ValueError, OSError):  # no portrait.toml, a bad tag file
        extra = root / load_settings(root).profile.tags_dir
        if extra.is_dir() and any(extra.glob("*.y*ml")):
            return [t.id for t in load_catalog(extra) if t.pii]
    return ids


def status(wh: Warehouse, cipher: PiiCipher) -> PiiStatus:
    return PiiStatus(
        key_id=cipher.key_id,
        key_source=cipher.secret.source,
        recorded_key_id=stored_pii.recorded_key(wh),
        clear_values=stored_pii.clear_value_count(wh),
        clear_quarantine=quarantine.clear_count(wh),
        clear_tag_values=pii_tags.clear_count(wh, pii_tag_ids(wh)),
    )


def migrate(wh: Warehouse, cipher: PiiCipher) -> PiiStatus:
    """Seal any users row still in clear (``portrait privacy migrate``; opening the
    workspace already did it once: this repeats it and reports)."""
    sealed = stored_pii.seal_clear_rows(wh, cipher) + quarantine.seal_clear_rows(wh, cipher)
    sealed += pii_tags.seal_snapshots(wh, pii_tag_ids(wh), cipher)
    return status(wh, cipher).model_copy(update={"sealed_now": sealed})


def rotate_key(
    wh: Warehouse,
    root: Path,
    cipher: PiiCipher,
    adopt: Callable[[WorkspaceSecret], None] | None = None,
) -> tuple[KeyRotation, PiiCipher]:
    """A new workspace key: every PII value re-encrypted and every phone HMAC recomputed under
    it in one transaction. The new key is written to ``secret.key.new`` first and the current
    one kept as ``secret.key.old`` until the new one is in place (a crash in between is
    finished by the next open). ``adopt`` is given the new secret before anything is
    re-encrypted (the audit log seals its own key under it: see ``portrait.audit.keys``)."""
    if env_secret() is not None:
        raise SecretKeyError(
            f"the workspace secret comes from ${SECRET_ENV}: rotate it where it is kept (a "
            "key file is rotated by this command; unset the variable to use secret.key)"
        )
    main = key_file(root)
    new_path, old_path = root / NEW_SECRET_FILE, root / OLD_SECRET_FILE
    new_path.unlink(missing_ok=True)  # a rotation that failed before its commit
    secret = new_secret(str(main))
    write_key_file(new_path, secret)
    if adopt is not None:
        adopt(secret)
    new = PiiCipher(secret)
    resealed = stored_pii.reseal(wh, cipher, new)
    os.replace(main, old_path)
    os.replace(new_path, main)
    old_path.unlink()
    return (
        KeyRotation(
            old_key_id=cipher.key_id,
            new_key_id=new.key_id,
            users_resealed=resealed,
            key_file=str(main),
        ),
        new,
    )
