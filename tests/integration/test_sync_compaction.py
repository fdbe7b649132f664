"""Feed compaction: superseded rows and old tombstones go, a first pull still gets the whole current
scope, and a cursor from before a removed tombstone is told to start over (reset)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, text

from backend.db import create_engine, create_session_factory
from backend.sync.compaction import compact_feed
from backend.sync.models import SyncChange
from tests.jobs_helpers import build_world, drive, ids
from tests.sync_helpers import SyncClient


def _run(settings, work):
    async def go():
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_compaction_keeps_every_scope_whole_and_resets_cursors_behind_the_horizon(
    client, as_role, seeded, settings
):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "accepted")
    tech1 = SyncClient(client, as_role("tech1"))
    tech1.pull()
    stale_cursor = tech1.cursor
    for n in range(3):
        tech1.push([tech1.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text=f"note {n}")])
        patched = client.patch(f"/api/jobs/{job['id']}", headers=as_role("tech1"), json={"findings": f"v{n}"})
        assert patched.status_code == 200, patched.text
    # Taken away from tech1: tombstones in tech1's scope.
    moved = client.post(
        f"/api/jobs/{job['id']}/assign", headers=as_role("supervisor1"), json={"assignee_id": seeded["tech2"]}
    )
    assert moved.status_code == 200, moved.text
    before = {}
    for name in ("tech1", "tech2", "supervisor1", "manager"):
        phone = SyncClient(client, as_role(name))
        phone.pull()
        before[name] = phone.records

    async def backdate_and_compact(session):
        await session.execute(
            text("UPDATE sync_change SET changed_at = changed_at - interval '40 days'")
            if settings.database_url.startswith("postgresql")
            else text("UPDATE sync_change SET changed_at = datetime(changed_at, '-40 days')")
        )
        await session.commit()
        rows_before = await session.scalar(select(func.count()).select_from(SyncChange))
        result = await compact_feed(session, retention_days=30, progress=lambda _line: None)
        rows_after = await session.scalar(select(func.count()).select_from(SyncChange))
        return rows_before, rows_after, result

    rows_before, rows_after, result = _run(settings, backdate_and_compact)
    assert rows_after < rows_before
    assert result.horizon > 0 and result.scope_rows_removed > 0

    # A first pull after compaction gets exactly the scope a first pull got before it.
    for name, records in before.items():
        phone = SyncClient(client, as_role(name))
        phone.pull(limit=5)
        assert phone.records == records, name
    # tech1's cursor from before the job left them is behind the removed tombstones: reset.
    response = tech1.pull_raw(stale_cursor)
    assert response.status_code == 200 and response.json()["reset"] is True
    tech1.cursor = None
    tech1.pull()
    assert job["id"] not in tech1.ids_of("job")
    head = tech1.pull_raw(tech1.cursor).json()
    assert head["reset"] is False and head["changes"] == []
