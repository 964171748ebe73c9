"""The erasure key: the tombstones' own HMAC key, stable across workspace key rotations.

A tombstone (``erased_identifiers``) keeps the keyed pseudonym of an erased identifier, never the
identifier: ingest refuses a record whose id has one, and ``residue`` finds an erasure's other
ids by them. Were the pseudonyms under the workspace secret's own subkey,
``portrait privacy rotate-key`` (which cannot recompute them: the ids are gone) would silently
void every tombstone. So they are under the *erasure key*, 32 random bytes made by the first
erasure and kept in the warehouse sealed (AES-256-GCM) under a subkey of the workspace secret,
one seal per workspace key (``erasure_keys``): a rotation seals it under the new key before the
new key takes the old one's place and then drops the old seal, as the audit log does with its
own key (``portrait.audit.keys``). A copy of the warehouse alone cannot compute a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portrait.security.secrets import KEY_BYTES, SecretKeyError, WorkspaceSecret

SEAL_PURPOSE = "erasure-key-seal/v1"
KIND = "erased"  # the kind the pseudonym is taken of (see ``pseudonym``)


def new_erasure_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def pseudonym(key: bytes, identifier: str) -> str:
    """The tombstone of ``identifier``: hex HMAC-SHA256 of ``erased\\0<id>`` under ``key``."""
    return hmac.new(key, f"{KIND}\x00{identifier}".encode(), hashlib.sha256).hexdigest()


def _aad(secret: WorkspaceSecret) -> bytes:
    return f"erasure-key\x00{secret.key_id}".encode()


def seal(key: bytes, secret: WorkspaceSecret) -> bytes:
    """``key`` encrypted under ``secret`` (nonce | ciphertext | tag), bound to its key id."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(secret.subkey(SEAL_PURPOSE)).encrypt(nonce, key, _aad(secret))


def unseal(sealed: dict[str, bytes], secret: WorkspaceSecret) -> bytes:
    """The erasure key from its seals (workspace key id -> sealed key)."""
    if secret.key_id not in sealed:
        raise SecretKeyError(
            f"the erasure key is sealed under workspace key {', '.join(sorted(sealed))}, not "
            f"under the workspace secret in use ({secret.key_id}): restore the secret.key this "
            "workspace was used with (`portrait privacy rotate-key` carries the key over)"
        )
    box = sealed[secret.key_id]
    try:
        return AESGCM(secret.subkey(SEAL_PURPOSE)).decrypt(box[:12], box[12:], _aad(secret))
    except Exception as e:  # InvalidTag: altered
        raise SecretKeyError(
            f"the erasure key sealed under workspace key {secret.key_id} does not open with it: "
            "the warehouse's erasure_keys table was altered"
        ) from e
