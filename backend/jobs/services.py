"""Jobs from request to approval: intake, dispatch, the status machine, the work record, the customer's
sign-off and the supervisor's approval. No HTTP here: the REST controllers and the sync mutators call
these verbs, so every rule lives once.

Scope: a technician sees the jobs assigned to them, a supervisor the jobs of the teams they lead,
quality and managers every job. A job outside the caller's scope answers 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4, uuid5

import anyio.to_thread
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, Team, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.auth.tokens import derive_key
from backend.db import begin_write, insert_unless_present, transaction_cache, utcnow
from backend.errors import Conflict, DomainError, Forbidden, InvalidInput, InvalidTransition, NotFound
from backend.events import record_event
from backend.inventory.models import Asset, InventoryOperation, Movement, Operation
from backend.inventory.services import (
    InventoryService,
    OperationContext,
    OperationResult,
    check_date,
    check_device_time,
)
from backend.jobs.catalog import CatalogService
from backend.jobs.events import JobAssigned, JobCreated, JobStatusChanged, SignoffRecorded, SignoffRefused
from backend.jobs.models import (
    NOTE_MAX,
    Approval,
    ApprovalDecision,
    Attachment,
    Blob,
    Counter,
    Job,
    JobHistory,
    JobLog,
    JobStatus,
    JobStep,
    JobType,
    LogKind,
    Priority,
    Procedure,
    Signoff,
    StepRequirement,
    StepResult,
    Unit,
)
from backend.jobs.record import (
    SIGNOFF_FIELDS,
    canonical_record,
    changed_sections,
    record_hash,
    seal,
    signed_payload,
)
from backend.jobs.signoff_canonical import customer_summary, summary_hash
from backend.jobs.workflow import (
    WORKING,
    Capacity,
    TransitionRefused,
    Via,
    check_transition,
)
from backend.media.store import BlobStore
from backend.sync.exceptions import raise_exception
from backend.sync.feed import version_after_commit
from backend.sync.models import ExceptionKind

# Where ids derived from others live (a step result is named by its job and step).
JOB_NAMESPACE = uuid.UUID("6f1c1f4e-1f7e-4a53-9c39-3f0f6b7a2b10")
# Reach the site by, finish by: from the request's priority.
PRIORITY_TARGETS: dict[str, tuple[timedelta, timedelta]] = {
    Priority.urgent: (timedelta(hours=2), timedelta(hours=8)),
    Priority.high: (timedelta(hours=4), timedelta(hours=24)),
    Priority.normal: (timedelta(hours=24), timedelta(hours=72)),
    Priority.low: (timedelta(hours=72), timedelta(days=7)),
}
# Who owns which editable field (SYNC.md job.update): the supervisor plans, the technician reports.
SUPERVISOR_FIELDS = (
    "description",
    "priority",
    "scheduled_start",
    "scheduled_end",
    "respond_by",
    "complete_by",
)
TECHNICIAN_FIELDS = ("findings", "arrival_note", "departure_note", "meter_reading")
# A rework or a callback follows work that was done (signed, submitted, decided or disputed).
FOLLOWABLE = frozenset(
    {
        JobStatus.work_done,
        JobStatus.awaiting_approval,
        JobStatus.returned,
        JobStatus.approved,
        JobStatus.disputed,
    }
)
# Parts recorded on a job: what the ledger wrote for it.
PART_OPERATIONS = (Operation.consume, Operation.swap_install, Operation.swap_remove)


class RecordLocked(Conflict):
    code = "RECORD_LOCKED"


class StepIncomplete(InvalidInput):
    code = "STEP_INCOMPLETE"


class BlobMissing(InvalidInput):
    """A referenced image has not been uploaded yet (a sync push reports it as ``blocked``)."""

    code = "BLOB_MISSING"

    def __init__(self, sha256: str, field: str) -> None:
        super().__init__(f"blob {sha256} has not been uploaded; upload it first", field=field)
        self.blob = sha256


def step_row_id(job_id: UUID, step_id: str) -> UUID:
    return uuid5(JOB_NAMESPACE, f"step:{job_id}:{step_id}")


def step_attachment_id(job_id: UUID, step_id: str, sha256: str) -> UUID:
    return uuid5(JOB_NAMESPACE, f"step-photo:{job_id}:{step_id}:{sha256}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


@dataclass
class MergedUpdate:
    """What a sync ``job.update`` did: the job, the fields that kept the server's value
    (``overridden``) and the fields the caller's role may not change (``refused``)."""

    job: Job
    overridden: list[str]
    refused: list[str]


def _owner_of(field_name: str) -> str:
    return "a supervisor" if field_name in SUPERVISOR_FIELDS else "the assigned technician"


@dataclass
class Geo:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass
class NewJob:
    type: str
    site_id: UUID
    id: UUID | None = None
    priority: str = Priority.normal
    unit_id: UUID | None = None
    description: str = ""
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    respond_by: datetime | None = None
    complete_by: datetime | None = None
    assignee_id: UUID | None = None
    team_id: UUID | None = None
    procedure_id: UUID | None = None
    origin_job_id: UUID | None = None
    source: str = "dispatch"
    external_ref: str | None = None
    reported_by: str = ""
    reporter_phone: str = ""


@dataclass
class Created:
    """A record made by a create-once verb, and whether this call made it (``False``: a replay)."""

    record: Any
    created: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verification:
    valid: bool
    hash: str
    recomputed_hash: str
    seal_valid: bool
    snapshot_intact: bool
    changed: list[str]
    amendments: list[JobHistory]
    # The stored signature image still hashes to the sha256 the hash covers (None: not checked here).
    signature_intact: bool | None = None
    # SYNC.md 1.1: the phone's hash of the customer summary, the server's, and whether they agree.
    client_hash: str | None = None
    summary_hash: str | None = None
    hash_match: bool | None = None


async def reserve_numbers(session: AsyncSession, name: str, count: int = 1) -> int:
    """Reserve ``count`` numbers of the ``name`` range (job, callback, complaint, nonconformance
    numbers); returns the first. The counter row is locked until commit, so concurrent writers get
    different numbers on every database."""
    await begin_write(session)
    statement = (
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + count)
        .returning(Counter.value)
    )
    last = (await session.execute(statement)).scalar()
    if last is None:
        # First use: create the row (once, even when two requests race to), then take the numbers.
        await session.execute(
            insert_unless_present(session, Counter.__table__, unique=["name"]).values(name=name, value=0)
        )
        last = (await session.execute(statement)).scalar()
    return last - count + 1


