"""Faults during a sync push, against a real server process, on SQLite and PostgreSQL (SYNC.md, "What the
project must prove": a crash at any point, server killed mid-push or response lost after commit, loses
nothing and duplicates nothing).

- The connection drops while the server is applying a push: the server commits anyway and answers
  into a dead connection; the phone's retry gets ``duplicate`` for everything, with the stored results,
  and stock, logs, results and exceptions are there once; a pull to the retry's write checkpoint
  brings the phone its own writes.
- The server process is SIGKILLed in the middle of a 500-mutation push: the database holds none of it
  (one push is one transaction, nothing half-written), and after a restart on the same data the retry
  applies it exactly once.
- The same push sent from four threads at once, for a new phone and for a known one: applied once;
  the others get ``duplicate`` or a retryable 409/503 with ``Retry-After``, never a second stock
  movement.

The server is started here (not with ``tests.live.live_fieldq``) because it must be killed and started
again on the same data folder and database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from backend.settings import PROJECT_ROOT
from tests.jobs_helpers import World, build_world, ids, jpeg_photo, new_job, now_iso, upload
from tests.live import LIVE_INSTALLED_UNITS, free_port
from tests.sync_helpers import SyncClient

PUSH = "/api/sync/v1/push"
PASSWORD = "fieldq-demo"
FIELDQ = [sys.executable, "-m", "backend.cli"]


# --- a server process we can kill and start again on the same data --------------------------------


@dataclass
class Server:
    """``fieldq serve`` on a data folder and database, like ``tests.live.live_fieldq``, but one that can
    be SIGKILLed and started again on the same data (``live_fieldq`` cannot restart)."""

    data_dir: Path
    database_url: str | None  # the server's URL; None: SQLite in the data folder
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "FIELDQ_DATA_DIR": str(self.data_dir),
            "FIELDQ_PORT": str(self.port),
            "FIELDQ_ENV": "dev",
        }
        if self.database_url:
            env["FIELDQ_DATABASE_URL"] = self.database_url
        else:
            env.pop("FIELDQ_DATABASE_URL", None)
        return env

    @property
    def direct_url(self) -> str:
        """The same database for the test's own synchronous reads."""
        if self.database_url:
            return self.database_url.replace("+asyncpg", "+psycopg")
        return f"sqlite:///{self.data_dir / 'fieldq.db'}"

    def prepare(self) -> None:
        seed = [
            "seed",
            "--demo",
            "--installed-units",
            str(LIVE_INSTALLED_UNITS),
            "--no-inventory",
            "--no-jobs",
        ]
        for command in (["migrate"], seed):
            subprocess.run(
                [*FIELDQ, *command], env=self.env, check=True, capture_output=True, cwd=PROJECT_ROOT
            )

    def start(self) -> None:
        self.starts += 1
        log_path = self.data_dir / f"server-{self.starts}.log"
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*FIELDQ, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log_path.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no rollback by the server; whatever was not committed is simply gone."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Store:
    """The test's own reads of the server's database (what the server committed, nothing else), and a
    probe for a push transaction in progress."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url, poolclass=NullPool)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def key(self, uuid: str) -> str:
        """A UUID as the database stores it (SQLite: 32 hex digits)."""
        return uuid.replace("-", "") if self.is_sqlite else uuid

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def push_in_progress(self, client_id: str) -> bool:
        """True while a push holds its write lock: SQLite's single writer lock (``BEGIN IMMEDIATE``),
        PostgreSQL's row lock on the client (a registered client; the push locks it ``FOR UPDATE``)."""
        if self.is_sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as error:
                assert "locked" in str(error) or "busy" in str(error), error
                return True
            finally:
                conn.close()
        with self.engine.connect() as conn:
            try:
                conn.execute(
                    text("SELECT id FROM client WHERE id = :id FOR UPDATE NOWAIT"), {"id": client_id}
                ).all()
                return False
            except OperationalError as error:
                assert getattr(error.orig, "sqlstate", None) == "55P03", error
                return True
            finally:
                conn.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per database for the module (a start costs seconds); each test builds its own world
    and its own phones, so they do not see each other's records."""
    database_url = None
    if request.param == "postgres":
        pg = request.getfixturevalue("pg_server")
        database_url = pg.create("fieldq_faults").replace("+psycopg", "+asyncpg")
        request.addfinalizer(lambda: pg.drop(database_url.replace("+asyncpg", "+psycopg")))
    live = Server(tmp_path_factory.mktemp(f"faults-{request.param}"), database_url)
    live.prepare()
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def store(server: Server) -> Iterator[Store]:
    db = Store(server.direct_url)
    yield db
    db.dispose()


