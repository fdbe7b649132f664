"""Fixtures: a fresh database per test (SQLite, and PostgreSQL when FIELDQ_TEST_DATABASE_URL is set),
the app on it, the demo company seeded, and logins per role."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

# Before backend is imported: a cheap argon2 profile so each test can seed 17 users quickly.
os.environ.setdefault("FIELDQ_PASSWORD_HASH_PROFILE", "test")

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from backend.app import create_app
from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory, import_all_models
from backend.demo import DEMO_PASSWORD, seed_demo
from backend.settings import Settings
from backend.sync.feed import install_change_recorder

import_all_models()
install_change_recorder()

PG_URL = os.environ.get("FIELDQ_TEST_DATABASE_URL", "")
TEST_SECRET = "test-secret-key-" + "x" * 40
# The demo installed base in tests: enough for every model and region, small enough to seed per test.
DEMO_INSTALLED_UNITS = 60


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "demo_inventory: the seeded demo company comes with its inventory (installed base of "
        f"{DEMO_INSTALLED_UNITS} ATMs, spares, toolboxes, uniforms, vans)",
    )


def _sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")


def _async_pg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


class PostgresServer:
    """Makes throwaway databases on the test PostgreSQL server."""

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url).set(drivername="postgresql+psycopg")
        self._admin = create_engine(self.base, isolation_level="AUTOCOMMIT")

    def create(self, prefix: str = "fieldq_t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self.base.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if not PG_URL:
        pytest.skip("FIELDQ_TEST_DATABASE_URL is not set")
    server = PostgresServer(PG_URL)
    yield server
    server._admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_database(pg_server: PostgresServer) -> Iterator[str]:
    """One PostgreSQL database with the schema, emptied before every test that uses it."""
    url = pg_server.create()
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    yield url
    pg_server.drop(url)


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with the current schema and no rows, fresh for this test."""
    if request.param == "sqlite":
        path = tmp_path / "fieldq-test.db"
        engine = create_engine(f"sqlite:///{path}")
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("pg_schema_database")
    _truncate_all(url)
    return _async_pg_url(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>FieldQ</title><div id=app></div>")
    (dist / "assets" / "app-abc123.js").write_text("console.log('fieldq')")
    (dist / "sw.js").write_text("self.addEventListener('install', () => {})")
    return Settings(
        env="dev",
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=TEST_SECRET,
        secret_key_source="env",
        pwa_dist=dist,
    )


def run_async(coro):
    return asyncio.run(coro)


@pytest.fixture
def seeded(settings: Settings, request: pytest.FixtureRequest) -> dict[str, str]:
    """The demo company in the test database; returns username → user id. Its inventory (a small
    installed base, spares, tools, uniforms, vans) only for tests marked ``demo_inventory``: most
    inventory tests build their own catalog and count on the rest of the store being empty."""
    inventory = request.node.get_closest_marker("demo_inventory") is not None

    async def seed():
        engine = create_async_db_engine(settings)
        try:
            await seed_demo(
                create_session_factory(engine), installed_units=DEMO_INSTALLED_UNITS, inventory=inventory
            )
            async with engine.connect() as conn:
                rows = await conn.execute(text('SELECT username, id FROM "user"'))
                return {name: str(uuid.UUID(str(uid))) for name, uid in rows}
        finally:
            await engine.dispose()

    return run_async(seed())


@pytest.fixture
def client(settings: Settings, seeded: dict[str, str]) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@pytest.fixture
def bare_client(settings: Settings) -> Iterator[TestClient]:
    """The app on an empty database (no demo company)."""
    with TestClient(app=create_app(settings), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str = DEMO_PASSWORD, **extra) -> dict:
    response = client.post("/api/auth/login", json={"username": username, "password": password, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def as_role(client: TestClient):
    """Headers for a demo login by username, cached per test."""
    cache: dict[str, dict[str, str]] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = bearer(login(client, username))
        return cache[username]

    return headers


def settings_with(settings: Settings, **changes) -> Settings:
    return replace(settings, **changes)


@pytest.fixture(params=["sqlite", "postgres"])
def live_server(request, tmp_path) -> Iterator[str]:
    """A real FieldQ server process (migrated, demo company seeded) on SQLite and on PostgreSQL."""
    from tests.live import live_fieldq

    url = None
    if request.param == "postgres":
        pg = request.getfixturevalue("pg_server")
        url = pg.create("fieldq_live").replace("+psycopg", "+asyncpg")
        request.addfinalizer(lambda: pg.drop(url.replace("+asyncpg", "+psycopg")))
    with live_fieldq(tmp_path, url) as base:
        yield base
