"""The quality clock runs the overdue scan in the app's background: a late complaint's owner is told
(once) without anyone running a command, and the clock stops with the app."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from backend.db import create_engine, create_session_factory, utcnow
from backend.events import listen
from backend.quality.events import QualityItemOverdue
from backend.quality.loop.clock import QualityClock
from backend.quality.models import Complaint

heard: list[QualityItemOverdue] = []
listen(QualityItemOverdue, heard.append)


def test_the_clock_tells_a_late_complaints_owner_once_and_stops(settings, seeded):
    heard.clear()
    quality_id = uuid.UUID(seeded["quality"])

    async def work():
        engine = create_engine(settings)
        factory = create_session_factory(engine)
        try:
            async with factory() as session, session.begin():
                late = Complaint(
                    number="CMP-CLOCK1",
                    channel="phone",
                    summary="the ATM still rejects cards",
                    respond_by=utcnow() - timedelta(hours=2),
                    resolve_by=utcnow() + timedelta(days=2),
                    received_at=utcnow() - timedelta(hours=10),
                    assignee_id=quality_id,
                )
                session.add(late)
            clock = QualityClock(factory, every_seconds=0.05)
            await clock.start()
            for _ in range(100):  # up to 5 s on a loaded machine; usually the first tick
                if heard:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # a few more ticks: the owner is not told again the same day
            await clock.stop()
            assert clock._task is None
            async with factory() as session:
                return await session.scalar(
                    select(Complaint.overdue_notified_at).where(Complaint.id == late.id)
                ), late.id
        finally:
            await engine.dispose()

    notified_at, complaint_id = asyncio.run(work())
    assert notified_at is not None
    assert [(e.kind, e.item_id, e.assignee_id) for e in heard] == [("complaint", complaint_id, quality_id)]
