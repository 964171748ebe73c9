"""API keys: random tokens whose secret part is stored only as a SHA-256 hash.

A token looks like ``pt_<key id>_<secret>``. The key id finds the stored row; the secret is
compared by hash in constant time. Secrets carry 256 bits of randomness, so a fast hash is
enough (there is nothing to brute-force, unlike a password).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from portrait.security import roles

ROLES = tuple(roles.ROLES)
PREFIX = "pt"


class InvalidRoleError(ValueError):
    pass


@dataclass(frozen=True)
class NewKey:
    key_id: str
    token: str
    secret_hash: str
    role: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(role: str) -> NewKey:
    """A fresh key for ``role``; the token is shown once and never stored."""
    if role not in ROLES:
        raise InvalidRoleError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret), role)


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` holds the permission ``needed`` (see :mod:`portrait.security.roles`)."""
    return roles.allows(role, needed)
