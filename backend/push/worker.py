"""Delivering the notification outbox: claim due rows, encrypt and send them, record what happened.

``deliver_due`` does one pass: it claims due rows in small batches (a lease, so a process that dies
mid-send does not strand them; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several app processes never
claim one row twice, ``BEGIN IMMEDIATE`` on SQLite's single writer), sends each batch concurrently
(bounded), and records the outcomes:

- 2xx: sent;
- 404/410: the subscription is gone (the browser unsubscribed or expired it): it is deleted, with
  everything still waiting for it;
- 408/429/5xx or a network error: retried with exponential backoff and jitter (honouring
  ``Retry-After``), until ``max_attempts`` (→ failed) or until the next attempt would come after the
  TTL (→ expired);
- any other status (400, 401, 403, 413…): failed, not retried.

A row whose TTL passed before it could be sent is expired without sending. Every message is encrypted
for its subscription (RFC 8291, ``aes128gcm``, by pywebpush's encoder) and signed with the server's
VAPID key (RFC 8292); TTL, Urgency and Topic headers come from the row.

``PushWorker`` runs ``deliver_due`` in the background of an app process: woken after a commit that
recorded an event it listens to (``nudge_workers``), and every few seconds for retries and other
processes' rows. ``PushRuntime`` is what the app starts and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import begin_write, utcnow
from backend.push.models import ERROR_MAX, Notification, NotificationStatus, PushSubscription
from backend.push.vapid import application_server_key, ensure_vapid_key
from backend.settings import Settings

log = logging.getLogger("fieldq.push")
NOTIFICATION = Notification.__table__
SUBSCRIPTION = PushSubscription.__table__
FINISHED = (
    NotificationStatus.sent,
    NotificationStatus.failed,
    NotificationStatus.expired,
    NotificationStatus.superseded,
)


@dataclass(frozen=True)
class DeliveryPolicy:
    batch_size: int = 50
    concurrency: int = 8
    lease_seconds: int = 120
    max_attempts: int = 8
    backoff_base: float = 30.0
    backoff_cap: float = 3600.0
    retry_after_cap: float = 24 * 3600.0
    jitter: float = 0.25  # each delay is reduced by up to this share, so retries of a burst spread out
    timeout: float = 10.0


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    gone: int = 0  # subscriptions deleted on 404/410

    def add(self, other: DeliveryReport) -> None:
        for name in ("claimed", "sent", "retried", "failed", "expired", "gone"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Claimed:
    id: UUID
    subscription_id: UUID
    endpoint: str
    p256dh: str
    auth: str
    payload: dict[str, Any]
    ttl_left: int
    urgency: str
    topic: str
    attempts: int
    expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the push service's HTTP status; None for a network error
    error: str = ""
    retry_after: float | None = None


# --- sending ------------------------------------------------------------------------------------------


class Sender:
    """Encrypts a payload for one subscription and posts it with a VAPID signature."""

    JWT_LIFETIME = 12 * 3600  # RFC 8292: at most 24 hours; a fresh one is signed with an hour left

    def __init__(self, vapid_key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        self._vapid = Vapid02(private_key=vapid_key)
        self.subject = subject
        self.public_key = application_server_key(vapid_key)
        self._tokens: dict[str, tuple[str, float]] = {}

    def authorization(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        cached = self._tokens.get(audience)
        now = time.time()
        if cached is None or cached[1] - now < 3600:
            expires = int(now) + self.JWT_LIFETIME
            header = self._vapid.sign({"aud": audience, "sub": self.subject, "exp": expires})["Authorization"]
            cached = (header, expires)
            self._tokens[audience] = cached
        return cached[0]

    def request(self, item: Claimed) -> tuple[dict[str, str], bytes]:
        """The headers and the encrypted body of ``item``'s push request."""
        body = json.dumps(item.payload, separators=(",", ":"), ensure_ascii=False).encode()
        pusher = WebPusher({"endpoint": item.endpoint, "keys": {"p256dh": item.p256dh, "auth": item.auth}})
        encrypted = pusher.encode(body, content_encoding="aes128gcm")["body"]
        headers = {
            "Authorization": self.authorization(item.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(item.ttl_left),
            "Urgency": item.urgency,
            "Topic": item.topic,
        }
        return headers, encrypted

    async def send(self, http: aiohttp.ClientSession, item: Claimed) -> Outcome:
        try:
            headers, body = self.request(item)
        except Exception as exc:  # a stored key the encoder refuses: no retry will fix it
            return Outcome(status=None, error=f"cannot encrypt: {exc}"[:ERROR_MAX], retry_after=-1)
        try:
            async with http.post(
                item.endpoint, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
                if 200 <= status < 300:
                    return Outcome(status=status)
                detail = (await response.content.read(200)).decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(status=None, error=f"{type(exc).__name__}: {exc}"[:ERROR_MAX])
        return Outcome(status=status, error=f"{status} {detail}".strip()[:ERROR_MAX], retry_after=retry_after)


RESERVED_DOMAINS = ("invalid", "example", "test", "localhost", "example.com", "example.net", "example.org")


def placeholder_subject(subject: str) -> bool:
    """A VAPID ``sub`` no push service operator can reach (RFC 2606 names, localhost)."""
    if subject.startswith("mailto:"):
        host = subject.rsplit("@", 1)[-1].lower() if "@" in subject else ""
    else:
        host = (urlsplit(subject).hostname or "").lower()
    return not host or any(host == d or host.endswith("." + d) for d in RESERVED_DOMAINS)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - utcnow()).total_seconds())
    return None


