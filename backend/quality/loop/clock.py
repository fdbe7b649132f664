"""The quality clock: runs the overdue scan every few minutes in the app's background, so owners hear
about late complaints, callbacks, nonconformances and actions without anyone running a command.

Several app processes may each run a clock: the scan claims items row by row (see ``overdue``), so an
owner is told once whichever process gets there first."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.db import utcnow
from backend.events import settle_events
from backend.quality.loop.overdue import scan_overdue

log = logging.getLogger("fieldq.quality.clock")


async def scan_once(session_factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with session_factory() as session, session.begin():
        counts = await scan_overdue(session, utcnow())
        await settle_events(session)
    return counts


class QualityClock:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], every_seconds: float) -> None:
        self.session_factory = session_factory
        self.every_seconds = every_seconds
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self.every_seconds > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="fieldq-quality-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            # Wait first: a process that starts (a deploy, a test) does not scan before it serves.
            await asyncio.sleep(self.every_seconds)
            try:
                counts = await scan_once(self.session_factory)
                if any(counts.values()):
                    log.info("overdue scan: %s", counts)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed scan (database restarting) is retried at the next tick
                log.exception("overdue scan failed")
