"""The overdue scan: open complaints, callbacks, nonconformances and actions past their due date tell
their owner (``QualityItemOverdue``, which Web Push turns into a notification), once, then once a day.

Safe to run from several processes at once: each item is claimed with an UPDATE whose WHERE repeats the
"not told in the last 24 hours" test, and only the process whose UPDATE changed the row tells the owner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.events import record_event
from backend.quality.events import QualityItemOverdue
from backend.quality.loop.workflow import WORKING
from backend.quality.models import (
    ActionStatus,
    Callback,
    CallbackStatus,
    Complaint,
    ComplaintStatus,
    Nonconformance,
    QualityAction,
)

REMIND_EVERY = timedelta(hours=24)


async def _claim(session: AsyncSession, model: Any, item_id: UUID, now: datetime, cutoff: datetime) -> bool:
    claimed = await session.execute(
        update(model)
        .where(
            model.id == item_id,
            or_(model.overdue_notified_at.is_(None), model.overdue_notified_at <= cutoff),
        )
        .values(overdue_notified_at=now)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


async def _scan(
    session: AsyncSession,
    kind: str,
    model: Any,
    late: Any,
    describe: Callable[[Any], tuple[str, UUID | None, datetime]],
    now: datetime,
) -> int:
    cutoff = now - REMIND_EVERY
    rows = await session.scalars(
        select(model).where(
            late, or_(model.overdue_notified_at.is_(None), model.overdue_notified_at <= cutoff)
        )
    )
    count = 0
    for row in list(rows):
        title, owner, due_at = describe(row)
        if not await _claim(session, model, row.id, now, cutoff):
            continue  # another process told the owner just now
        count += 1
        if owner is not None:
            record_event(session, QualityItemOverdue(kind, row.id, title, owner, due_at))
    return count


def _complaint(c: Complaint) -> tuple[str, UUID | None, datetime]:
    due = c.respond_by if c.status == ComplaintStatus.open else c.resolve_by
    return f"{c.number}: {c.summary}", c.assignee_id, due


async def scan_overdue(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Mark every open item past its due date that was not told about in the last day, and record a
    ``QualityItemOverdue`` for each that has an owner; returns how many were marked, per kind. The
    caller settles the events and commits."""
    complaints_late = or_(
        (Complaint.status == ComplaintStatus.open) & (Complaint.respond_by < now),
        Complaint.status.in_([ComplaintStatus.open, ComplaintStatus.acknowledged])
        & (Complaint.resolve_by < now),
    )
    return {
        "complaints": await _scan(session, "complaint", Complaint, complaints_late, _complaint, now),
        "callbacks": await _scan(
            session,
            "callback",
            Callback,
            (Callback.status == CallbackStatus.open) & (Callback.due_at < now),
            lambda c: (f"{c.number}: callback", c.assignee_id, c.due_at),
            now,
        ),
        "nonconformances": await _scan(
            session,
            "nonconformance",
            Nonconformance,
            Nonconformance.status.in_(list(WORKING)) & (Nonconformance.due_at < now),
            lambda n: (f"{n.number}: {n.title}", n.owner_id, n.due_at),
            now,
        ),
        "actions": await _scan(
            session,
            "action",
            QualityAction,
            (QualityAction.status == ActionStatus.open) & (QualityAction.due_at < now),
            lambda a: (a.description[:200], a.owner_id, a.due_at),
            now,
        ),
    }