# --- one pass over the outbox -------------------------------------------------------------------------


def _due(now: datetime):
    c = NOTIFICATION.c
    return or_(
        and_(c.status == NotificationStatus.pending, c.next_attempt_at <= now),
        and_(c.status == NotificationStatus.sending, c.claimed_until < now),
    )


async def _claim(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, policy: DeliveryPolicy, token: UUID
) -> list[Claimed]:
    c = NOTIFICATION.c
    async with session_factory() as session:
        # A cheap read first: an idle outbox never takes SQLite's write lock.
        if await session.scalar(select(c.id).where(_due(now)).limit(1)) is None:
            return []
        await session.commit()
        await begin_write(session)
        due = (
            select(c.id)
            .where(_due(now))
            .order_by(c.next_attempt_at)
            .limit(policy.batch_size)
            .with_for_update(skip_locked=True)
        )
        claimed = await session.execute(
            update(NOTIFICATION)
            .where(c.id.in_(due.scalar_subquery()))
            .values(
                status=NotificationStatus.sending,
                claimed_until=now + timedelta(seconds=policy.lease_seconds),
                claim_token=token,
                attempts=c.attempts + 1,
                updated_at=now,
            )
            .returning(c.id, c.subscription_id, c.payload, c.expires_at, c.urgency, c.topic, c.attempts)
        )
        rows = claimed.all()
        subscriptions = {}
        if rows:
            s = SUBSCRIPTION.c
            found = await session.execute(
                select(s.id, s.endpoint, s.p256dh, s.auth).where(s.id.in_({r.subscription_id for r in rows}))
            )
            subscriptions = {row.id: row for row in found}
        await session.commit()
    items = []
    for row in rows:
        subscription = subscriptions.get(row.subscription_id)
        if subscription is None:
            continue  # deleted meanwhile; its rows went with it
        items.append(
            Claimed(
                id=row.id,
                subscription_id=row.subscription_id,
                endpoint=subscription.endpoint,
                p256dh=subscription.p256dh,
                auth=subscription.auth,
                payload=row.payload,
                ttl_left=max(0, int((row.expires_at - now).total_seconds())),
                urgency=row.urgency,
                topic=row.topic,
                attempts=row.attempts,
                expires_at=row.expires_at,
            )
        )
    return items


def backoff(attempts: int, policy: DeliveryPolicy, retry_after: float | None = None) -> float:
    """Seconds until the next attempt after ``attempts`` tries: base · 2^(attempts-1), capped, less a
    random share (jitter); never sooner than the push service's ``Retry-After``."""
    delay = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    delay *= 1 - random.random() * policy.jitter  # jitter, not secrecy
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, policy.retry_after_cap))
    return delay


@dataclass
class _Outcomes:
    sent: list[Claimed] = field(default_factory=list)
    gone: set[UUID] = field(default_factory=set)
    updates: list[dict[str, Any]] = field(default_factory=list)  # retried, failed, expired rows
    failing_subscriptions: set[UUID] = field(default_factory=set)
    refused_vapid: set[str] = field(default_factory=set)  # push services that answered 401/403