# --- the HTTP side ---------------------------------------------------------------------------------


class Api:
    """An httpx client on the live server, with the ``as_role`` the job helpers take."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        self.tokens: dict[str, dict] = {}

    def login(self, username: str) -> dict:
        if username not in self.tokens:
            response = self.http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()
        return self.tokens[username]

    def as_role(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(username)['access_token']}"}

    def people(self, *usernames: str) -> dict[str, str]:
        return {name: self.login(name)["user"]["id"] for name in usernames}

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    def device(self, client_id: str) -> dict:
        devices = self.ok(self.http.get("/api/devices", headers=self.as_role("manager")))
        return next(d for d in devices if d["id"] == client_id)

    def stock(self, location_id: str, item_id: str) -> int:
        held = self.ok(
            self.http.get(f"/api/inventory/locations/{location_id}/stock", headers=self.as_role("manager"))
        )
        return sum(b["qty"] for b in held["stock"] if b["item_id"] == item_id)

    def record(self, job_id: str) -> dict:
        return self.ok(self.http.get(f"/api/jobs/{job_id}/record", headers=self.as_role("supervisor1")))

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    if server.process is None or server.process.poll() is not None:
        server.start()  # a test before this one killed it and failed before starting it again
    client = Api(server.base)
    yield client
    client.close()


@dataclass
class Day:
    """A technician's day on one job, as a numbered outbox, and what one application of it leaves."""

    mutations: list[dict]
    statuses: list[str]  # what each mutation comes to when applied
    job_id: str
    move_ids: list[str]
    logs: int
    minutes: int
    consumed: int
    checked_out: int = 5
    returned: int = 3
    handed_over: int = 2


def working_day(api: Api, phone: SyncClient, world: World, size: int) -> Day:
    """On one job: accept, drive, arrive, the three required steps (one with a photo), take 5 filters
    from the depot, use some on the job, return 3, hand 2 to tech2, use 30 more than the store thinks
    they hold (a fact: accepted, with a stock discrepancy for the supervisor), try to move the job
    straight to approved (rejected as a stale transition, and kept), and notes and time logs to fill
    the outbox to ``size``."""
    job = new_job(api.http, api.as_role, world)
    tech = api.as_role("tech1")
    photo = upload(api.http, tech, jpeg_photo(seed=size), "image/jpeg")
    part, depot = world.part_item["id"], world.depot["id"]
    move_ids: list[str] = []

    def move() -> str:
        move_ids.append(ids())
        return move_ids[-1]

    m = phone.mutation
    at = now_iso()
    out = [
        m("job.transition", at, job_id=job["id"], to="accepted"),
        m("job.transition", at, job_id=job["id"], to="en_route"),
        m(
            "job.transition",
            at,
            job_id=job["id"],
            to="on_site",
            geo={"lat": 31.24, "lon": 121.5, "accuracy_m": 8},
        ),
        m("job.step", at, job_id=job["id"], step_id="arrive", result="pass"),
        m("job.step", at, job_id=job["id"], step_id="photo", result="pass", blobs=[photo]),
        m("job.step", at, job_id=job["id"], step_id="ups", result="pass", value=13.1),
        m("custody.checkout", at, move_id=move(), item_id=part, qty=5, from_location_id=depot),
    ]
    consumed = 0
    for qty in (1, 2, 1, 3):
        out.append(m("stock.consume", at, move_id=move(), job_id=job["id"], item_id=part, qty=qty))
        consumed += qty
    out.append(
        m("custody.return", at, move_id=move(), item_id=part, qty=3, to_location_id=depot, condition="ok")
    )
    out.append(
        m("custody.transfer", at, move_id=move(), item_id=part, qty=2, to_user_id=world.people["tech2"])
    )
    out.append(m("stock.consume", at, move_id=move(), job_id=job["id"], item_id=part, qty=30))
    consumed += 30
    out.append(m("job.transition", at, job_id=job["id"], to="approved"))
    expected = ["applied"] * (len(out) - 2) + ["merged", "rejected"]
    logs = minutes = 0
    while len(out) < size:
        if logs % 4 == 3:
            out.append(
                m("job.log", at, log_id=ids(), job_id=job["id"], kind="time", text="travel", minutes=5)
            )
            minutes += 5
        else:
            out.append(m("job.log", at, log_id=ids(), job_id=job["id"], kind="note", text=f"note {logs}"))
        logs += 1
    expected += ["applied"] * logs
    return Day(out, expected, job["id"], move_ids, logs, minutes, consumed)


