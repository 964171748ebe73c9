"""PII encryption at rest (AES-256-GCM) and keyed pseudonyms (HMAC-SHA256).

The ``users`` columns in :data:`ENCRYPTED_COLUMNS` hold tokens, never the values:

    pii1:<key id>:<base64url(nonce | ciphertext | tag)>

- the key id names the workspace key that encrypted the value, so a value under another key
  (a replaced ``secret.key``, a wrong ``$PORTRAIT_SECRET_KEY``) fails with a clear error;
- the associated data binds the token to its column and its user id: a token copied into
  another column or row does not decrypt;
- the 96-bit nonce is an HMAC of (column, user id, value) under a key of its own (a
  synthetic IV, as in SIV mode): re-sending the same value for the same user gives the same
  token, so a re-sent batch still changes nothing, while two users with the same name or
  e-mail get different tokens (no equality across rows leaks). A nonce repeats only for the
  same key, column, user and value, that is for the same plaintext, where GCM reveals nothing
  beyond "unchanged".

Matching across rows uses a keyed pseudonym instead: :meth:`PiiCipher.phone_hmac` (the phone's
last 11 digits under HMAC-SHA256 with the workspace's MAC subkey), so guessing every phone
number is useless without the key.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Sequence

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portrait.security.secrets import SecretKeyError, WorkspaceSecret

# The users columns stored encrypted (the canonical model's PII columns, and the birth date:
# stored as its ISO text, decrypted into a build's temporary table for the age tags).
ENCRYPTED_COLUMNS = ("phone", "email", "name", "address", "birth_date")
TOKEN_PREFIX = "pii1:"
_NONCE = 12
_NON_DIGITS = re.compile(r"[^0-9]")


class PiiDecryptError(SecretKeyError):
    """A token that this workspace's key cannot open (another key, or tampered with)."""


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def token_key_id(token: str) -> str | None:
    """The key id a token names (None: not a token)."""
    if not is_token(token):
        return None
    return token[len(TOKEN_PREFIX) :].split(":", 1)[0]


def phone_digits(phone: str | None) -> str | None:
    """What identifies a phone: its last 11 digits (a Chinese mobile without +86 or 0086);
    None below 5 digits (no number)."""
    if phone is None:
        return None
    digits = _NON_DIGITS.sub("", phone)
    return digits[-11:] if len(digits) >= 5 else None


class PiiCipher:
    """Encrypts and decrypts the PII columns, and makes keyed pseudonyms, with one key."""

    def __init__(self, secret: WorkspaceSecret) -> None:
        self.secret = secret
        self.key_id = secret.key_id
        self._aead = AESGCM(secret.enc_key)
        self._nonce_key = secret.nonce_key
        self._mac_key = secret.mac_key
        self._prefix = f"{TOKEN_PREFIX}{self.key_id}:"

    # --- one value ------------------------------------------------------------------------
    @staticmethod
    def _aad(column: str, owner: str) -> bytes:
        return f"portrait/users.{column}\x00{owner}".encode()

    def encrypt(self, column: str, owner: str, value: str | None) -> str | None:
        """The token of ``value`` in ``column`` of ``owner``'s row (None stays None)."""
        if value is None:
            return None
        data = value.encode()
        nonce = hmac.digest(self._nonce_key, self._aad(column, owner) + b"\x00" + data, "sha256")[
            :_NONCE
        ]
        sealed = self._aead.encrypt(nonce, data, self._aad(column, owner))
        return self._prefix + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, column: str, owner: str, token: str | None) -> str | None:
        """The value a token holds (None stays None); a clear error for another key's token
        or a token altered or moved to another column or row."""
        if token is None:
            return None
        if not is_token(token):
            raise PiiDecryptError(
                f"{column} of {owner!r} is not encrypted (run `portrait privacy migrate`)"
            )
        key_id = token_key_id(token)
        if key_id != self.key_id:
            raise PiiDecryptError(
                f"{column} of {owner!r} was encrypted with key {key_id}, but the workspace "
                f"secret ({self.secret.source or 'given'}) is key {self.key_id}: the secret.key "
                "file or $PORTRAIT_SECRET_KEY is not the one this warehouse's PII was written "
                "with; restore it from your backup"
            )
        raw = base64.urlsafe_b64decode(token[len(self._prefix) :])
        try:
            data = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], self._aad(column, owner))
        except InvalidTag as e:
            raise PiiDecryptError(
                f"{column} of {owner!r} does not authenticate under key {self.key_id}: the "
                "stored value was altered, or copied from another row or column"
            ) from e
        return data.decode()

    def phone_hmac(self, phone: str | None) -> str | None:
        """The keyed pseudonym two users' phones are matched by (hex HMAC-SHA256 of the last
        11 digits); None for no number."""
        digits = phone_digits(phone)
        if digits is None:
            return None
        return self.pseudonym("phone", digits)

    def pseudonym(self, kind: str, value: str) -> str:
        """A keyed, stable pseudonym of ``value`` (hex HMAC-SHA256): the same value gives the
        same pseudonym under this key, and no one without the key can compute or reverse it."""
        return hmac.digest(self._mac_key, f"{kind}\x00{value}".encode(), "sha256").hex()

    # --- columns --------------------------------------------------------------------------
    def encrypt_column(
        self, column: str, owners: Sequence[str], values: Sequence[str | None]
    ) -> list[str | None]:
        return [self.encrypt(column, o, v) for o, v in zip(owners, values, strict=True)]

    def decrypt_column(
        self, column: str, owners: Sequence[str], tokens: Sequence[str | None]
    ) -> list[str | None]:
        return [self.decrypt(column, o, t) for o, t in zip(owners, tokens, strict=True)]

    def protect_users(self, rows: pa.Table) -> pa.Table:
        """``rows`` (``_row``, ``user_id`` and PII columns in clear) with the PII columns
        encrypted and ``phone_hash`` set to the phone's keyed HMAC."""
        owners = rows.column("user_id").to_pylist()
        out = {"_row": rows.column("_row")}
        for col in ENCRYPTED_COLUMNS:
            if col in rows.column_names:
                values = rows.column(col).to_pylist()
                out[col] = pa.array(self.encrypt_column(col, owners, values), pa.string())
        if "phone" in rows.column_names:
            out["phone_hash"] = pa.array(
                [self.phone_hmac(p) for p in rows.column("phone").to_pylist()], pa.string()
            )
        return pa.table(out)