def _judge(
    item: Claimed, outcome: Outcome, now: datetime, policy: DeliveryPolicy, report: DeliveryReport, out
):
    status = outcome.status
    if status is not None and 200 <= status < 300:
        out.sent.append(item)
        report.sent += 1
        return
    if status in (404, 410):
        out.gone.add(item.subscription_id)
        return
    out.failing_subscriptions.add(item.subscription_id)
    if status in (401, 403):
        out.refused_vapid.add(urlsplit(item.endpoint).netloc)
    retryable = outcome.retry_after != -1 and (status is None or status in (408, 429) or status >= 500)
    row = {"b_id": item.id, "last_status": status, "last_error": outcome.error or f"HTTP {status}"}
    if not retryable:
        report.failed += 1
        out.updates.append({**row, "status": NotificationStatus.failed, "next_attempt_at": now})
        return
    if item.attempts >= policy.max_attempts:
        report.failed += 1
        row["last_error"] = f"gave up after {item.attempts} attempts: {row['last_error']}"[:ERROR_MAX]
        out.updates.append({**row, "status": NotificationStatus.failed, "next_attempt_at": now})
        return
    next_at = now + timedelta(seconds=backoff(item.attempts, policy, outcome.retry_after))
    if next_at >= item.expires_at:
        report.expired += 1
        row["last_error"] = f"TTL passes before the next attempt: {row['last_error']}"[:ERROR_MAX]
        out.updates.append({**row, "status": NotificationStatus.expired, "next_attempt_at": now})
        return
    report.retried += 1
    out.updates.append({**row, "status": NotificationStatus.pending, "next_attempt_at": next_at})


async def _record(
    session_factory: async_sessionmaker[AsyncSession], now: datetime, token: UUID, out: _Outcomes
) -> None:
    c, s = NOTIFICATION.c, SUBSCRIPTION.c
    mine = c.claim_token == token
    async with session_factory() as session:
        await begin_write(session)
        if out.sent:
            await session.execute(
                update(NOTIFICATION)
                .where(c.id.in_([item.id for item in out.sent]), mine)
                .values(
                    status=NotificationStatus.sent,
                    sent_at=now,
                    claimed_until=None,
                    claim_token=None,
                    last_status=201,
                    last_error="",
                    updated_at=now,
                )
            )
            await session.execute(
                update(SUBSCRIPTION)
                .where(s.id.in_({item.subscription_id for item in out.sent}))
                .values(last_success_at=now, failures=0)
            )
        if out.updates:
            await session.execute(
                update(NOTIFICATION)
                .where(c.id == bindparam("b_id"), mine)
                .values(
                    status=bindparam("status"),
                    next_attempt_at=bindparam("next_attempt_at"),
                    last_status=bindparam("last_status"),
                    last_error=bindparam("last_error"),
                    claimed_until=None,
                    claim_token=None,
                    updated_at=now,
                ),
                out.updates,
            )
        failing = out.failing_subscriptions - out.gone
        if failing:
            await session.execute(
                update(SUBSCRIPTION)
                .where(s.id.in_(failing))
                .values(last_failure_at=now, failures=s.failures + 1)
            )
        if out.gone:
            await session.execute(delete(NOTIFICATION).where(c.subscription_id.in_(out.gone)))
            await session.execute(delete(SUBSCRIPTION).where(s.id.in_(out.gone)))
        await session.commit()


async def _expire(session_factory: async_sessionmaker[AsyncSession], now: datetime, token: UUID, items):
    c = NOTIFICATION.c
    async with session_factory() as session:
        await begin_write(session)
        await session.execute(
            update(NOTIFICATION)
            .where(c.id.in_([item.id for item in items]), c.claim_token == token)
            .values(
                status=NotificationStatus.expired,
                claimed_until=None,
                claim_token=None,
                last_error="TTL passed before it could be sent",
                updated_at=now,
            )
        )
        await session.commit()


async def _send_all(sender: Sender, http: aiohttp.ClientSession, items: list[Claimed], concurrency: int):
    semaphore = asyncio.Semaphore(concurrency)

    async def send(item: Claimed) -> Outcome:
        async with semaphore:
            return await sender.send(http, item)

    return await asyncio.gather(*(send(item) for item in items))