def make_world(api: Api) -> World:
    people = api.people("manager", "supervisor1", "tech1", "tech2", "tech5")
    return build_world(api.http, api.as_role, people)


def person_location(api: Api, username: str) -> str:
    custody = api.ok(api.http.get("/api/inventory/custody/me", headers=api.as_role(username)))
    return custody["person_location_id"]


@dataclass
class Snapshot:
    last_mutation_id: int
    results: int
    logs: int
    minutes: int
    parts: int
    steps: int
    status: str
    movements: int
    operations: int
    tech_stock: int
    depot_stock: int
    handed_over: int  # waiting for tech2 to accept
    exceptions: int


def snapshot(api: Api, store: Store, world: World, day: Day, client_id: str, tech_location: str) -> Snapshot:
    """What is there, read through the API and, for the ledger rows the API does not list, the database."""
    record = api.record(day.job_id)
    moves = ", ".join(f"'{store.key(m)}'" for m in day.move_ids)  # uuids made by the test
    handovers = api.ok(
        api.http.get("/api/inventory/handovers", headers=api.as_role("tech2"), params={"status": "pending"})
    )
    return Snapshot(
        last_mutation_id=api.device(client_id)["last_mutation_id"],
        results=store.scalar(
            "SELECT count(*) FROM sync_mutation_result WHERE client_id = :c",
            c=store.key(client_id),
        ),
        logs=len(record["logs"]),
        minutes=record["minutes_logged"],
        parts=sum(p["qty"] for p in record["parts"]),
        steps=len(record["steps"]),
        status=record["job"]["status"],
        movements=store.scalar(f"SELECT count(*) FROM movement WHERE move_id IN ({moves})"),  # noqa: S608
        operations=store.scalar(f"SELECT count(*) FROM inventory_operation WHERE move_id IN ({moves})"),  # noqa: S608
        tech_stock=api.stock(tech_location, world.part_item["id"]),
        depot_stock=api.stock(world.depot["id"], world.part_item["id"]),
        handed_over=sum(h["qty"] for h in handovers if h["item_id"] == world.part_item["id"]),
        exceptions=store.scalar(
            "SELECT count(*) FROM sync_exception WHERE job_id = :j", j=store.key(day.job_id)
        ),
    )


def once(day: Day, last_mutation_id: int) -> Snapshot:
    """The state after exactly one application of ``day`` on a fresh world (20 filters in tech1's
    custody, 60 left in the depot): one ledger movement per checkout, consumption and return (a
    hand-over moves nothing until tech2 accepts it), one stored result per mutation, one exception
    per contested fact or refusal."""
    return Snapshot(
        last_mutation_id=last_mutation_id,
        results=last_mutation_id,
        logs=day.logs,
        minutes=day.minutes,
        parts=day.consumed,
        steps=3,
        status="on_site",
        movements=len(day.move_ids) - 1,
        operations=len(day.move_ids),
        tech_stock=20 + day.checked_out - day.consumed - day.returned,
        depot_stock=60 - day.checked_out + day.returned,
        handed_over=day.handed_over,
        exceptions=2,  # the stock discrepancy and the rejected transition
    )


NOTHING = Snapshot(
    last_mutation_id=0,
    results=0,
    logs=0,
    minutes=0,
    parts=0,
    steps=0,
    status="assigned",
    movements=0,
    operations=0,
    tech_stock=20,
    depot_stock=60,
    handed_over=0,
    exceptions=0,
)


