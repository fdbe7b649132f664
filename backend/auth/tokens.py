"""Access tokens (short-lived JWTs) and refresh tokens (opaque, rotated, stored hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import jwt

from backend.db import utcnow

ISSUER = "fieldq"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 10


def derive_key(secret_key: str, purpose: str) -> bytes:
    """One subkey per purpose, so a token signed for one use never verifies for another."""
    return hmac.new(secret_key.encode(), f"fieldq:{purpose}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    client_id: UUID | None
    role: str
    expires_at: datetime


class InvalidToken(Exception):
    pass


def issue_access_token(
    secret_key: str, *, user_id: UUID, session_id: UUID, client_id: UUID | None, role: str, ttl: int
) -> str:
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "typ": "access",
        "sub": str(user_id),
        "sid": str(session_id),
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": uuid4().hex,
    }
    if client_id is not None:
        claims["cid"] = str(client_id)
    return jwt.encode(claims, derive_key(secret_key, "access-token"), algorithm=ALGORITHM)


def decode_access_token(secret_key: str, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            derive_key(secret_key, "access-token"),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "sid", "typ"]},
        )
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return AccessClaims(
            user_id=UUID(claims["sub"]),
            session_id=UUID(claims["sid"]),
            client_id=UUID(claims["cid"]) if claims.get("cid") else None,
            role=str(claims.get("role", "")),
            expires_at=datetime.fromtimestamp(claims["exp"]).astimezone(),
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the access token has expired") from exc
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken("the access token is invalid") from exc


def new_refresh_token() -> tuple[str, str]:
    """A fresh opaque refresh token and the hash stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