async def deliver_due(
    session_factory: async_sessionmaker[AsyncSession],
    sender: Sender,
    *,
    now: datetime | None = None,
    policy: DeliveryPolicy | None = None,
    http: aiohttp.ClientSession | None = None,
    max_batches: int | None = None,
) -> DeliveryReport:
    """Deliver what is due at ``now`` (default: the current time), batch after batch until nothing is
    due (or ``max_batches``); returns what happened. Safe to run in several processes at once."""
    policy = policy or DeliveryPolicy()
    report = DeliveryReport()
    own_client = http is None
    if http is None:
        http = new_http_client(policy)
    try:
        batches = 0
        while max_batches is None or batches < max_batches:
            batches += 1
            moment = now or utcnow()
            token = uuid4()
            items = await _claim(session_factory, moment, policy, token)
            if not items:
                break
            report.claimed += len(items)
            live = [item for item in items if item.expires_at > moment]
            stale = [item for item in items if item.expires_at <= moment]
            if stale:
                report.expired += len(stale)
                await _expire(session_factory, moment, token, stale)
            outcomes = await _send_all(sender, http, live, policy.concurrency)
            batch = DeliveryReport()
            out = _Outcomes()
            for item, outcome in zip(live, outcomes, strict=True):
                _judge(item, outcome, moment, policy, batch, out)
            batch.gone = len(out.gone)
            if out.refused_vapid:
                log.warning(
                    "push: %s refused the VAPID token (401/403): check FIELDQ_VAPID_SUBJECT (a real "
                    "mailto: or https: contact) and the data folder's VAPID key",
                    ", ".join(sorted(out.refused_vapid)),
                )
            if out.gone:
                log.info("push: %d subscription(s) gone (404/410), deleted", len(out.gone))
            await _record(session_factory, moment, token, out)
            report.add(batch)
    finally:
        if own_client:
            await http.close()
    return report


def new_http_client(policy: DeliveryPolicy | None = None) -> aiohttp.ClientSession:
    """The push requests' HTTP client (create it in the loop that uses it). aiohttp, which pywebpush
    itself depends on: on the benchmark it sends several times as many requests per second as httpx for
    the same CPU, and it disables Nagle (the headers and the body are separate writes)."""
    policy = policy or DeliveryPolicy()
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=policy.concurrency * 2, limit_per_host=policy.concurrency),
        timeout=aiohttp.ClientTimeout(total=policy.timeout),
    )


async def purge_finished(
    session_factory: async_sessionmaker[AsyncSession], *, older_than: timedelta, now: datetime | None = None
) -> int:
    """Delete outbox rows that finished (sent, failed, expired, superseded) longer ago than ``older_than``."""
    c = NOTIFICATION.c
    cutoff = (now or utcnow()) - older_than
    async with session_factory() as session:
        await begin_write(session)
        result = await session.execute(
            delete(NOTIFICATION).where(c.status.in_(FINISHED), c.updated_at < cutoff)
        )
        await session.commit()
        return result.rowcount or 0


# --- the background worker ----------------------------------------------------------------------------

_workers: set[PushWorker] = set()


def nudge_workers() -> None:
    """Wake this process's workers (after a commit that may have written outbox rows): cheap and
    non-blocking, safe from any thread."""
    for worker in list(_workers):
        worker.nudge()


class PushWorker:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        sender: Sender,
        *,
        policy: DeliveryPolicy | None = None,
        idle_seconds: float = 5.0,
        keep_finished: timedelta = timedelta(days=7),
    ) -> None:
        self.session_factory = session_factory
        self.sender = sender
        self.policy = policy or DeliveryPolicy()
        self.idle_seconds = idle_seconds
        self.keep_finished = keep_finished
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._next_purge = 0.0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="fieldq-push-worker")
        _workers.add(self)

    def nudge(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)

    async def stop(self) -> None:
        _workers.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        async with new_http_client(self.policy) as http:
            while True:
                self._wake.clear()
                try:
                    await deliver_due(self.session_factory, self.sender, policy=self.policy, http=http)
                    if time.monotonic() >= self._next_purge:
                        self._next_purge = time.monotonic() + 3600
                        await purge_finished(self.session_factory, older_than=self.keep_finished)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("push delivery pass failed; retrying in %.0f s", self.idle_seconds)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_seconds)


class PushRuntime:
    """What the app starts and stops: the VAPID key (generated into the data folder on first run), the
    sender and, unless ``FIELDQ_PUSH_WORKER=0``, the background worker."""

    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.sender: Sender | None = None
        self.worker: PushWorker | None = None

    @property
    def public_key(self) -> str:
        return self.load_sender().public_key

    def load_sender(self) -> Sender:
        if self.sender is None:
            key = ensure_vapid_key(self.settings.vapid_private_key_path)
            self.sender = Sender(key, self.settings.vapid_subject)
        return self.sender

    async def startup(self) -> None:
        sender = self.load_sender()
        if placeholder_subject(self.settings.vapid_subject):
            log.warning(
                "FIELDQ_VAPID_SUBJECT is %r: Apple's push service refuses a placeholder contact (403 "
                "BadJwtToken), so iPhones get nothing; set a real mailto: or https: address",
                self.settings.vapid_subject,
            )
        if self.settings.push_worker:
            self.worker = PushWorker(self.session_factory, sender)
            await self.worker.start()

    async def shutdown(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
