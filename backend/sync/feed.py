"""The one place where writes to synced entities are numbered.

Every flush of a session passes through ``_record_synced_writes``: each new,
changed or deleted ``SyncedEntity`` gets its ``version`` bumped (once per
transaction) and its ``updated_at`` touched, and its feed entry is noted. The
entries are written when the transaction commits (``_write_feed``), in the same
transaction, so the entity and its feed entry commit or roll back together.

Numbers in commit order: on PostgreSQL a sequence hands out numbers in the order
transactions ask, but they become visible in the order transactions commit, so a
pull could pass a number whose transaction has not committed yet and never see
it. The feed rows are therefore written last, just before COMMIT, under a
transaction-level advisory lock that the commit releases: feed numbers are taken
and made visible one transaction at a time, and a pull that sees number n sees
every number below it. The lock is held only for the feed insert and the
commit. SQLite has one writer at a time and needs nothing.
Because it hooks the ORM session itself, no service can forget to call it; bulk
``UPDATE``/``DELETE`` statements on synced tables, which would bypass it, are
refused outright.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import event, insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import SQLModel

from backend.db import (
    QUEUED_ROWS_KEY,
    TRANSACTION_CACHE_KEY,
    SyncedEntity,
    insert_unless_present,
    utcnow,
    write_queued_rows,
)
from backend.events import PENDING_EVENTS_KEY, SETTLED_EVENTS_KEY, install_event_delivery
from backend.sync.models import SyncChange, SyncChangeScope
from backend.sync.scopes import MOVABLE, SCOPE_COLUMNS, tag_changes

_TOUCHED_KEY = "fieldq_synced_touched"
_PENDING_KEY = "fieldq_feed_pending"
_BEFORE_KEY = "fieldq_feed_before"
# The highest feed number the session's last commit wrote (a push's write checkpoint).
LAST_SEQ_KEY = "fieldq_feed_last_seq"
# Any constant: the advisory lock that orders feed numbers by commit (see the module's docstring).
FEED_LOCK_KEY = 0x46_51_46_45_45_44  # "FQFEED"
# Execution option of a bulk statement whose feed entries its caller writes itself (imports), or whose
# rows the caller changes through the session in the same transaction (a placeholder balance row).
FEED_RECORDED = "fieldq_feed_recorded"


class BulkWriteToSyncedEntity(RuntimeError):
    """A bulk statement would change synced rows without versions or feed entries."""


def _touched(session: Session) -> set[tuple[str, Any]]:
    return session.info.setdefault(_TOUCHED_KEY, set())


def _record(session: Session, obj: SyncedEntity, op: str) -> None:
    key = (obj.__entity_name__, obj.id)
    touched = _touched(session)
    if op == "put" and key in touched:
        return
    now = utcnow()
    if op == "put":
        if obj in session.new:
            obj.version = obj.version or 1
        else:
            obj.version = (obj.version or 0) + 1
            obj.updated_at = now
    touched.add(key)
    _remember_scope_columns(session, obj, op, key)
    session.info.setdefault(_PENDING_KEY, []).append(
        {
            "entity": obj.__entity_name__,
            "entity_id": obj.id,
            "op": op,
            "version": obj.version,
            "changed_at": now,
        }
    )


def _remember_scope_columns(session: Session, obj: SyncedEntity, op: str, key: tuple[str, Any]) -> None:
    """Keep what decides who sees ``obj`` as it was before this transaction (a row that may move between
    scopes), or as it was last (a deleted row), so the commit can tell the scopes it left."""
    before = session.info.setdefault(_BEFORE_KEY, {})
    if key in before:
        return
    if op == "del":
        before[key] = {name: getattr(obj, name, None) for name in SCOPE_COLUMNS.get(key[0], ())}
        return
    movable = MOVABLE.get(key[0])
    if not movable or obj in session.new:
        return
    state = inspect(obj)
    original = {}
    for name in movable:
        history = state.attrs[name].history
        if history.deleted:
            original[name] = history.deleted[0]
        elif history.unchanged:
            original[name] = history.unchanged[0]
        else:
            original[name] = getattr(obj, name)
    before[key] = original


def _write_queued(session: Session, *_args: Any) -> None:
    write_queued_rows(session)


def _write_feed(session: Session) -> None:
    """Write the transaction's feed rows and their scope tags, numbered in commit order."""
    if session.in_nested_transaction():
        return  # a savepoint's release is not the commit (SQLAlchemy fires before_commit for it too)
    session.flush()  # the objects first: the tags are computed from the rows as they will commit
    write_queued_rows(session)
    pending = session.info.pop(_PENDING_KEY, None)
    before = session.info.pop(_BEFORE_KEY, {})
    if not pending:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": FEED_LOCK_KEY})
    tagged = tag_changes(connection, pending, before)
    numbered = connection.execute(
        insert(SyncChange.__table__).returning(SyncChange.__table__.c.seq, sort_by_parameter_order=True),
        [change for change, _ops in tagged],
    ).all()
    scope_rows = [
        {"scope": scope, "seq": seq, "op": op}
        for (seq,), (_change, ops) in zip(numbered, tagged, strict=True)
        for scope, op in ops
    ]
    if scope_rows:
        connection.execute(insert(SyncChangeScope.__table__), scope_rows)
    session.info[LAST_SEQ_KEY] = numbered[-1][0]


