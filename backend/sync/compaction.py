"""Keeping the change feed small (SYNC.md, Pull: tombstones kept at least 30 days).

A feed row older than the retention that a later row of the same record supersedes, in the same
scope, is never needed: an incremental pull past it gets the later row, and a first pull gets the
record's current state from the later row. Those go. A tombstone (a ``del``, for a scope or for
everyone) older than the retention goes too; a cursor from before it could miss that deletion, so
the highest such number becomes the feed's *horizon*, and a pull with an older cursor gets ``reset``.

Compaction also archives hand-overs decided more than 30 days ago: they leave the phones' scope with a
``del`` then (SYNC.md 1.1), so run it daily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import utcnow
from backend.inventory.models import Handover, HandoverStatus
from backend.sync.models import MutationResult, SyncChange, SyncMeta
from backend.sync.pull import HORIZON_KEY

MIN_RETENTION_DAYS = 30
# A decided hand-over stays on the phones this long (SYNC.md 1.1).
HANDOVER_DAYS = 30


@dataclass
class Compacted:
    cutoff_seq: int
    scope_rows_removed: int
    changes_removed: int
    results_removed: int
    horizon: int


async def compact_feed(
    session: AsyncSession,
    *,
    retention_days: int = MIN_RETENTION_DAYS,
    progress: Callable[[str], None] = print,
) -> Compacted:
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"the feed keeps at least {MIN_RETENTION_DAYS} days")
    archived = await archive_decided_handovers(session)
    if archived:
        await session.commit()
        progress(f"{archived} hand-overs decided over {HANDOVER_DAYS} days ago left the phones")
    cutoff_time = utcnow() - timedelta(days=retention_days)
    cutoff = await session.scalar(select(func.max(SyncChange.seq)).where(SyncChange.changed_at < cutoff_time))
    if cutoff is None:
        progress("nothing older than the retention")
        return Compacted(0, 0, 0, 0, await _horizon(session))
    params = {"cutoff": cutoff}
    progress(f"compacting feed rows up to #{cutoff} (older than {retention_days} days)")
    # Tombstones about to go: the horizon moves past them.
    tombstone_max = await session.scalar(
        text(
            """
            SELECT max(s.seq) FROM sync_change_scope s JOIN sync_change c ON c.seq = s.seq
            WHERE s.seq <= :cutoff AND s.op = 'del' AND NOT EXISTS (
                SELECT 1 FROM sync_change_scope s2 JOIN sync_change c2 ON c2.seq = s2.seq
                WHERE s2.scope = s.scope AND c2.entity = c.entity AND c2.entity_id = c.entity_id
                  AND s2.seq > s.seq)
            """
        ),
        params,
    )
    global_tombstone_max = await session.scalar(
        text(
            """
            SELECT max(c.seq) FROM sync_change c WHERE c.seq <= :cutoff AND c.op = 'del'
            AND NOT EXISTS (SELECT 1 FROM sync_change c2
                            WHERE c2.entity = c.entity AND c2.entity_id = c.entity_id AND c2.seq > c.seq)
            """
        ),
        params,
    )
    # Superseded within their scope, or tombstones past the retention.
    scope_removed = await session.execute(
        text(
            """
            DELETE FROM sync_change_scope WHERE seq <= :cutoff AND (op = 'del' OR EXISTS (
                SELECT 1 FROM sync_change c, sync_change_scope s2, sync_change c2
                WHERE c.seq = sync_change_scope.seq AND s2.scope = sync_change_scope.scope
                  AND s2.seq > sync_change_scope.seq AND c2.seq = s2.seq
                  AND c2.entity = c.entity AND c2.entity_id = c.entity_id))
            """
        ),
        params,
    )
    progress(f"  {scope_removed.rowcount} scope rows removed")
    # Feed rows no scope needs any more, superseded for everyone or deletions past the retention.
    changes_removed = await session.execute(
        text(
            """
            DELETE FROM sync_change WHERE seq <= :cutoff
            AND NOT EXISTS (SELECT 1 FROM sync_change_scope s WHERE s.seq = sync_change.seq)
            AND (op = 'del' OR EXISTS (
                SELECT 1 FROM sync_change c2
                WHERE c2.entity = sync_change.entity AND c2.entity_id = sync_change.entity_id
                  AND c2.seq > sync_change.seq))
            """
        ),
        params,
    )
    progress(f"  {changes_removed.rowcount} feed rows removed")
    horizon = max(await _horizon(session), tombstone_max or 0, global_tombstone_max or 0)
    meta = await session.get(SyncMeta, HORIZON_KEY)
    if meta is None:
        session.add(SyncMeta(key=HORIZON_KEY, value=horizon))
    else:
        meta.value = horizon
    # Stored push results outlive the feed's retention: a replay within it gets the same answer.
    results_removed = await session.execute(
        MutationResult.__table__.delete().where(MutationResult.created_at < cutoff_time)
    )
    progress(f"  {results_removed.rowcount} stored mutation results removed; horizon #{horizon}")
    await session.commit()
    return Compacted(
        cutoff, scope_removed.rowcount, changes_removed.rowcount, results_removed.rowcount, horizon
    )


async def archive_decided_handovers(session: AsyncSession, days: int = HANDOVER_DAYS) -> int:
    """Hand-overs decided more than ``days`` ago leave the phones (SYNC.md 1.1: in scope while pending
    and for 30 days after): each gets ``archived_at``, and the change recorder sends a ``del`` to the
    scopes it leaves. Returns how many; the caller commits."""
    cutoff = utcnow() - timedelta(days=days)
    rows = await session.scalars(
        select(Handover)
        .where(
            Handover.status != HandoverStatus.pending,
            Handover.decided_at < cutoff,
            Handover.archived_at.is_(None),
        )
        .order_by(Handover.id)
    )
    now, count = utcnow(), 0
    for handover in rows:
        handover.archived_at = now
        count += 1
    return count


async def _horizon(session: AsyncSession) -> int:
    return int(await session.scalar(select(SyncMeta.value).where(SyncMeta.key == HORIZON_KEY)) or 0)
