"""Engine, sessions and the mixins every table shares.

SQLite (the embedded default) runs with WAL, foreign keys and a busy timeout;
PostgreSQL is chosen by URL. Tables are SQLModel classes registered on
``SQLModel.metadata``, which both the advanced-alchemy Litestar plugin and
Alembic read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig
from advanced_alchemy.types import DateTimeUTC
from litestar.di import NamedDependency
from sqlalchemy import Table, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, declared_attr
from sqlmodel import Field, SQLModel

from backend.events import settle_events
from backend.settings import Settings

# Constraint names that Alembic can diff and PostgreSQL/SQLite both accept.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Entity(SQLModel):
    """A row with a UUID made by whoever creates the record, and its timestamps."""

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)


class SyncedEntity(Entity):
    """An entity the phones replicate.

    ``version`` is bumped, and the change recorded in the sync change feed, by
    ``backend.sync.feed`` on every flush, never by hand: see that module.
    ``__entity_name__`` is the name the sync protocol uses (SYNC.md, Entities).
    """

    __entity_name__: ClassVar[str] = ""

    version: int = Field(default=1, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # Optimistic concurrency: every UPDATE says "WHERE version = <the version I read>", so of two
        # transactions that changed the same row concurrently the second fails (StaleDataError → 409)
        # instead of both writing the same next version. The recorder sets the number itself.
        return {"version_id_col": cls.__table__.c.version, "version_id_generator": False}


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, echo=settings.log_sql)
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        settings.database_url, echo=settings.log_sql, pool_pre_ping=True, pool_size=10, max_overflow=10
    )


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_plugin_config(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> SQLAlchemyAsyncConfig:
    """The request-scoped session: one transaction per request, committed once
    by the plugin's ``autocommit`` handler on a 2xx response, rolled back otherwise."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_maker=session_factory,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        metadata=SQLModel.metadata,
        # Services get "db_session" from provide_transaction below, which commits before the response
        # is built; the plugin's autocommit then only rolls back failed requests and closes the session.
        session_dependency_key="request_session",
        before_send_handler="autocommit",
        enable_touch_updated_timestamp_listener=False,
        create_all=False,
        set_default_exception_handler=False,
    )


async def provide_transaction(
    request_session: NamedDependency[AsyncSession],
) -> AsyncGenerator[AsyncSession, None]:
    """The request's session; its transaction commits when the handler returns normally.

    Committing here, before the response is sent, means a failed commit (a lock timeout, a
    serialization failure, a dropped connection) becomes an error response through the one error
    mapping, instead of a 2xx for a change that was never stored. A handler that raises never
    reaches the commit: Litestar throws its exception into this generator.
    """
    yield request_session
    if request_session.in_transaction():
        await settle_events(request_session)
        await request_session.commit()


def import_all_models() -> None:
    """Import every domain's tables so ``SQLModel.metadata`` is complete (Alembic, create_all)."""
    import backend.auth.models
    import backend.inventory.models
    import backend.jobs.models
    import backend.push.models
    import backend.quality.models
    import backend.sync.models  # noqa: F401


TRANSACTION_CACHE_KEY = "fieldq_transaction_cache"
QUEUED_ROWS_KEY = "fieldq_queued_rows"


def transaction_cache(session: AsyncSession) -> dict[Any, Any]:
    """A dict that lives as long as the session's current transaction (cleared on commit and
    rollback by the listeners in ``backend.sync.feed``): rows locked or read in this transaction."""
    return session.info.setdefault(TRANSACTION_CACHE_KEY, {})


def queue_insert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table`` with the session's next flush (or at commit), as part of one
    multi-row statement per table, parent tables first. For append-only rows
    written in volume (ledger lines) where an ORM object each would cost more than the write itself;
    the row must carry every column value, defaults included. Dropped if the transaction rolls back."""
    session.info.setdefault(QUEUED_ROWS_KEY, {}).setdefault(table, []).append(row)


def is_queued(session: AsyncSession, table: Table, row: dict[str, Any]) -> bool:
    return any(queued is row for queued in session.info.get(QUEUED_ROWS_KEY, {}).get(table, ()))


@lru_cache(maxsize=4)
def _dependency_order(_table_names: tuple[str, ...]) -> dict[str, int]:
    # Sorting the metadata by foreign keys is not free: done once per set of tables, not per flush.
    return {table.name: index for index, table in enumerate(SQLModel.metadata.sorted_tables)}


def write_queued_rows(session: Session) -> None:
    queued = session.info.pop(QUEUED_ROWS_KEY, None)
    if queued:
        connection = session.connection()
        # Parents before children, whatever order the rows were queued in.
        order = _dependency_order(tuple(SQLModel.metadata.tables))
        for table in sorted(queued, key=lambda t: order.get(t.name, len(order))):
            connection.execute(table.insert(), queued[table])


def insert_unless_present(session: AsyncSession, table: Table, *, unique: list[str]):
    """An INSERT that does nothing when a row with the same ``unique`` columns exists (PostgreSQL's
    and SQLite's ``ON CONFLICT DO NOTHING``): callers racing to create one row make exactly one."""
    insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=unique)


async def begin_write(session: AsyncSession) -> None:
    """Start the session's transaction as a writer, before it reads what it will change.

    On SQLite the driver opens a transaction only at the first write, and reads before it see
    whatever was committed then; two requests could both read a balance and both write. Taking
    the write lock first (``BEGIN IMMEDIATE``) serializes writers so each reads the latest state.
    PostgreSQL needs nothing here: services lock the rows they change (``SELECT … FOR UPDATE``).
    """
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = await connection.get_raw_connection()
    if not raw.driver_connection.in_transaction:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def begin_snapshot(session: AsyncSession) -> None:
    """Start the session's next transaction as one consistent snapshot for several reads (a sync pull:
    the feed, the records and ``last_mutation_id`` must agree). PostgreSQL: REPEATABLE READ, set before
    the transaction's first statement. SQLite: an explicit deferred BEGIN, since the driver would
    otherwise run each SELECT in its own snapshot."""
    if session.in_transaction():
        await session.commit()
    if session.bind.dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    if not raw.driver_connection.in_transaction:
        await connection.exec_driver_sql("BEGIN")
