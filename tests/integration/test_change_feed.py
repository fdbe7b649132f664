"""The one place that numbers synced writes: versions and feed rows commit with the change, or not at all."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from backend.auth.models import Team
from backend.db import create_engine, create_session_factory
from backend.sync.feed import BulkWriteToSyncedEntity
from backend.sync.models import SyncChange


def run(settings, work):
    async def go():
        engine = create_engine(settings)
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _feed(factory, entity_id):
    async with factory() as session:
        rows = await session.execute(
            select(SyncChange.op, SyncChange.version)
            .where(SyncChange.entity_id == entity_id)
            .order_by(SyncChange.seq)
        )
        return [tuple(r) for r in rows]


def test_insert_update_delete_are_versioned_and_fed(settings):
    async def work(factory):
        async with factory() as session, session.begin():
            team = Team(name="Feed Team", region="East")
            session.add(team)
        async with factory() as session, session.begin():
            loaded = await session.get(Team, team.id)
            loaded.region = "West"
            await session.flush()
            loaded.name = "Feed Team 2"  # a second change in the same transaction: one version step
        async with factory() as session, session.begin():
            loaded = await session.get(Team, team.id)
            assert loaded.version == 2
            loaded.region = "West"  # no real change: no new version
        async with factory() as session, session.begin():
            await session.delete(await session.get(Team, team.id))
        return await _feed(factory, team.id)

    assert run(settings, work) == [("put", 1), ("put", 2), ("del", 2)]


def test_a_rolled_back_change_leaves_no_version_and_no_feed_row(settings):
    async def work(factory):
        async with factory() as session, session.begin():
            team = Team(name="Stable Team")
            session.add(team)
        with pytest.raises(RuntimeError):
            async with factory() as session, session.begin():
                loaded = await session.get(Team, team.id)
                loaded.region = "Somewhere"
                await session.flush()
                raise RuntimeError("the request failed after the flush")
        async with factory() as session:
            assert (await session.get(Team, team.id)).version == 1
        return await _feed(factory, team.id)

    assert run(settings, work) == [("put", 1)]


def test_bulk_updates_of_synced_entities_are_refused(settings):
    async def work(factory):
        async with factory() as session, session.begin():
            await session.execute(update(Team).values(region="bypass"))

    with pytest.raises(BulkWriteToSyncedEntity):
        run(settings, work)


def test_bulk_inserts_and_core_table_writes_are_refused_too(settings):
    from sqlalchemy import insert

    from backend.auth.models import User

    async def core_update(factory):
        async with factory() as session, session.begin():
            await session.execute(update(Team.__table__).values(region="bypass"))

    async def bulk_insert(factory):
        async with factory() as session, session.begin():
            await session.execute(
                insert(User),
                [{"username": "x", "display_name": "X", "role": "technician", "password_hash": "h"}],
            )

    for work in (core_update, bulk_insert):
        with pytest.raises(BulkWriteToSyncedEntity):
            run(settings, work)


def test_concurrent_updates_of_one_record_cannot_both_win(settings):
    from sqlalchemy.orm.exc import StaleDataError

    async def work(factory):
        async with factory() as session, session.begin():
            team = Team(name="Raced Team")
            session.add(team)
        first, second = factory(), factory()
        try:
            a = await first.get(Team, team.id)
            b = await second.get(Team, team.id)
            a.region = "North"
            await first.commit()
            b.region = "South"
            with pytest.raises(StaleDataError):
                await second.commit()
        finally:
            await first.close()
            await second.close()
        async with factory() as session:
            final = await session.get(Team, team.id)
            return final.region, final.version, await _feed(factory, team.id)

    assert run(settings, work) == ("North", 2, [("put", 1), ("put", 2)])


def test_a_row_created_if_absent_is_made_once_and_fed_once(settings):
    from uuid import uuid4

    from backend.sync.feed import insert_synced_row_if_absent

    async def work(factory):
        first, second = uuid4(), uuid4()
        async with factory() as session, session.begin():
            made = await insert_synced_row_if_absent(
                session, Team, {"id": first, "name": "Once", "region": ""}, unique=["name"]
            )
        async with factory() as session, session.begin():
            again = await insert_synced_row_if_absent(
                session, Team, {"id": second, "name": "Once", "region": ""}, unique=["name"]
            )
        return made, again, await _feed(factory, first), await _feed(factory, second)

    assert run(settings, work) == (True, False, [("put", 1)], [])
