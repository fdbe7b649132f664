from __future__ import annotations

import uuid

import jwt
import pytest

from backend.auth import passwords, tokens

SECRET = "unit-secret-" + "q" * 40


def _issue(**overrides):
    args = dict(user_id=uuid.uuid4(), session_id=uuid.uuid4(), client_id=None, role="technician", ttl=60)
    args.update(overrides)
    return tokens.issue_access_token(SECRET, **args)


def test_access_token_round_trip_carries_session_and_client():
    client_id = uuid.uuid4()
    claims = tokens.decode_access_token(SECRET, _issue(client_id=client_id, role="supervisor"))
    assert claims.client_id == client_id
    assert claims.role == "supervisor"


def test_expired_tampered_and_wrong_purpose_tokens_are_refused():
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.decode_access_token(SECRET, _issue(ttl=-60))
    token = _issue()
    header, payload, signature = token.split(".")
    with pytest.raises(tokens.InvalidToken):
        tokens.decode_access_token(SECRET, f"{header}.{payload}x.{signature}")
    # Signed with the raw secret instead of the access-token subkey: refused.
    raw = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "typ": "access",
            "iss": "fieldq",
            "iat": 0,
            "exp": 4_000_000_000,
        },
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(tokens.InvalidToken):
        tokens.decode_access_token(SECRET, raw)
    # "alg: none" is never accepted.
    unsigned = jwt.encode({"sub": "x"}, None, algorithm="none")
    with pytest.raises(tokens.InvalidToken):
        tokens.decode_access_token(SECRET, unsigned)


def test_subkeys_differ_per_purpose():
    assert tokens.derive_key(SECRET, "access-token") != tokens.derive_key(SECRET, "sync-cursor")


def test_refresh_tokens_are_random_and_stored_hashed():
    token, stored = tokens.new_refresh_token()
    other, _ = tokens.new_refresh_token()
    assert token != other and len(token) >= 40
    assert stored == tokens.hash_refresh_token(token) and token not in stored


async def test_argon2_hash_and_verify():
    hashed = await passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert await passwords.verify_password(hashed, "correct horse battery")
    assert not await passwords.verify_password(hashed, "wrong horse battery")
    assert not await passwords.verify_password(None, "anything")
    assert not await passwords.verify_password("not-a-hash", "anything")