def wait_for(condition, what: str, timeout: float = 20.0, every: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def push_body(client_id: str, mutations: list[dict]) -> dict:
    return {"protocol": 1, "client_id": client_id, "mutations": mutations}


def send_push_on_socket(server: Server, headers: dict[str, str], body: dict) -> socket.socket:
    """The whole request written on a plain socket; the caller decides whether to read the answer."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {PUSH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: {headers['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head.encode() + payload)
    return sock


def nothing_received_yet(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # a byte of the answer, or the end of the connection
        return False
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)


def drop(sock: socket.socket) -> None:
    """Gone the way a phone losing signal goes: a reset, no goodbye, and not a byte of the answer read."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def assert_pulled_own_writes(phone: SyncClient, day: Day, write_checkpoint: str) -> None:
    """A pull that reaches the push's write checkpoint holds the phone's own writes, once each."""
    phone.pull()
    assert phone.checkpoint >= int(write_checkpoint)
    assert phone.last_mutation_id == len(day.mutations)
    assert phone.records[("job", day.job_id)]["status"] == "on_site"
    logs = [r for (kind, _), r in phone.records.items() if kind == "job_log" and r["job_id"] == day.job_id]
    assert len(logs) == day.logs
    steps = [r for (kind, _), r in phone.records.items() if kind == "job_step" and r["job_id"] == day.job_id]
    assert len(steps) == 3


def statuses(response: dict) -> list[str]:
    return [r["status"] for r in response["results"]]


def assert_all_duplicates_of_one_application(response: dict, day: Day) -> None:
    """Every mutation answered ``duplicate``, with the result it had when it was applied."""
    assert [r["id"] for r in response["results"]] == [m["id"] for m in day.mutations]
    assert set(statuses(response)) == {"duplicate"}, response["results"][:3]
    stored = [r["result"] for r in response["results"]]
    assert [s["id"] for s in stored] == [m["id"] for m in day.mutations]
    assert [s["status"] for s in stored] == day.statuses


# --- the tests -------------------------------------------------------------------------------------


def test_a_response_lost_after_commit_is_answered_with_duplicates_on_retry(server, store, api):
    world = make_world(api)
    tech = api.as_role("tech1")
    tech_location = person_location(api, "tech1")
    phone = SyncClient(api.http, tech)
    phone.push([])  # the phone synced before (and on PostgreSQL the probe can see its row locked)
    phone.pull()
    day = working_day(api, phone, world, 200)
    assert snapshot(api, store, world, day, phone.client_id, tech_location) == NOTHING

    # The request goes out whole; while the server is applying it, the connection drops. The
    # phone never reads a byte of the answer (the server has not written one yet).
    sock = send_push_on_socket(server, tech, push_body(phone.client_id, day.mutations))
    wait_for(lambda: store.push_in_progress(phone.client_id), "the push to be in progress")
    assert nothing_received_yet(sock)
    drop(sock)

    # The server goes on and commits the push, then answers into a dead connection.
    wait_for(
        lambda: api.device(phone.client_id)["last_mutation_id"] == len(day.mutations),
        "the dropped push to commit",
        every=0.1,
    )
    expected = once(day, len(day.mutations))
    assert snapshot(api, store, world, day, phone.client_id, tech_location) == expected

    # The phone, which saw only an error, sends the same outbox again, twice: nothing happens twice,
    # and the answers carry the stored results of the first (unread) application.
    for _ in range(2):
        again = phone.push(day.mutations)
        assert again["last_mutation_id"] == len(day.mutations)
        assert_all_duplicates_of_one_application(again, day)
    assert snapshot(api, store, world, day, phone.client_id, tech_location) == expected
    # The duplicates' write checkpoint stands in for the lost one: a pull reaching it has it all.
    assert_pulled_own_writes(phone, day, again["write_checkpoint"])
    # Split differently, and with one new mutation after: only the new one is applied.
    tail = [
        *day.mutations[150:],
        phone.mutation("job.log", log_id=ids(), job_id=day.job_id, kind="note", text="x"),
    ]
    out = phone.push(tail)
    assert statuses(out) == ["duplicate"] * 50 + ["applied"]
    assert len(api.record(day.job_id)["logs"]) == day.logs + 1


def test_a_server_killed_mid_push_leaves_all_or_nothing_and_the_retry_applies_once(server, store, api):
    world = make_world(api)
    tech = api.as_role("tech1")
    tech_location = person_location(api, "tech1")
    phone = SyncClient(api.http, tech)
    phone.push([])
    phone.pull()  # a cursor from before the crash
    day = working_day(api, phone, world, 500)  # the most one push may carry: about 2 s of work

    outcome: dict[str, Any] = {}

    def push_in_background() -> None:
        try:
            with httpx.Client(base_url=server.base, timeout=60) as http:
                outcome["response"] = http.post(
                    PUSH, headers=tech, json=push_body(phone.client_id, day.mutations)
                )
        except httpx.HTTPError as error:
            outcome["error"] = error

    pusher = threading.Thread(target=push_in_background)
    pusher.start()
    wait_for(lambda: store.push_in_progress(phone.client_id), "the push to be in progress")
    time.sleep(0.4)  # well into the batch, mutations applied in its transaction
    assert store.push_in_progress(phone.client_id), "the push finished before the kill; make it bigger"
    server.kill()
    pusher.join(timeout=30)
    assert "response" not in outcome, outcome["response"].text
    assert isinstance(outcome["error"], httpx.TransportError), outcome

    # Before any restart, the database holds none of the push (killed long before its commit): no
    # stored result, no log, and last_mutation_id where it was.
    client, job = store.key(phone.client_id), store.key(day.job_id)
    assert store.scalar("SELECT last_mutation_id FROM client WHERE id = :c", c=client) == 0
    assert store.scalar("SELECT count(*) FROM sync_mutation_result WHERE client_id = :c", c=client) == 0
    assert store.scalar("SELECT count(*) FROM job_log WHERE job_id = :j", j=job) == 0

    server.start()
    assert snapshot(api, store, world, day, phone.client_id, tech_location) == NOTHING

    # The phone sends the whole outbox again: applied once, in full.
    retry = phone.push(day.mutations)
    assert retry["last_mutation_id"] == len(day.mutations)
    assert statuses(retry) == day.statuses
    expected = once(day, len(day.mutations))
    assert snapshot(api, store, world, day, phone.client_id, tech_location) == expected
    assert_pulled_own_writes(phone, day, retry["write_checkpoint"])
    assert_all_duplicates_of_one_application(phone.push(day.mutations), day)
    assert snapshot(api, store, world, day, phone.client_id, tech_location) == expected


def storm(server: Server, headers: dict[str, str], body: dict, threads: int = 4) -> list[httpx.Response]:
    """The same push from ``threads`` threads at once, each on its own connection."""
    start = threading.Barrier(threads)
    responses: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=server.base, timeout=60) as http:
            start.wait()
            responses.append(http.post(PUSH, headers=headers, json=body))

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(responses) == threads
    return responses


