"""Web Push benchmarks: `python -m bench push [--quick]`: notifications delivered per second.

A local push service (tests/push_receiver.py) runs in its own process on loopback and does what FCM or
autopush would, per request: checks the VAPID JWT (ES256) and the headers, decrypts the aes128gcm body
with the subscription's private key and parses it; it answers 201. The benchmark process holds the
outbox on SQLite (a temp file) and, with FIELDQ_BENCH_DATABASE_URL, on PostgreSQL (a throwaway
database): 20 people with 10 subscriptions each (200 endpoints), and for every scenario 2,000 fresh outbox
rows (200 events, each to one person's 10 phones, each event in its own transaction as a request would
write it). Scenarios:

* encrypt + sign only: ``Sender.request`` (an ephemeral ECDH key, HKDF, AES-GCM, the cached VAPID JWT)
  with no database and no network, the CPU ceiling of one process;
* enqueue: the 200 transactions writing the 2,000 rows (``backend.push.services.enqueue``);
* deliver: ``deliver_due`` until the outbox is drained: one worker with the defaults (batches of 50, 8
  requests in flight), one worker with batches of 200 and 32 in flight, and two workers at once (two
  engines, as two app processes; PostgreSQL claims with SKIP LOCKED, SQLite's claims take turns).

Every delivery scenario is checked: the receiver accepted each notification exactly once, no request
failed its checks, and every row is ``sent``. ``--quick`` uses 400 rows and writes nothing; a full run
replaces the ``push`` section of bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.md"
PEOPLE = 20
PHONES_PER_PERSON = 10


@dataclass
class Row:
    database: str
    scenario: str
    notifications: int
    seconds: float
    check: str

    def cells(self) -> list[str]:
        rate = self.notifications / self.seconds if self.seconds else 0
        return [
            self.database,
            self.scenario,
            f"{self.notifications:,}",
            f"{self.seconds:.3f}",
            f"{rate:,.0f}",
            self.check,
        ]


def markdown_table(rows: list[Row]) -> str:
    header = ["database", "scenario", "notifications", "seconds", "per second", "check"]
    table = [header, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# --- the push service, in its own process ---------------------------------------------------------------


def _receiver_process(public_key: str, devices: int, conn) -> None:
    from tests.push_receiver import PushReceiver

    with PushReceiver(vapid_public_key=public_key) as receiver:
        made = [receiver.device(f"d{n}") for n in range(devices)]
        conn.send([(d.endpoint, d.p256dh, d.auth) for d in made])
        while True:
            command = conn.recv()
            if command == "stop":
                break
            with receiver._lock:
                accepted = [r.payload["id"] for r in receiver.received if 200 <= r.status < 300]
                errors = list(receiver.errors)
                receiver.received.clear()
                receiver.errors.clear()
            conn.send((len(accepted), len(set(accepted)), errors[:3], len(errors)))


class ReceiverProcess:
    def __init__(self, public_key: str, devices: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_receiver_process, args=(public_key, devices, child), daemon=True
        )
        self._process.start()
        self.devices: list[tuple[str, str, str]] = self._conn.recv()

    def take(self) -> tuple[int, int, list[str], int]:
        """(accepted, distinct accepted, first errors, errors) since the last call."""
        self._conn.send("take")
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)


# --- the database ---------------------------------------------------------------------------------------


def _sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def prepare(url: str, devices: list[tuple[str, str, str]]) -> list[uuid.UUID]:
    """The schema, PEOPLE people and their subscriptions; returns the people's ids."""
    from backend.auth.models import User
    from backend.db import utcnow
    from backend.push.models import PushSubscription

    engine = create_sync_engine(_sync_url(url))
    SQLModel.metadata.create_all(engine)
    now = utcnow()
    people = [uuid.uuid4() for _ in range(PEOPLE)]
    with engine.begin() as conn:
        conn.execute(
            User.__table__.insert(),
            [
                {
                    "id": person,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                    "username": f"bench{n}",
                    "display_name": f"Bench {n}",
                    "role": "technician",
                    "team_id": None,
                    "locale": "en",
                    "password_hash": "x",
                    "is_active": True,
                    "must_change_password": False,
                    "password_changed_at": None,
                }
                for n, person in enumerate(people)
            ],
        )
        conn.execute(
            PushSubscription.__table__.insert(),
            [
                {
                    "id": uuid.uuid4(),
                    "created_at": now,
                    "updated_at": now,
                    "user_id": people[n % PEOPLE],
                    "client_id": None,
                    "endpoint": endpoint,
                    "p256dh": p256dh,
                    "auth": auth,
                    "user_agent": "bench",
                    "expires_at": None,
                    "last_success_at": None,
                    "last_failure_at": None,
                    "failures": 0,
                }
                for n, (endpoint, p256dh, auth) in enumerate(devices)
            ],
        )
    engine.dispose()
    return people


