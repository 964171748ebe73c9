"""The workspace secret: kept outside the warehouse, it protects the PII inside it.

The secret is 32 random bytes, read from the environment variable ``PORTRAIT_SECRET_KEY``
(base64) when it is set, else from the file ``secret.key`` in the workspace folder (base64,
created 0600 by ``portrait init`` or on first open of a workspace that has none). Losing it
loses the encrypted PII (phones, e-mails, names, addresses, birth dates) and nothing else.

Two subkeys are derived from it with HKDF-SHA256, so that no key serves two purposes:

- ``enc_key``: AES-256-GCM encryption of the PII columns (see :mod:`portrait.security.pii`);
- ``mac_key``: HMAC-SHA256 pseudonyms, e.g. the phone HMAC that links two user ids of one
  person and matches a consent import by phone.

A third (``nonce_key``) derives each value's nonce (see ``pii.PiiCipher``). ``key_id`` names
the key without revealing it: the warehouse records which key its PII is encrypted with, so a
wrong key is refused with a clear error instead of failing value by value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_ENV = "PORTRAIT_SECRET_KEY"
SECRET_FILE = "secret.key"
OLD_SECRET_FILE = "secret.key.old"
KEY_BYTES = 32


class SecretKeyError(ValueError):
    """The workspace secret is missing, malformed or not the one the PII was encrypted with."""


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"portrait/{purpose}".encode()
    ).derive(master)


@dataclass(frozen=True)
class WorkspaceSecret:
    """The master key and the subkeys derived from it."""

    master: bytes = field(repr=False)
    source: str = ""  # where it was read from, for messages (never the key itself)

    def __post_init__(self) -> None:
        if len(self.master) != KEY_BYTES:
            raise SecretKeyError(
                f"the workspace secret{self._from()} is {len(self.master)} bytes; it must be "
                f"{KEY_BYTES} (base64 of 32 random bytes, as `portrait init` writes it)"
            )

    def _from(self) -> str:
        return f" ({self.source})" if self.source else ""

    @cached_property
    def enc_key(self) -> bytes:
        return _derive(self.master, "pii-aes-256-gcm/v1")

    @cached_property
    def mac_key(self) -> bytes:
        return _derive(self.master, "pseudonym-hmac-sha256/v1")

    @cached_property
    def nonce_key(self) -> bytes:
        return _derive(self.master, "pii-nonce/v1")

    def subkey(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose`` (any other use of the secret: each its own key)."""
        return _derive(self.master, purpose)

    @cached_property
    def key_id(self) -> str:
        """A public name for this key (16 hex digits of a derived value)."""
        return hashlib.sha256(_derive(self.master, "key-id/v1")).hexdigest()[:16]


def encode_key(master: bytes) -> str:
    return base64.b64encode(master).decode("ascii")


def decode_key(text: str, source: str) -> WorkspaceSecret:
    """The secret written as base64 in ``text`` (from ``source``, named in errors)."""
    try:
        master = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise SecretKeyError(
            f"the workspace secret in {source} is not base64; it must hold base64 of 32 random "
            "bytes, e.g. from `python -c 'import os,base64;print(base64.b64encode(os.urandom(32))"
            ".decode())'`"
        ) from e
    return WorkspaceSecret(master, source=source)


def new_secret(source: str = "") -> WorkspaceSecret:
    return WorkspaceSecret(secrets.token_bytes(KEY_BYTES), source=source)


def _write_new(path: Path, secret: WorkspaceSecret) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(encode_key(secret.master) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)  # whatever the umask did


def write_key_file(path: Path, secret: WorkspaceSecret) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (0600 from the start: the file
    never exists with wider permissions); ``FileExistsError`` if the file exists.

    Atomic: the key is written and synced to a temporary file of this process, then linked
    to ``path``, which fails if ``path`` exists. So ``path`` appears complete or not at all,
    and of two processes (or threads) making it at once exactly one wins; the other reads
    the winner's key (see :func:`load_secret`)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    _write_new(temp, secret)
    try:
        os.link(temp, path)  # never replaces an existing file
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: exclusive create in place
        _write_new(path, secret)
    finally:
        temp.unlink(missing_ok=True)


def key_file(root: Path) -> Path:
    return root / SECRET_FILE


def env_secret() -> WorkspaceSecret | None:
    text = os.environ.get(SECRET_ENV)
    if not text:
        return None
    return decode_key(text, f"${SECRET_ENV}")


def load_secret(root: Path, create: bool = False) -> WorkspaceSecret:
    """The workspace secret: ``$PORTRAIT_SECRET_KEY`` if set, else ``root/secret.key``;
    with ``create`` a missing key file is made (0600). Otherwise a missing key is an error
    that says where it was looked for."""
    from_env = env_secret()
    if from_env is not None:
        return from_env
    path = key_file(root)
    if path.exists():
        return decode_key(path.read_text(encoding="ascii"), str(path))
    if not create:
        raise SecretKeyError(
            f"no workspace secret: {path} does not exist and ${SECRET_ENV} is not set. The PII "
            "in this warehouse is encrypted with it: restore the key file from your backup "
            f"(or set ${SECRET_ENV}); without it phones, e-mails, names, addresses and birth "
            "dates cannot be read, everything else can"
        )
    with contextlib.suppress(FileExistsError):  # made by another process meanwhile: theirs
        write_key_file(path, new_secret(str(path)))
    return decode_key(path.read_text(encoding="ascii"), str(path))
