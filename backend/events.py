"""Domain events: recorded by services inside a transaction, delivered to listeners after it commits.

A service calls ``record_event(session, event)``. Two kinds of listener:

- **In-transaction** (``listen_in_transaction``): async handlers that write what must commit with the
  cause or not at all: the evaluation a sign-off's rating becomes, the callback a policy asks for, the
  notification outbox row. They run when the unit of work calls ``await settle_events(session)`` before
  it commits (the request transaction, a sync push, the demo seed); a handler may record further
  events, which are settled in the same pass. A commit that skipped the settle (a CLI command, a
  service used directly) settles them itself, inside the commit, so no code path can skip them.
- **After commit** (``listen``): plain callables for nudges that must never hold up or undo the change
  (logging, waking the push worker). Nothing is delivered if the transaction rolls back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import async_session
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

log = logging.getLogger("fieldq.events")
PENDING_EVENTS_KEY = "fieldq_pending_events"
# How many of the pending events the in-transaction listeners have seen (restored with savepoints).
SETTLED_EVENTS_KEY = "fieldq_settled_events"
_listeners: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
TransactionalHandler = Callable[[Any, Any], Awaitable[None]]
_transactional: dict[type, list[TransactionalHandler]] = defaultdict(list)


class UnsettledEvents(RuntimeError):
    """A transaction tried to commit with events its in-transaction listeners have not seen."""


@dataclass(frozen=True)
class SpareShortageAppeared:
    item_id: UUID
    sku: str
    region: str
    required: int
    serviceable: int
    shortage: int


@dataclass(frozen=True)
class ExceptionRaised:
    exception_id: UUID
    kind: str
    user_id: UUID | None
    team_id: UUID | None
    message: str


def listen(event_type: type, handler: Callable[[Any], None]) -> None:
    """Call ``handler(event)`` after the transaction that recorded the event commits."""
    _listeners[event_type].append(handler)


def listen_in_transaction(event_type: type, handler: TransactionalHandler) -> None:
    """Await ``handler(session, event)`` inside the transaction that recorded the event (an
    ``AsyncSession``), when the unit of work settles its events before committing."""
    if handler not in _transactional[event_type]:
        _transactional[event_type].append(handler)


async def settle_events(session: Any) -> None:
    """Run the in-transaction listeners on every event recorded since the last settle, including
    the events those listeners record, then flush. Call before committing a unit of work."""
    info = session.sync_session.info
    while True:
        pending = info.get(PENDING_EVENTS_KEY, [])
        settled = info.get(SETTLED_EVENTS_KEY, 0)
        if settled >= len(pending):
            break
        domain_event = pending[settled]
        info[SETTLED_EVENTS_KEY] = settled + 1
        for handler in list(_transactional.get(type(domain_event), ())):
            await handler(session, domain_event)
    await session.flush()


def _settle_before_commit(session: Session) -> None:
    """The safety net for a unit of work that commits without settling (a CLI command, an import, a
    service used directly): its events are settled here, inside the commit, before the feed is
    written. The async session's commit runs this hook in SQLAlchemy's greenlet, so the listeners can
    be awaited from it (``await_only``), on the same session and transaction."""
    if session.in_nested_transaction():
        return
    pending = session.info.get(PENDING_EVENTS_KEY, [])
    unsettled = [e for e in pending[session.info.get(SETTLED_EVENTS_KEY, 0) :] if type(e) in _transactional]
    if not unsettled:
        return
    proxy = async_session(session)
    if proxy is None:
        raise UnsettledEvents(
            f"commit with {len(unsettled)} unsettled event(s) ({type(unsettled[0]).__name__}) on a "
            "plain Session: await settle_events(session) on an AsyncSession before committing"
        )
    try:
        await_only(settle_events(proxy))
    except MissingGreenlet:
        raise UnsettledEvents(
            f"commit with {len(unsettled)} unsettled event(s) ({type(unsettled[0]).__name__}) outside "
            "the async session: await settle_events(session) before committing"
        ) from None


def record_event(session: Any, domain_event: object) -> None:
    """Queue ``domain_event`` for delivery after ``session`` commits (sync or async session)."""
    sync_session = getattr(session, "sync_session", session)
    sync_session.info.setdefault(PENDING_EVENTS_KEY, []).append(domain_event)


def _deliver(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the enclosing transaction has not committed yet
    session.info.pop(SETTLED_EVENTS_KEY, None)
    for domain_event in session.info.pop(PENDING_EVENTS_KEY, []):
        log.info("event %s", domain_event)
        for handler in _listeners.get(type(domain_event), []):
            try:
                handler(domain_event)
            except Exception:  # a listener's failure never undoes or blocks the committed change
                log.exception("listener %r failed on %r", handler, domain_event)


def _discard(session: Session, transaction: Any) -> None:
    # Whatever is left when the transaction ends (rolled back, or never committed) is not delivered.
    if transaction.parent is None:
        session.info.pop(PENDING_EVENTS_KEY, None)
        session.info.pop(SETTLED_EVENTS_KEY, None)


_installed = False


def install_event_delivery() -> None:
    global _installed
    if _installed:
        return
    # First among the before_commit listeners: the feed is written after the listeners' rows exist.
    event.listen(Session, "before_commit", _settle_before_commit, insert=True)
    event.listen(Session, "after_commit", _deliver)
    event.listen(Session, "after_transaction_end", _discard)
    _installed = True