async def enqueue_events(session_factory, people: list[uuid.UUID], events: int, tag: str) -> None:
    from backend.push.services import Message, enqueue

    for n in range(events):
        async with session_factory() as session:
            message = Message(
                kind="job_assigned",
                template="job_assigned",
                params={"number": f"J{n:06d}"},
                url=f"/#/jobs/{n}",
                topic=f"bench:{tag}:{n}",
                data={"job_id": str(uuid.uuid4()), "number": f"J{n:06d}"},
            )
            await enqueue(session, [people[n % len(people)]], message)
            await session.commit()


async def outbox_statuses(session_factory) -> dict[str, int]:
    from backend.push.models import Notification

    async with session_factory() as session:
        rows = await session.execute(select(Notification.status, func.count()).group_by(Notification.status))
        return dict(rows.all())


async def clear_outbox(session_factory) -> None:
    async with session_factory() as session:
        await session.execute(text("DELETE FROM push_notification"))
        await session.commit()


def _check(expected: int, receiver: ReceiverProcess, statuses: dict[str, int]) -> str:
    accepted, distinct, first_errors, errors = receiver.take()
    problems = []
    if accepted != expected or distinct != expected:
        problems.append(f"receiver accepted {accepted} ({distinct} distinct) of {expected}")
    if errors:
        problems.append(f"{errors} failed checks: {first_errors}")
    if statuses != {"sent": expected}:
        problems.append(f"outbox {statuses}")
    return (
        "❌ " + "; ".join(problems)
        if problems
        else f"{expected:,} accepted once each, decrypted, JWT valid ✅"
    )


async def run_database(
    label: str, url: str, people, receiver: ReceiverProcess, sender, total: int
) -> list[Row]:
    from backend.db import create_engine, create_session_factory
    from backend.push.worker import DeliveryPolicy, deliver_due
    from backend.settings import Settings

    settings = Settings(database_url=url, secret_key="bench-" + "x" * 40)
    events = total // PHONES_PER_PERSON
    rows: list[Row] = []
    scenarios = [
        ("deliver_due, 1 worker, batches of 50, 8 in flight (defaults)", 1, DeliveryPolicy()),
        (
            "deliver_due, 1 worker, batches of 200, 32 in flight",
            1,
            DeliveryPolicy(batch_size=200, concurrency=32),
        ),
        ("deliver_due, 2 workers at once, batches of 50, 8 in flight each", 2, DeliveryPolicy()),
    ]
    engines = [create_engine(settings) for _ in range(2)]
    factories = [create_session_factory(e) for e in engines]
    try:
        for index, (name, workers, policy) in enumerate(scenarios):
            await clear_outbox(factories[0])
            started = time.perf_counter()
            await enqueue_events(factories[0], people, events, f"{label}{index}")
            if index == 0:
                rows.append(
                    Row(
                        label,
                        f"enqueue: {events} events × {PHONES_PER_PERSON} phones, 1 transaction per event",
                        events * PHONES_PER_PERSON,
                        time.perf_counter() - started,
                        f"{(await outbox_statuses(factories[0])).get('pending', 0):,} rows pending",
                    )
                )
            started = time.perf_counter()
            reports = await asyncio.gather(
                *(deliver_due(factories[w], sender, policy=policy) for w in range(workers))
            )
            elapsed = time.perf_counter() - started
            sent = sum(r.sent for r in reports)
            check = _check(events * PHONES_PER_PERSON, receiver, await outbox_statuses(factories[0]))
            if workers > 1:
                check += f" (split {'/'.join(str(r.sent) for r in reports)})"
            rows.append(Row(label, name, sent, elapsed, check))
    finally:
        for engine in engines:
            await engine.dispose()
    return rows


