"""Reads of jobs, scoped like every other read: a technician's list, a team board, the approval queue
with its evidence, a job's full record and history. Lists fetch what they show in a fixed number of
queries (one per kind of related row), never one query per job."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser
from backend.errors import Forbidden, InvalidInput
from backend.inventory.models import Asset, Item, Movement
from backend.jobs import schemas as s
from backend.jobs.blobs import blob_url
from backend.jobs.models import (
    Approval,
    Attachment,
    Blob,
    Customer,
    Job,
    JobHistory,
    JobLog,
    JobStatus,
    JobStep,
    Procedure,
    Signoff,
    Site,
    Unit,
)
from backend.jobs.record import canonical_record
from backend.jobs.services import PART_OPERATIONS, JobService, Verification
from backend.jobs.workflow import TERMINAL

MAX_PAGE = 200
BOARD_COLUMN_LIMIT = 50


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)", field="tz"
        ) from None


def procedure_read(p: Procedure) -> s.ProcedureRead:
    return s.ProcedureRead(
        id=p.id,
        code=p.code,
        revision=p.revision,
        job_type=p.job_type,
        name=p.name,
        item_id=p.item_id,
        steps=p.steps,
        is_current=p.is_current,
        created_at=p.created_at,
    )


def history_read(h: JobHistory, names: dict[UUID, str]) -> s.HistoryRead:
    return s.HistoryRead(
        id=h.id,
        at=h.at,
        actor_id=h.actor_id,
        actor_name=names.get(h.actor_id, "") if h.actor_id else "",
        kind=h.kind,
        field=h.field,
        old_value=h.old_value,
        new_value=h.new_value,
        note=h.note,
    )


def verification_read(v: Verification, names: dict[UUID, str]) -> s.VerificationRead:
    return s.VerificationRead(
        valid=v.valid,
        hash=v.hash,
        recomputed_hash=v.recomputed_hash,
        seal_valid=v.seal_valid,
        snapshot_intact=v.snapshot_intact,
        changed=v.changed,
        amendments=[history_read(h, names) for h in v.amendments],
        signature_intact=v.signature_intact,
        client_hash=v.client_hash,
        summary_hash=v.summary_hash,
        hash_match=v.hash_match,
    )


class JobViews:
    def __init__(self, session: AsyncSession, jobs: JobService) -> None:
        self.session = session
        self.jobs = jobs

    # --- one job as the API shows it --------------------------------------------------------------------

    async def _names(self, jobs: Sequence[Job]) -> dict[str, dict[UUID, Any]]:
        customers = {j.customer_id for j in jobs}
        sites = {j.site_id for j in jobs}
        units = {j.unit_id for j in jobs if j.unit_id}
        users = {j.assignee_id for j in jobs if j.assignee_id}
        out: dict[str, dict[UUID, Any]] = {"customer": {}, "site": {}, "unit": {}, "user": {}}
        if customers:
            out["customer"] = dict(
                (
                    await self.session.execute(
                        select(Customer.id, Customer.name).where(Customer.id.in_(customers))
                    )
                ).all()
            )
        if sites:
            rows = await self.session.execute(
                select(Site.id, Site.name, Site.address).where(Site.id.in_(sites))
            )
            out["site"] = {i: (n, a) for i, n, a in rows}
        if units:
            rows = await self.session.execute(
                select(Unit.id, Unit.serial, Unit.model).where(Unit.id.in_(units))
            )
            out["unit"] = {i: (serial, model) for i, serial, model in rows}
        if users:
            out["user"] = await self.user_names(users)
        return out

    async def user_names(self, ids: Iterable[UUID | None]) -> dict[UUID, str]:
        wanted = {i for i in ids if i}
        if not wanted:
            return {}
        return dict(
            (await self.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))).all()
        )

    @staticmethod
    def _read(j: Job, names: dict[str, dict[UUID, Any]]) -> s.JobRead:
        site_name, site_address = names["site"].get(j.site_id, ("", ""))
        unit_serial, unit_model = names["unit"].get(j.unit_id, ("", "")) if j.unit_id else ("", "")
        return s.JobRead(
            id=j.id,
            version=j.version,
            number=j.number,
            type=j.type,
            status=j.status,
            priority=j.priority,
            customer_id=j.customer_id,
            site_id=j.site_id,
            unit_id=j.unit_id,
            procedure_id=j.procedure_id,
            description=j.description,
            scheduled_start=j.scheduled_start,
            scheduled_end=j.scheduled_end,
            respond_by=j.respond_by,
            complete_by=j.complete_by,
            assignee_id=j.assignee_id,
            team_id=j.team_id,
            origin_job_id=j.origin_job_id,
            source=j.source,
            external_ref=j.external_ref,
            reported_by=j.reported_by,
            reporter_phone=j.reporter_phone,
            findings=j.findings,
            arrival_note=j.arrival_note,
            departure_note=j.departure_note,
            meter_reading=j.meter_reading,
            accepted_at=j.accepted_at,
            arrived_at=j.arrived_at,
            arrival_lat=j.arrival_lat,
            arrival_lon=j.arrival_lon,
            departed_at=j.departed_at,
            work_done_at=j.work_done_at,
            submitted_at=j.submitted_at,
            approved_at=j.approved_at,
            closed_at=j.closed_at,
            status_reason=j.status_reason,
            created_at=j.created_at,
            updated_at=j.updated_at,
            customer_name=names["customer"].get(j.customer_id, ""),
            site_name=site_name,
            site_address=site_address,
            assignee_name=names["user"].get(j.assignee_id, "") if j.assignee_id else "",
            unit_serial=unit_serial,
            unit_model=unit_model,
        )

    async def reads(self, jobs: Sequence[Job]) -> list[s.JobRead]:
        names = await self._names(jobs)
        return [self._read(j, names) for j in jobs]

    async def read(self, job: Job) -> s.JobRead:
        return (await self.reads([job]))[0]

    # --- lists ----------------------------------------------------------------------------------------

    async def _scoped(self, current: CurrentUser):
        statement = select(Job)
        scope = await self.jobs.scope_filter(current)
        return statement.where(scope) if scope is not None else statement

    async def list_jobs(
        self,
        current: CurrentUser,
        *,
        status: Sequence[str] = (),
        team_id: UUID | None = None,
        assignee_id: UUID | None = None,
        site_id: UUID | None = None,
        unit_id: UUID | None = None,
        scheduled_from: datetime | None = None,
        scheduled_to: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[s.JobRead]:
        if (
            team_id is not None
            and current.role == Role.supervisor
            and team_id not in await self.jobs.led_teams(current)
        ):
            raise Forbidden("you do not lead that team", field="team_id")
        statement = await self._scoped(current)
        if status:
            statement = statement.where(Job.status.in_(list(status)))
        for column, value in (
            (Job.team_id, team_id),
            (Job.assignee_id, assignee_id),
            (Job.site_id, site_id),
            (Job.unit_id, unit_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if scheduled_from is not None:
            statement = statement.where(Job.scheduled_start >= scheduled_from)
        if scheduled_to is not None:
            statement = statement.where(Job.scheduled_start < scheduled_to)
        statement = statement.order_by(Job.scheduled_start.desc().nulls_last(), Job.number.desc())
        jobs = list(await self.session.scalars(statement.limit(min(limit, MAX_PAGE)).offset(offset)))
        return await self.reads(jobs)

    async def my_jobs(self, current: CurrentUser, *, tz: str = "UTC", days: int = 7) -> list[s.JobRead]:
        """A technician's list: every open job assigned to them that is due by the end of the range (so
        yesterday's unfinished job is still there), today's first."""
        local = zone(tz)
        today = datetime.now(local).replace(hour=0, minute=0, second=0, microsecond=0)
        until = today + timedelta(days=days)
        open_statuses = [str(x) for x in JobStatus if x not in TERMINAL]
        statement = (
            select(Job)
            .where(Job.assignee_id == current.id, Job.status.in_(open_statuses))
            .where(or_(Job.scheduled_start < until, Job.scheduled_start.is_(None)))
            .order_by(Job.scheduled_start.asc().nulls_last(), Job.number)
            .limit(MAX_PAGE)
        )
        return await self.reads(list(await self.session.scalars(statement)))

    async def _team_ids(self, current: CurrentUser, team_id: UUID | None) -> list[UUID] | None:
        if current.role == Role.technician:
            raise Forbidden("the team board is for supervisors, quality and managers")
        if current.role == Role.supervisor:
            led = await self.jobs.led_teams(current)
            if team_id is not None and team_id not in led:
                raise Forbidden("you do not lead that team", field="team_id")
            return [team_id] if team_id else sorted(led)
        return [team_id] if team_id else None

    async def board(self, current: CurrentUser, *, team_id: UUID | None = None) -> s.Board:
        """The team's open jobs by status (the most recent few per column) with a count per column."""
        teams = await self._team_ids(current, team_id)
        counts_q = select(Job.status, func.count()).group_by(Job.status)
        if teams is not None:
            counts_q = counts_q.where(Job.team_id.in_(teams))
        counts = dict((await self.session.execute(counts_q)).all())
        by_status: dict[str, list[Job]] = {}
        for status in JobStatus:
            if not counts.get(status):
                continue
            # One indexed query per non-empty column (team, status, scheduled_start).
            statement = select(Job).where(Job.status == status)
            if teams is not None:
                statement = statement.where(Job.team_id.in_(teams))
            statement = statement.order_by(Job.scheduled_start.desc().nulls_last(), Job.number.desc())
            by_status[status] = list(await self.session.scalars(statement.limit(BOARD_COLUMN_LIMIT)))
        # The names every card shows, for the whole board at once.
        names = await self._names([job for jobs in by_status.values() for job in jobs])
        columns = [
            s.BoardColumn(
                status=str(status),
                count=counts.get(status, 0),
                jobs=[self._read(job, names) for job in by_status.get(status, [])],
            )
            for status in JobStatus
        ]
        return s.Board(team_ids=teams or [], columns=columns)

    async def approval_queue(self, current: CurrentUser, *, limit: int = 20, offset: int = 0) -> s.QueuePage:
        """Jobs awaiting the caller's approval, oldest submission first, each with its evidence."""
        if current.role not in (Role.supervisor, Role.manager, Role.quality):
            raise Forbidden("the approval queue is for supervisors")
        statement = await self._scoped(current)
        statement = statement.where(Job.status == JobStatus.awaiting_approval)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        statement = statement.order_by(Job.submitted_at.asc().nulls_last(), Job.number)
        jobs = list(await self.session.scalars(statement.limit(min(limit, 100)).offset(offset)))
        return s.QueuePage(total=total or 0, items=await self.evidence(jobs))

    async def history(self, current: CurrentUser, job_id: UUID) -> list[s.HistoryRead]:
        job = await self.jobs.visible_job(job_id, current)
        rows = list(
            await self.session.scalars(
                select(JobHistory).where(JobHistory.job_id == job.id).order_by(JobHistory.at, JobHistory.id)
            )
        )
        names = await self.user_names(h.actor_id for h in rows)
        return [history_read(h, names) for h in rows]

    # --- evidence -------------------------------------------------------------------------------------

    async def evidence(self, jobs: Sequence[Job]) -> list[s.Evidence]:
        """The work record of each job: steps, logs, photos, parts, sign-off with its hash check and
        approvals, fetched with one query per kind of row for the whole page."""
        if not jobs:
            return []
        ids = [j.id for j in jobs]
        reads = await self.reads(jobs)
        procedures = {
            p.id: p
            for p in await self.session.scalars(
                select(Procedure).where(Procedure.id.in_({j.procedure_id for j in jobs if j.procedure_id}))
            )
        }
        steps: dict[UUID, list[JobStep]] = defaultdict(list)
        for row in await self.session.scalars(select(JobStep).where(JobStep.job_id.in_(ids))):
            steps[row.job_id].append(row)
        logs: dict[UUID, list[JobLog]] = defaultdict(list)
        for row in await self.session.scalars(
            select(JobLog).where(JobLog.job_id.in_(ids)).order_by(JobLog.created_at, JobLog.id)
        ):
            logs[row.job_id].append(row)
        attachments: dict[UUID, list[tuple[Attachment, Blob]]] = defaultdict(list)
        for attachment, blob in await self.session.execute(
            select(Attachment, Blob)
            .join(Blob, Blob.sha256 == Attachment.blob)
            .where(Attachment.job_id.in_(ids))
            .order_by(Attachment.created_at, Attachment.id)
        ):
            attachments[attachment.job_id].append((attachment, blob))
        parts: dict[UUID, list[s.PartRead]] = defaultdict(list)
        movements: dict[UUID, list[Movement]] = defaultdict(list)
        for movement, sku, name, serial in await self.session.execute(
            select(Movement, Item.sku, Item.name, Asset.serial)
            .join(Item, Item.id == Movement.item_id)
            .outerjoin(Asset, Asset.id == Movement.asset_id)
            .where(Movement.job_id.in_(ids), Movement.operation.in_(PART_OPERATIONS))
            .order_by(Movement.recorded_at, Movement.move_id, Movement.line)
        ):
            movements[movement.job_id].append(movement)
            parts[movement.job_id].append(
                s.PartRead(
                    move_id=movement.move_id,
                    line=movement.line,
                    operation=movement.operation,
                    item_id=movement.item_id,
                    sku=sku,
                    name=name,
                    asset_id=movement.asset_id,
                    serial=serial,
                    size=movement.size,
                    qty=movement.qty,
                    recorded_at=movement.recorded_at,
                )
            )
        signoffs = {
            row.job_id: row
            for row in await self.session.scalars(select(Signoff).where(Signoff.job_id.in_(ids)))
        }
        approvals: dict[UUID, list[Approval]] = defaultdict(list)
        for row in await self.session.scalars(
            select(Approval).where(Approval.job_id.in_(ids)).order_by(Approval.decided_at)
        ):
            approvals[row.job_id].append(row)
        amendments: dict[UUID, list[JobHistory]] = defaultdict(list)
        if signoffs:
            for row in await self.session.scalars(
                select(JobHistory)
                .where(JobHistory.job_id.in_(list(signoffs)), JobHistory.kind == "amendment")
                .order_by(JobHistory.at)
            ):
                amendments[row.job_id].append(row)
        names = await self.user_names(
            {a.decided_by for rows in approvals.values() for a in rows}
            | {h.actor_id for rows in amendments.values() for h in rows}
        )
        out = []
        for job, read in zip(jobs, reads, strict=True):
            procedure = procedures.get(job.procedure_id) if job.procedure_id else None
            specs = {step["id"]: step for step in (procedure.steps if procedure else [])}
            done = {row.step_id for row in steps[job.id]}
            signoff = signoffs.get(job.id)
            verification = None
            if signoff is not None:
                photos = [a for a, _blob in attachments[job.id]]
                record_now = canonical_record(job, steps[job.id], logs[job.id], photos, movements[job.id])
                checked = await self.jobs.verification(
                    job, signoff, record_now=record_now, amendments=amendments[job.id]
                )
                verification = verification_read(checked, names)
            ordered_steps = sorted(
                steps[job.id], key=lambda r: list(specs).index(r.step_id) if r.step_id in specs else 1_000
            )
            out.append(
                s.Evidence(
                    job=read,
                    procedure=procedure_read(procedure) if procedure else None,
                    steps=[
                        s.StepRead(
                            id=r.id,
                            version=r.version,
                            job_id=r.job_id,
                            step_id=r.step_id,
                            title=specs.get(r.step_id, {}).get("title", r.step_id),
                            result=r.result,
                            value=r.value,
                            in_range=r.in_range,
                            note=r.note,
                            blobs=r.blobs,
                            key_moment=bool(specs.get(r.step_id, {}).get("key_moment")),
                            monitoring_point=bool(specs.get(r.step_id, {}).get("monitoring_point")),
                            updated_at=r.updated_at,
                        )
                        for r in ordered_steps
                    ],
                    missing_steps=[
                        sid for sid, spec in specs.items() if spec.get("mandatory", True) and sid not in done
                    ],
                    logs=[
                        s.LogRead(
                            id=g.id,
                            version=g.version,
                            job_id=g.job_id,
                            kind=g.kind,
                            text=g.text,
                            minutes=g.minutes,
                            value=g.value,
                            author_id=g.author_id,
                            client_time=g.client_time,
                            created_at=g.created_at,
                        )
                        for g in logs[job.id]
                    ],
                    attachments=[attachment_read(a, b) for a, b in attachments[job.id]],
                    parts=parts[job.id],
                    signoff=signoff_read(signoff) if signoff else None,
                    verification=verification,
                    approvals=[
                        s.ApprovalRead(
                            id=a.id,
                            version=a.version,
                            job_id=a.job_id,
                            decision=a.decision,
                            reason=a.reason,
                            decided_by=a.decided_by,
                            decided_by_name=names.get(a.decided_by, ""),
                            decided_at=a.decided_at,
                            turnaround_seconds=a.turnaround_seconds,
                        )
                        for a in approvals[job.id]
                    ],
                    minutes_logged=sum(g.minutes or 0 for g in logs[job.id]),
                )
            )
        return out


def attachment_read(a: Attachment, b: Blob) -> s.AttachmentRead:
    return s.AttachmentRead(
        id=a.id,
        version=a.version,
        job_id=a.job_id,
        blob=a.blob,
        url=blob_url(a.blob),
        thumbnail_url=blob_url(a.blob, "thumbnail"),
        step_id=a.step_id,
        caption=a.caption,
        captured_at=b.captured_at,
        gps_lat=b.gps_lat,
        gps_lon=b.gps_lon,
        created_at=a.created_at,
    )


def signoff_read(x: Signoff) -> s.SignoffRead:
    return s.SignoffRead(
        id=x.id,
        version=x.version,
        job_id=x.job_id,
        signer_name=x.signer_name,
        accepted=x.accepted,
        rating=x.rating,
        rating_technical=x.rating_technical,
        rating_service=x.rating_service,
        comment=x.comment,
        signed_at=x.signed_at,
        lat=x.lat,
        lon=x.lon,
        signature_blob=x.signature_blob,
        signature_url=blob_url(x.signature_blob),
        hash=x.hash,
        client_hash=x.client_hash,
        summary_hash=x.summary_hash,
        hash_match=x.hash_match,
    )