def test_a_retry_storm_applies_the_push_once(server, store, api):
    tech = api.as_role("tech1")
    phone = SyncClient(api.http, tech)
    worlds = [make_world(api) for _ in range(2)]
    tech_location = person_location(api, "tech1")
    # First a new phone (its registration races too), then its next outbox (the phone's row exists).
    pushed = 0
    for world in worlds:
        day = working_day(api, phone, world, 60)
        pushed += len(day.mutations)
        body = push_body(phone.client_id, day.mutations)
        responses = storm(server, tech, body)
        fresh, repeats = [], []
        for response in responses:
            if response.status_code == 200:
                answer = response.json()
                if statuses(answer) == day.statuses:
                    fresh.append(answer)
                else:
                    assert set(statuses(answer)) == {"duplicate"}, answer["results"][:3]
                    repeats.append(answer)
            else:
                assert response.status_code in (409, 503), response.text
                assert int(response.headers["Retry-After"]) >= 1, response.headers
        assert len(fresh) == 1, [r.status_code for r in responses]
        assert fresh[0]["last_mutation_id"] == pushed
        for repeat in repeats:
            assert_all_duplicates_of_one_application(repeat, day)
            assert [r["result"] for r in repeat["results"]] == fresh[0]["results"]
        # Those told to retry later do, and get the duplicates.
        for _ in range(len(responses) - len(fresh) - len(repeats)):
            assert_all_duplicates_of_one_application(phone.push(day.mutations), day)
        assert snapshot(api, store, world, day, phone.client_id, tech_location) == once(day, pushed)
