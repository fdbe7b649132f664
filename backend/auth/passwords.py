"""Argon2id password hashing, run off the event loop (it is deliberately slow)."""

from __future__ import annotations

import os
import secrets

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults follow RFC 9106's second recommended profile (64 MiB, t=3, p=4).
# The test suite alone may ask for a cheap profile (FIELDQ_PASSWORD_HASH_PROFILE=test) so it
# can create hundreds of users; load_settings() refuses that profile in prod.
HASH_PROFILE = os.environ.get("FIELDQ_PASSWORD_HASH_PROFILE", "standard")
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if HASH_PROFILE == "test"
    else PasswordHasher()
)
# Verified when the username is unknown, so timing does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(_verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def generate_temporary_password() -> str:
    return secrets.token_urlsafe(12)
