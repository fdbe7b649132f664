"""The closed quality loop: nonconformances and their corrective/preventive actions, the rules that turn
signals into candidates, and supervision records. No HTTP here.

Scope: quality and managers see every nonconformance; a supervisor sees their teams' and the ones they
own or identified; anyone sees the ones they own or hold an action of. A record outside the caller's
scope answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.db import begin_write, utcnow
from backend.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from backend.events import record_event
from backend.jobs.models import Job, JobStatus, JobStep, Procedure
from backend.jobs.services import reserve_numbers
from backend.quality.events import QualityItemAssigned
from backend.quality.loop import workflow
from backend.quality.loop.workflow import Capacity, Verb, WorkflowRefused
from backend.quality.models import (
    ActionStatus,
    Callback,
    Complaint,
    Nonconformance,
    NonconformanceEvent,
    NonconformanceSource,
    NonconformanceStatus,
    QualityAction,
    QualityReport,
    QualityRule,
    RuleSignal,
    Severity,
    SupervisionRecord,
    Survey,
)

NC = NonconformanceStatus
# A device clock a little ahead of the server's is not "the future".
CLOCK_SKEW = timedelta(minutes=5)
# Sources a person identifies by hand, and the table their ``source_id`` names.
SOURCE_TABLES: dict[str, type] = {
    NonconformanceSource.complaint: Complaint,
    NonconformanceSource.callback: Callback,
    NonconformanceSource.survey: Survey,
    NonconformanceSource.monitoring: SupervisionRecord,
    NonconformanceSource.field_report: QualityReport,
}
TEXT_ONLY_SOURCES = frozenset({NonconformanceSource.mystery_shopper, NonconformanceSource.other})


class Invalid(DomainError):
    """Bad input the request's shape could not refuse (a missing monitoring point, a past due date)."""

    status_code = 400
    code = "INVALID_INPUT"


def _refused(error: WorkflowRefused) -> DomainError:
    return Forbidden(error.message) if error.forbidden else InvalidTransition(error.message)


def timeline(
    session: AsyncSession,
    nc: Nonconformance,
    verb: str,
    actor_id: UUID | None,
    from_status: str | None,
    note: str = "",
    **data: Any,
) -> None:
    session.add(
        NonconformanceEvent(
            nonconformance_id=nc.id,
            actor_id=actor_id,
            verb=verb,
            from_status=from_status,
            to_status=nc.status,
            note=note[:4000],
            data={k: str(v) if isinstance(v, UUID | datetime) else v for k, v in data.items()},
        )
    )


async def new_nonconformance(
    session: AsyncSession,
    *,
    source: str,
    source_id: UUID | None,
    title: str,
    status: str = NC.open,
    description: str = "",
    severity: str = Severity.medium,
    job: Job | None = None,
    technician_id: UUID | None = None,
    team_id: UUID | None = None,
    complaint_id: UUID | None = None,
    rule_id: UUID | None = None,
    identified_by_id: UUID | None = None,
) -> Nonconformance:
    """A new nonconformance (numbered NC-000001…) and the first line of its timeline."""
    number = await reserve_numbers(session, "nonconformance")
    nc = Nonconformance(
        number=f"NC-{number:06d}",
        source=source,
        source_id=source_id,
        rule_id=rule_id,
        status=status,
        severity=severity,
        title=title[:200],
        description=description[:4000],
        job_id=job.id if job else None,
        technician_id=technician_id if technician_id is not None else (job.assignee_id if job else None),
        team_id=team_id if team_id is not None else (job.team_id if job else None),
        site_id=job.site_id if job else None,
        unit_id=job.unit_id if job else None,
        complaint_id=complaint_id,
        identified_by_id=identified_by_id,
    )
    session.add(nc)
    await session.flush()
    timeline(session, nc, "identify", identified_by_id, None, description[:4000], source=source)
    return nc


async def find_by_source(session: AsyncSession, source: str, source_id: UUID) -> Nonconformance | None:
    return await session.scalar(
        select(Nonconformance).where(Nonconformance.source == source, Nonconformance.source_id == source_id)
    )


def is_overdue(due_at: datetime | None, open_: bool, now: datetime) -> bool:
    return bool(open_ and due_at is not None and due_at < now)


