"""A pull never skips a change (SYNC.md, Pull): a transaction that began before a pull and commits
after it is delivered by the next pull, even on PostgreSQL where sequence numbers are handed out in
begin order but become visible in commit order."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.auth.models import Team, User
from backend.sync.feed import install_change_recorder
from tests.sync_helpers import SyncClient


def _sync_engine(database_url: str):
    url = make_url(database_url)
    driver = "postgresql+psycopg" if url.drivername.startswith("postgresql") else "sqlite"
    return create_engine(url.set(drivername=driver))


def test_a_write_transaction_held_open_across_pulls_is_not_skipped(client, as_role, seeded, settings):
    install_change_recorder()
    postgres = settings.database_url.startswith("postgresql")
    phone = SyncClient(client, as_role("tech1"))
    phone.pull()
    team_id = phone.records[("user", seeded["tech1"])]["team_id"]
    engine = _sync_engine(settings.database_url)
    try:
        with Session(engine) as long_transaction:
            if postgres:
                # Take a feed number now, as a writer that numbered its change at its first write
                # would: the number is older than the concurrent commit below but visible only later.
                long_transaction.execute(text("SELECT nextval(pg_get_serial_sequence('sync_change', 'seq'))"))
            user = long_transaction.get(User, UUID(seeded["tech1"]))
            user.display_name = "Renamed in a long transaction"
            long_transaction.flush()

            if postgres:
                # Another writer commits while the long one is open (SQLite has one writer at a time).
                renamed = client.patch(
                    f"/api/teams/{team_id}",
                    headers=as_role("manager"),
                    json={"name": "Team renamed meanwhile"},
                )
                assert renamed.status_code == 200, renamed.text
            during = phone.pull()
            assert not any(c["entity"] == "user" for c in during), during
            if postgres:
                assert phone.records[("team", team_id)]["name"] == "Team renamed meanwhile"
            cursor_during = phone.checkpoint
            long_transaction.commit()

        after = phone.pull()
        assert [c["id"] for c in after if c["entity"] == "user"] == [seeded["tech1"]]
        assert phone.records[("user", seeded["tech1"])]["display_name"] == "Renamed in a long transaction"
        assert phone.checkpoint > cursor_during
        with engine.connect() as connection:
            seqs = dict(
                connection.execute(
                    text(
                        "SELECT entity, max(seq) FROM sync_change "
                        "WHERE entity IN ('user', 'team') GROUP BY entity"
                    )
                ).all()
            )
        if postgres:
            # Numbered at commit: the long transaction's change comes after the one committed during it.
            assert seqs["user"] > seqs["team"]
    finally:
        engine.dispose()


def test_feed_numbers_follow_commit_order_under_concurrent_writers(settings, seeded):
    """Many short transactions from several connections: every feed number a reader sees is below
    every number it has not seen yet (no holes filled in later)."""
    import threading

    install_change_recorder()
    engine = _sync_engine(settings.database_url)
    postgres = settings.database_url.startswith("postgresql")
    errors: list[BaseException] = []
    observed: list[list[int]] = []
    stop = threading.Event()

    def writer(index: int) -> None:
        try:
            for round_ in range(15):
                with Session(engine) as session, session.begin():
                    team = Team(name=f"Writer {index} round {round_}")
                    session.add(team)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def reader() -> None:
        while not stop.is_set():
            with engine.connect() as connection:
                seqs = [r[0] for r in connection.execute(text("SELECT seq FROM sync_change ORDER BY seq"))]
            observed.append(seqs)

    try:
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4 if postgres else 2)]
        watcher = threading.Thread(target=reader)
        watcher.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        watcher.join()
        assert not errors, errors
        final = observed[-1] if observed else []
        with engine.connect() as connection:
            final = [r[0] for r in connection.execute(text("SELECT seq FROM sync_change ORDER BY seq"))]
        for seen in observed:
            if not seen:
                continue
            # What a reader saw is exactly the final feed's prefix up to its highest number.
            head = seen[-1]
            assert seen == [s for s in final if s <= head]
    finally:
        engine.dispose()