def encrypt_only(sender, devices, total: int) -> Row:
    from backend.db import utcnow
    from backend.push.worker import Claimed

    now = utcnow()
    items = [
        Claimed(
            id=uuid.uuid4(),
            subscription_id=uuid.uuid4(),
            endpoint=devices[n % len(devices)][0],
            p256dh=devices[n % len(devices)][1],
            auth=devices[n % len(devices)][2],
            payload={
                "id": str(uuid.uuid4()),
                "kind": "job_assigned",
                "title": "New job J000001",
                "body": "x" * 60,
            },
            ttl_left=86400,
            urgency="high",
            topic="abc",
            attempts=1,
            expires_at=now + timedelta(days=1),
        )
        for n in range(total)
    ]
    started = time.perf_counter()
    for item in items:
        sender.request(item)
    return Row(
        "–",
        "encrypt + sign only (Sender.request: ECDH, HKDF, AES-GCM)",
        total,
        time.perf_counter() - started,
        "CPU ceiling, one process",
    )


def _targets() -> tuple[list[tuple[str, str]], object]:
    directory = Path(tempfile.mkdtemp(prefix="fieldq-bench-push-"))
    targets = [("sqlite", f"sqlite+aiosqlite:///{directory / 'push.db'}")]
    pg = os.environ.get("FIELDQ_BENCH_DATABASE_URL")
    cleanup = None
    if pg:
        from sqlalchemy.engine import make_url

        admin_url = make_url(pg).set(drivername="postgresql+psycopg")
        name = f"fieldq_bench_push_{uuid.uuid4().hex[:8]}"
        admin = create_sync_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        targets.append(
            (
                "postgresql",
                admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                    hide_password=False
                ),
            )
        )

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    return targets, cleanup


def run(total: int) -> list[Row]:
    from backend.db import import_all_models
    from backend.push.vapid import application_server_key, ensure_vapid_key
    from backend.push.worker import Sender
    from backend.sync.feed import install_change_recorder

    import_all_models()
    install_change_recorder()
    key = ensure_vapid_key(Path(tempfile.mkdtemp(prefix="fieldq-bench-vapid-")) / "vapid_private_key.pem")
    sender = Sender(key, "mailto:bench@fieldq.invalid")
    receiver = ReceiverProcess(application_server_key(key), PEOPLE * PHONES_PER_PERSON)
    rows = [encrypt_only(sender, receiver.devices, total)]
    targets, cleanup = _targets()
    try:
        for label, url in targets:
            print(f"benchmarking push on {label} …", file=sys.stderr)
            people = prepare(url, receiver.devices)
            rows.extend(asyncio.run(run_database(label, url, people, receiver, sender, total)))
    finally:
        receiver.stop()
        if cleanup:
            cleanup()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench push", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="400 notifications per scenario; nothing written"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results")
    args = parser.parse_args(argv)
    total = 400 if args.quick else 2000
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = run(total)
    table = markdown_table(rows)
    print(table)
    if args.quick or args.no_write:
        return
    from bench.inventory import merge_section

    load_after = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    merge_section(
        LATEST,
        "push",
        "## Web Push (outbox → local push service: `python -m bench push`)\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, load average {load_before} before and "
        f"{load_after} after. {PEOPLE} people × {PHONES_PER_PERSON} subscriptions; per scenario "
        f"{total:,} outbox rows, delivered by `deliver_due` until drained to a local push service in its "
        "own process that verifies the VAPID JWT and decrypts every body (aes128gcm) before answering 201. "
        "Per second = notifications ÷ wall time.\n\n"
        f"{table}\n",
    )