@dataclass(frozen=True)
class NonconformanceFilter:
    status: str | None = None
    source: str | None = None
    mine: bool = False
    technician_id: UUID | None = None
    team_id: UUID | None = None
    job_id: UUID | None = None
    overdue: bool | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class ActionFilter:
    mine: bool = False
    status: str | None = None
    nonconformance_id: UUID | None = None
    overdue: bool | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class SupervisionFilter:
    job_id: UUID | None = None
    technician_id: UUID | None = None
    checked_by_id: UUID | None = None
    checked_from: datetime | None = None
    checked_to: datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class FindingIn:
    point: str
    result: str
    step_id: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Made:
    record: Any
    created: bool = True


class LoopService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._led: dict[UUID, set[UUID]] = {}

    # --- scope ----------------------------------------------------------------------------------------

    async def led_teams(self, current: CurrentUser) -> set[UUID]:
        if current.id not in self._led:
            self._led[current.id] = await led_team_ids(self.session, current.id)
        return self._led[current.id]

    async def _nc_scope(self, current: CurrentUser):
        if current.sees_everything:
            return None
        holds_action = select(QualityAction.nonconformance_id).where(QualityAction.owner_id == current.id)
        mine = (Nonconformance.owner_id == current.id) | Nonconformance.id.in_(holds_action)
        if current.role == Role.supervisor:
            teams = await self.led_teams(current)
            return mine | Nonconformance.team_id.in_(teams) | (Nonconformance.identified_by_id == current.id)
        return mine

    async def visible_nc(self, nc_id: UUID, current: CurrentUser, *, lock: bool = False) -> Nonconformance:
        statement = select(Nonconformance).where(Nonconformance.id == nc_id)
        scope = await self._nc_scope(current)
        if scope is not None:
            statement = statement.where(scope)
        if lock:
            await begin_write(self.session)
            statement = statement.with_for_update()
        nc = await self.session.scalar(statement)
        if nc is None:
            raise NotFound("no such nonconformance", field="nonconformance_id")
        return nc

    async def capacities(self, nc: Nonconformance, current: CurrentUser) -> set[Capacity]:
        held: set[Capacity] = set()
        if current.sees_everything:
            held.add(Capacity.runner)
        if nc.owner_id == current.id:
            held.add(Capacity.owner)
        if current.role == Role.supervisor and nc.team_id in await self.led_teams(current):
            held.add(Capacity.lead)
        return held

    async def _check(self, nc: Nonconformance, current: CurrentUser, verb: Verb) -> str:
        try:
            return workflow.check(verb, nc.status, await self.capacities(nc, current))
        except WorkflowRefused as error:
            raise _refused(error) from None

    async def _active_user(self, user_id: UUID, field: str) -> User:
        user = await self.session.get(User, user_id)
        if user is None or not user.is_active:
            raise Invalid(f"{field} must be an active user", field=field)
        return user

    @staticmethod
    def _future(when: datetime, field: str) -> None:
        if when <= utcnow():
            raise Invalid(f"{field} must be in the future", field=field)

    async def _visible_job(self, job_id: UUID, current: CurrentUser, field: str = "job_id") -> Job:
        job = await self.session.get(Job, job_id)
        if job is None or not await self._may_see_job(job, current):
            raise NotFound("no such job", field=field)
        return job

    async def _may_see_job(self, job: Job, current: CurrentUser) -> bool:
        if current.sees_everything:
            return True
        if current.role == Role.supervisor:
            return job.team_id in await self.led_teams(current)
        return job.assignee_id == current.id

    def _assigned(self, nc: Nonconformance) -> None:
        if nc.owner_id is not None:
            record_event(
                self.session,
                QualityItemAssigned(
                    "nonconformance", nc.id, f"{nc.number}: {nc.title}", nc.owner_id, nc.due_at
                ),
            )

    # --- identify -------------------------------------------------------------------------------------

    async def identify(
        self,
        current: CurrentUser,
        *,
        source: str,
        source_id: UUID | None,
        title: str,
        description: str = "",
        severity: str = Severity.medium,
        job_id: UUID | None = None,
    ) -> Nonconformance:
        """A nonconformance someone identified: open, waiting for an owner."""
        if current.role not in (Role.supervisor, Role.quality, Role.manager):
            raise Forbidden("only supervisors, the quality department and managers identify nonconformances")
        title = title.strip()
        if not title:
            raise Invalid("give the nonconformance a title", field="title")
        complaint_id = None
        source_job_id: UUID | None = None
        technician_id = team_id = None
        if source in TEXT_ONLY_SOURCES:
            if source_id is not None:
                raise Invalid(f"a {source} nonconformance names no source_id", field="source_id")
        elif source in SOURCE_TABLES:
            if source_id is None:
                raise Invalid(f"a {source} nonconformance needs the {source}'s id", field="source_id")
            origin = await self.session.get(SOURCE_TABLES[source], source_id)
            if origin is None:
                raise NotFound(f"no such {source.replace('_', ' ')}", field="source_id")
            source_job_id = getattr(origin, "job_id", None)
            technician_id = getattr(origin, "technician_id", None)
            team_id = getattr(origin, "team_id", None)
            if source == NonconformanceSource.complaint:
                complaint_id = origin.id
            existing = await find_by_source(self.session, source, source_id)
            if existing is not None:
                raise Conflict(
                    f"{existing.number} is already the nonconformance of this {source}",
                    field="source_id",
                    code="ALREADY_IDENTIFIED",
                )
        else:
            raise Invalid(f"{source} nonconformances are raised by the quality rules", field="source")
        if job_id is not None and source_job_id is not None and job_id != source_job_id:
            raise Invalid(f"the {source} is about another job", field="job_id")
        job_id = job_id or source_job_id
        job = await self._visible_job(job_id, current) if job_id is not None else None
        if current.role == Role.supervisor and job is None:
            raise Forbidden(
                "supervisors identify nonconformances on their teams' jobs: name the job", field="job_id"
            )
        await begin_write(self.session)
        return await new_nonconformance(
            self.session,
            source=source,
            source_id=source_id,
            title=title,
            description=description.strip(),
            severity=severity,
            job=job,
            technician_id=technician_id,
            team_id=team_id,
            complaint_id=complaint_id,
            identified_by_id=current.id,
        )

    async def from_complaint(self, current: CurrentUser, complaint_id: UUID) -> Made:
        """The complaint's nonconformance: made once, the same one on every later call."""
        if not current.sees_everything:
            raise Forbidden("only the quality department and managers open a complaint's nonconformance")
        await begin_write(self.session)
        complaint = await self.session.get(Complaint, complaint_id)
        if complaint is None:
            raise NotFound("no such complaint", field="complaint_id")
        existing = await find_by_source(self.session, NonconformanceSource.complaint, complaint_id)
        if existing is not None:
            return Made(existing, created=False)
        job = await self.session.get(Job, complaint.job_id) if complaint.job_id else None
        nc = await new_nonconformance(
            self.session,
            source=NonconformanceSource.complaint,
            source_id=complaint.id,
            title=f"Complaint {complaint.number}: {complaint.summary}",
            description=complaint.details,
            severity=complaint.severity,
            job=job,
            technician_id=complaint.technician_id,
            team_id=complaint.team_id,
            complaint_id=complaint.id,
            identified_by_id=current.id,
        )
        if nc.site_id is None:
            nc.site_id = complaint.site_id
        return Made(nc)

    # --- the workflow ---------------------------------------------------------------------------------

    async def _set_owner(self, nc: Nonconformance, owner_id: UUID, due_at: datetime) -> None:
        await self._active_user(owner_id, "owner_id")
        self._future(due_at, "due_at")
        nc.owner_id = owner_id
        nc.due_at = due_at
        nc.overdue_notified_at = None
        self._assigned(nc)

    async def accept(
        self,
        current: CurrentUser,
        nc_id: UUID,
        *,
        owner_id: UUID | None = None,
        due_at: datetime | None = None,
        note: str = "",
    ) -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        nc.status = await self._check(nc, current, Verb.accept)
        if (owner_id is None) != (due_at is None):
            raise Invalid("accept with both an owner and a due date, or with neither", field="owner_id")
        timeline(self.session, nc, "accept", current.id, previous, note)
        if owner_id is not None and due_at is not None:
            await self._set_owner(nc, owner_id, due_at)
            nc.status = NC.assigned
            timeline(self.session, nc, "assign", current.id, NC.open, note, owner_id=owner_id, due_at=due_at)
        return nc

    async def dismiss(self, current: CurrentUser, nc_id: UUID, reason: str) -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        nc.status = await self._check(nc, current, Verb.dismiss)
        if not reason.strip():
            raise Invalid("say why it is not a nonconformance", field="reason")
        nc.closed_at, nc.closed_by_id = utcnow(), current.id
        timeline(self.session, nc, "dismiss", current.id, previous, reason.strip())
        return nc

    async def assign(
        self, current: CurrentUser, nc_id: UUID, owner_id: UUID, due_at: datetime, note: str = ""
    ) -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        nc.status = await self._check(nc, current, Verb.assign)
        await self._set_owner(nc, owner_id, due_at)
        timeline(self.session, nc, "assign", current.id, previous, note, owner_id=owner_id, due_at=due_at)
        return nc

    async def record_root_cause(
        self, current: CurrentUser, nc_id: UUID, root_cause: str, category: str
    ) -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        nc.status = await self._check(nc, current, Verb.root_cause)
        if not root_cause.strip():
            raise Invalid("describe the root cause", field="root_cause")
        nc.root_cause, nc.root_cause_category = root_cause.strip(), category
        timeline(self.session, nc, "root-cause", current.id, previous, nc.root_cause, category=category)
        return nc

    async def add_action(
        self,
        current: CurrentUser,
        nc_id: UUID,
        *,
        kind: str,
        description: str,
        owner_id: UUID,
        due_at: datetime,
    ) -> QualityAction:
        nc = await self.visible_nc(nc_id, current, lock=True)
        await self._check(nc, current, Verb.add_action)
        if not description.strip():
            raise Invalid("describe the action", field="description")
        await self._active_user(owner_id, "owner_id")
        self._future(due_at, "due_at")
        action = QualityAction(
            nonconformance_id=nc.id,
            kind=kind,
            description=description.strip(),
            owner_id=owner_id,
            due_at=due_at,
            created_by_id=current.id,
        )
        self.session.add(action)
        await self.session.flush()
        timeline(
            self.session,
            nc,
            "add-action",
            current.id,
            nc.status,
            action.description,
            action_id=action.id,
            kind=kind,
            owner_id=owner_id,
            due_at=due_at,
        )
        record_event(
            self.session,
            QualityItemAssigned(
                "action", action.id, f"{nc.number}: {action.description[:150]}", owner_id, due_at
            ),
        )
        return action

    async def _visible_action(
        self, current: CurrentUser, action_id: UUID
    ) -> tuple[QualityAction, Nonconformance]:
        await begin_write(self.session)
        action = await self.session.scalar(
            select(QualityAction).where(QualityAction.id == action_id).with_for_update()
        )
        if action is None:
            raise NotFound("no such action", field="action_id")
        try:
            nc = await self.visible_nc(action.nonconformance_id, current, lock=True)
        except NotFound:
            raise NotFound("no such action", field="action_id") from None
        return action, nc

    async def action_done(self, current: CurrentUser, action_id: UUID, note: str = "") -> QualityAction:
        action, nc = await self._visible_action(current, action_id)
        if action.owner_id != current.id and not current.sees_everything:
            raise Forbidden("only the action's owner (or the quality department) marks it done")
        self._action_open(action, nc, "done")
        action.status, action.done_at, action.done_note = ActionStatus.done, utcnow(), note.strip()
        timeline(self.session, nc, "action-done", current.id, nc.status, note.strip(), action_id=action.id)
        return action

    async def action_assign(
        self, current: CurrentUser, action_id: UUID, owner_id: UUID, due_at: datetime
    ) -> QualityAction:
        """Give an open action to someone else or a new due date (the new owner is told)."""
        action, nc = await self._visible_action(current, action_id)
        held = await self.capacities(nc, current)
        if Capacity.runner not in held and Capacity.owner not in held:
            raise Forbidden("only the nonconformance's owner or the quality department reassigns an action")
        self._action_open(action, nc, "reassigned")
        await self._active_user(owner_id, "owner_id")
        self._future(due_at, "due_at")
        previous = action.owner_id
        action.owner_id, action.due_at, action.overdue_notified_at = owner_id, due_at, None
        action.updated_at = utcnow()
        timeline(
            self.session,
            nc,
            "action-assign",
            current.id,
            nc.status,
            "",
            action_id=action.id,
            previous_owner_id=previous,
            owner_id=owner_id,
            due_at=due_at,
        )
        record_event(
            self.session,
            QualityItemAssigned(
                "action", action.id, f"{nc.number}: {action.description[:150]}", owner_id, due_at
            ),
        )
        return action

    async def action_cancel(self, current: CurrentUser, action_id: UUID, reason: str) -> QualityAction:
        action, nc = await self._visible_action(current, action_id)
        if Capacity.runner not in (held := await self.capacities(nc, current)) and Capacity.owner not in held:
            raise Forbidden("only the nonconformance's owner or the quality department cancels an action")
        self._action_open(action, nc, "cancelled")
        if not reason.strip():
            raise Invalid("say why the action is cancelled", field="reason")
        action.status, action.done_at, action.done_note = ActionStatus.cancelled, utcnow(), reason.strip()
        timeline(
            self.session, nc, "action-cancel", current.id, nc.status, reason.strip(), action_id=action.id
        )
        return action

    @staticmethod
    def _action_open(action: QualityAction, nc: Nonconformance, verb: str) -> None:
        if action.status != ActionStatus.open:
            raise InvalidTransition(f"the action is {action.status}: only an open action can be {verb}")
        if nc.status != NC.root_cause:
            raise InvalidTransition(f"{nc.number} is {nc.status}: its actions change while it is root_cause")

    async def submit_verification(self, current: CurrentUser, nc_id: UUID, note: str = "") -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        target = await self._check(nc, current, Verb.submit_verification)
        actions = await self.session.execute(
            select(QualityAction.kind, QualityAction.status, QualityAction.created_at).where(
                QualityAction.nonconformance_id == nc.id
            )
        )
        # After a verification found the actions ineffective, only new actions count as the fix.
        ineffective_at = await self.session.scalar(
            select(func.max(NonconformanceEvent.at)).where(
                NonconformanceEvent.nonconformance_id == nc.id,
                NonconformanceEvent.verb == "verify-ineffective",
            )
        )
        counted = [
            (kind, status)
            for kind, status, created_at in actions.tuples()
            if ineffective_at is None or created_at > ineffective_at or status == ActionStatus.open
        ]
        try:
            workflow.check_ready_for_verification(counted)
        except WorkflowRefused as error:
            again = " since the last verification found the actions ineffective" if ineffective_at else ""
            raise InvalidTransition(error.message + again, code="ACTIONS_NOT_DONE") from None
        nc.status = target
        timeline(self.session, nc, "submit-verification", current.id, previous, note.strip())
        return nc

    async def verify(
        self,
        current: CurrentUser,
        nc_id: UUID,
        *,
        effective: bool,
        note: str,
        verification_job_id: UUID | None = None,
    ) -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        target = await self._check(nc, current, Verb.verify if effective else Verb.verify_ineffective)
        if not note.strip():
            raise Invalid("say how it was verified", field="note")
        if verification_job_id is not None:
            await self._check_verification_job(nc, verification_job_id)
        nc.status = target
        nc.verification_note = note.strip()
        nc.verification_job_id = verification_job_id or nc.verification_job_id
        now = utcnow()
        if effective:
            nc.verified_by_id, nc.verified_at = current.id, now
            nc.closed_by_id, nc.closed_at = current.id, now
        timeline(
            self.session,
            nc,
            "verify" if effective else "verify-ineffective",
            current.id,
            previous,
            note.strip(),
            effective=effective,
            verification_job_id=verification_job_id,
        )
        return nc

    async def _check_verification_job(self, nc: Nonconformance, job_id: UUID) -> None:
        job = await self.session.get(Job, job_id)
        field = "verification_job_id"
        if job is None:
            raise NotFound("no such job", field=field)
        if job.id == nc.job_id:
            raise Invalid(
                "the verification job is a later visit, not the job the nonconformance is about", field=field
            )
        if job.status != JobStatus.approved:
            raise Invalid(
                f"the verification job {job.number} is {job.status}: it must be approved", field=field
            )
        if nc.technician_id is not None and job.assignee_id == nc.technician_id:
            raise Invalid(
                f"the verification job {job.number} was done by the nonconformance's own technician: "
                "another technician verifies",
                field=field,
                code="VERIFIER_NOT_INDEPENDENT",
            )

    async def resolve_on_site(self, current: CurrentUser, nc_id: UUID, resolution: str) -> Nonconformance:
        nc = await self.visible_nc(nc_id, current, lock=True)
        previous = nc.status
        nc.status = await self._check(nc, current, Verb.resolve_on_site)
        if not resolution.strip():
            raise Invalid("say how it was resolved", field="resolution")
        now = utcnow()
        nc.front_line_resolution = resolution.strip()
        nc.verified_by_id, nc.verified_at = current.id, now
        nc.closed_by_id, nc.closed_at = current.id, now
        timeline(self.session, nc, "resolve-on-site", current.id, previous, nc.front_line_resolution)
        return nc

    # --- reads ----------------------------------------------------------------------------------------

    async def list_ncs(
        self, current: CurrentUser, query: NonconformanceFilter
    ) -> tuple[list[Nonconformance], int]:
        if current.role == Role.technician:
            raise Forbidden("technicians see the actions they own (GET /api/quality/actions)")
        statement = select(Nonconformance)
        scope = await self._nc_scope(current)
        if scope is not None:
            statement = statement.where(scope)
        if query.status:
            statement = statement.where(Nonconformance.status == query.status)
        if query.source:
            statement = statement.where(Nonconformance.source == query.source)
        if query.mine:
            statement = statement.where(Nonconformance.owner_id == current.id)
        if query.technician_id:
            statement = statement.where(Nonconformance.technician_id == query.technician_id)
        if query.team_id:
            statement = statement.where(Nonconformance.team_id == query.team_id)
        if query.job_id:
            statement = statement.where(Nonconformance.job_id == query.job_id)
        if query.overdue is not None:
            late = Nonconformance.status.in_(list(workflow.WORKING)) & (Nonconformance.due_at < utcnow())
            statement = statement.where(late if query.overdue else ~late | Nonconformance.due_at.is_(None))
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(Nonconformance.identified_at.desc(), Nonconformance.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return list(rows), int(total or 0)

    async def detail(
        self, current: CurrentUser, nc_id: UUID
    ) -> tuple[Nonconformance, list[QualityAction], list[NonconformanceEvent]]:
        nc = await self.visible_nc(nc_id, current)
        actions = await self.session.scalars(
            select(QualityAction)
            .where(QualityAction.nonconformance_id == nc.id)
            .order_by(QualityAction.created_at, QualityAction.id)
        )
        events = await self.session.scalars(
            select(NonconformanceEvent)
            .where(NonconformanceEvent.nonconformance_id == nc.id)
            .order_by(NonconformanceEvent.at, NonconformanceEvent.created_at)
        )
        return nc, list(actions), list(events)

    async def list_actions(
        self, current: CurrentUser, query: ActionFilter
    ) -> tuple[list[QualityAction], int]:
        statement = select(QualityAction)
        if query.mine or current.role == Role.technician:
            statement = statement.where(QualityAction.owner_id == current.id)
        elif not current.sees_everything:
            visible = select(Nonconformance.id).where(await self._nc_scope(current))
            statement = statement.where(QualityAction.nonconformance_id.in_(visible))
        if query.status:
            statement = statement.where(QualityAction.status == query.status)
        if query.nonconformance_id:
            statement = statement.where(QualityAction.nonconformance_id == query.nonconformance_id)
        if query.overdue is not None:
            late = (QualityAction.status == ActionStatus.open) & (QualityAction.due_at < utcnow())
            statement = statement.where(late if query.overdue else ~late)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(QualityAction.due_at, QualityAction.id).limit(query.limit).offset(query.offset)
        )
        return list(rows), int(total or 0)

    # --- rules ----------------------------------------------------------------------------------------

    @staticmethod
    def _check_rule(signal: str, threshold: int | None, window_days: int | None) -> None:
        if signal in (RuleSignal.low_rating, RuleSignal.unsatisfied_callback):
            if threshold is None:
                raise Invalid(f"a {signal} rule needs a threshold (1–5)", field="threshold")
            if window_days is not None:
                raise Invalid(f"a {signal} rule has no window_days", field="window_days")
        elif signal == RuleSignal.repeat_visit:
            if window_days is None:
                raise Invalid("a repeat_visit rule needs window_days (1–365)", field="window_days")
            if threshold is not None:
                raise Invalid("a repeat_visit rule has no threshold", field="threshold")
        elif threshold is not None or window_days is not None:
            raise Invalid(f"a {signal} rule has neither threshold nor window_days", field="threshold")

    async def list_rules(self) -> list[QualityRule]:
        rows = await self.session.scalars(
            select(QualityRule).order_by(QualityRule.created_at, QualityRule.id)
        )
        return list(rows)

    async def create_rule(
        self,
        current: CurrentUser,
        *,
        name: str,
        signal: str,
        threshold: int | None,
        window_days: int | None,
        severity: str,
        active: bool,
    ) -> QualityRule:
        self._check_rule(signal, threshold, window_days)
        if not name.strip():
            raise Invalid("name the rule", field="name")
        rule = QualityRule(
            name=name.strip(),
            signal=signal,
            threshold=threshold,
            window_days=window_days,
            severity=severity,
            active=active,
            created_by_id=current.id,
        )
        self.session.add(rule)
        await self.session.flush()
        return rule

    async def update_rule(self, rule_id: UUID, changes: dict[str, Any]) -> QualityRule:
        await begin_write(self.session)
        rule = await self.session.scalar(
            select(QualityRule).where(QualityRule.id == rule_id).with_for_update()
        )
        if rule is None:
            raise NotFound("no such rule", field="rule_id")
        self._check_rule(
            rule.signal,
            changes.get("threshold", rule.threshold),
            changes.get("window_days", rule.window_days),
        )
        if "name" in changes and not changes["name"].strip():
            raise Invalid("name the rule", field="name")
        for key, value in changes.items():
            setattr(rule, key, value.strip() if isinstance(value, str) and key == "name" else value)
        rule.updated_at = utcnow()
        return rule

    # --- supervision records --------------------------------------------------------------------------

    async def _procedure_steps(self, job: Job) -> list[dict[str, Any]]:
        if job.procedure_id is None:
            return []
        procedure = await self.session.get(Procedure, job.procedure_id)
        return list(procedure.steps) if procedure else []

    async def record_supervision(
        self,
        current: CurrentUser,
        *,
        job_id: UUID,
        mode: str,
        checked_at: datetime | None,
        findings: Sequence[FindingIn],
        notes: str = "",
        open_nonconformance: bool = False,
    ) -> tuple[SupervisionRecord, Nonconformance | None]:
        if current.role not in (Role.supervisor, Role.quality, Role.manager):
            raise Forbidden("only supervisors, the quality department and managers record supervisions")
        job = await self._visible_job(job_id, current)
        now = utcnow()
        if checked_at is not None and checked_at > now + CLOCK_SKEW:
            raise Invalid("checked_at is in the future", field="checked_at")
        steps = {str(step.get("id")): step for step in await self._procedure_steps(job)}
        assessed: set[str] = set()
        for index, finding in enumerate(findings):
            if not finding.point.strip():
                raise Invalid("name the point checked", field=f"findings[{index}].point")
            if finding.step_id is None:
                continue
            if finding.step_id not in steps:
                raise Invalid(
                    f"step {finding.step_id!r} is not a step of job {job.number}'s procedure",
                    field=f"findings[{index}].step_id",
                )
            if finding.step_id in assessed:
                raise Invalid(
                    f"step {finding.step_id!r} is assessed twice", field=f"findings[{index}].step_id"
                )
            assessed.add(finding.step_id)
        for step_id, step in steps.items():
            if step.get("monitoring_point") and step_id not in assessed:
                raise Invalid(
                    f"monitoring point {step_id!r} ({step.get('title', '')}) is not assessed: "
                    "every monitoring point of the procedure needs a finding",
                    field="findings",
                )
        passed = sum(1 for f in findings if f.result == "pass")
        failed = [f for f in findings if f.result == "fail"]
        await begin_write(self.session)
        record = SupervisionRecord(
            job_id=job.id,
            technician_id=job.assignee_id,
            team_id=job.team_id,
            checked_by_id=current.id,
            mode=mode,
            checked_at=checked_at or now,
            findings=[
                {"step_id": f.step_id, "point": f.point.strip(), "result": f.result, "note": f.note.strip()}
                for f in findings
            ],
            passed=not failed,
            score=round(100 * passed / (passed + len(failed))) if passed + len(failed) else None,
            notes=notes.strip(),
        )
        self.session.add(record)
        await self.session.flush()
        nc = None
        if open_nonconformance and failed:
            points = "; ".join(f.point.strip() for f in failed)
            nc = await new_nonconformance(
                self.session,
                source=NonconformanceSource.monitoring,
                source_id=record.id,
                title=f"Monitoring {job.number}: {points}",
                description="\n".join(f"{f.point.strip()}: {f.note.strip()}" for f in failed),
                job=job,
                identified_by_id=current.id,
            )
        return record, nc

    async def _supervision_scope(self, current: CurrentUser):
        if current.sees_everything:
            return None
        if current.role == Role.supervisor:
            teams = await self.led_teams(current)
            return SupervisionRecord.team_id.in_(teams) | (SupervisionRecord.checked_by_id == current.id)
        return SupervisionRecord.technician_id == current.id

    async def supervision(
        self, current: CurrentUser, record_id: UUID
    ) -> tuple[SupervisionRecord, UUID | None]:
        statement = select(SupervisionRecord).where(SupervisionRecord.id == record_id)
        scope = await self._supervision_scope(current)
        if scope is not None:
            statement = statement.where(scope)
        record = await self.session.scalar(statement)
        if record is None:
            raise NotFound("no such supervision record", field="supervision_id")
        nc = await find_by_source(self.session, NonconformanceSource.monitoring, record.id)
        return record, nc.id if nc else None

    async def list_supervisions(
        self, current: CurrentUser, query: SupervisionFilter
    ) -> tuple[list[SupervisionRecord], int]:
        statement = select(SupervisionRecord)
        scope = await self._supervision_scope(current)
        if scope is not None:
            statement = statement.where(scope)
        if query.job_id:
            statement = statement.where(SupervisionRecord.job_id == query.job_id)
        if query.technician_id:
            statement = statement.where(SupervisionRecord.technician_id == query.technician_id)
        if query.checked_by_id:
            statement = statement.where(SupervisionRecord.checked_by_id == query.checked_by_id)
        if query.checked_from:
            statement = statement.where(SupervisionRecord.checked_at >= query.checked_from)
        if query.checked_to:
            statement = statement.where(SupervisionRecord.checked_at < query.checked_to)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(SupervisionRecord.checked_at.desc(), SupervisionRecord.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return list(rows), int(total or 0)

    async def monitoring_points(self, current: CurrentUser, job_id: UUID) -> tuple[Job, list[dict[str, Any]]]:
        """The job's monitoring points to check, with what the technician recorded for each."""
        job = await self._visible_job(job_id, current)
        points = [s for s in await self._procedure_steps(job) if s.get("monitoring_point")]
        recorded = {
            row.step_id: row
            for row in await self.session.scalars(select(JobStep).where(JobStep.job_id == job.id))
        }
        out = []
        for step in points:
            row = recorded.get(str(step.get("id")))
            out.append(
                {
                    "step_id": str(step.get("id")),
                    "title": str(step.get("title", "")),
                    "instructions": str(step.get("instructions", "")),
                    "requires": list(step.get("requires", [])),
                    "key_moment": bool(step.get("key_moment", False)),
                    "result": row.result if row else None,
                    "value": row.value if row else None,
                    "in_range": row.in_range if row else None,
                    "note": row.note if row else "",
                    "blobs": list(row.blobs) if row else [],
                    "completed_by_id": row.completed_by_id if row else None,
                }
            )
        return job, out


DEFAULT_RULES = (
    ("Customer rating at or below 2", RuleSignal.low_rating, 2, None, Severity.medium),
    ("Refused sign-off", RuleSignal.refused_signoff, None, None, Severity.high),
    ("Repeat visit within 30 days", RuleSignal.repeat_visit, None, 30, Severity.medium),
    (
        "Unsatisfied callback (satisfaction at or below 2)",
        RuleSignal.unsatisfied_callback,
        2,
        None,
        Severity.medium,
    ),
)


async def seed_loop_defaults(session: AsyncSession, quality_user_id: UUID | None) -> list[QualityRule]:
    """The default rules (rating ≤ 2, refused sign-off, repeat visit within 30 days, unsatisfied
    callback ≤ 2), for a signal that has no rule yet; seeding twice adds nothing."""
    existing = set(await session.scalars(select(QualityRule.signal)))
    made = []
    for name, signal, threshold, window_days, severity in DEFAULT_RULES:
        if signal in existing:
            continue
        rule = QualityRule(
            name=name,
            signal=signal,
            threshold=threshold,
            window_days=window_days,
            severity=severity,
            created_by_id=quality_user_id,
        )
        session.add(rule)
        made.append(rule)
    await session.flush()
    return made
