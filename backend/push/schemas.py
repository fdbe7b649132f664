"""Request and response bodies of the Web Push endpoints (msgspec, strict, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import SINGLE_LINE_PATTERN, Request
from backend.push.models import ENDPOINT_MAX, USER_AGENT_MAX


class SubscriptionKeys(Request, kw_only=True):
    p256dh: Annotated[str, Meta(min_length=1, max_length=200)]
    auth: Annotated[str, Meta(min_length=1, max_length=100)]


class SubscriptionCreate(Request, kw_only=True):
    """The browser's ``PushSubscription.toJSON()``, plus the installation's id and user agent."""

    endpoint: Annotated[str, Meta(min_length=1, max_length=ENDPOINT_MAX)]
    keys: SubscriptionKeys
    # Milliseconds since the epoch when the subscription expires (browsers mostly send null).
    expiration_time: Annotated[float, Meta(ge=0, le=1e15)] | None = msgspec.field(
        default=None, name="expirationTime"
    )
    client_id: UUID | None = None
    user_agent: Annotated[str, Meta(max_length=USER_AGENT_MAX, pattern=SINGLE_LINE_PATTERN)] = ""


class SubscriptionRead(msgspec.Struct, kw_only=True):
    id: UUID
    endpoint: str
    client_id: UUID | None
    user_agent: str
    expires_at: datetime | None
    created_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None
    failures: int


class VapidPublicKey(msgspec.Struct, kw_only=True):
    public_key: str  # the applicationServerKey for PushManager.subscribe (base64url)


class KindRead(msgspec.Struct, kw_only=True):
    kind: str
    description: str
    urgency: str
    ttl: int


class PreferencesUpdate(Request, kw_only=True):
    muted: Annotated[list[Annotated[str, Meta(max_length=40)]], Meta(max_length=20)]


class PreferencesRead(msgspec.Struct, kw_only=True):
    muted: list[str]
    kinds: list[KindRead]  # every kind that can be muted


class TestSent(msgspec.Struct, kw_only=True):
    queued: int  # notifications queued: one per subscription of yours
