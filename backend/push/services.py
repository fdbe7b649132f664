"""Web Push use cases: subscriptions, muted kinds, and writing notifications into the outbox.

``enqueue`` is what the event listeners call inside the transaction of the change they announce: it
writes one outbox row per subscription of each recipient who has not muted the kind (nobody with no
subscription gets a row), and marks the still-pending rows with the same topic on those subscriptions
``superseded`` (the newest news about a job replaces the older, as the push service itself does for
undelivered messages with the same ``Topic``). Knows nothing of HTTP.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import User
from backend.auth.services import CurrentUser
from backend.db import begin_write, insert_unless_present, utcnow
from backend.errors import DomainError, NotFound
from backend.push.kinds import KINDS, MUTABLE_KINDS, topic_header
from backend.push.messages import render
from backend.push.models import ENDPOINT_MAX, Notification, NotificationStatus, PushMute, PushSubscription

MAX_SUBSCRIPTIONS_PER_USER = 20
# Set on the session when its transaction wrote outbox rows: the commit then wakes the worker.
OUTBOX_WRITTEN_KEY = "fieldq_push_outbox_written"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BadSubscription(DomainError):
    """A subscription body the browser could not have made (400, naming the field)."""

    status_code = 400
    code = "INVALID_INPUT"


@dataclass(frozen=True)
class Message:
    """What to tell people: a kind, a template's parameters, where the tap leads, the logical topic."""

    kind: str
    template: str
    params: dict[str, Any]
    url: str
    topic: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriptionInput:
    endpoint: str
    p256dh: str
    auth: str
    expiration_time: float | None = None
    client_id: UUID | None = None
    user_agent: str = ""


# --- validation of what the browser sends ------------------------------------------------------------


def _b64url_decode(value: str, name: str) -> bytes:
    text = value.strip()
    if not text or any(
        c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=" for c in text
    ):
        raise BadSubscription(f"{name} must be base64url", field=name)
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadSubscription(f"{name} must be base64url", field=name) from exc