class JobService:
    def __init__(self, session: AsyncSession, secret_key: str, store: BlobStore | None = None) -> None:
        self.session = session
        # With the blob store, verification also re-reads the signature image from disk.
        self.store = store
        self._secret_key = secret_key
        self._seal_key = derive_key(secret_key, "signoff-seal")
        self._led: dict[UUID, set[UUID]] = {}
        self.catalog = CatalogService(session)

    def fresh(self) -> JobService:
        """A new service on the same session, with none of this one's cached rows (after a rollback)."""
        return JobService(self.session, self._secret_key, self.store)

    # --- scope ----------------------------------------------------------------------------------------

    async def led_teams(self, current: CurrentUser) -> set[UUID]:
        if current.id not in self._led:
            self._led[current.id] = await led_team_ids(self.session, current.id)
        return self._led[current.id]

    async def scope_filter(self, current: CurrentUser):
        """A WHERE clause limiting jobs to the ones ``current`` may see, or None for everything."""
        if current.sees_everything:
            return None
        if current.role == Role.supervisor:
            return Job.team_id.in_(await self.led_teams(current))
        return Job.assignee_id == current.id

    async def visible_job(self, job_id: UUID, current: CurrentUser, *, lock: bool = False) -> Job:
        cache = transaction_cache(self.session)
        if lock:
            # Locked earlier in this transaction (a push's mutations on one job): the row is ours and
            # the object current, unless a rolled-back savepoint expired it.
            cached = cache.get(("locked_job", job_id))
            if cached is not None and not sa_inspect(cached).expired_attributes:
                if await self._may_see(cached, current):
                    return cached
        statement = select(Job).where(Job.id == job_id)
        scope = await self.scope_filter(current)
        if scope is not None:
            statement = statement.where(scope)
        if lock:
            await begin_write(self.session)
            statement = statement.with_for_update()
        job = await self.session.scalar(statement)
        if job is None:
            raise NotFound("no such job", field="job_id")
        if lock:
            cache[("locked_job", job_id)] = job
        return job

    async def _may_see(self, job: Job, current: CurrentUser) -> bool:
        if current.sees_everything:
            return True
        if current.role == Role.supervisor:
            return job.team_id in await self.led_teams(current)
        return job.assignee_id == current.id

    async def capacity(self, job: Job, current: CurrentUser) -> Capacity:
        if current.role == Role.manager:
            return Capacity.lead
        if current.role == Role.supervisor and job.team_id in await self.led_teams(current):
            return Capacity.lead
        if current.role == Role.technician and job.assignee_id == current.id:
            return Capacity.assignee
        return Capacity.observer

    async def _require(self, job: Job, current: CurrentUser, wanted: Capacity, what: str) -> None:
        if await self.capacity(job, current) != wanted:
            who = (
                "the assigned technician" if wanted == Capacity.assignee else "a supervisor of the job's team"
            )
            raise Forbidden(f"only {who} may {what}")

    # --- history --------------------------------------------------------------------------------------

    def _history(
        self,
        job: Job,
        actor: CurrentUser | None,
        field_name: str,
        old: Any,
        new: Any,
        kind: str = "edit",
        note: str = "",
    ) -> None:
        self.session.add(
            JobHistory(
                job_id=job.id,
                actor_id=actor.id if actor else None,
                kind=kind,
                field=field_name,
                old_value=_jsonable(old),
                new_value=_jsonable(new),
                note=note[:1000],
                job_version=version_after_commit(self.session, job),
                client_id=actor.client_id if actor else None,
            )
        )

    def _set(
        self,
        job: Job,
        actor: CurrentUser | None,
        field_name: str,
        value: Any,
        kind: str = "edit",
        note: str = "",
    ) -> bool:
        old = getattr(job, field_name)
        if old == value:
            return False
        setattr(job, field_name, value)
        self._history(job, actor, field_name, old, value, kind, note)
        return True

    def _set_status(self, job: Job, actor: CurrentUser | None, status: JobStatus, reason: str = "") -> None:
        previous = job.status
        self._set(job, actor, "status", str(status), kind="transition", note=reason)
        if reason:
            job.status_reason = reason[:NOTE_MAX]
        record_event(
            self.session,
            JobStatusChanged(
                job_id=job.id,
                number=job.number,
                previous=previous,
                status=str(status),
                actor_id=actor.id if actor else None,
                assignee_id=job.assignee_id,
                team_id=job.team_id,
                reason=reason,
            ),
        )

    # --- intake and dispatch --------------------------------------------------------------------------

    async def next_numbers(self, name: str, count: int = 1) -> int:
        """Reserve ``count`` numbers of the ``name`` range; returns the first."""
        return await reserve_numbers(self.session, name, count)

    @staticmethod
    def job_number(sequence: int, when: datetime) -> str:
        return f"J{when:%y%m}-{sequence:06d}"

    async def _team_for_site_region(self, region: str) -> UUID | None:
        if not region:
            return None
        teams = list(await self.session.scalars(select(Team.id).where(Team.region == region)))
        return teams[0] if len(teams) == 1 else None

    async def _check_assignee(self, current: CurrentUser, assignee_id: UUID) -> User:
        assignee = await self.session.get(User, assignee_id)
        if assignee is None or not assignee.is_active or assignee.role != Role.technician:
            raise InvalidInput("the assignee must be an active technician", field="assignee_id")
        if current.role == Role.supervisor and assignee.team_id not in await self.led_teams(current):
            raise Forbidden("you can assign jobs only to technicians of teams you lead", field="assignee_id")
        return assignee

    async def create_job(self, current: CurrentUser, spec: NewJob) -> Created:
        """Create a job: a dispatcher's, or a service request from the repair line or an integration
        (``external_ref`` makes a retried request answer with the job it already created)."""
        if current.role == Role.technician:
            raise Forbidden("technicians do not create jobs; a follow-up is created when a job is incomplete")
        await begin_write(self.session)
        if spec.external_ref:
            existing = await self.session.scalar(select(Job).where(Job.external_ref == spec.external_ref))
            if existing is not None:
                await self.visible_job(existing.id, current)
                return Created(existing, created=False)
        if spec.id is not None:
            existing = await self.session.get(Job, spec.id)
            if existing is not None:
                if existing.created_by_id != current.id:
                    raise Conflict("a job with this id exists", field="id", code="ID_TAKEN")
                return Created(existing, created=False)
        if spec.type not in set(JobType):
            raise InvalidInput(f"unknown job type {spec.type!r}", field="type")
        if spec.priority not in PRIORITY_TARGETS:
            raise InvalidInput(f"unknown priority {spec.priority!r}", field="priority")
        for name in ("scheduled_start", "scheduled_end", "respond_by", "complete_by"):
            check_date(getattr(spec, name), name)
        if spec.scheduled_start and spec.scheduled_end and spec.scheduled_end < spec.scheduled_start:
            raise InvalidInput("the scheduled end is before its start", field="scheduled_end")
        site = await self.catalog.site(spec.site_id)
        unit: Unit | None = None
        if spec.unit_id is not None:
            unit = await self.catalog.unit(spec.unit_id)
            if unit.site_id != site.id:
                raise InvalidInput("that unit is not at this site", field="unit_id")
        origin: Job | None = None
        if spec.origin_job_id is not None:
            origin = await self.visible_job(spec.origin_job_id, current)
            if origin.site_id != site.id:
                raise InvalidInput("a linked job is at its origin's site", field="site_id")
        elif spec.type in (JobType.rework, JobType.callback):
            raise InvalidInput(f"a {spec.type} job names the job it follows up", field="origin_job_id")
        if spec.assignee_id and current.role not in (Role.supervisor, Role.manager):
            raise Forbidden("only a supervisor or a manager assigns jobs", field="assignee_id")
        assignee = await self._check_assignee(current, spec.assignee_id) if spec.assignee_id else None
        team_id = (
            spec.team_id or (assignee.team_id if assignee else None) or (origin.team_id if origin else None)
        )
        team_id = team_id or await self._team_for_site_region(site.region)
        if spec.team_id is not None and await self.session.get(Team, spec.team_id) is None:
            raise NotFound("no such team", field="team_id")
        if assignee is not None and team_id != assignee.team_id:
            raise InvalidInput("the assignee is not in that team", field="assignee_id")
        if current.role == Role.supervisor and team_id not in await self.led_teams(current):
            raise Forbidden("give a team you lead (team_id)", field="team_id")
        procedure = await self._procedure_for(spec.type, spec.procedure_id, unit)
        now = utcnow()
        respond_in, complete_in = PRIORITY_TARGETS[spec.priority]
        sequence = await self.next_numbers("job")
        job = Job(
            id=spec.id or uuid4(),
            number=self.job_number(sequence, now),
            type=spec.type,
            status=JobStatus.assigned if assignee else JobStatus.new,
            priority=spec.priority,
            customer_id=site.customer_id,
            site_id=site.id,
            unit_id=unit.id if unit else None,
            procedure_id=procedure.id if procedure else None,
            description=spec.description.strip(),
            scheduled_start=spec.scheduled_start,
            scheduled_end=spec.scheduled_end,
            respond_by=spec.respond_by or now + respond_in,
            complete_by=spec.complete_by or now + complete_in,
            assignee_id=assignee.id if assignee else None,
            team_id=team_id,
            origin_job_id=origin.id if origin else None,
            source=spec.source,
            external_ref=spec.external_ref,
            reported_by=spec.reported_by.strip(),
            reporter_phone=spec.reporter_phone.strip(),
            created_by_id=current.id,
        )
        self.session.add(job)
        await self.session.flush()
        self._history(job, current, "status", None, job.status, kind="created", note=f"source: {spec.source}")
        record_event(
            self.session,
            JobCreated(
                job.id,
                job.number,
                job.type,
                job.source,
                job.site_id,
                job.unit_id,
                job.origin_job_id,
                job.team_id,
                job.created_at,
            ),
        )
        if assignee:
            record_event(
                self.session,
                JobAssigned(job.id, job.number, assignee.id, None, job.team_id, current.id),
            )
        return Created(job)

    async def _procedure_for(
        self, job_type: str, procedure_id: UUID | None, unit: Unit | None
    ) -> Procedure | None:
        if procedure_id is not None:
            procedure = await self.catalog.procedure(procedure_id)
            if procedure.job_type != job_type:
                raise InvalidInput(f"that procedure is for {procedure.job_type} jobs", field="procedure_id")
            if not procedure.is_current:
                raise InvalidInput(
                    f"revision {procedure.revision} of {procedure.code} is retired; use the current one",
                    field="procedure_id",
                )
            return procedure
        item_id = None
        if unit is not None:
            item_id = await self.session.scalar(select(Asset.item_id).where(Asset.id == unit.asset_id))
        return await self.catalog.current_procedure(job_type, item_id)

    async def assign(
        self,
        current: CurrentUser,
        job_id: UUID,
        assignee_id: UUID,
        *,
        scheduled_start: datetime | None = None,
        scheduled_end: datetime | None = None,
        note: str = "",
    ) -> Job:
        job = await self.visible_job(job_id, current, lock=True)
        await self._require(job, current, Capacity.lead, "assign this job")
        self._transition_or_raise(
            job.status, JobStatus.assigned, Capacity.lead, Via.dispatch, note, field="job_id"
        )
        assignee = await self._check_assignee(current, assignee_id)
        if current.role == Role.supervisor and assignee.team_id not in await self.led_teams(current):
            raise Forbidden("that technician is not in a team you lead", field="assignee_id")
        for name, value in (("scheduled_start", scheduled_start), ("scheduled_end", scheduled_end)):
            check_date(value, name)
        start = scheduled_start or job.scheduled_start
        end = scheduled_end or job.scheduled_end
        if start and end and end < start:
            raise InvalidInput("the scheduled end is before its start", field="scheduled_end")
        previous = job.assignee_id
        if (
            previous == assignee.id
            and job.status == JobStatus.assigned
            and not (scheduled_start or scheduled_end)
        ):
            return job
        self._set(job, current, "assignee_id", assignee.id, note=note)
        self._set(job, current, "team_id", assignee.team_id, note=note)
        self._set(job, current, "scheduled_start", start)
        self._set(job, current, "scheduled_end", end)
        if job.status != JobStatus.assigned:
            self._set_status(job, current, JobStatus.assigned, note)
        if job.accepted_at is not None:
            self._set(job, current, "accepted_at", None, note="reassigned: the new assignee accepts again")
        record_event(
            self.session, JobAssigned(job.id, job.number, assignee.id, previous, job.team_id, current.id)
        )
        await self.session.flush()
        return job

    @staticmethod
    def _transition_or_raise(
        status: str, target: str, capacity: Capacity, via: Via, reason: str = "", field: str = "to"
    ) -> None:
        try:
            check_transition(status, target, capacity, via=via, reason=reason)
        except TransitionRefused as refused:
            if refused.forbidden:
                raise Forbidden(refused.message, field=field, code="FORBIDDEN") from None
            if refused.code == "REASON_REQUIRED":
                raise InvalidInput(refused.message, field="reason", code=refused.code) from None
            raise InvalidTransition(refused.message, field=field, code=refused.code) from None

    # --- the status machine ---------------------------------------------------------------------------

    async def transition(
        self,
        current: CurrentUser,
        job_id: UUID,
        target: str,
        *,
        reason: str = "",
        geo: Geo | None = None,
        client_time: datetime | None = None,
    ) -> Job:
        """A transition requested by the technician (or a supervisor's cancel), checked against the job's
        *current* status: a phone that was offline may ask for one that is no longer possible."""
        check_device_time(client_time, "client_time")
        job = await self.visible_job(job_id, current, lock=True)
        capacity = await self.capacity(job, current)
        try:
            target_status = JobStatus(target)
        except ValueError:
            raise InvalidInput(f"unknown job status {target!r}", field="to") from None
        self._transition_or_raise(job.status, target_status, capacity, Via.transition, reason)
        when = client_time or utcnow()
        if target_status in (JobStatus.work_done, JobStatus.awaiting_approval):
            await self._check_steps_complete(job)
        if target_status == JobStatus.accepted:
            job.accepted_at = when
        elif target_status == JobStatus.on_site:
            job.arrived_at = when
            if geo:
                job.arrival_lat, job.arrival_lon, job.arrival_accuracy_m = geo.lat, geo.lon, geo.accuracy_m
        elif target_status in (JobStatus.work_done, JobStatus.incomplete):
            job.departed_at = when
            if target_status == JobStatus.work_done:
                job.work_done_at = when
            if geo:
                job.departure_lat, job.departure_lon, job.departure_accuracy_m = (
                    geo.lat,
                    geo.lon,
                    geo.accuracy_m,
                )
        elif target_status == JobStatus.awaiting_approval:
            job.submitted_at = utcnow()
        if target_status in (JobStatus.incomplete, JobStatus.cancelled):
            job.closed_at = utcnow()
        self._set_status(job, current, target_status, reason.strip())
        await self.session.flush()
        if target_status == JobStatus.incomplete:
            await self._create_follow_up(current, job, reason.strip())
        return job

    async def _create_follow_up(self, current: CurrentUser, job: Job, reason: str) -> Job:
        """An incomplete job needs another visit: a new job for the same site and unit, linked to it,
        waiting for dispatch in the same team."""
        unit = await self.session.get(Unit, job.unit_id) if job.unit_id else None
        procedure = await self._procedure_for(job.type, None, unit)
        now = utcnow()
        respond_in, complete_in = PRIORITY_TARGETS.get(job.priority, PRIORITY_TARGETS[Priority.normal])
        follow_up = Job(
            number=self.job_number(await self.next_numbers("job"), now),
            type=job.type,
            status=JobStatus.new,
            priority=job.priority,
            customer_id=job.customer_id,
            site_id=job.site_id,
            unit_id=job.unit_id,
            procedure_id=procedure.id if procedure else job.procedure_id,
            description=f"Follow-up of {job.number}: {reason}\n\n{job.description}".strip()[:4000],
            respond_by=now + respond_in,
            complete_by=now + complete_in,
            team_id=job.team_id,
            origin_job_id=job.id,
            source="follow_up",
            created_by_id=current.id,
        )
        self.session.add(follow_up)
        await self.session.flush()
        self._history(
            follow_up,
            current,
            "status",
            None,
            JobStatus.new,
            kind="created",
            note=f"follow-up of {job.number}",
        )
        self._history(job, current, "follow_up_job_id", None, follow_up.id, kind="linked")
        return follow_up

    async def create_linked(
        self,
        current: CurrentUser,
        origin_id: UUID,
        job_type: str,
        *,
        description: str = "",
        assignee_id: UUID | None = None,
        scheduled_start: datetime | None = None,
        scheduled_end: datetime | None = None,
        job_id: UUID | None = None,
    ) -> Created:
        """A rework or a callback visit of a finished job, linked to it."""
        if job_type not in (JobType.rework, JobType.callback):
            raise InvalidInput("a linked job is a rework or a callback", field="type")
        origin = await self.visible_job(origin_id, current)
        if origin.status not in FOLLOWABLE:
            raise InvalidTransition(
                f"{origin.number} is {origin.status}; a {job_type} follows work that was done",
                field="job_id",
                code="ORIGIN_NOT_DONE",
            )
        return await self.create_job(
            current,
            NewJob(
                id=job_id,
                type=job_type,
                site_id=origin.site_id,
                unit_id=origin.unit_id,
                priority=origin.priority if job_type == JobType.rework else Priority.normal,
                description=description or f"{job_type.capitalize()} of {origin.number}",
                origin_job_id=origin.id,
                team_id=origin.team_id,
                assignee_id=assignee_id,
                scheduled_start=scheduled_start,
                scheduled_end=scheduled_end,
                source=job_type,
            ),
        )

    # --- edits ------------------------------------------------------------------------------------------

    async def update(
        self, current: CurrentUser, job_id: UUID, changes: dict[str, Any], *, base_version: int | None = None
    ) -> Job:
        """Edit a job's fields: the supervisor's plan (schedule, priority, description, targets) or the
        technician's report (findings, notes, meter reading). Each change lands in the history."""
        job = await self.visible_job(job_id, current, lock=True)
        if base_version is not None and base_version != job.version:
            raise Conflict(
                f"the job changed since version {base_version} (now {job.version}); reload it",
                field="base_version",
                code="CONCURRENT_UPDATE",
            )
        kind, _ = await self._check_editable(job, current, changes)
        await self._apply_changes(job, current, changes, kind)
        return job

    async def _apply_changes(
        self, job: Job, current: CurrentUser, changes: dict[str, Any], kind: str
    ) -> None:
        """Check the values of an edit already allowed (``_check_editable``) and set them, each with its
        history row."""
        for name in ("scheduled_start", "scheduled_end", "respond_by", "complete_by"):
            if name in changes:
                check_date(changes[name], name)
        start = changes.get("scheduled_start", job.scheduled_start)
        end = changes.get("scheduled_end", job.scheduled_end)
        if start and end and end < start:
            raise InvalidInput("the scheduled end is before its start", field="scheduled_end")
        if "priority" in changes and changes["priority"] not in PRIORITY_TARGETS:
            raise InvalidInput(f"unknown priority {changes['priority']!r}", field="priority")
        for name, value in changes.items():
            self._set(job, current, name, value.strip() if isinstance(value, str) else value, kind=kind)
        await self.session.flush()

    async def _check_editable(
        self, job: Job, current: CurrentUser, changes: dict[str, Any], *, partial: bool = False
    ) -> tuple[str, list[str]]:
        """Whether ``current`` may change these fields of the job now; returns how the change is
        recorded (an edit, or an amendment of a returned job's record) and the fields refused. A field
        another role owns refuses the whole edit, unless ``partial`` (a sync ``job.update``: the phone's
        other facts are kept) and some field is left to apply."""
        capacity = await self.capacity(job, current)
        owned = (
            SUPERVISOR_FIELDS
            if capacity == Capacity.lead
            else TECHNICIAN_FIELDS
            if capacity == Capacity.assignee
            else ()
        )
        refused = [name for name in changes if name not in owned]
        if refused and (not partial or len(refused) == len(changes)):
            raise Forbidden(f"{refused[0]} is edited by {_owner_of(refused[0])}", field=refused[0])
        if capacity == Capacity.lead and job.status not in (
            JobStatus.new,
            JobStatus.assigned,
            JobStatus.accepted,
            JobStatus.en_route,
            JobStatus.on_site,
        ):
            raise RecordLocked(f"the job is {job.status}; its plan can no longer change")
        if capacity == Capacity.assignee:
            return await self._open_record_kind(job), refused
        return "edit", refused

    async def merge_update(
        self, current: CurrentUser, job_id: UUID, changes: dict[str, Any], *, base_version: int
    ) -> MergedUpdate:
        """An edit made offline against ``base_version`` (SYNC.md, ``job.update``). A field the caller's
        role does not own is refused, not applied, and its value kept in the history (a ``refused``
        row); the rest is merged three-way per field. A field nobody else changed since the base is
        applied. A field the server also changed keeps the server's value when it is
        supervisor-owned, and takes the phone's value when it is technician-owned; either way the
        losing value is kept in the history (a ``merge_lost`` row)."""
        job = await self.visible_job(job_id, current, lock=True)
        if base_version > job.version:
            raise InvalidInput(
                f"base_version {base_version} is ahead of the job (version {job.version})",
                field="base_version",
            )
        # Refused as a whole when the caller may make none of these edits now (a plan that is closed, a
        # signed record, only fields another role owns), contested or not.
        kind, refused = await self._check_editable(job, current, changes, partial=True)
        for name in refused:
            value = changes[name]
            self._history(
                job,
                current,
                name,
                getattr(job, name, None),
                value.strip() if isinstance(value, str) else value,
                kind="refused",
                note=f"{name} is edited by {_owner_of(name)}; the value sent is kept here, not applied",
            )
        mine = {name: value for name, value in changes.items() if name not in refused}
        contested = set()
        if base_version < job.version and mine:
            # Changed since the phone's version from anywhere but this phone: its own later edits (from
            # this or an earlier push) are its side of the merge, not the server's. Values kept but
            # never applied (merge_lost, refused) changed nothing.
            contested = set(
                await self.session.scalars(
                    select(JobHistory.field).where(
                        JobHistory.job_id == job.id,
                        JobHistory.job_version > base_version,
                        JobHistory.field.in_(list(mine)),
                        JobHistory.kind.not_in(("merge_lost", "refused")),
                        JobHistory.client_id.is_distinct_from(current.client_id)
                        if current.client_id is not None
                        else true(),
                    )
                )
            )
        applied: dict[str, Any] = {}
        overridden: list[str] = []
        for name, value in mine.items():
            value = value.strip() if isinstance(value, str) else value
            server_value = getattr(job, name, None)
            if name in contested and value != server_value:
                if name in SUPERVISOR_FIELDS:
                    overridden.append(name)
                    self._history(
                        job,
                        current,
                        name,
                        server_value,
                        value,
                        kind="merge_lost",
                        note="changed on the server since the phone's version; the server's value kept",
                    )
                    continue
                self._history(
                    job,
                    current,
                    name,
                    value,
                    server_value,
                    kind="merge_lost",
                    note="the technician's value from the phone replaced it",
                )
            applied[name] = value
        await self._apply_changes(job, current, applied, kind)
        return MergedUpdate(job=job, overridden=overridden, refused=refused)

    # --- the work record ------------------------------------------------------------------------------

    async def _open_record_kind(self, job: Job) -> str:
        """Whether the assignee may change the work record now, and how the change is recorded: before
        sign-off as an edit; on a job a supervisor returned, as an amendment that supervisor allowed."""
        if job.status == JobStatus.returned:
            return "amendment"
        if await self._is_signed(job):
            raise RecordLocked(
                "the customer signed this job; its record changes only if a supervisor returns it "
                "for amendment"
            )
        if job.status not in WORKING:
            raise RecordLocked(f"the job is {job.status}; its work record is not open")
        return "edit"

    async def _working_job(self, current: CurrentUser, job_id: UUID, what: str) -> tuple[Job, str]:
        job = await self.visible_job(job_id, current, lock=True)
        await self._require(job, current, Capacity.assignee, what)
        return job, await self._open_record_kind(job)

    async def _replayed(self, move_id: UUID) -> bool:
        cache = transaction_cache(self.session)
        if ("operation", move_id) in cache:
            return True  # preloaded as known, or recorded earlier in this transaction
        if move_id in cache.get("new_move_ids", ()):
            return False  # a push looked its batch's move ids up at once
        return await self.session.get(InventoryOperation, move_id) is not None

    async def preload_new_records(self, model: type, ids: Sequence[UUID]) -> None:
        """Look up a batch's client-made ids of ``model`` (logs, attachments) in one query; ids not
        found are remembered as new for this transaction, so creating each needs no lookup."""
        if not ids:
            return
        # Existing rows are loaded into the session, so their replays need no query either.
        known = {row.id for row in await self.session.scalars(select(model).where(model.id.in_(list(ids))))}
        absent = transaction_cache(self.session).setdefault(("absent", model.__name__), set())
        absent.update(i for i in ids if i not in known)

    async def _existing(self, model: type, record_id: UUID):
        absent = transaction_cache(self.session).get(("absent", model.__name__))
        if absent is not None and record_id in absent:
            # The caller creates it now: a second mention of the id in the batch must find it.
            absent.discard(record_id)
            return None
        return await self.session.get(model, record_id)

    async def _is_signed(self, job: Job) -> bool:
        cache = transaction_cache(self.session)
        key = ("signed", job.id)
        if key not in cache:
            cache[key] = (
                await self.session.scalar(select(Signoff.id).where(Signoff.job_id == job.id)) is not None
            )
        return cache[key]

    async def check_stock_for_job(self, current: CurrentUser, job_id: UUID) -> None:
        """Stock moved through inventory's own endpoints with a ``job_id`` joins that job's record, so
        it is held to the same rule as parts recorded on the job: the job must exist, be visible to the
        caller, and be open to its assignee (or the caller must lead the job's team)."""
        job = await self.session.get(Job, job_id)
        if job is None:
            return  # an id no job has (a phone's own reference): it names nobody's record
        job = await self.visible_job(job_id, current)
        if await self.capacity(job, current) == Capacity.lead:
            return
        await self._require(job, current, Capacity.assignee, "move stock on this job")
        await self._open_record_kind(job)

    async def _procedure_steps(self, job: Job) -> dict[str, dict[str, Any]]:
        if job.procedure_id is None:
            return {}
        procedure = await self.session.get(Procedure, job.procedure_id)
        return {step["id"]: step for step in (procedure.steps if procedure else [])}

    async def _check_blobs(
        self,
        blobs: Sequence[str],
        field_name: str,
        *,
        current: CurrentUser,
        job: Job,
        listed: bool = True,
    ) -> None:
        """Every named blob is uploaded, by the caller or already part of ``job``: a hash seen elsewhere
        (another technician's photo, an image from a job one was taken off) cannot be passed off as this
        job's evidence. ``field_name`` is a list field (``blobs[2]``) unless not ``listed``."""
        if not blobs:
            return
        wanted = list(blobs)
        uploaders = dict(
            (
                await self.session.execute(
                    select(Blob.sha256, Blob.uploaded_by_id).where(Blob.sha256.in_(wanted))
                )
            ).all()
        )
        in_job = set(
            await self.session.scalars(
                select(Attachment.blob).where(Attachment.job_id == job.id, Attachment.blob.in_(wanted))
            )
        )
        for index, sha in enumerate(blobs):
            where = f"{field_name}[{index}]" if listed else field_name
            if sha not in uploaders:
                raise BlobMissing(sha, where)
            if uploaders[sha] != current.id and sha not in in_job:
                raise Forbidden(
                    f"blob {sha} was uploaded by someone else; upload the image from this job", field=where
                )

    async def record_step(
        self,
        current: CurrentUser,
        job_id: UUID,
        step_id: str,
        result: str,
        *,
        value: float | None = None,
        note: str = "",
        blobs: Sequence[str] = (),
        client_time: datetime | None = None,
    ) -> JobStep:
        """Complete (or redo) a checklist step. A step that requires a photo or a reading cannot pass
        or fail without it; a reading outside the allowed range is kept and flagged, never refused."""
        check_device_time(client_time, "client_time")
        job, kind = await self._working_job(current, job_id, "record this job's steps")
        steps = await self._procedure_steps(job)
        spec = steps.get(step_id)
        if spec is None:
            raise InvalidInput(f"step {step_id!r} is not in this job's procedure", field="step_id")
        if result not in set(StepResult):
            raise InvalidInput("result is pass, fail or na", field="result")
        blobs = list(dict.fromkeys(blobs))
        requires = set(spec.get("requires", ()))
        if result != StepResult.not_applicable:
            if StepRequirement.photo in requires and not blobs:
                raise StepIncomplete(f"step {step_id!r} ({spec['title']}) needs a photo", field="blobs")
            if StepRequirement.reading in requires and value is None:
                raise StepIncomplete(
                    f"step {step_id!r} ({spec['title']}) needs a reading "
                    f"in {spec.get('reading_unit') or 'its unit'}",
                    field="value",
                )
        elif spec.get("mandatory", True) and spec.get("key_moment"):
            raise StepIncomplete(f"step {step_id!r} is a key moment and cannot be marked n/a", field="result")
        await self._check_blobs(blobs, "blobs", current=current, job=job)
        in_range = None
        if value is not None and StepRequirement.reading in requires:
            low, high = spec.get("reading_min"), spec.get("reading_max")
            in_range = (low is None or value >= low) and (high is None or value <= high)
        row_id = step_row_id(job.id, step_id)
        row = await self.session.get(JobStep, row_id)
        new = {"result": result, "value": value, "in_range": in_range, "note": note.strip(), "blobs": blobs}
        if row is None:
            row = JobStep(
                id=row_id,
                job_id=job.id,
                step_id=step_id,
                completed_by_id=current.id,
                client_time=client_time,
                **new,
            )
            self.session.add(row)
            self._history(
                job, current, f"step:{step_id}", None, {"result": result, "value": value}, kind=kind
            )
        else:
            old = {"result": row.result, "value": row.value, "note": row.note, "blobs": row.blobs}
            if old != {k: new[k] for k in old}:
                for name, new_value in new.items():
                    setattr(row, name, new_value)
                row.completed_by_id = current.id
                row.client_time = client_time
                self._history(job, current, f"step:{step_id}", old, {k: new[k] for k in old}, kind=kind)
        for sha in blobs:
            attachment_id = step_attachment_id(job.id, step_id, sha)
            if await self.session.get(Attachment, attachment_id) is None:
                self.session.add(
                    Attachment(
                        id=attachment_id,
                        job_id=job.id,
                        blob=sha,
                        step_id=step_id,
                        caption=spec["title"][:1000],
                        author_id=current.id,
                        client_time=client_time,
                    )
                )
        await self.session.flush()
        return row

    async def _check_steps_complete(self, job: Job) -> None:
        steps = await self._procedure_steps(job)
        mandatory = [step_id for step_id, spec in steps.items() if spec.get("mandatory", True)]
        if not mandatory:
            return
        done = set(await self.session.scalars(select(JobStep.step_id).where(JobStep.job_id == job.id)))
        missing = [step_id for step_id in mandatory if step_id not in done]
        if missing:
            titles = ", ".join(f"{s} ({steps[s]['title']})" for s in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise StepIncomplete(f"{len(missing)} required step(s) not done: {titles}{more}", field="steps")

    async def add_log(
        self,
        current: CurrentUser,
        log_id: UUID,
        job_id: UUID,
        kind: str,
        *,
        text: str = "",
        minutes: int | None = None,
        value: float | None = None,
        client_time: datetime | None = None,
    ) -> Created:
        """Append a note, time spent or a reading; the same ``log_id`` again changes nothing."""
        check_device_time(client_time, "client_time")
        existing = await self._existing(JobLog, log_id)
        if existing is not None:
            await self.visible_job(existing.job_id, current)
            if existing.job_id != job_id or existing.author_id != current.id:
                raise Conflict("this log_id is used by another log", field="log_id", code="ID_TAKEN")
            return Created(existing, created=False)
        job, history_kind = await self._working_job(current, job_id, "log on this job")
        if kind not in set(LogKind):
            raise InvalidInput("kind is note, time or reading", field="kind")
        text = text.strip()
        if kind == LogKind.note and not text:
            raise InvalidInput("a note needs its text", field="text")
        if kind == LogKind.time and minutes is None:
            raise InvalidInput("a time log needs its minutes", field="minutes")
        if kind == LogKind.reading and value is None:
            raise InvalidInput("a reading needs its value", field="value")
        log = JobLog(
            id=log_id,
            job_id=job.id,
            kind=kind,
            text=text,
            minutes=minutes,
            value=value,
            author_id=current.id,
            client_time=client_time,
        )
        self.session.add(log)
        if history_kind == "amendment":
            self._history(
                job, current, "log", None, {"id": str(log_id), "kind": kind, "text": text}, kind="amendment"
            )
        await self.session.flush()
        return Created(log)

    async def attach(
        self,
        current: CurrentUser,
        attachment_id: UUID,
        job_id: UUID,
        blob: str,
        *,
        step_id: str | None = None,
        caption: str = "",
        client_time: datetime | None = None,
    ) -> Created:
        check_device_time(client_time, "client_time")
        existing = await self._existing(Attachment, attachment_id)
        if existing is not None:
            await self.visible_job(existing.job_id, current)
            if existing.job_id != job_id or existing.blob != blob:
                raise Conflict(
                    "this attachment_id is used by another attachment", field="attachment_id", code="ID_TAKEN"
                )
            return Created(existing, created=False)
        job, history_kind = await self._working_job(current, job_id, "attach photos to this job")
        if step_id is not None and step_id not in await self._procedure_steps(job):
            raise InvalidInput(f"step {step_id!r} is not in this job's procedure", field="step_id")
        await self._check_blobs([blob], "blob", current=current, job=job, listed=False)
        attachment = Attachment(
            id=attachment_id,
            job_id=job.id,
            blob=blob,
            step_id=step_id,
            caption=caption.strip(),
            author_id=current.id,
            client_time=client_time,
        )
        self.session.add(attachment)
        if history_kind == "amendment":
            self._history(job, current, "attachment", None, blob, kind="amendment")
        await self.session.flush()
        return Created(attachment)

    async def use_part(
        self,
        current: CurrentUser,
        job_id: UUID,
        move_id: UUID,
        item_id: UUID,
        qty: int,
        *,
        size: str = "",
        asset_id: UUID | None = None,
        from_location_id: UUID | None = None,
        recorded_at: datetime | None = None,
        args: dict[str, Any] | None = None,
    ) -> OperationResult:
        """Parts used on the job leave the technician's stock through inventory's consume operation."""
        if await self._replayed(move_id):
            # A retry of a part already recorded gets the stored result (inventory checks it is the same
            # actor and operation), even if the job has since been signed or moved on.
            job, kind = await self.visible_job(job_id, current), "edit"
        else:
            job, kind = await self._working_job(current, job_id, "record parts on this job")
        result = await InventoryService(self.session).consume(
            OperationContext(
                actor=current, move_id=move_id, recorded_at=recorded_at, job_id=job.id, args=args
            ),
            item_id=item_id,
            qty=qty,
            size=size,
            asset_id=asset_id,
            from_location_id=from_location_id,
        )
        if kind == "amendment" and not result.duplicate:
            self._history(job, current, "part", None, {"item_id": str(item_id), "qty": qty}, kind="amendment")
        return result

    async def swap_spare(
        self,
        current: CurrentUser,
        job_id: UUID,
        move_id: UUID,
        unit_id: UUID,
        spare_asset_id: UUID,
        removed_serial: str,
        *,
        recorded_at: datetime | None = None,
        args: dict[str, Any] | None = None,
    ) -> OperationResult:
        """A spare replaces the unit's faulty machine: inventory moves both, and the unit (the position
        at the site) now names the spare."""
        if await self._replayed(move_id):
            job = await self.visible_job(job_id, current)
            kind = "edit"
        else:
            job, kind = await self._working_job(current, job_id, "swap units on this job")
        unit = await self.catalog.unit(unit_id)
        if unit.site_id != job.site_id:
            raise InvalidInput("that unit is not at this job's site", field="unit_id")
        result = await InventoryService(self.session).swap_spare(
            OperationContext(
                actor=current, move_id=move_id, recorded_at=recorded_at, job_id=job.id, args=args
            ),
            installed_asset_id=unit.asset_id,
            spare_asset_id=spare_asset_id,
            removed_serial=removed_serial,
        )
        if not result.duplicate:
            old_serial = unit.serial
            await self.catalog.follow_swap(unit, spare_asset_id)
            self._history(
                job,
                current,
                "unit_serial",
                old_serial,
                unit.serial,
                kind="amendment" if kind == "amendment" else "swap",
            )
            await self.session.flush()
        return result

    # --- sign-off ---------------------------------------------------------------------------------------

    async def rows_now(
        self, job: Job
    ) -> tuple[list[JobStep], list[JobLog], list[Attachment], list[Movement]]:
        """The job's work record as it is now: its steps, logs, photos and part movements."""
        steps = await self.session.scalars(select(JobStep).where(JobStep.job_id == job.id))
        logs = await self.session.scalars(select(JobLog).where(JobLog.job_id == job.id))
        attachments = await self.session.scalars(select(Attachment).where(Attachment.job_id == job.id))
        parts = await self.session.scalars(
            select(Movement).where(Movement.job_id == job.id, Movement.operation.in_(PART_OPERATIONS))
        )
        return list(steps), list(logs), list(attachments), list(parts)

    async def _record_now(self, job: Job) -> dict[str, Any]:
        return canonical_record(job, *await self.rows_now(job))

    async def signoff(
        self,
        current: CurrentUser,
        signoff_id: UUID,
        job_id: UUID,
        *,
        signer_name: str,
        signature_blob: str,
        accepted: bool,
        rating: int,
        rating_technical: int | None,
        rating_service: int | None,
        comment: str,
        signed_at: datetime,
        geo: Geo | None,
        check_signature,
        client_hash: str | None = None,
        args: dict[str, Any] | None = None,
    ) -> Created:
        """The customer accepts (or refuses) the work on the technician's phone. Once per job: the same
        ``signoff_id`` again returns the first; any other sign-off of a signed job is ``ALREADY_SIGNED``.
        ``check_signature(sha256)`` checks the stored image is a real, non-blank signature.

        ``client_hash`` is the phone's sha256 of the customer summary it showed (SYNC.md 1.1); the server
        computes its own over the same canonical form of its rows and keeps both. A mismatch is kept,
        never refused: it raises a ``signoff_mismatch`` exception (in ``extra["exception_ids"]``), with
        ``args``, the request or mutation as it arrived."""
        check_device_time(signed_at, "signed_at")
        job = await self.visible_job(job_id, current, lock=True)
        existing = await self.session.scalar(select(Signoff).where(Signoff.job_id == job.id))
        if existing is not None:
            if existing.id == signoff_id:
                return Created(existing, created=False)
            raise Conflict(
                f"{job.number} was already signed by {existing.signer_name}",
                field="signoff_id",
                code="ALREADY_SIGNED",
            )
        if await self.session.get(Signoff, signoff_id) is not None:
            raise Conflict(
                "this signoff_id is used by another job's sign-off", field="signoff_id", code="ID_TAKEN"
            )
        capacity = await self.capacity(job, current)
        target = JobStatus.awaiting_approval if accepted else JobStatus.disputed
        self._transition_or_raise(job.status, target, capacity, Via.signoff, field="job_id")
        signer_name = signer_name.strip()
        if not signer_name:
            raise InvalidInput("the signer's name is required", field="signer_name")
        for name, value in (
            ("rating", rating),
            ("rating_technical", rating_technical),
            ("rating_service", rating_service),
        ):
            if value is not None and not 1 <= value <= 5:
                raise InvalidInput(f"{name} is 1 to 5", field=name)
        if accepted:
            await self._check_steps_complete(job)
        await self._check_blobs([signature_blob], "signature_blob", current=current, job=job, listed=False)
        if await self.session.scalar(select(Signoff.id).where(Signoff.signature_blob == signature_blob)):
            raise Conflict(
                "this signature is already on another job's sign-off; the customer signs each job",
                field="signature_blob",
                code="SIGNATURE_REUSED",
            )
        await check_signature(signature_blob)
        fields = {
            "signer_name": signer_name,
            "signature_blob": signature_blob,
            "accepted": accepted,
            "rating": rating,
            "rating_technical": rating_technical,
            "rating_service": rating_service,
            "comment": comment.strip(),
            "signed_at": signed_at,
            "lat": geo.lat if geo else None,
            "lon": geo.lon if geo else None,
            "accuracy_m": geo.accuracy_m if geo else None,
            "recorded_by_id": current.id,
        }
        rows = await self.rows_now(job)
        snapshot = canonical_record(job, *rows)
        digest = record_hash(signed_payload(snapshot, fields))
        shown = summary_hash(customer_summary(job, *rows, fields))
        signoff = Signoff(
            id=signoff_id,
            job_id=job.id,
            snapshot=snapshot,
            hash=digest,
            seal=seal(self._seal_key, digest),
            client_hash=client_hash,
            summary_hash=shown,
            **fields,
        )
        self.session.add(signoff)
        raised: list[UUID] = []
        if client_hash is not None and client_hash != shown:
            exception = await raise_exception(
                self.session,
                kind=ExceptionKind.signoff_mismatch,
                message=(
                    f"{job.number}: the phone's hash of what the customer saw ({client_hash}) differs from "
                    f"the server's over its own record ({shown}); the sign-off was kept"
                ),
                user_id=job.assignee_id or current.id,
                raised_by_id=current.id,
                mutation=args,
                job_id=job.id,
            )
            raised.append(exception.id)
        transaction_cache(self.session)[("signed", job.id)] = True
        record_event(
            self.session,
            SignoffRecorded(
                job.id,
                signoff_id,
                accepted,
                job.assignee_id,
                job.team_id,
                rating,
                rating_technical,
                rating_service,
                comment.strip(),
                signed_at or utcnow(),
            ),
        )
        if accepted:
            job.submitted_at = utcnow()
        else:
            record_event(
                self.session,
                SignoffRefused(job.id, job.number, signoff_id, job.assignee_id, job.team_id, rating, comment),
            )
        self._set_status(
            job, current, target, "" if accepted else (comment.strip() or "the customer did not accept")
        )
        await self.session.flush()
        return Created(signoff, extra={"exception_ids": raised} if raised else {})

    async def verify(self, current: CurrentUser, job_id: UUID) -> Verification:
        """Recompute the sign-off hash from the record as it is now and compare it with the one stored
        when the customer signed."""
        job = await self.visible_job(job_id, current)
        signoff = await self.session.scalar(select(Signoff).where(Signoff.job_id == job.id))
        if signoff is None:
            raise NotFound(f"{job.number} has no sign-off yet", field="job_id", code="NOT_SIGNED")
        return await self.verification(job, signoff)

    async def verification(
        self,
        job: Job,
        signoff: Signoff,
        *,
        record_now: dict[str, Any] | None = None,
        amendments: list[JobHistory] | None = None,
    ) -> Verification:
        """Check a sign-off. A caller that already loaded the job's rows (the approval queue loads a whole
        page at once) passes the record and the amendments in, so checking costs no further queries."""
        fields = {name: getattr(signoff, name) for name in SIGNOFF_FIELDS}
        now = record_now if record_now is not None else await self._record_now(job)
        recomputed = record_hash(signed_payload(now, fields))
        snapshot_hash = record_hash(signed_payload(signoff.snapshot, fields))
        seal_valid = seal(self._seal_key, signoff.hash) == signoff.seal
        if amendments is None:
            amendments = list(
                await self.session.scalars(
                    select(JobHistory)
                    .where(JobHistory.job_id == job.id, JobHistory.kind == "amendment")
                    .order_by(JobHistory.at)
                )
            )
        signature_intact = None
        if self.store is not None:
            signature_intact = await anyio.to_thread.run_sync(self.store.holds_intact, signoff.signature_blob)
        return Verification(
            signature_intact=signature_intact,
            valid=recomputed == signoff.hash and seal_valid and signature_intact is not False,
            hash=signoff.hash,
            recomputed_hash=recomputed,
            seal_valid=seal_valid,
            snapshot_intact=snapshot_hash == signoff.hash,
            changed=changed_sections(signoff.snapshot, now),
            amendments=amendments,
            client_hash=signoff.client_hash,
            summary_hash=signoff.summary_hash,
            hash_match=signoff.hash_match,
        )

    # --- approval ---------------------------------------------------------------------------------------

    async def decide(self, current: CurrentUser, job_id: UUID, decision: str, reason: str = "") -> Approval:
        """Approve a submitted job, or return it to the technician with the reason (which opens its
        work record for amendment)."""
        job = await self.visible_job(job_id, current, lock=True)
        if decision not in set(ApprovalDecision):
            raise InvalidInput("decision is approve or return", field="decision")
        target = JobStatus.approved if decision == ApprovalDecision.approve else JobStatus.returned
        capacity = await self.capacity(job, current)
        try:
            check_transition(job.status, target, capacity, via=Via.approval, reason=reason)
        except TransitionRefused as refused:
            if refused.forbidden:
                raise Forbidden("only a supervisor of the job's team may approve or return it") from None
            if refused.code == "REASON_REQUIRED":
                raise InvalidInput(
                    "returning a job needs a reason the technician can act on",
                    field="reason",
                    code=refused.code,
                ) from None
            raise InvalidTransition(
                f"{job.number} is {job.status}, not awaiting approval",
                field="job_id",
                code="NOT_AWAITING_APPROVAL",
            ) from None
        now = utcnow()
        turnaround = int((now - job.submitted_at).total_seconds()) if job.submitted_at else None
        approval = Approval(
            job_id=job.id,
            decision=decision,
            reason=reason.strip(),
            decided_by=current.id,
            decided_at=now,
            turnaround_seconds=turnaround,
        )
        self.session.add(approval)
        if target == JobStatus.approved:
            job.approved_at = now
            job.closed_at = now
        self._set_status(job, current, target, reason.strip())
        await self.session.flush()
        return approval


class MediaRefused(DomainError):
    """An upload refused by the media pipeline, with the pipeline's status (413, 415, 422, 400)."""

    def __init__(self, message: str, *, status: int, code: str, field: str | None = None) -> None:
        super().__init__(message, field=field, code=code)
        self.status_code = status
