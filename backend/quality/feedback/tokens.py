"""Survey link tokens: ``<survey id hex>.<expiry unix>.<nonce>.<HMAC-SHA256, base64url>``.

The token is the customer's capability to answer one survey with no login. It names the survey row
and its expiry, and is signed with a key derived from the server's secret for this purpose only, so
nothing else signed with that secret verifies as a survey link. The nonce is stored on the row: a
link is only valid for the row that issued it, and a second link for the same job differs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from backend.auth.tokens import derive_key

PURPOSE = "survey-v1"
MAX_TOKEN_LENGTH = 200
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16,40})\.([A-Za-z0-9_-]{43})$")


class BadToken(Exception):
    """Not a survey link this server signed (garbled, truncated, tampered with)."""


@dataclass(frozen=True)
class SurveyClaims:
    survey_id: UUID
    expires_at: datetime
    nonce: str


def new_nonce() -> str:
    return secrets.token_urlsafe(18)  # 24 characters of [A-Za-z0-9_-]


def _signature(secret_key: str, payload: str) -> str:
    mac = hmac.new(derive_key(secret_key, PURPOSE), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(secret_key: str, survey_id: UUID, expires_at: datetime, nonce: str) -> str:
    payload = f"{survey_id.hex}.{int(expires_at.timestamp())}.{nonce}"
    return f"{payload}.{_signature(secret_key, payload)}"


def read_token(secret_key: str, token: str) -> SurveyClaims:
    """The claims of a token this server signed; ``BadToken`` otherwise. Expiry is the caller's to
    check (an expired link gets its own page, naming the date)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("too long")
    found = _TOKEN.match(token)
    if found is None:
        raise BadToken("not a survey token")
    survey_hex, expiry, nonce, signature = found.groups()
    expected = _signature(secret_key, f"{survey_hex}.{expiry}.{nonce}")
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise BadToken("bad signature")
    try:
        expires_at = datetime.fromtimestamp(int(expiry), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadToken("bad expiry") from exc
    return SurveyClaims(UUID(hex=survey_hex), expires_at, nonce)
