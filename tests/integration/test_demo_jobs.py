"""The demo company's jobs (`fieldq seed --demo`): seeded once per database with a small installed base,
then read back the way supervisors, technicians and the quality department will see them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlmodel import SQLModel

from backend.auth.models import Role, Team, TeamSupervisor, User
from backend.auth.services import CurrentUser
from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory
from backend.demo import TECHNICIANS, demo_steps, seed_demo
from backend.inventory.models import Asset, AssetStatus, Location, LocationKind
from backend.inventory.services import InventoryService
from backend.jobs.demo_data import LOCAL, job_summary
from backend.jobs.models import (
    Blob,
    Customer,
    Job,
    JobStatus,
    JobStep,
    JobType,
    Procedure,
    Signoff,
    Site,
    Unit,
)
from backend.jobs.services import JobService
from backend.media.pipeline import check_signature
from backend.media.store import BlobStore
from backend.settings import Settings
from backend.sync.models import SyncException
from tests.conftest import DEMO_INSTALLED_UNITS, TEST_SECRET, _async_pg_url, run_async

OPEN_TODAY = {
    JobStatus.assigned,
    JobStatus.accepted,
    JobStatus.en_route,
    JobStatus.on_site,
    JobStatus.work_done,
    JobStatus.awaiting_approval,
    JobStatus.returned,
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo company with its inventory and jobs, seeded once for this module's tests."""
    folder: Path = tmp_path_factory.mktemp(f"demo-jobs-{request.param}")
    if request.param == "sqlite":
        sync_url = f"sqlite:///{folder / 'fieldq.db'}"
        url = f"sqlite+aiosqlite:///{folder / 'fieldq.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        sync_url = pg.create("fieldq_demo")
        url = _async_pg_url(sync_url)
        request.addfinalizer(lambda: pg.drop(sync_url))
    engine = create_engine(sync_url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    settings = Settings(
        env="dev",
        data_dir=folder / "data",
        database_url=url,
        secret_key=TEST_SECRET,
        secret_key_source="env",
        pwa_dist=folder,
    )
    steps: list[str] = []

    async def seed() -> None:
        engine = create_async_db_engine(settings)
        try:
            _logins, created = await seed_demo(
                create_session_factory(engine),
                steps.append,
                installed_units=DEMO_INSTALLED_UNITS,
                settings=settings,
            )
            assert created
        finally:
            await engine.dispose()

    run_async(seed())
    # The progress bar's total is what the seed reports.
    assert len(steps) == demo_steps(DEMO_INSTALLED_UNITS, True, jobs=True)
    return settings


def read(settings: Settings, check):
    async def body():
        engine = create_async_db_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                return await check(session)
        finally:
            await engine.dispose()

    return run_async(body())


def local_day(moment: datetime):
    return moment.astimezone(LOCAL).date()


def test_every_technician_has_work_today_and_on_each_of_the_next_days(demo):
    async def check(session):
        today = datetime.now(LOCAL).date()
        technicians = list(await session.scalars(select(User).where(User.role == Role.technician)))
        assert len(technicians) == len(TECHNICIANS)
        for technician in technicians:
            jobs = list(
                await session.scalars(
                    select(Job).where(Job.assignee_id == technician.id, Job.scheduled_start.is_not(None))
                )
            )
            ahead = [j for j in jobs if local_day(j.scheduled_start) >= today]
            by_day = defaultdict(list)
            for job in ahead:
                by_day[(local_day(job.scheduled_start) - today).days].append(job)
            assert 3 <= len(by_day[0]) <= 6, technician.username
            for offset in range(1, 6):
                # 3–6 planned a day; tomorrow may also hold the follow-up of an incomplete job.
                assert 3 <= len(by_day[offset]) <= 7, (technician.username, offset)
            statuses = {j.status for j in ahead}
            assert len(statuses & OPEN_TODAY) >= 4, (technician.username, statuses)
            # Today's finished work is never scheduled after what is still to do.
            assert {j.status for j in by_day[0]} & {
                JobStatus.awaiting_approval,
                JobStatus.returned,
                JobStatus.work_done,
            }
            assert all(
                j.status in (JobStatus.assigned, JobStatus.accepted) for d in range(1, 6) for j in by_day[d]
            )
        # Somebody is on site now with part of the checklist done, and somebody's work was returned.
        on_site = list(await session.scalars(select(Job).where(Job.status == JobStatus.on_site)))
        assert on_site
        for job in on_site:
            done = await session.scalar(
                select(func.count()).select_from(JobStep).where(JobStep.job_id == job.id)
            )
            procedure = await session.get(Procedure, job.procedure_id)
            assert 0 < done < len(procedure.steps)
        returned = list(await session.scalars(select(Job).where(Job.status == JobStatus.returned)))
        assert returned and all(j.status_reason for j in returned)

    read(demo, check)


def test_schedules_are_local_working_hours_stored_in_utc(demo):
    async def check(session):
        jobs = list(await session.scalars(select(Job).where(Job.scheduled_start.is_not(None))))
        assert jobs
        for job in jobs:
            assert job.scheduled_start.utcoffset() == timedelta(0)
            start, end = job.scheduled_start.astimezone(LOCAL), job.scheduled_end.astimezone(LOCAL)
            assert start.date() == end.date() and start < end
            assert time(8, 30) <= start.time() and end.time() <= time(18, 0), job.number

    read(demo, check)


def test_past_jobs_are_signed_approved_and_their_signoffs_verify(demo):
    async def check(session):
        manager = await session.scalar(select(User).where(User.username == "quality"))
        service = JobService(session, demo.secret_key)
        store = BlobStore(demo.data_dir / "blobs")
        approved = list(await session.scalars(select(Job).where(Job.status == JobStatus.approved)))
        assert len(approved) >= 10 * len(TECHNICIANS)
        ratings, gaps, amended = [], 0, 0
        for job in approved:
            signoff = await session.scalar(select(Signoff).where(Signoff.job_id == job.id))
            assert signoff is not None and signoff.accepted
            assert signoff.signed_at <= job.approved_at
            assert job.arrived_at < job.work_done_at <= signoff.signed_at
            verification = await service.verify(CurrentUser.acting_as(manager), job.id)
            assert verification.seal_valid and verification.snapshot_intact
            if verification.amendments:
                # Returned for amendment and approved again: the change is listed, the hash says so.
                amended += 1
                assert not verification.valid and verification.changed == ["logs"]
            else:
                assert verification.valid, (job.number, verification.changed)
            ratings.append(signoff.rating)
            gaps += signoff.rating_technical != signoff.rating_service
        assert amended >= 1
        assert sum(r >= 4 for r in ratings) > 0.7 * len(ratings)
        assert any(r <= 3 for r in ratings) and gaps > 0
        # The signatures are real PNG strokes in the blob store.
        for sha in set(await session.scalars(select(Signoff.signature_blob))):
            check_signature(store.read(sha))
        photos = await session.scalar(
            select(func.count()).select_from(Blob).where(Blob.content_type == "image/jpeg")
        )
        assert photos >= 5
        # History spread over the last two months, with times the service stamped moved to when it happened.
        starts = sorted(j.scheduled_start for j in approved)
        assert (starts[-1] - starts[0]).days >= 45
        oldest = min(approved, key=lambda j: j.scheduled_start)
        assert (
            oldest.created_at
            < oldest.scheduled_start
            < oldest.approved_at
            < oldest.scheduled_start + timedelta(days=2)
        )

    read(demo, check)


def test_the_maintenance_procedure_has_two_revisions_and_older_jobs_keep_the_first(demo):
    async def check(session):
        revisions = {
            p.revision: p for p in await session.scalars(select(Procedure).where(Procedure.code == "ATM-PM"))
        }
        assert set(revisions) == {1, 2}
        assert revisions[2].is_current and not revisions[1].is_current
        changed = [
            (old["id"], old["requires"], new["requires"])
            for old, new in zip(revisions[1].steps, revisions[2].steps, strict=True)
            if old != new
        ]
        assert changed == [("skimming", ["check"], ["photo"])]
        on = {}
        for revision, procedure in revisions.items():
            on[revision] = list(
                await session.scalars(
                    select(Job.scheduled_start)
                    .where(Job.procedure_id == procedure.id)
                    .order_by(Job.scheduled_start)
                )
            )
        assert on[1] and on[2]
        assert on[1][-1] < on[2][0]
        # Every job type has a procedure, and every job got the one for its type.
        types = set(await session.scalars(select(Procedure.job_type)))
        assert types == set(JobType)
        mismatched = await session.scalar(
            select(func.count())
            .select_from(Job)
            .join(Procedure, Procedure.id == Job.procedure_id)
            .where(Procedure.job_type != Job.type)
        )
        assert mismatched == 0

    read(demo, check)


def test_sites_units_and_teams_hang_together(demo):
    async def check(session):
        locations = await session.scalar(
            select(func.count()).select_from(Location).where(Location.kind == LocationKind.site)
        )
        sites = list(await session.scalars(select(Site)))
        assert len(sites) == locations
        assert all(s.customer_id and s.lat and s.lon and s.address and s.region for s in sites)
        assert all(30.8 < s.lat < 31.5 and 121.0 < s.lon < 121.9 for s in sites)
        installed = await session.scalar(
            select(func.count()).select_from(Asset).where(Asset.status == AssetStatus.installed)
        )
        assert installed == DEMO_INSTALLED_UNITS
        units = await session.execute(
            select(Unit, Asset, Site)
            .join(Asset, Asset.id == Unit.asset_id)
            .join(Site, Site.id == Unit.site_id)
        )
        count = 0
        for unit, asset, site in units:
            count += 1
            assert asset.location_id == site.location_id and unit.serial == asset.serial and unit.position
        assert count == DEMO_INSTALLED_UNITS
        customers = list(await session.scalars(select(Customer)))
        assert len(customers) >= 6 and all(len(c.contacts) >= 2 for c in customers)
        assert all({"name", "role", "phone", "email"} <= set(c.contacts[0]) for c in customers)

        wrong_unit = await session.scalar(
            select(func.count())
            .select_from(Job)
            .join(Unit, Unit.id == Job.unit_id)
            .where(Unit.site_id != Job.site_id)
        )
        assert wrong_unit == 0
        wrong_customer = await session.scalar(
            select(func.count())
            .select_from(Job)
            .join(Site, Site.id == Job.site_id)
            .where(Site.customer_id != Job.customer_id)
        )
        assert wrong_customer == 0
        outside_team = await session.scalar(
            select(func.count())
            .select_from(Job)
            .join(User, User.id == Job.assignee_id)
            .where(User.team_id != Job.team_id)
        )
        assert outside_team == 0
        # A team works in its own region.
        regions = await session.execute(
            select(Team.region, Site.region)
            .join(Job, Job.team_id == Team.id)
            .join(Site, Site.id == Job.site_id)
        )
        assert all(team == site for team, site in regions)
        assert await session.scalar(select(func.count()).select_from(Job).where(Job.team_id.is_(None))) == 0

    read(demo, check)


def test_requests_a_refused_signoff_and_an_incomplete_job_with_its_follow_up(demo):
    async def check(session):
        teams = list(await session.scalars(select(TeamSupervisor.team_id)))
        requests = list(await session.scalars(select(Job).where(Job.status == JobStatus.new)))
        for team_id in teams:
            mine = [j for j in requests if j.team_id == team_id and j.source == "request"]
            assert len(mine) >= 2
            assert all(j.assignee_id is None and j.reported_by and j.reporter_phone for j in mine)
        [disputed] = list(await session.scalars(select(Job).where(Job.status == JobStatus.disputed)))
        signoff = await session.scalar(select(Signoff).where(Signoff.job_id == disputed.id))
        assert not signoff.accepted and signoff.comment and signoff.rating <= 2
        [incomplete] = list(await session.scalars(select(Job).where(Job.status == JobStatus.incomplete)))
        assert incomplete.status_reason
        follow_up = await session.scalar(select(Job).where(Job.origin_job_id == incomplete.id))
        assert follow_up.source == "follow_up" and follow_up.status == JobStatus.assigned
        assert follow_up.assignee_id == incomplete.assignee_id and follow_up.scheduled_start
        linked = await session.execute(
            select(Job.type, func.count()).where(Job.source.in_(("callback", "rework"))).group_by(Job.type)
        )
        assert {t for t, _n in linked} == {JobType.callback, JobType.rework}
        summary = await job_summary(session)
        assert summary.startswith("Jobs: ") and "approved" in summary

    read(demo, check)


def test_parts_come_from_the_vans_without_driving_them_negative(demo):
    async def check(session):
        service = InventoryService(session)
        assert await service.balance_drift() == []
        # Only the inventory demo's three field facts: the jobs raised no stock discrepancy.
        kinds = sorted(await session.scalars(select(SyncException.kind)))
        assert kinds == ["custody_conflict", "damaged", "stock_discrepancy"]

    read(demo, check)


def test_without_the_inventory_there_are_no_jobs(settings):
    async def body():
        engine = create_async_db_engine(settings)
        try:
            factory = create_session_factory(engine)
            await seed_demo(factory, inventory=False, settings=settings)
            async with factory() as session:
                assert await session.scalar(select(func.count()).select_from(Job)) == 0
                assert await job_summary(session) == "Jobs: none"
        finally:
            await engine.dispose()

    run_async(body())


def test_the_seed_command_prints_the_job_counts_and_can_leave_the_jobs_out(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from backend.cli import main
    from backend.settings import get_settings

    monkeypatch.setenv("FIELDQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FIELDQ_DATABASE_URL", raising=False)
    monkeypatch.setenv("FIELDQ_ENV", "dev")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(main, ["migrate"], catch_exceptions=False).exit_code == 0
        seeded = runner.invoke(
            main, ["seed", "--demo", "--installed-units", "25", "--no-jobs"], catch_exceptions=False
        )
        assert seeded.exit_code == 0, seeded.output
        assert "Jobs: none" in seeded.output

        async def count(session):
            return await session.scalar(select(func.count()).select_from(Job)), await session.scalar(
                select(func.count()).select_from(Site)
            )

        assert read(get_settings(), count) == (0, 0)
    finally:
        get_settings.cache_clear()
