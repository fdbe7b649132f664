"""Domain events: recorded by services inside a transaction, delivered to listeners after it commits.

A service calls ``record_event(session, event)``; nothing is delivered if the transaction rolls
back, and listeners (push notifications, later) run after the commit so they can never hold up or
undo the change that caused them. Events that must survive a crash also have a durable row (a
``SpareShortage``, a ``SyncException``); the event is the nudge, the row is the record.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("fieldq.events")
PENDING_EVENTS_KEY = "fieldq_pending_events"
_listeners: dict[type, list[Callable[[Any], None]]] = defaultdict(list)


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
    _listeners[event_type].append(handler)


def record_event(session: Any, domain_event: object) -> None:
    """Queue ``domain_event`` for delivery after ``session`` commits (sync or async session)."""
    sync_session = getattr(session, "sync_session", session)
    sync_session.info.setdefault(PENDING_EVENTS_KEY, []).append(domain_event)


def _deliver(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the enclosing transaction has not committed yet
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


_installed = False


def install_event_delivery() -> None:
    global _installed
    if _installed:
        return
    event.listen(Session, "after_commit", _deliver)
    event.listen(Session, "after_transaction_end", _discard)
    _installed = True
