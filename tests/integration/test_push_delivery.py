"""Web Push end to end with real cryptography: domain events write outbox rows in their transaction, the
worker encrypts (aes128gcm) and signs (VAPID) each one, and a local push service (tests/push_receiver.py)
checks the JWT, decrypts the body with the subscription's private key, and answers as scripted: retries
with backoff, Retry-After, 404/410 clean-up, TTL expiry, topic replacement, leases, concurrent workers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from backend.app import create_app
from backend.db import create_engine, create_session_factory
from backend.events import ExceptionRaised, SpareShortageAppeared, record_event, settle_events
from backend.push.kinds import topic_header
from backend.push.messages import render
from backend.push.models import Notification, PushSubscription
from backend.push.services import Message, enqueue
from backend.push.vapid import ensure_vapid_key
from backend.push.worker import DeliveryPolicy, Sender, _claim, deliver_due
from backend.quality.events import QualityItemAssigned, QualityItemOverdue
from backend.sync.exceptions import raise_exception
from tests.conftest import run_async, settings_with
from tests.jobs_helpers import build_world, drive, new_job
from tests.push_receiver import PushReceiver


@pytest.fixture
def settings(settings):
    return settings_with(settings, push_worker=False)


@pytest.fixture
def receiver(client, as_role):
    public_key = client.get("/api/push/vapid-public-key", headers=as_role("tech1")).json()["public_key"]
    with PushReceiver(vapid_public_key=public_key) as running:
        yield running
    assert running.errors == [], running.errors


@pytest.fixture
def sender(settings, client) -> Sender:
    return Sender(ensure_vapid_key(settings.vapid_private_key_path), settings.vapid_subject)


@pytest.fixture
def push(settings, sender):
    """Run a coroutine function with a session factory on the test database (its own engine)."""

    def run(work):
        async def go():
            engine = create_engine(settings)
            try:
                return await work(create_session_factory(engine))
            finally:
                await engine.dispose()

        return run_async(go())

    return run


@pytest.fixture
def deliver(push, sender):
    def run(now: datetime | None = None, **kwargs):
        return push(lambda factory: deliver_due(factory, sender, now=now, **kwargs))

    return run


@pytest.fixture
def outbox(push):
    def rows(**where) -> list[Notification]:
        async def query(factory):
            async with factory() as session:
                statement = select(Notification).order_by(Notification.created_at)
                for name, value in where.items():
                    statement = statement.where(getattr(Notification, name) == value)
                return list(await session.scalars(statement))

        return push(query)

    return rows


@pytest.fixture
def record(push):
    """Record domain events in one transaction, settled and committed like a unit of work."""

    def run(*events, build=None):
        async def work(factory):
            async with factory() as session:
                if build is not None:
                    await build(session)
                for event in events:
                    record_event(session, event)
                await settle_events(session)
                await session.commit()

        push(work)

    return run


def subscribe(client, as_role, receiver, username: str, name: str | None = None):
    device = receiver.device(name or f"{username}-{uuid4().hex[:6]}")
    response = client.post(
        "/api/push/subscriptions", headers=as_role(username), json=device.subscription_json()
    )
    assert response.status_code == 201, response.text
    device.subscription_id = response.json()["id"]
    return device


def uid(seeded, username: str) -> UUID:
    return UUID(seeded[username])


# --- who is told what -----------------------------------------------------------------------------------


def test_a_job_assigned_reaches_the_technician_encrypted_and_signed(
    client, as_role, seeded, receiver, deliver, outbox
):
    phone = subscribe(client, as_role, receiver, "tech1")
    lead_phone = subscribe(client, as_role, receiver, "supervisor1")
    world = build_world(client, as_role, seeded)
    job = new_job(client, as_role, world, assignee="tech1")
    [row] = outbox()
    assert row.kind == "job_assigned" and row.status == "pending" and row.urgency == "high"

    report = deliver()
    assert (report.claimed, report.sent) == (1, 1)
    [payload] = receiver.delivered(phone)
    assert payload["kind"] == "job_assigned" and job["number"] in payload["title"]
    assert payload["url"] == f"/#/jobs/{job['id']}" and payload["data"]["job_id"] == job["id"]
    assert payload["tag"] == f"job:{job['id']}"
    [request] = receiver.accepted()
    assert request.headers["urgency"] == "high"
    assert request.headers["topic"] == topic_header(f"job:{job['id']}")
    assert 0 < int(request.headers["ttl"]) <= 24 * 3600
    assert request.claims["aud"] == receiver.origin and request.claims["sub"].startswith("mailto:")
    # The supervisor who assigned it is not told about their own action.
    assert receiver.delivered(lead_phone) == []
    [row] = outbox()
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


def test_reassigning_tells_the_new_and_the_previous_technician(client, as_role, seeded, receiver, deliver):
    first, second = (subscribe(client, as_role, receiver, name) for name in ("tech1", "tech2"))
    world = build_world(client, as_role, seeded)
    job = new_job(client, as_role, world, assignee="tech1")
    deliver()
    response = client.post(
        f"/api/jobs/{job['id']}/assign", headers=as_role("supervisor1"), json={"assignee_id": seeded["tech2"]}
    )
    assert response.status_code == 200, response.text
    assert deliver().sent == 2
    assert [p["kind"] for p in receiver.delivered(first)] == ["job_assigned", "job_reassigned"]
    taken = receiver.delivered(first)[-1]
    assert job["number"] in taken["body"] and ("someone else" in taken["body"] or "他人" in taken["body"])
    [given] = receiver.delivered(second)
    assert given["kind"] == "job_assigned" and job["number"] in given["title"]
    assert given["title"] != receiver.delivered(first)[0]["title"]  # "reassigned to you", not "new job"


def test_returned_work_tells_the_technician_and_approval_tells_the_team_supervisor(
    client, as_role, seeded, receiver, deliver, outbox
):
    tech = subscribe(client, as_role, receiver, "tech1")
    lead = subscribe(client, as_role, receiver, "supervisor1")
    other_lead = subscribe(client, as_role, receiver, "supervisor2")
    world = build_world(client, as_role, seeded)
    manager = subscribe(client, as_role, receiver, "manager")  # after the world's spare shortage
    job = drive(client, as_role, world, "returned")
    # One topic per job: the assignment nobody delivered yet was replaced by the newer news.
    statuses = sorted((r.kind, r.status) for r in outbox() if r.kind.startswith("job"))
    assert statuses == [
        ("job_assigned", "superseded"),
        ("job_awaiting_approval", "pending"),
        ("job_returned", "pending"),
    ]
    assert deliver().sent == 2
    [returned] = receiver.delivered(tech)
    assert returned["kind"] == "job_returned" and "photo is blurred" in returned["body"]
    [waiting] = receiver.delivered(lead)
    assert waiting["kind"] == "job_awaiting_approval" and job["number"] in waiting["title"]
    assert receiver.delivered(other_lead) == [] and receiver.delivered(manager) == []


def test_a_sync_exception_tells_the_supervisors_of_the_technicians_team(
    client, as_role, seeded, receiver, deliver, record
):
    lead, other_lead = (subscribe(client, as_role, receiver, name) for name in ("supervisor1", "supervisor2"))
    tech = subscribe(client, as_role, receiver, "tech1")

    async def build(session):
        await raise_exception(
            session,
            kind="custody_conflict",
            message="SN-0042 is in tech3's van, tech1 says they installed it",
            user_id=uid(seeded, "tech1"),
            raised_by_id=uid(seeded, "tech1"),
        )

    record(build=build)
    assert deliver().sent == 1
    [payload] = receiver.delivered(lead)
    assert payload["kind"] == "sync_exception" and "SN-0042" in payload["body"]
    assert payload["url"].startswith("/#/exceptions/")
    assert receiver.delivered(other_lead) == [] and receiver.delivered(tech) == []


def test_a_team_with_no_supervisor_falls_back_to_the_managers(
    client, as_role, seeded, receiver, deliver, record
):
    manager = subscribe(client, as_role, receiver, "manager")
    record(ExceptionRaised(uuid4(), "stock_below_zero", None, None, "van 7: filters below zero"))
    assert deliver().sent == 1
    assert receiver.delivered(manager)[0]["kind"] == "sync_exception"


def test_a_spare_shortage_tells_the_managers_and_repeats_replace_each_other(
    client, as_role, seeded, receiver, deliver, record, outbox
):
    manager = subscribe(client, as_role, receiver, "manager")
    lead = subscribe(client, as_role, receiver, "supervisor1")
    item = uuid4()
    record(SpareShortageAppeared(item, "ATM-H68N", "Shanghai East", 4, 2, 2))
    record(SpareShortageAppeared(item, "ATM-H68N", "Shanghai East", 4, 1, 3))
    record(SpareShortageAppeared(item, "ATM-H68N", "Beijing", 2, 1, 1))
    assert sorted(r.status for r in outbox()) == ["pending", "pending", "superseded"]
    assert deliver().sent == 2
    locale = client.get("/api/auth/me", headers=as_role("manager")).json()["locale"]
    params = {"sku": "ATM-H68N", "required": 4, "serviceable": 1, "shortage": 3, "region": "Shanghai East"}
    expected = {
        render("spare_shortage", locale, params),
        render("spare_shortage", locale, {**params, "region": "Beijing", "required": 2, "shortage": 1}),
    }
    assert {(p["title"], p["body"]) for p in receiver.delivered(manager)} == expected
    assert receiver.delivered(lead) == []
    requests = [r for r in receiver.accepted() if r.device == manager.name]
    assert {r.headers["urgency"] for r in requests} == {"low"}


def test_quality_items_assigned_or_overdue_tell_their_owner(
    client, as_role, seeded, receiver, deliver, record
):
    owner = subscribe(client, as_role, receiver, "quality")
    item = uuid4()
    due = datetime(2026, 12, 1, 9, tzinfo=UTC)
    record(QualityItemAssigned("complaint", item, "Card jams at ICBC Lujiazui", uid(seeded, "quality"), due))
    deliver()
    record(QualityItemOverdue("complaint", item, "Card jams at ICBC Lujiazui", uid(seeded, "quality"), due))
    record(QualityItemAssigned("callback", uuid4(), "Call Ms. Li back", uid(seeded, "quality"), None))
    deliver()
    kinds = [(p["kind"], p["data"]["item_kind"]) for p in receiver.delivered(owner)]
    assert sorted(kinds) == sorted(
        [
            ("quality_assigned", "complaint"),
            ("quality_overdue", "complaint"),
            ("quality_assigned", "callback"),
        ]
    )
    overdue = next(p for p in receiver.delivered(owner) if p["kind"] == "quality_overdue")
    assert "Card jams" in overdue["body"] and "2026-12-01" in overdue["body"]
    assert overdue["url"] == f"/#/quality/complaint/{item}"


def test_the_recipients_language_is_used(client, as_role, seeded, receiver, deliver, record):
    owner = subscribe(client, as_role, receiver, "quality")
    me = client.get("/api/auth/me", headers=as_role("quality")).json()
    record(QualityItemAssigned("nonconformance", uuid4(), "工具箱缺扭力扳手", uid(seeded, "quality"), None))
    deliver()
    [payload] = receiver.delivered(owner)
    expected = "不合格项已分派给你" if me["locale"] == "zh-CN" else "Nonconformance assigned to you"
    assert payload["title"] == expected


def test_a_muted_kind_and_a_person_with_no_subscription_get_no_rows(
    client, as_role, seeded, receiver, deliver, outbox
):
    phone = subscribe(client, as_role, receiver, "tech1")
    muted = client.put("/api/push/preferences", headers=as_role("tech1"), json={"muted": ["job_assigned"]})
    assert muted.status_code == 200
    world = build_world(client, as_role, seeded)
    new_job(client, as_role, world, assignee="tech1")
    new_job(client, as_role, world, assignee="tech2")  # tech2 has no subscription
    assert outbox() == []
    assert deliver().claimed == 0 and receiver.delivered(phone) == []
    # Unmuted, the next one arrives.
    client.put("/api/push/preferences", headers=as_role("tech1"), json={"muted": []})
    new_job(client, as_role, world, assignee="tech1")
    assert deliver().sent == 1 and len(receiver.delivered(phone)) == 1


# --- what the push service answers ---------------------------------------------------------------------


def queue_test(client, as_role, username: str = "tech1") -> int:
    response = client.post("/api/push/test", headers=as_role(username))
    assert response.status_code == 202, response.text
    return response.json()["queued"]


def test_a_5xx_is_retried_with_growing_backoff_until_accepted(
    client, as_role, seeded, receiver, deliver, outbox, push
):
    phone = subscribe(client, as_role, receiver, "tech1")
    receiver.script(phone, 500, 503)
    assert queue_test(client, as_role) == 1
    t0 = datetime.now(UTC)
    report = deliver(now=t0)
    assert (report.claimed, report.retried, report.sent) == (1, 1, 0)
    [row] = outbox()
    assert row.status == "pending" and row.attempts == 1 and row.last_status == 500
    first_delay = (row.next_attempt_at - t0).total_seconds()
    assert 30 * 0.75 <= first_delay <= 30
    assert deliver(now=t0 + timedelta(seconds=10)).claimed == 0  # not due yet

    t1 = row.next_attempt_at
    assert deliver(now=t1).retried == 1
    [row] = outbox()
    second_delay = (row.next_attempt_at - t1).total_seconds()
    assert row.attempts == 2 and row.last_status == 503 and 60 * 0.75 <= second_delay <= 60
    assert second_delay > first_delay

    assert deliver(now=row.next_attempt_at).sent == 1
    [row] = outbox()
    assert row.status == "sent" and row.attempts == 3 and row.last_error == ""
    assert receiver.attempts[phone.name] == 3 and len(receiver.delivered(phone)) == 1

    async def subscription(factory):
        async with factory() as session:
            return await session.get(PushSubscription, UUID(phone.subscription_id))

    sub = push(subscription)
    assert sub.failures == 0 and sub.last_success_at is not None and sub.last_failure_at is not None


def test_retry_after_is_honoured_and_attempts_run_out(client, as_role, seeded, receiver, deliver, outbox):
    phone = subscribe(client, as_role, receiver, "tech1")
    world = build_world(client, as_role, seeded)
    receiver.script(phone, (429, {"Retry-After": "900"}), 500)
    new_job(client, as_role, world, assignee="tech1")
    t0 = datetime.now(UTC)
    assert deliver(now=t0).retried == 1
    [row] = outbox()
    assert (row.next_attempt_at - t0).total_seconds() >= 900 and row.last_status == 429

    policy = DeliveryPolicy(max_attempts=2)
    report = deliver(now=row.next_attempt_at, policy=policy)
    assert report.failed == 1
    [row] = outbox()
    assert row.status == "failed" and "gave up after 2 attempts" in row.last_error
    assert deliver(now=t0 + timedelta(days=1), policy=policy).claimed == 0
    assert receiver.delivered(phone) == []


def test_a_retry_that_would_come_after_the_ttl_expires_instead(
    client, as_role, seeded, receiver, deliver, outbox
):
    phone = subscribe(client, as_role, receiver, "tech1")
    receiver.script(phone, (503, {"Retry-After": "3600"}))
    queue_test(client, as_role)  # a test notification lives 10 minutes
    assert deliver().expired == 1
    [row] = outbox()
    assert row.status == "expired" and "TTL" in row.last_error


def test_a_4xx_other_than_gone_fails_without_retrying(client, as_role, seeded, receiver, deliver, outbox):
    phone = subscribe(client, as_role, receiver, "tech1")
    receiver.script(phone, 413)
    queue_test(client, as_role)
    assert deliver().failed == 1
    [row] = outbox()
    assert row.status == "failed" and row.last_status == 413
    assert deliver(now=datetime.now(UTC) + timedelta(hours=1)).claimed == 0
    assert receiver.attempts[phone.name] == 1


def test_410_deletes_the_subscription_and_everything_waiting_for_it(
    client, as_role, seeded, receiver, deliver, outbox, record
):
    gone = subscribe(client, as_role, receiver, "tech1")
    kept = subscribe(client, as_role, receiver, "tech1")
    receiver.script(gone, 500, 410)
    queue_test(client, as_role)
    t0 = datetime.now(UTC)
    report = deliver(now=t0)
    assert (report.sent, report.retried) == (1, 1)
    # A second notification for both phones; the gone one still has its retry pending (not due).
    record(QualityItemAssigned("callback", uuid4(), "Call Ms. Li back", uid(seeded, "tech1"), None))
    report = deliver(now=t0 + timedelta(seconds=1))
    assert (report.sent, report.gone) == (1, 1)
    listed = client.get("/api/push/subscriptions", headers=as_role("tech1")).json()
    assert [s["id"] for s in listed] == [kept.subscription_id]
    assert outbox(subscription_id=UUID(gone.subscription_id)) == []
    assert len(receiver.delivered(kept)) == 2 and receiver.delivered(gone) == []


def test_404_is_gone_too(client, as_role, seeded, receiver, deliver):
    phone = subscribe(client, as_role, receiver, "tech1")
    receiver.script(phone, 404)
    queue_test(client, as_role)
    assert deliver().gone == 1
    assert client.get("/api/push/subscriptions", headers=as_role("tech1")).json() == []


def test_a_notification_past_its_ttl_expires_without_being_sent(
    client, as_role, seeded, receiver, deliver, outbox
):
    phone = subscribe(client, as_role, receiver, "tech1")
    queue_test(client, as_role)
    report = deliver(now=datetime.now(UTC) + timedelta(minutes=11))
    assert (report.claimed, report.expired, report.sent) == (1, 1, 0)
    [row] = outbox()
    assert row.status == "expired" and receiver.attempts[phone.name] == 0


def test_the_ttl_header_counts_down_on_retries(client, as_role, seeded, receiver, deliver):
    phone = subscribe(client, as_role, receiver, "tech1")
    receiver.script(phone, 500)
    queue_test(client, as_role)
    t0 = datetime.now(UTC)
    deliver(now=t0)
    deliver(now=t0 + timedelta(minutes=5))
    first, second = (r for r in receiver.received if r.device == phone.name)
    assert int(first.headers["ttl"]) > int(second.headers["ttl"]) and int(second.headers["ttl"]) <= 300


def test_a_newer_notification_with_the_same_topic_replaces_a_pending_one(
    client, as_role, seeded, receiver, deliver, outbox
):
    phone = subscribe(client, as_role, receiver, "tech1")
    queue_test(client, as_role)
    queue_test(client, as_role)
    assert [r.status for r in outbox()] == ["superseded", "pending"]
    assert deliver().sent == 1
    assert len(receiver.delivered(phone)) == 1
    assert outbox()[-1].status == "sent"


def test_a_claim_whose_worker_died_is_sent_after_its_lease(client, as_role, seeded, receiver, deliver, push):
    phone = subscribe(client, as_role, receiver, "tech1")
    queue_test(client, as_role)
    t0 = datetime.now(UTC)
    policy = DeliveryPolicy(lease_seconds=60)
    claimed = push(lambda factory: _claim(factory, t0, policy, uuid4()))  # …and the process dies
    assert len(claimed) == 1
    assert deliver(now=t0 + timedelta(seconds=30)).claimed == 0
    report = deliver(now=t0 + timedelta(seconds=61))
    assert (report.claimed, report.sent) == (1, 1)
    assert len(receiver.delivered(phone)) == 1


def test_two_workers_at_once_never_send_a_notification_twice(
    client, as_role, seeded, receiver, sender, settings, push, outbox
):
    devices = [subscribe(client, as_role, receiver, f"tech{n % 8 + 1}") for n in range(24)]
    assert len(devices) == 24

    async def fill(factory):
        async with factory() as session:
            for n in range(200):
                user = uid(seeded, f"tech{n % 8 + 1}")
                message = Message(
                    kind="job_assigned",
                    template="job_assigned",
                    params={"number": f"J-{n}"},
                    url="/#/",
                    topic=f"bench:{n}",
                )
                await enqueue(session, [user], message)
            await session.commit()

    push(fill)
    total = len(outbox())
    assert total == 200 * 3  # three phones per technician

    async def two_workers():
        engines = [create_engine(settings) for _ in range(2)]
        try:
            policy = DeliveryPolicy(batch_size=20, concurrency=4)
            return await asyncio.gather(
                *(deliver_due(create_session_factory(e), sender, policy=policy) for e in engines)
            )
        finally:
            for engine in engines:
                await engine.dispose()

    reports = run_async(two_workers())
    assert sum(r.sent for r in reports) == total
    assert all(r.sent > 0 for r in reports), [r.sent for r in reports]
    ids = [r.payload["id"] for r in receiver.accepted()]
    assert len(ids) == total and len(set(ids)) == total
    assert {r.status for r in outbox()} == {"sent"}


def test_the_background_worker_delivers_after_the_commit(settings, seeded, receiver):
    with TestClient(
        app=create_app(settings_with(settings, push_worker=True)), base_url="http://127.0.0.1:8000"
    ) as live:
        token = live.post("/api/auth/login", json={"username": "tech1", "password": "fieldq-demo"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        device = receiver.device("live")
        assert (
            live.post("/api/push/subscriptions", headers=headers, json=device.subscription_json()).status_code
            == 201
        )
        started = time.monotonic()
        assert live.post("/api/push/test", headers=headers).status_code == 202
        while not receiver.delivered(device) and time.monotonic() - started < 10:
            time.sleep(0.02)
        assert len(receiver.delivered(device)) == 1
        # Nudged by the commit, not found by the 5-second poll.
        assert time.monotonic() - started < 3


def test_a_nonconformance_assigned_through_the_quality_loop_reaches_its_owner(
    client, as_role, seeded, receiver, deliver
):
    owner = subscribe(client, as_role, receiver, "supervisor1")
    quality = as_role("quality")
    made = client.post(
        "/api/quality/nonconformances",
        headers=quality,
        json={"source": "other", "title": "Toolbox audit: torque wrench missing", "severity": "medium"},
    )
    assert made.status_code == 201, made.text
    nc = made.json()
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assigned = client.post(
        f"/api/quality/nonconformances/{nc['id']}/assign",
        headers=quality,
        json={"owner_id": seeded["supervisor1"], "due_at": due},
    )
    assert assigned.status_code == 200, assigned.text
    assert deliver().sent == 1
    [payload] = receiver.delivered(owner)
    assert payload["kind"] == "quality_assigned" and "torque wrench" in payload["body"]
    assert payload["data"] == {"item_kind": "nonconformance", "item_id": nc["id"]}
