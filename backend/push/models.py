"""Web Push tables: the browsers' subscriptions, the kinds each person muted, and the notification outbox.

None of these is synced to the phones (plain ``Entity``, not ``SyncedEntity``): they are server-side
plumbing. An outbox row is written in the same transaction as the change it announces
(``backend.push.listeners``) and delivered afterwards by the worker (``backend.push.worker``), one row per
(recipient, subscription), so retries, backoff and a push service's ``410 Gone`` are per endpoint.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.db import Entity

ENDPOINT_MAX = 2048
USER_AGENT_MAX = 300
TOPIC_MAX = 32  # RFC 8030: the Topic header is at most 32 characters of the URL-safe base64 alphabet
ERROR_MAX = 300


class NotificationStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt (``next_attempt_at``)
    sending = "sending"  # claimed by a worker until ``claimed_until``; claimable again after that
    sent = "sent"  # the push service accepted it (2xx)
    failed = "failed"  # refused for good (4xx other than 404/410/429) or out of attempts
    expired = "expired"  # its TTL passed before the push service accepted it
    superseded = "superseded"  # a newer notification with the same topic replaced it before it was sent


class PushSubscription(Entity, table=True):
    """A browser's ``PushSubscription`` (one per installation and user; several per user)."""

    __tablename__ = "push_subscription"

    user_id: UUID = Field(foreign_key="user.id", index=True, nullable=False, ondelete="CASCADE")
    # The PWA's installation id (SYNC.md's client id), when it sends one: a device's subscriptions.
    client_id: UUID | None = Field(default=None, index=True)
    endpoint: str = Field(max_length=ENDPOINT_MAX, unique=True, nullable=False)
    p256dh: str = Field(max_length=100, nullable=False)  # base64url, 65-byte uncompressed P-256 point
    auth: str = Field(max_length=40, nullable=False)  # base64url, 16 bytes
    user_agent: str = Field(default="", max_length=USER_AGENT_MAX, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)  # the browser's expirationTime
    last_success_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    last_failure_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    failures: int = Field(default=0, nullable=False)  # consecutive failed attempts; reset by a success


class PushMute(SQLModel, table=True):
    """A kind of notification a person does not want (see ``backend.push.kinds``)."""

    __tablename__ = "push_mute"

    user_id: UUID = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(primary_key=True, max_length=40)


class Notification(Entity, table=True):
    """The outbox: one notification for one subscription, until it is sent, fails, expires or is replaced."""

    __tablename__ = "push_notification"
    __table_args__ = (
        # The worker's claim: due rows in order of their next attempt.
        Index("ix_push_notification_due", "status", "next_attempt_at"),
        # Topic replacement: the still-pending rows of one subscription with one topic.
        Index("ix_push_notification_topic", "subscription_id", "topic"),
    )

    user_id: UUID = Field(foreign_key="user.id", index=True, nullable=False, ondelete="CASCADE")
    subscription_id: UUID = Field(foreign_key="push_subscription.id", nullable=False, ondelete="CASCADE")
    kind: str = Field(max_length=40, nullable=False)
    topic: str = Field(max_length=TOPIC_MAX, nullable=False)  # the Topic header: a hash of the logical topic
    urgency: str = Field(default="normal", max_length=10, nullable=False)  # very-low | low | normal | high
    ttl: int = Field(nullable=False)  # seconds the push service may keep it for an offline device
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=NotificationStatus.pending, max_length=12, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    # The claim of the worker sending it: a lease, so a process that died mid-send does not strand it.
    claimed_until: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    claim_token: UUID | None = Field(default=None)
    last_status: int | None = Field(default=None)  # the push service's last HTTP status
    last_error: str = Field(default="", max_length=ERROR_MAX, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    expires_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)  # created + ttl
