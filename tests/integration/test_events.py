"""Domain events: in-transaction listeners write with the cause or not at all; after-commit listeners only
hear about committed changes; a commit that skipped the in-transaction listeners is refused."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from backend.auth.models import Team
from backend.db import create_engine, create_session_factory
from backend.events import (
    UnsettledEvents,
    listen,
    listen_in_transaction,
    record_event,
    settle_events,
)
from backend.sync.feed import savepoint


@dataclass(frozen=True)
class TeamWanted:
    name: str


@dataclass(frozen=True)
class TeamMade:
    name: str


@dataclass(frozen=True)
class Unheard:
    """An event nobody handles in the transaction: it never blocks a commit."""


made_after_commit: list[str] = []


async def _make_team(session, event: TeamWanted) -> None:
    session.add(Team(name=event.name, region="Events"))
    record_event(session, TeamMade(event.name))  # a listener's own event is settled in the same pass


async def _echo_team(session, event: TeamMade) -> None:
    if not event.name.endswith("-echo"):
        session.add(Team(name=f"{event.name}-echo", region="Events"))


listen_in_transaction(TeamWanted, _make_team)
listen_in_transaction(TeamMade, _echo_team)
listen(TeamMade, lambda event: made_after_commit.append(event.name))


def run(settings, work):
    async def go():
        engine = create_engine(settings)
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _teams(factory) -> list[str]:
    async with factory() as session:
        names = await session.scalars(select(Team.name).where(Team.region == "Events").order_by(Team.name))
        return list(names)


def test_settled_listeners_write_in_the_causing_transaction_and_chain(settings):
    made_after_commit.clear()

    async def work(factory):
        async with factory() as session, session.begin():
            record_event(session, TeamWanted("alpha"))
            record_event(session, Unheard())
            await settle_events(session)
            await settle_events(session)  # settling twice runs nothing twice
        return await _teams(factory)

    assert run(settings, work) == ["alpha", "alpha-echo"]
    assert made_after_commit == ["alpha"]


def test_a_commit_that_skipped_the_settle_settles_inside_the_commit(settings):
    """A CLI command or a service used directly commits without calling settle_events: the commit
    runs the in-transaction listeners itself, so what they write commits with the cause."""
    made_after_commit.clear()

    async def work(factory):
        async with factory() as session, session.begin():
            session.add(Team(name="beta-cause", region="Events"))
            record_event(session, TeamWanted("beta"))
        async with factory() as session:
            await session.begin()
            record_event(session, TeamWanted("delta"))
            await session.commit()  # an explicit commit too
        return await _teams(factory)

    assert run(settings, work) == ["beta", "beta-cause", "beta-echo", "delta", "delta-echo"]
    assert made_after_commit == ["beta", "delta"]


def test_a_plain_session_cannot_commit_unsettled_events(settings):
    """Outside the async session there is no way to await the listeners: the commit is refused and
    nothing of the transaction is written."""
    from sqlalchemy import create_engine as create_sync_engine
    from sqlalchemy.orm import Session

    sync_url = settings.database_url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    engine = create_sync_engine(sync_url)
    try:
        with pytest.raises(UnsettledEvents, match="settle_events"), Session(engine) as session:
            with session.begin():
                session.add(Team(name="half-written", region="Events"))
                record_event(session, TeamWanted("epsilon"))
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Team).where(Team.region == "Events")) == 0
    finally:
        engine.dispose()


def test_a_rolled_back_transaction_delivers_nothing_after_commit(settings):
    made_after_commit.clear()

    async def work(factory):
        async with factory() as session:
            async with session.begin():
                record_event(session, TeamWanted("gamma"))
                await settle_events(session)
                await session.rollback()
        return await _teams(factory)

    assert run(settings, work) == []
    assert made_after_commit == []


def test_a_refused_savepoint_takes_its_events_with_it(settings):
    made_after_commit.clear()

    async def work(factory):
        async with factory() as session, session.begin():
            record_event(session, TeamWanted("kept"))
            with pytest.raises(RuntimeError):
                async with savepoint(session):
                    record_event(session, TeamWanted("undone"))
                    await settle_events(session)
                    raise RuntimeError("the mutation was refused")
            await settle_events(session)
        async with factory() as session:
            count = await session.scalar(
                select(func.count()).select_from(Team).where(Team.region == "Events")
            )
        return await _teams(factory), count

    names, count = run(settings, work)
    assert names == ["kept", "kept-echo"]
    assert count == 2
    assert made_after_commit == ["kept"]