def check_p256dh(value: str) -> str:
    raw = _b64url_decode(value, "keys.p256dh")
    if len(raw) != 65 or raw[0] != 4:
        raise BadSubscription(
            "keys.p256dh must be a 65-byte uncompressed P-256 public key (base64url)", field="keys.p256dh"
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise BadSubscription("keys.p256dh is not a point on the P-256 curve", field="keys.p256dh") from exc
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check_auth(value: str) -> str:
    raw = _b64url_decode(value, "keys.auth")
    if len(raw) != 16:
        raise BadSubscription("keys.auth must be a 16-byte secret (base64url)", field="keys.auth")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check_endpoint(endpoint: str, *, allow_local_http: bool) -> str:
    """A push service URL: https (plain http only to this machine outside prod, for a local receiver);
    never a private or loopback address in prod, where the server would post to its own network."""
    if len(endpoint) > ENDPOINT_MAX:
        raise BadSubscription(f"endpoint is longer than {ENDPOINT_MAX} characters", field="endpoint")
    if any(ord(c) < 33 or ord(c) == 127 for c in endpoint):
        raise BadSubscription("endpoint must not contain spaces or control characters", field="endpoint")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise BadSubscription("endpoint is not a URL", field="endpoint") from exc
    if not host or parts.username or parts.password:
        raise BadSubscription(
            "endpoint must be an absolute URL with a host and no credentials", field="endpoint"
        )
    local = host in LOCAL_HOSTS
    if parts.scheme == "http" and local and allow_local_http:
        return endpoint
    if parts.scheme != "https":
        raise BadSubscription("endpoint must be an https URL of a push service", field="endpoint")
    if not allow_local_http:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if local or (address is not None and not address.is_global):
            raise BadSubscription("endpoint must be a public push service", field="endpoint")
    return endpoint


def check_muted(kinds: Iterable[str]) -> list[str]:
    muted: list[str] = []
    for index, kind in enumerate(kinds):
        if kind not in KINDS:
            raise DomainError(
                f"unknown notification kind {kind!r}; known kinds: {', '.join(MUTABLE_KINDS)}",
                field=f"muted[{index}]",
                code="INVALID_INPUT",
            )
        if kind not in MUTABLE_KINDS:
            raise DomainError(
                f"{kind!r} notifications cannot be muted", field=f"muted[{index}]", code="INVALID_INPUT"
            )
        if kind not in muted:
            muted.append(kind)
    return sorted(muted)


# --- the outbox ---------------------------------------------------------------------------------------


async def enqueue(
    session: AsyncSession, recipients: Iterable[UUID | None], message: Message, *, now: datetime | None = None
) -> int:
    """Write ``message`` for every subscription of ``recipients`` (active, kind not muted); returns
    how many outbox rows were written. Runs in the caller's transaction."""
    people = {r for r in recipients if r is not None}
    if not people:
        return 0
    kind = KINDS[message.kind]
    query = (
        select(PushSubscription.id, PushSubscription.user_id, User.locale)
        .join(User, User.id == PushSubscription.user_id)
        .where(PushSubscription.user_id.in_(people), User.is_active.is_(True))
    )
    if kind.mutable:
        muted = select(PushMute.user_id).where(
            PushMute.user_id == PushSubscription.user_id, PushMute.kind == kind.name
        )
        query = query.where(~exists(muted))
    targets = (await session.execute(query)).all()
    if not targets:
        return 0
    now = now or utcnow()
    topic = topic_header(message.topic)
    await session.execute(
        update(Notification)
        .where(
            Notification.subscription_id.in_([t.id for t in targets]),
            Notification.topic == topic,
            Notification.status == NotificationStatus.pending,
        )
        .values(status=NotificationStatus.superseded, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    rows = []
    for subscription_id, user_id, locale in targets:
        notification_id = uuid4()
        title, body = render(message.template, locale, message.params)
        rows.append(
            {
                "id": notification_id,
                "created_at": now,
                "updated_at": now,
                "user_id": user_id,
                "subscription_id": subscription_id,
                "kind": kind.name,
                "topic": topic,
                "urgency": kind.urgency,
                "ttl": kind.ttl,
                "payload": {
                    "id": str(notification_id),
                    "kind": kind.name,
                    "title": title,
                    "body": body,
                    "url": message.url,
                    "tag": message.topic,
                    "data": message.data,
                    "created_at": now.isoformat(),
                },
                "status": NotificationStatus.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "claimed_until": None,
                "claim_token": None,
                "last_status": None,
                "last_error": "",
                "sent_at": None,
                "expires_at": now + timedelta(seconds=kind.ttl),
            }
        )
    await session.execute(Notification.__table__.insert(), rows)
    session.sync_session.info[OUTBOX_WRITTEN_KEY] = True
    return len(rows)


# --- subscriptions and preferences --------------------------------------------------------------------


class PushService:
    def __init__(self, session: AsyncSession, *, allow_local_http: bool = False) -> None:
        self.session = session
        self.allow_local_http = allow_local_http

    async def subscribe(self, current: CurrentUser, data: SubscriptionInput) -> tuple[PushSubscription, bool]:
        """Store the browser's subscription for ``current``; the same endpoint again updates it (and
        moves it to ``current`` when someone else had it: the device changed hands, and what was still
        waiting for the previous person is dropped). Returns the subscription and whether it is new."""
        endpoint = check_endpoint(data.endpoint, allow_local_http=self.allow_local_http)
        p256dh, auth = check_p256dh(data.p256dh), check_auth(data.auth)
        expires_at = None
        if data.expiration_time is not None:
            try:
                expires_at = datetime.fromtimestamp(data.expiration_time / 1000, UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise BadSubscription("expirationTime is out of range", field="expirationTime") from exc
        now = utcnow()
        await begin_write(self.session)
        inserted = await self.session.execute(
            insert_unless_present(self.session, PushSubscription.__table__, unique=["endpoint"]).values(
                id=uuid4(),
                created_at=now,
                updated_at=now,
                user_id=current.id,
                client_id=data.client_id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                user_agent=data.user_agent,
                expires_at=expires_at,
                failures=0,
            )
        )
        created = inserted.rowcount == 1
        subscription = await self.session.scalar(
            select(PushSubscription)
            .where(PushSubscription.endpoint == endpoint)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert subscription is not None
        if not created:
            if subscription.user_id != current.id:
                await self.session.execute(
                    delete(Notification).where(
                        Notification.subscription_id == subscription.id,
                        Notification.status == NotificationStatus.pending,
                    )
                )
            subscription.user_id = current.id
            subscription.client_id = data.client_id
            subscription.p256dh = p256dh
            subscription.auth = auth
            subscription.user_agent = data.user_agent
            subscription.expires_at = expires_at
            subscription.failures = 0
            subscription.updated_at = now
            await self.session.flush()
        await self._keep_newest(current.id)
        return subscription, created

    async def _keep_newest(self, user_id: UUID) -> None:
        """At most MAX_SUBSCRIPTIONS_PER_USER: a browser that was reinstalled many times leaves
        subscriptions nobody unsubscribed; the least recently used go first."""
        count = await self.session.scalar(
            select(func.count()).select_from(PushSubscription).where(PushSubscription.user_id == user_id)
        )
        if (count or 0) <= MAX_SUBSCRIPTIONS_PER_USER:
            return
        keep = (
            select(PushSubscription.id)
            .where(PushSubscription.user_id == user_id)
            .order_by(
                func.coalesce(PushSubscription.last_success_at, PushSubscription.updated_at).desc(),
                PushSubscription.id,
            )
            .limit(MAX_SUBSCRIPTIONS_PER_USER)
        )
        await self.session.execute(
            delete(PushSubscription)
            .where(PushSubscription.user_id == user_id, PushSubscription.id.not_in(keep))
            .execution_options(synchronize_session=False)
        )

    async def list_subscriptions(self, current: CurrentUser) -> list[PushSubscription]:
        rows = await self.session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id == current.id)
            .order_by(PushSubscription.created_at, PushSubscription.id)
        )
        return list(rows)

    async def unsubscribe(self, current: CurrentUser, subscription_id: UUID) -> None:
        """Remove one of ``current``'s own subscriptions (and what was waiting for it)."""
        subscription = await self.session.get(PushSubscription, subscription_id)
        if subscription is None or subscription.user_id != current.id:
            raise NotFound("no such push subscription of yours", field="subscription_id")
        await self.session.execute(
            delete(Notification).where(Notification.subscription_id == subscription.id)
        )
        await self.session.delete(subscription)
        await self.session.flush()

    async def muted(self, current: CurrentUser) -> list[str]:
        rows = await self.session.scalars(
            select(PushMute.kind).where(PushMute.user_id == current.id).order_by(PushMute.kind)
        )
        return list(rows)

    async def set_muted(self, current: CurrentUser, kinds: Iterable[str]) -> list[str]:
        muted = check_muted(kinds)
        await begin_write(self.session)
        await self.session.execute(delete(PushMute).where(PushMute.user_id == current.id))
        if muted:
            await self.session.execute(
                PushMute.__table__.insert(), [{"user_id": current.id, "kind": kind} for kind in muted]
            )
        return muted

    async def send_test(self, current: CurrentUser) -> int:
        """A test notification to every subscription of ``current``; how many were queued."""
        return await enqueue(
            self.session,
            [current.id],
            Message(
                kind="test",
                template="test",
                params={},
                url="/#/",
                topic=f"test:{current.id}",
            ),
        )