def _record_synced_writes(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in list(session.new):
        if isinstance(obj, SyncedEntity):
            _record(session, obj, "put")
    for obj in list(session.dirty):
        if isinstance(obj, SyncedEntity) and session.is_modified(obj, include_collections=False):
            _record(session, obj, "put")
    for obj in list(session.deleted):
        if isinstance(obj, SyncedEntity):
            _record(session, obj, "del")


def _forget_touched(session: Session, transaction: Any) -> None:
    # Only when the transaction itself ends: SQLAlchemy also fires commit and rollback events for
    # savepoints, whose end must keep what the enclosing transaction noted (``savepoint`` below
    # restores it when the savepoint rolls back).
    if transaction.parent is not None:
        return
    session.info.pop(_TOUCHED_KEY, None)
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_BEFORE_KEY, None)
    session.info.pop(TRANSACTION_CACHE_KEY, None)
    session.info.pop(QUEUED_ROWS_KEY, None)


def touch(entity: SyncedEntity) -> None:
    """Mark ``entity`` changed when what changed is data derived from another table (a team's
    ``supervisor_ids`` live in ``team_supervisor``): its version moves and the feed records it."""
    entity.updated_at = utcnow()


def _synced_table_names() -> frozenset[str]:
    mappers = SQLModel._sa_registry.mappers
    return _synced_tables_among(frozenset(mappers))


@lru_cache(maxsize=4)
def _synced_tables_among(mappers: frozenset) -> frozenset[str]:
    # Keyed by the set of mappers, so tables imported later are still seen; computed once per set.
    return frozenset(m.local_table.name for m in mappers if issubclass(m.class_, SyncedEntity))


def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    # The unit of work's own flushes do not pass through here; only statements a caller executes.
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.execution_options.get(FEED_RECORDED):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name in _synced_table_names():
        verb = "INSERT" if state.is_insert else "UPDATE" if state.is_update else "DELETE"
        raise BulkWriteToSyncedEntity(
            f"a bulk {verb} on {name} bypasses versions and the change feed; "
            "add, change or delete the objects through the session"
        )


async def insert_synced_row_if_absent(
    session: AsyncSession, model: type[SyncedEntity], row: dict[str, Any], *, unique: list[str]
) -> bool:
    """Insert one new synced row unless a row with the same ``unique`` columns exists, so that callers
    racing to create it make exactly one; the feed records it when this call inserted it. The caller
    reads the row back afterwards (theirs or the winner's)."""
    now = utcnow()
    row = {"version": 1, "created_at": now, "updated_at": now, **row}
    inserted = await session.execute(
        insert_unless_present(session, model.__table__, unique=unique)
        .values(**row)
        .returning(model.__table__.c.id)
        .execution_options(**{FEED_RECORDED: True})
    )
    if inserted.scalar() is None:
        return False
    session.info.setdefault(_PENDING_KEY, []).append(
        {
            "entity": model.__entity_name__,
            "entity_id": row["id"],
            "op": "put",
            "version": 1,
            "changed_at": now,
        }
    )
    return True


async def insert_synced_rows(
    session: AsyncSession, model: type[SyncedEntity], rows: list[dict[str, Any]]
) -> None:
    """Insert many new synced rows at once, each with its feed entry, for imports where one ORM
    object per row would be too slow. Every row must carry its ``id``."""
    if not rows:
        return
    now = utcnow()
    for row in rows:
        row.setdefault("version", 1)
        row.setdefault("created_at", now)
        row.setdefault("updated_at", now)
    await session.execute(insert(model.__table__).execution_options(**{FEED_RECORDED: True}), rows)
    session.info.setdefault(_PENDING_KEY, []).extend(
        {
            "entity": model.__entity_name__,
            "entity_id": row["id"],
            "op": "put",
            "version": 1,
            "changed_at": now,
        }
        for row in rows
    )


_installed = False


def install_change_recorder() -> None:
    """Hook the recorder into every ORM session (idempotent; called by create_app and the CLI)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _record_synced_writes)
    event.listen(Session, "after_flush", _write_queued)
    event.listen(Session, "before_commit", _write_feed)
    event.listen(Session, "after_transaction_end", _forget_touched)
    event.listen(Session, "do_orm_execute", _refuse_bulk_writes)
    install_event_delivery()
    from backend.listeners import install_listeners

    install_listeners()
    _installed = True


def version_after_commit(session: AsyncSession | Session, entity: SyncedEntity) -> int:
    """The version ``entity`` will have when the current transaction commits, for records that note
    which version a change made (a job's history, for the three-way merge of ``job.update``)."""
    sync_session = getattr(session, "sync_session", session)
    if entity in sync_session.new or not entity.version:
        return 1
    if (entity.__entity_name__, entity.id) in _touched(sync_session):
        return entity.version
    return entity.version + 1


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A nested transaction for one unit of work inside a larger one (a mutation in a push). If the
    body raises, its database writes roll back and so does everything this module and the services
    noted for the commit inside it: feed entries, queued ledger rows, domain events, cached rows."""
    await session.flush()
    await session.run_sync(write_queued_rows)
    info = session.info
    kept = {
        _TOUCHED_KEY: set(info.get(_TOUCHED_KEY, ())),
        _PENDING_KEY: list(info.get(_PENDING_KEY, ())),
        _BEFORE_KEY: dict(info.get(_BEFORE_KEY, {})),
        PENDING_EVENTS_KEY: list(info.get(PENDING_EVENTS_KEY, ())),
        SETTLED_EVENTS_KEY: info.get(SETTLED_EVENTS_KEY, 0),
        TRANSACTION_CACHE_KEY: {
            key: value.copy() if isinstance(value, (set, list, dict)) else value
            for key, value in info.get(TRANSACTION_CACHE_KEY, {}).items()
        },
    }
    nested = await session.begin_nested()
    try:
        yield
        await session.flush()
        await session.run_sync(write_queued_rows)
    except BaseException:
        await nested.rollback()
        info.pop(QUEUED_ROWS_KEY, None)
        info.update(kept)
        raise
    await nested.commit()
