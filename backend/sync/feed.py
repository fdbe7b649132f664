"""The one place where writes to synced entities are numbered.

Every flush of a session passes through ``_record_synced_writes``: each new,
changed or deleted ``SyncedEntity`` gets its ``version`` bumped (once per
transaction), its ``updated_at`` touched, and a ``SyncChange`` row added to the
same flush, so the entity and its feed entry commit or roll back together.
Because it hooks the ORM session itself, no service can forget to call it; bulk
``UPDATE``/``DELETE`` statements on synced tables, which would bypass it, are
refused outright.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import SQLModel

from backend.db import QUEUED_ROWS_KEY, TRANSACTION_CACHE_KEY, SyncedEntity, utcnow, write_queued_rows
from backend.events import install_event_delivery
from backend.sync.models import SyncChange

_TOUCHED_KEY = "fieldq_synced_touched"
_PENDING_KEY = "fieldq_feed_pending"
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
    session.info.setdefault(_PENDING_KEY, []).append(
        {
            "entity": obj.__entity_name__,
            "entity_id": obj.id,
            "op": op,
            "version": obj.version,
            "changed_at": now,
        }
    )


def _write_pending_rows(session: Session, *_args: Any) -> None:
    # One multi-row INSERT per flush, in the flush's transaction: the feed rows commit with the change.
    rows = session.info.pop(_PENDING_KEY, None)
    if rows:
        session.connection().execute(insert(SyncChange.__table__), rows)
    write_queued_rows(session)


def _flush_before_commit(session: Session) -> None:
    # Rows pending since the last flush (or in a transaction with nothing else to flush) are written
    # here, after the objects they may refer to.
    session.flush()
    _write_pending_rows(session)


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


def _forget_touched(session: Session, *_args: Any) -> None:
    session.info.pop(_TOUCHED_KEY, None)
    session.info.pop(_PENDING_KEY, None)
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
    dialect = session.bind.dialect.name
    insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    row = {"version": 1, "created_at": now, "updated_at": now, **row}
    inserted = await session.execute(
        insert_for(model.__table__)
        .values(**row)
        .on_conflict_do_nothing(index_elements=unique)
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
    await session.execute(
        insert(SyncChange.__table__),
        [
            {
                "entity": model.__entity_name__,
                "entity_id": row["id"],
                "op": "put",
                "version": 1,
                "changed_at": now,
            }
            for row in rows
        ],
    )


_installed = False


def install_change_recorder() -> None:
    """Hook the recorder into every ORM session (idempotent; called by create_app and the CLI)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _record_synced_writes)
    event.listen(Session, "after_flush", _write_pending_rows)
    event.listen(Session, "before_commit", _flush_before_commit)
    event.listen(Session, "after_commit", _forget_touched)
    event.listen(Session, "after_rollback", _forget_touched)
    event.listen(Session, "do_orm_execute", _refuse_bulk_writes)
    install_event_delivery()
    _installed = True
