"""The workspace secret (security/secrets.py) and the PII cipher (security/pii.py): where the
key comes from, its file's permissions, round trips, and clear errors for the wrong key."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from portrait.security.pii import PiiCipher, PiiDecryptError, is_token, token_key_id
from portrait.security.secrets import (
    SECRET_ENV,
    SecretKeyError,
    WorkspaceSecret,
    load_secret,
    new_secret,
)


def test_a_new_key_file_is_owner_only_and_read_back(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    made = load_secret(tmp_path, create=True)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path).master == made.master
    assert len(base64.b64decode(path.read_text())) == 32


def test_the_environment_variable_wins_over_the_file(tmp_path: Path, monkeypatch) -> None:
    load_secret(tmp_path, create=True)
    other = new_secret()
    monkeypatch.setenv(SECRET_ENV, base64.b64encode(other.master).decode())
    assert load_secret(tmp_path).key_id == other.key_id


def test_a_missing_key_is_an_error_that_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SecretKeyError, match=r"secret\.key does not exist.*restore"):
        load_secret(tmp_path)


@pytest.mark.parametrize("text", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_refused(tmp_path: Path, monkeypatch, text: str) -> None:
    monkeypatch.setenv(SECRET_ENV, text)
    with pytest.raises(SecretKeyError, match=SECRET_ENV):
        load_secret(tmp_path)


def test_subkeys_differ_from_each_other_and_from_the_master() -> None:
    s = WorkspaceSecret(bytes(range(32)))
    keys = {s.master, s.enc_key, s.mac_key, s.nonce_key}
    assert len(keys) == 4 and all(len(k) == 32 for k in keys)
    assert s.key_id == WorkspaceSecret(bytes(range(32))).key_id != new_secret().key_id


def test_round_trip_and_tokens_name_their_key() -> None:
    c = PiiCipher(new_secret())
    token = c.encrypt("phone", "u1", "+86 138-0013-8000")
    assert is_token(token) and token_key_id(token) == c.key_id
    assert "0013-8000" not in token
    assert c.decrypt("phone", "u1", token) == "+86 138-0013-8000"
    assert c.encrypt("name", "u1", None) is None and c.decrypt("name", "u1", None) is None
    assert c.decrypt("name", "u1", c.encrypt("name", "u1", "张三")) == "张三"


def test_same_value_same_user_same_token_but_not_across_users() -> None:
    c = PiiCipher(new_secret())
    assert c.encrypt("email", "u1", "a@qq.com") == c.encrypt("email", "u1", "a@qq.com")
    assert c.encrypt("email", "u1", "a@qq.com") != c.encrypt("email", "u2", "a@qq.com")
    assert c.encrypt("email", "u1", "a@qq.com") != c.encrypt("name", "u1", "a@qq.com")


def test_the_wrong_key_is_a_clear_error() -> None:
    token = PiiCipher(new_secret()).encrypt("email", "u1", "a@qq.com")
    other = PiiCipher(new_secret(source="/ws/secret.key"))
    with pytest.raises(PiiDecryptError, match=r"encrypted with key .* not the one"):
        other.decrypt("email", "u1", token)


def test_a_token_moved_to_another_row_or_altered_does_not_decrypt() -> None:
    c = PiiCipher(new_secret())
    token = c.encrypt("email", "u1", "a@qq.com")
    with pytest.raises(PiiDecryptError, match="does not authenticate"):
        c.decrypt("email", "u2", token)
    with pytest.raises(PiiDecryptError, match="does not authenticate"):
        c.decrypt("name", "u1", token)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(PiiDecryptError):
        c.decrypt("email", "u1", flipped)


def test_phone_hmac_is_keyed_and_ignores_formatting() -> None:
    a, b = PiiCipher(new_secret()), PiiCipher(new_secret())
    assert a.phone_hmac("+86 138-0013-8000") == a.phone_hmac("13800138000")
    assert a.phone_hmac("13800138000") != b.phone_hmac("13800138000")
    # not the unsalted SHA-256 an attacker could compute for every number
    import hashlib

    assert a.phone_hmac("13800138000") != hashlib.sha256(b"13800138000").hexdigest()
    assert a.phone_hmac("1234") is None and a.phone_hmac(None) is None
