"""The audit log's own key: stable across workspace key rotations, sealed by the workspace key.

The log names persons by a keyed pseudonym and keys its head (the last entry's position and
hash) so that a cut tail shows. Both use the *audit key*, 32 bytes that never change for the
life of the log: were they derived from the workspace secret, ``portrait privacy rotate-key``
would change every pseudonym (``portrait audit --person X`` would no longer find X's old
entries) and the head would no longer verify.

The audit key is kept in the log's file sealed (AES-256-GCM) under a subkey of the workspace
secret: a copy of ``audit.sqlite`` alone reveals neither the pseudonym key nor how to forge a
head. A rotation seals it under the new workspace key too, before the new key takes the old
one's place (see ``PrivacyService.rotate_key``), and then drops the old seal.

A log made before this key existed keeps its pseudonyms: its audit key is the pseudonym key of
the workspace secret in force when this version first opens it (the key its entries were
written under).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portrait.security.secrets import KEY_BYTES, SecretKeyError, WorkspaceSecret

SEAL_PURPOSE = "audit-key-seal/v1"


class AuditKeys:
    """What the audit key does: pseudonyms, and the MACs of the head and the prune anchor."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an audit key is {KEY_BYTES} bytes, not {len(key)}")
        self._pseudonym_key = key  # the formula of PiiCipher.pseudonym (older logs match)
        self._mark_key = hmac.new(key, b"portrait/audit-head/v1", hashlib.sha256).digest()

    def pseudonym(self, kind: str, value: str) -> str:
        """HMAC-SHA256 of ``kind`` and ``value`` (hex)."""
        message = f"{kind}\x00{value}".encode()
        return hmac.new(self._pseudonym_key, message, hashlib.sha256).hexdigest()

    def mark(self, what: str, seq: int, digest: str) -> str:
        """The MAC of a position in the chain: ``what`` is ``head`` or ``anchor``."""
        message = f"{what}\x00{seq}\x00{digest}".encode()
        return hmac.new(self._mark_key, message, hashlib.sha256).hexdigest()

    def holds(self, what: str, seq: int, digest: str, mac: str | None) -> bool:
        return mac is not None and hmac.compare_digest(self.mark(what, seq, digest), mac)


def new_audit_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def seal_key(key: bytes, secret: WorkspaceSecret) -> bytes:
    """``key`` encrypted under ``secret`` (nonce | ciphertext | tag), bound to its key id."""
    nonce = secrets.token_bytes(12)
    aad = f"audit-key\x00{secret.key_id}".encode()
    return nonce + AESGCM(secret.subkey(SEAL_PURPOSE)).encrypt(nonce, key, aad)


def unseal_key(sealed: bytes, secret: WorkspaceSecret) -> bytes:
    aad = f"audit-key\x00{secret.key_id}".encode()
    try:
        return AESGCM(secret.subkey(SEAL_PURPOSE)).decrypt(sealed[:12], sealed[12:], aad)
    except Exception as e:  # InvalidTag: not sealed by this secret, or altered
        raise SecretKeyError(
            f"the audit log's key, sealed under workspace key {secret.key_id}, does not open "
            "with it: the audit file was altered"
        ) from e


def key_for(sealed: dict[str, bytes], secret: WorkspaceSecret) -> bytes:
    """The audit key from the seals stored in the log (key id -> sealed key)."""
    if secret.key_id in sealed:
        return unseal_key(sealed[secret.key_id], secret)
    raise SecretKeyError(
        f"the audit log's key is sealed under workspace key {', '.join(sorted(sealed))}, not "
        f"under the workspace secret in use ({secret.key_id}, {secret.source or 'given'}): "
        "restore the secret.key this workspace was used with (or set $PORTRAIT_SECRET_KEY to "
        "it); `portrait privacy rotate-key` carries the audit key over to a new key"
    )
