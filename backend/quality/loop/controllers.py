"""HTTP for the closed quality loop: nonconformances and their actions, the rules, supervision records,
a job's monitoring points, a complaint's nonconformance. Thin: the rules live in ``services``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, STAFF, roles
from backend.auth.models import Role
from backend.errors import error_responses
from backend.jobs.controllers import Limit, Offset
from backend.quality.loop import schemas as s
from backend.quality.loop.services import (
    ActionFilter,
    FindingIn,
    LoopService,
    NonconformanceFilter,
    SupervisionFilter,
)
from backend.quality.loop.workflow import CLOSED
from backend.quality.models import (
    ActionStatus,
    Nonconformance,
    NonconformanceEvent,
    QualityAction,
    QualityRule,
    SupervisionRecord,
)

RUNNERS = roles(Role.quality, Role.manager)
VERB_ERRORS = error_responses(401, 403, 404, 409, 413)


async def provide_loop(db_session: NamedDependency[AsyncSession]) -> LoopService:
    return LoopService(db_session)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def action_read(a: QualityAction, now: datetime | None = None) -> s.ActionRead:
    now = now or _now()
    return s.ActionRead(
        id=a.id,
        nonconformance_id=a.nonconformance_id,
        kind=a.kind,
        description=a.description,
        owner_id=a.owner_id,
        due_at=a.due_at,
        status=a.status,
        done_at=a.done_at,
        done_note=a.done_note,
        created_by_id=a.created_by_id,
        created_at=a.created_at,
        overdue=a.status == ActionStatus.open and a.due_at < now,
    )


def _nc_fields(n: Nonconformance) -> dict[str, Any]:
    return {
        "id": n.id,
        "number": n.number,
        "source": n.source,
        "source_id": n.source_id,
        "rule_id": n.rule_id,
        "status": n.status,
        "severity": n.severity,
        "title": n.title,
        "description": n.description,
        "job_id": n.job_id,
        "technician_id": n.technician_id,
        "team_id": n.team_id,
        "site_id": n.site_id,
        "unit_id": n.unit_id,
        "complaint_id": n.complaint_id,
        "identified_at": n.identified_at,
        "identified_by_id": n.identified_by_id,
        "owner_id": n.owner_id,
        "due_at": n.due_at,
        "root_cause": n.root_cause,
        "root_cause_category": n.root_cause_category,
        "front_line_resolution": n.front_line_resolution,
        "verification_job_id": n.verification_job_id,
        "verification_note": n.verification_note,
        "verified_by_id": n.verified_by_id,
        "verified_at": n.verified_at,
        "closed_at": n.closed_at,
        "closed_by_id": n.closed_by_id,
        "overdue": n.status not in CLOSED
        and n.status != "candidate"
        and n.due_at is not None
        and n.due_at < _now(),
    }


def nc_read(n: Nonconformance) -> s.NonconformanceRead:
    return s.NonconformanceRead(**_nc_fields(n))


def nc_detail(
    n: Nonconformance, actions: list[QualityAction], events: list[NonconformanceEvent]
) -> s.NonconformanceDetail:
    now = _now()
    return s.NonconformanceDetail(
        **_nc_fields(n),
        actions=[action_read(a, now) for a in actions],
        timeline=[
            s.TimelineEntry(
                at=e.at,
                actor_id=e.actor_id,
                verb=e.verb,
                from_status=e.from_status,
                to_status=e.to_status,
                note=e.note,
                data=dict(e.data),
            )
            for e in events
        ],
    )


def rule_read(r: QualityRule) -> s.RuleRead:
    return s.RuleRead(
        id=r.id,
        name=r.name,
        signal=r.signal,
        threshold=r.threshold,
        window_days=r.window_days,
        severity=r.severity,
        active=r.active,
        created_by_id=r.created_by_id,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def supervision_read(r: SupervisionRecord, nc_id: UUID | None = None) -> s.SupervisionRead:
    return s.SupervisionRead(
        id=r.id,
        job_id=r.job_id,
        technician_id=r.technician_id,
        team_id=r.team_id,
        checked_by_id=r.checked_by_id,
        mode=r.mode,
        checked_at=r.checked_at,
        findings=list(r.findings),
        passed=r.passed,
        score=r.score,
        notes=r.notes,
        created_at=r.created_at,
        nonconformance_id=nc_id,
    )


async def _detail(loop: LoopService, request: Request, nc_id: UUID) -> s.NonconformanceDetail:
    await loop.session.flush()
    return nc_detail(*await loop.detail(request.user, nc_id))


class NonconformanceController(Controller):
    path = "/api/quality/nonconformances"
    tags = ["quality"]
    dependencies = {"loop": Provide(provide_loop)}

    @post(
        "/",
        operation_id="identifyNonconformance",
        opt=STAFF,
        status_code=HTTP_201_CREATED,
        summary="Identify a nonconformance (supervisors: on their teams' jobs); it opens without an owner",
        responses=error_responses(401, 403, 404, 409, 413),
    )
    async def identify(
        self, request: Request, data: JSONBody[s.NonconformanceCreate], loop: NamedDependency[LoopService]
    ) -> s.NonconformanceDetail:
        nc = await loop.identify(
            request.user,
            source=data.source,
            source_id=data.source_id,
            title=data.title,
            description=data.description,
            severity=data.severity,
            job_id=data.job_id,
        )
        return await _detail(loop, request, nc.id)

    @get(
        "/",
        operation_id="listNonconformances",
        opt=STAFF,
        summary="Nonconformances I may see (quality and managers: all; supervisors: their teams' and mine)",
        responses=error_responses(401, 403),
    )
    async def list_ncs(
        self,
        request: Request,
        loop: NamedDependency[LoopService],
        status: FromQuery[s.NcStatusName | None] = None,
        source: FromQuery[s.SourceName | None] = None,
        mine: FromQuery[bool] = False,
        technician_id: FromQuery[UUID | None] = None,
        team_id: FromQuery[UUID | None] = None,
        job_id: FromQuery[UUID | None] = None,
        overdue: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.NonconformancePage:
        rows, total = await loop.list_ncs(
            request.user,
            NonconformanceFilter(
                status=status,
                source=source,
                mine=mine,
                technician_id=technician_id,
                team_id=team_id,
                job_id=job_id,
                overdue=overdue,
                limit=limit,
                offset=offset,
            ),
        )
        return s.NonconformancePage(items=[nc_read(n) for n in rows], total=total)

    @get(
        "/{nc_id:uuid}",
        operation_id="getNonconformance",
        opt=ANY_ROLE,
        summary="A nonconformance with its actions and its timeline",
        responses=error_responses(401, 403, 404),
    )
    async def get_nc(
        self, request: Request, nc_id: FromPath[UUID], loop: NamedDependency[LoopService]
    ) -> s.NonconformanceDetail:
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/accept",
        operation_id="acceptNonconformance",
        opt=RUNNERS,
        status_code=HTTP_200_OK,
        summary="Accept a candidate (with owner_id and due_at it is assigned at once)",
        responses=VERB_ERRORS,
    )
    async def accept(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.AcceptBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.accept(request.user, nc_id, owner_id=data.owner_id, due_at=data.due_at, note=data.note)
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/dismiss",
        operation_id="dismissNonconformance",
        opt=RUNNERS,
        status_code=HTTP_200_OK,
        summary="Dismiss a candidate that is not a nonconformance (reason required)",
        responses=VERB_ERRORS,
    )
    async def dismiss(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.DismissBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.dismiss(request.user, nc_id, data.reason)
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/assign",
        operation_id="assignNonconformance",
        opt=RUNNERS,
        status_code=HTTP_200_OK,
        summary="Give the nonconformance an owner and a due date (the owner is notified)",
        responses=VERB_ERRORS,
    )
    async def assign(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.AssignBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.assign(request.user, nc_id, data.owner_id, data.due_at, data.note)
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/root-cause",
        operation_id="recordNonconformanceRootCause",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Record the root cause and its category (owner, quality, manager)",
        responses=VERB_ERRORS,
    )
    async def root_cause(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.RootCauseBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.record_root_cause(request.user, nc_id, data.root_cause, data.category)
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/actions",
        operation_id="addNonconformanceAction",
        opt=ANY_ROLE,
        status_code=HTTP_201_CREATED,
        summary="Add a corrective or preventive action with its owner and due date (the owner is notified)",
        responses=VERB_ERRORS,
    )
    async def add_action(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.ActionCreate],
        loop: NamedDependency[LoopService],
    ) -> s.ActionRead:
        action = await loop.add_action(
            request.user,
            nc_id,
            kind=data.kind,
            description=data.description,
            owner_id=data.owner_id,
            due_at=data.due_at,
        )
        return action_read(action)

    @post(
        "/{nc_id:uuid}/submit-verification",
        operation_id="submitNonconformanceForVerification",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Every action done or cancelled (a corrective one done): ready to verify",
        responses=VERB_ERRORS,
    )
    async def submit_verification(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.SubmitVerificationBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.submit_verification(request.user, nc_id, data.note)
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/verify",
        operation_id="verifyNonconformance",
        opt=RUNNERS,
        status_code=HTTP_200_OK,
        summary="Effective: closed. Not effective: back to root_cause for new actions",
        responses=VERB_ERRORS,
    )
    async def verify(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.VerifyBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.verify(
            request.user,
            nc_id,
            effective=data.effective,
            note=data.note,
            verification_job_id=data.verification_job_id,
        )
        return await _detail(loop, request, nc_id)

    @post(
        "/{nc_id:uuid}/resolve-on-site",
        operation_id="resolveNonconformanceOnSite",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Front-line resolution: closed on the spot, recorded as such",
        responses=VERB_ERRORS,
    )
    async def resolve_on_site(
        self,
        request: Request,
        nc_id: FromPath[UUID],
        data: JSONBody[s.ResolveOnSiteBody],
        loop: NamedDependency[LoopService],
    ) -> s.NonconformanceDetail:
        await loop.resolve_on_site(request.user, nc_id, data.resolution)
        return await _detail(loop, request, nc_id)


class QualityActionController(Controller):
    path = "/api/quality/actions"
    tags = ["quality"]
    dependencies = {"loop": Provide(provide_loop)}

    @get(
        "/",
        operation_id="listQualityActions",
        opt=ANY_ROLE,
        summary="Corrective and preventive actions (mine=true: what waits for me; technicians: theirs)",
        responses=error_responses(401, 403),
    )
    async def list_actions(
        self,
        request: Request,
        loop: NamedDependency[LoopService],
        mine: FromQuery[bool] = False,
        status: FromQuery[s.ActionStatusName | None] = None,
        nonconformance_id: FromQuery[UUID | None] = None,
        overdue: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.ActionPage:
        rows, total = await loop.list_actions(
            request.user,
            ActionFilter(
                mine=mine,
                status=status,
                nonconformance_id=nonconformance_id,
                overdue=overdue,
                limit=limit,
                offset=offset,
            ),
        )
        now = _now()
        return s.ActionPage(items=[action_read(a, now) for a in rows], total=total)

    @post(
        "/{action_id:uuid}/done",
        operation_id="markQualityActionDone",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Mark an action done (its owner, quality or a manager)",
        responses=VERB_ERRORS,
    )
    async def done(
        self,
        request: Request,
        action_id: FromPath[UUID],
        data: JSONBody[s.ActionDone],
        loop: NamedDependency[LoopService],
    ) -> s.ActionRead:
        return action_read(await loop.action_done(request.user, action_id, data.note))

    @post(
        "/{action_id:uuid}/assign",
        operation_id="assignQualityAction",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Give an open action a new owner or due date (the NC's owner, quality or a manager)",
        responses=VERB_ERRORS,
    )
    async def assign(
        self,
        request: Request,
        action_id: FromPath[UUID],
        data: JSONBody[s.ActionAssign],
        loop: NamedDependency[LoopService],
    ) -> s.ActionRead:
        return action_read(await loop.action_assign(request.user, action_id, data.owner_id, data.due_at))

    @post(
        "/{action_id:uuid}/cancel",
        operation_id="cancelQualityAction",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Cancel an open action (the nonconformance's owner, quality or a manager; reason required)",
        responses=VERB_ERRORS,
    )
    async def cancel(
        self,
        request: Request,
        action_id: FromPath[UUID],
        data: JSONBody[s.ActionCancel],
        loop: NamedDependency[LoopService],
    ) -> s.ActionRead:
        return action_read(await loop.action_cancel(request.user, action_id, data.reason))


class QualityRuleController(Controller):
    path = "/api/quality/rules"
    tags = ["quality"]
    dependencies = {"loop": Provide(provide_loop)}

    @get(
        "/",
        operation_id="listQualityRules",
        opt=RUNNERS,
        summary="The rules that turn signals into nonconformance candidates",
        responses=error_responses(401, 403),
    )
    async def list_rules(self, loop: NamedDependency[LoopService]) -> list[s.RuleRead]:
        return [rule_read(r) for r in await loop.list_rules()]

    @post(
        "/",
        operation_id="createQualityRule",
        opt=RUNNERS,
        status_code=HTTP_201_CREATED,
        summary="A rule: low_rating/unsatisfied_callback need a threshold (1–5), repeat_visit window_days",
        responses=error_responses(401, 403, 413),
    )
    async def create_rule(
        self, request: Request, data: JSONBody[s.RuleCreate], loop: NamedDependency[LoopService]
    ) -> s.RuleRead:
        rule = await loop.create_rule(
            request.user,
            name=data.name,
            signal=data.signal,
            threshold=data.threshold,
            window_days=data.window_days,
            severity=data.severity,
            active=data.active,
        )
        return rule_read(rule)

    @patch(
        "/{rule_id:uuid}",
        operation_id="updateQualityRule",
        opt=RUNNERS,
        summary="Change a rule's name, threshold, window, severity or whether it is active",
        responses=error_responses(401, 403, 404, 413),
    )
    async def update_rule(
        self, rule_id: FromPath[UUID], data: JSONBody[s.RuleUpdate], loop: NamedDependency[LoopService]
    ) -> s.RuleRead:
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return rule_read(await loop.update_rule(rule_id, changes))


class SupervisionController(Controller):
    path = "/api/quality/supervisions"
    tags = ["quality"]
    dependencies = {"loop": Provide(provide_loop)}

    @post(
        "/",
        operation_id="recordSupervision",
        opt=STAFF,
        status_code=HTTP_201_CREATED,
        summary="A check of a job against its procedure's monitoring points; a failed point can open an NC",
        responses=error_responses(401, 403, 404, 413),
    )
    async def record(
        self, request: Request, data: JSONBody[s.SupervisionCreate], loop: NamedDependency[LoopService]
    ) -> s.SupervisionRead:
        record, nc = await loop.record_supervision(
            request.user,
            job_id=data.job_id,
            mode=data.mode,
            checked_at=data.checked_at,
            findings=[FindingIn(f.point, f.result, f.step_id, f.note) for f in data.findings],
            notes=data.notes,
            open_nonconformance=data.open_nonconformance,
        )
        return supervision_read(record, nc.id if nc else None)

    @get(
        "/",
        operation_id="listSupervisions",
        opt=ANY_ROLE,
        summary="Supervision records I may see (technicians: of their own jobs)",
        responses=error_responses(401, 403),
    )
    async def list_supervisions(
        self,
        request: Request,
        loop: NamedDependency[LoopService],
        job_id: FromQuery[UUID | None] = None,
        technician_id: FromQuery[UUID | None] = None,
        checked_by: FromQuery[UUID | None] = None,
        checked_from: Annotated[datetime | None, QueryParameter(name="from")] = None,
        checked_to: Annotated[datetime | None, QueryParameter(name="to")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.SupervisionPage:
        rows, total = await loop.list_supervisions(
            request.user,
            SupervisionFilter(
                job_id=job_id,
                technician_id=technician_id,
                checked_by_id=checked_by,
                checked_from=_aware(checked_from),
                checked_to=_aware(checked_to),
                limit=limit,
                offset=offset,
            ),
        )
        return s.SupervisionPage(items=[supervision_read(r) for r in rows], total=total)

    @get(
        "/{supervision_id:uuid}",
        operation_id="getSupervision",
        opt=ANY_ROLE,
        summary="A supervision record and the nonconformance it opened, if any",
        responses=error_responses(401, 403, 404),
    )
    async def get_supervision(
        self, request: Request, supervision_id: FromPath[UUID], loop: NamedDependency[LoopService]
    ) -> s.SupervisionRead:
        record, nc_id = await loop.supervision(request.user, supervision_id)
        return supervision_read(record, nc_id)


class QualityLoopLinksController(Controller):
    """Routes of the loop under other resources: a complaint's nonconformance, a job's monitoring points."""

    path = "/api"
    tags = ["quality"]
    dependencies = {"loop": Provide(provide_loop)}

    @post(
        "/quality/complaints/{complaint_id:uuid}/nonconformance",
        operation_id="openComplaintNonconformance",
        opt=RUNNERS,
        status_code=HTTP_201_CREATED,
        summary="Open the complaint's nonconformance (201), or return the one it has (200)",
        responses=error_responses(401, 403, 404),
    )
    async def from_complaint(
        self, request: Request, complaint_id: FromPath[UUID], loop: NamedDependency[LoopService]
    ) -> Response[s.NonconformanceDetail]:
        made = await loop.from_complaint(request.user, complaint_id)
        detail = await _detail(loop, request, made.record.id)
        return Response(detail, status_code=HTTP_201_CREATED if made.created else HTTP_200_OK)

    @get(
        "/jobs/{job_id:uuid}/monitoring-points",
        operation_id="listJobMonitoringPoints",
        opt=STAFF,
        summary="The monitoring points to check on a job, with what the technician recorded for each",
        responses=error_responses(401, 403, 404),
    )
    async def monitoring_points(
        self, request: Request, job_id: FromPath[UUID], loop: NamedDependency[LoopService]
    ) -> s.MonitoringPoints:
        job, points = await loop.monitoring_points(request.user, job_id)
        return s.MonitoringPoints(
            job_id=job.id,
            number=job.number,
            status=job.status,
            technician_id=job.assignee_id,
            procedure_id=job.procedure_id,
            points=[s.MonitoringPoint(**p) for p in points],
        )


LOOP_ROUTES = [
    NonconformanceController,
    QualityActionController,
    QualityRuleController,
    SupervisionController,
    QualityLoopLinksController,
]
