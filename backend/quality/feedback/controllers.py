"""HTTP for evaluations, callback policies and callbacks, survey templates and survey links, complaints
and the triage of field reports; and the customer's public survey pages (``/s/<token>``). Thin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, PUBLIC, STAFF, roles
from backend.auth.models import Role
from backend.db import utcnow
from backend.errors import error_responses
from backend.jobs.controllers import Limit, Offset
from backend.jobs.models import Job, Site
from backend.quality.controllers import report_read
from backend.quality.feedback import schemas as s
from backend.quality.feedback import survey_page as pages
from backend.quality.feedback import tokens
from backend.quality.feedback.services import (
    EvaluationFilter,
    FeedbackService,
    Page,
    callback_is_overdue,
    complaint_is_overdue,
)
from backend.quality.models import (
    Callback,
    CallbackPolicy,
    Complaint,
    Evaluation,
    Survey,
    SurveyStatus,
    SurveyTemplate,
)

QUALITY_STAFF = roles(Role.quality, Role.manager)
FIELD = roles(Role.technician)
BODY_ERRORS = (401, 403, 404, 409, 413, 422)


async def provide_feedback(db_session: NamedDependency[AsyncSession]) -> FeedbackService:
    return FeedbackService(db_session)


DEPENDENCIES = {"feedback": Provide(provide_feedback)}


def _fields(data: msgspec.Struct) -> dict[str, Any]:
    return {
        name: getattr(data, name)
        for name in data.__struct_fields__
        if getattr(data, name) is not msgspec.UNSET
    }


# --- reads ------------------------------------------------------------------------------------------


def evaluation_read(e: Evaluation) -> s.EvaluationRead:
    return s.EvaluationRead(
        id=e.id,
        job_id=e.job_id,
        technician_id=e.technician_id,
        team_id=e.team_id,
        source=e.source,
        source_id=e.source_id,
        overall=e.overall,
        technical=e.technical,
        service=e.service,
        comment=e.comment,
        evaluated_at=e.evaluated_at,
        recorded_by_id=e.recorded_by_id,
    )


def policy_read(p: CallbackPolicy) -> s.PolicyRead:
    return s.PolicyRead(
        id=p.id,
        name=p.name,
        trigger=p.trigger,
        job_type=p.job_type,
        share_percent=p.share_percent,
        rating_at_or_below=p.rating_at_or_below,
        due_hours=p.due_hours,
        assignee_id=p.assignee_id,
        active=p.active,
        created_by_id=p.created_by_id,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def callback_read(c: Callback, **extra: Any) -> s.CallbackRead:
    return s.CallbackRead(
        id=c.id,
        number=c.number,
        job_id=c.job_id,
        technician_id=c.technician_id,
        team_id=c.team_id,
        policy_id=c.policy_id,
        reason=c.reason,
        status=c.status,
        assignee_id=c.assignee_id,
        due_at=c.due_at,
        overdue=callback_is_overdue(c),
        attempts=c.attempts,
        reached=c.reached,
        satisfaction=c.satisfaction,
        rating_technical=c.rating_technical,
        rating_service=c.rating_service,
        comments=c.comments,
        done_at=c.done_at,
        done_by_id=c.done_by_id,
        created_at=c.created_at,
        **extra,
    )


def template_read(t: SurveyTemplate) -> s.TemplateRead:
    return s.TemplateRead(
        id=t.id,
        code=t.code,
        revision=t.revision,
        title=t.title,
        intro=t.intro,
        questions=list(t.questions),
        is_current=t.is_current,
        created_by_id=t.created_by_id,
        created_at=t.created_at,
    )


def survey_read(survey: Survey, request: Request) -> s.SurveyRead:
    path = url = None
    if survey.status == SurveyStatus.sent and survey.expires_at > utcnow():
        token = tokens.make_token(
            request.app.state.settings.secret_key, survey.id, survey.expires_at, survey.token_nonce
        )
        path = f"/s/{token}"
        url = str(request.base_url).rstrip("/") + path
    return s.SurveyRead(
        id=survey.id,
        job_id=survey.job_id,
        template_id=survey.template_id,
        status=survey.status,
        expires_at=survey.expires_at,
        opened_at=survey.opened_at,
        answered_at=survey.answered_at,
        answers=dict(survey.answers),
        created_by_id=survey.created_by_id,
        created_at=survey.created_at,
        url=url,
        path=path,
    )


def complaint_read(c: Complaint) -> s.ComplaintRead:
    return s.ComplaintRead(
        id=c.id,
        number=c.number,
        channel=c.channel,
        severity=c.severity,
        status=c.status,
        summary=c.summary,
        details=c.details,
        customer_id=c.customer_id,
        site_id=c.site_id,
        job_id=c.job_id,
        technician_id=c.technician_id,
        team_id=c.team_id,
        source_id=c.source_id,
        contact_name=c.contact_name,
        contact_phone=c.contact_phone,
        received_at=c.received_at,
        respond_by=c.respond_by,
        resolve_by=c.resolve_by,
        overdue=complaint_is_overdue(c),
        acknowledged_at=c.acknowledged_at,
        resolved_at=c.resolved_at,
        closed_at=c.closed_at,
        response=c.response,
        resolution=c.resolution,
        assignee_id=c.assignee_id,
        recorded_by_id=c.recorded_by_id,
    )


# --- evaluations ------------------------------------------------------------------------------------


class EvaluationController(Controller):
    path = "/api/quality/evaluations"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listEvaluations",
        opt=ANY_ROLE,
        summary="Evaluations I may see (technicians: of themselves; supervisors: their teams'; quality, "
        "managers: all), newest first",
        responses=error_responses(401, 403),
    )
    async def list_evaluations(
        self,
        request: Request,
        feedback: NamedDependency[FeedbackService],
        job_id: FromQuery[UUID | None] = None,
        technician_id: FromQuery[UUID | None] = None,
        source: FromQuery[s.SourceName | None] = None,
        from_: Annotated[datetime | None, QueryParameter(name="from")] = None,
        to: FromQuery[datetime | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.EvaluationPage:
        rows, total = await feedback.list_evaluations(
            request.user,
            EvaluationFilter(
                job_id=job_id, technician_id=technician_id, source=source, since=from_, until=to
            ),
            Page(limit, offset),
        )
        return s.EvaluationPage(items=[evaluation_read(e) for e in rows], total=total)


class JobFeedbackController(Controller):
    path = "/api/jobs"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @post(
        "/{job_id:uuid}/self-assessment",
        operation_id="assessOwnJob",
        opt=FIELD,
        status_code=HTTP_201_CREATED,
        summary="The assigned technician's own assessment of the job, once, after the work is done",
        responses=error_responses(*BODY_ERRORS),
    )
    async def self_assess(
        self,
        request: Request,
        job_id: FromPath[UUID],
        data: JSONBody[s.SelfAssessment],
        feedback: NamedDependency[FeedbackService],
    ) -> s.EvaluationRead:
        made = await feedback.self_assess(
            request.user, job_id, data.overall, data.technical, data.service, data.comment
        )
        return evaluation_read(made)

    @post(
        "/{job_id:uuid}/survey",
        operation_id="createSurveyLink",
        opt=ANY_ROLE,
        status_code=HTTP_201_CREATED,
        summary="A survey link for the customer (quality, managers, the job's supervisor or technician; "
        "after the sign-off)",
        responses=error_responses(*BODY_ERRORS),
    )
    async def create_survey(
        self,
        request: Request,
        job_id: FromPath[UUID],
        data: JSONBody[s.SurveyCreate],
        feedback: NamedDependency[FeedbackService],
    ) -> s.SurveyRead:
        survey = await feedback.create_survey(request.user, job_id, data.template_code, data.expires_in_days)
        return survey_read(survey, request)

    @get(
        "/{job_id:uuid}/surveys",
        operation_id="listJobSurveys",
        opt=STAFF,
        summary="The job's survey links and answers",
        responses=error_responses(401, 403, 404),
    )
    async def job_surveys(
        self, request: Request, job_id: FromPath[UUID], feedback: NamedDependency[FeedbackService]
    ) -> list[s.SurveyRead]:
        return [survey_read(x, request) for x in await feedback.job_surveys(request.user, job_id)]


# --- callback policies and callbacks ----------------------------------------------------------------


class CallbackPolicyController(Controller):
    path = "/api/quality/callback-policies"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listCallbackPolicies",
        opt=QUALITY_STAFF,
        summary="When the customer is called back",
        responses=error_responses(401, 403),
    )
    async def list_policies(self, feedback: NamedDependency[FeedbackService]) -> list[s.PolicyRead]:
        return [policy_read(p) for p in await feedback.list_policies()]

    @post(
        "/",
        operation_id="createCallbackPolicy",
        opt=QUALITY_STAFF,
        status_code=HTTP_201_CREATED,
        summary="A callback policy: after approvals of a job type (a share of them), low ratings, refusals",
        responses=error_responses(*BODY_ERRORS),
    )
    async def create_policy(
        self, request: Request, data: JSONBody[s.PolicyCreate], feedback: NamedDependency[FeedbackService]
    ) -> s.PolicyRead:
        return policy_read(await feedback.create_policy(request.user, **_fields(data)))

    @patch(
        "/{policy_id:uuid}",
        operation_id="updateCallbackPolicy",
        opt=QUALITY_STAFF,
        summary="Change a callback policy (activate, deactivate, share, due hours…)",
        responses=error_responses(*BODY_ERRORS),
    )
    async def update_policy(
        self,
        request: Request,
        policy_id: FromPath[UUID],
        data: JSONBody[s.PolicyUpdate],
        feedback: NamedDependency[FeedbackService],
    ) -> s.PolicyRead:
        return policy_read(await feedback.update_policy(request.user, policy_id, _fields(data)))


class CallbackController(Controller):
    path = "/api/quality/callbacks"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listCallbacks",
        opt=STAFF,
        summary="Callbacks (quality, managers: all; supervisors: their teams', read-only), by due date",
        responses=error_responses(401, 403),
    )
    async def list_callbacks(
        self,
        request: Request,
        feedback: NamedDependency[FeedbackService],
        status: FromQuery[s.CallbackStatusName | None] = None,
        mine: FromQuery[bool] = False,
        overdue: FromQuery[bool | None] = None,
        job_id: FromQuery[UUID | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.CallbackPage:
        rows, total = await feedback.list_callbacks(
            request.user, Page(limit, offset), status=status, mine=mine, overdue=overdue, job_id=job_id
        )
        return s.CallbackPage(items=[callback_read(c) for c in rows], total=total)

    @get(
        "/{callback_id:uuid}",
        operation_id="getCallback",
        opt=STAFF,
        summary="One callback",
        responses=error_responses(401, 403, 404),
    )
    async def get_callback(
        self, request: Request, callback_id: FromPath[UUID], feedback: NamedDependency[FeedbackService]
    ) -> s.CallbackRead:
        return callback_read(await feedback.get_callback(request.user, callback_id))

    @post(
        "/",
        operation_id="createCallback",
        opt=QUALITY_STAFF,
        status_code=HTTP_201_CREATED,
        summary="A manual callback for a job",
        responses=error_responses(*BODY_ERRORS),
    )
    async def create_callback(
        self, request: Request, data: JSONBody[s.CallbackCreate], feedback: NamedDependency[FeedbackService]
    ) -> s.CallbackRead:
        made = await feedback.create_callback(
            request.user,
            data.job_id,
            due_at=data.due_at,
            assignee_id=data.assignee_id,
            comments=data.comments,
        )
        return callback_read(made)

    @post(
        "/{callback_id:uuid}/attempt",
        operation_id="recordCallbackAttempt",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="The customer was not reached this time (optionally: when to try again)",
        responses=error_responses(*BODY_ERRORS),
    )
    async def attempt(
        self,
        request: Request,
        callback_id: FromPath[UUID],
        data: JSONBody[s.CallbackAttempt],
        feedback: NamedDependency[FeedbackService],
    ) -> s.CallbackRead:
        return callback_read(await feedback.attempt(request.user, callback_id, data.note, data.due_at))

    @post(
        "/{callback_id:uuid}/outcome",
        operation_id="recordCallbackOutcome",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="The callback's outcome: reached or not, satisfaction and ratings, a complaint from the call",
        responses=error_responses(*BODY_ERRORS),
    )
    async def outcome(
        self,
        request: Request,
        callback_id: FromPath[UUID],
        data: JSONBody[s.CallbackOutcome],
        feedback: NamedDependency[FeedbackService],
    ) -> s.CallbackRead:
        done = await feedback.outcome(
            request.user,
            callback_id,
            reached=data.reached,
            satisfaction=data.satisfaction,
            rating_technical=data.rating_technical,
            rating_service=data.rating_service,
            comments=data.comments,
            complaint=msgspec.structs.asdict(data.complaint) if data.complaint else None,
        )
        return callback_read(done.callback, evaluation_id=done.evaluation_id, complaint_id=done.complaint_id)

    @post(
        "/{callback_id:uuid}/assign",
        operation_id="assignCallback",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="Hand the callback to another quality officer",
        responses=error_responses(*BODY_ERRORS),
    )
    async def assign(
        self,
        request: Request,
        callback_id: FromPath[UUID],
        data: JSONBody[s.Assign],
        feedback: NamedDependency[FeedbackService],
    ) -> s.CallbackRead:
        return callback_read(await feedback.assign_callback(request.user, callback_id, data.assignee_id))

    @post(
        "/{callback_id:uuid}/cancel",
        operation_id="cancelCallback",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="Cancel an open callback, saying why",
        responses=error_responses(*BODY_ERRORS),
    )
    async def cancel(
        self,
        request: Request,
        callback_id: FromPath[UUID],
        data: JSONBody[s.Cancel],
        feedback: NamedDependency[FeedbackService],
    ) -> s.CallbackRead:
        return callback_read(await feedback.cancel_callback(request.user, callback_id, data.reason))


# --- survey templates and surveys -------------------------------------------------------------------


class SurveyTemplateController(Controller):
    path = "/api/quality/survey-templates"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listSurveyTemplates",
        opt=QUALITY_STAFF,
        summary="Survey templates (current revisions; all with all=true)",
        responses=error_responses(401, 403),
    )
    async def list_templates(
        self, feedback: NamedDependency[FeedbackService], all: FromQuery[bool] = False
    ) -> list[s.TemplateRead]:
        return [template_read(t) for t in await feedback.list_templates(include_old=all)]

    @post(
        "/",
        operation_id="createSurveyTemplate",
        opt=QUALITY_STAFF,
        status_code=HTTP_201_CREATED,
        summary="Publish a survey template (an existing code gets a new revision; the old one retires)",
        responses=error_responses(*BODY_ERRORS),
    )
    async def create_template(
        self, request: Request, data: JSONBody[s.TemplateCreate], feedback: NamedDependency[FeedbackService]
    ) -> s.TemplateRead:
        made = await feedback.create_template(
            request.user,
            data.code,
            data.title,
            data.intro,
            [msgspec.structs.asdict(q) for q in data.questions],
        )
        return template_read(made)


class SurveyController(Controller):
    path = "/api/quality/surveys"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @post(
        "/{survey_id:uuid}/revoke",
        operation_id="revokeSurvey",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="Revoke an unanswered survey link",
        responses=error_responses(401, 403, 404, 409),
    )
    async def revoke(
        self, request: Request, survey_id: FromPath[UUID], feedback: NamedDependency[FeedbackService]
    ) -> s.SurveyRead:
        return survey_read(await feedback.revoke_survey(request.user, survey_id), request)


# --- complaints and triage --------------------------------------------------------------------------


class ComplaintController(Controller):
    path = "/api/quality/complaints"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        operation_id="createComplaint",
        opt=STAFF,
        status_code=HTTP_201_CREATED,
        summary="Log a complaint (phone, email, other); targets from the severity, owner from quality",
        responses=error_responses(*BODY_ERRORS),
    )
    async def create(
        self, request: Request, data: JSONBody[s.ComplaintCreate], feedback: NamedDependency[FeedbackService]
    ) -> s.ComplaintRead:
        return complaint_read(await feedback.create_complaint(request.user, **_fields(data)))

    @get(
        "/",
        operation_id="listComplaints",
        opt=STAFF,
        summary="Complaints (quality, managers: all; supervisors: their teams'), newest first",
        responses=error_responses(401, 403),
    )
    async def list_complaints(
        self,
        request: Request,
        feedback: NamedDependency[FeedbackService],
        status: FromQuery[s.ComplaintStatusName | None] = None,
        severity: FromQuery[s.SeverityName | None] = None,
        channel: FromQuery[s.ComplaintChannelName | None] = None,
        job_id: FromQuery[UUID | None] = None,
        technician_id: FromQuery[UUID | None] = None,
        overdue: FromQuery[bool | None] = None,
        mine: FromQuery[bool] = False,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.ComplaintPage:
        rows, total = await feedback.list_complaints(
            request.user,
            Page(limit, offset),
            status=status,
            severity=severity,
            channel=channel,
            job_id=job_id,
            technician_id=technician_id,
            overdue=overdue,
            mine=mine,
        )
        return s.ComplaintPage(items=[complaint_read(c) for c in rows], total=total)

    @get(
        "/{complaint_id:uuid}",
        operation_id="getComplaint",
        opt=STAFF,
        summary="One complaint",
        responses=error_responses(401, 403, 404),
    )
    async def get_complaint(
        self, request: Request, complaint_id: FromPath[UUID], feedback: NamedDependency[FeedbackService]
    ) -> s.ComplaintRead:
        return complaint_read(await feedback.get_complaint(request.user, complaint_id))

    @post(
        "/{complaint_id:uuid}/acknowledge",
        operation_id="acknowledgeComplaint",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="The customer was answered (open → acknowledged)",
        responses=error_responses(*BODY_ERRORS),
    )
    async def acknowledge(
        self,
        request: Request,
        complaint_id: FromPath[UUID],
        data: JSONBody[s.Acknowledge],
        feedback: NamedDependency[FeedbackService],
    ) -> s.ComplaintRead:
        return complaint_read(await feedback.acknowledge(request.user, complaint_id, data.response))

    @post(
        "/{complaint_id:uuid}/resolve",
        operation_id="resolveComplaint",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="The cause was dealt with and the customer told (acknowledged → resolved)",
        responses=error_responses(*BODY_ERRORS),
    )
    async def resolve(
        self,
        request: Request,
        complaint_id: FromPath[UUID],
        data: JSONBody[s.Resolve],
        feedback: NamedDependency[FeedbackService],
    ) -> s.ComplaintRead:
        return complaint_read(await feedback.resolve(request.user, complaint_id, data.resolution))

    @post(
        "/{complaint_id:uuid}/close",
        operation_id="closeComplaint",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="Close a resolved complaint",
        responses=error_responses(*BODY_ERRORS),
    )
    async def close(
        self,
        request: Request,
        complaint_id: FromPath[UUID],
        data: JSONBody[s.Close],
        feedback: NamedDependency[FeedbackService],
    ) -> s.ComplaintRead:
        return complaint_read(await feedback.close(request.user, complaint_id, data.note))

    @post(
        "/{complaint_id:uuid}/assign",
        operation_id="assignComplaint",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="Hand the complaint to another quality officer",
        responses=error_responses(*BODY_ERRORS),
    )
    async def assign(
        self,
        request: Request,
        complaint_id: FromPath[UUID],
        data: JSONBody[s.Assign],
        feedback: NamedDependency[FeedbackService],
    ) -> s.ComplaintRead:
        return complaint_read(await feedback.assign_complaint(request.user, complaint_id, data.assignee_id))


class TriageController(Controller):
    path = "/api/quality/reports"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @post(
        "/{report_id:uuid}/triage",
        operation_id="triageQualityReport",
        opt=QUALITY_STAFF,
        status_code=HTTP_200_OK,
        summary="Triage a field report: as a complaint, or close it",
        responses=error_responses(*BODY_ERRORS),
    )
    async def triage(
        self,
        request: Request,
        report_id: FromPath[UUID],
        data: JSONBody[s.Triage],
        feedback: NamedDependency[FeedbackService],
    ) -> s.TriageResult:
        made = await feedback.triage(request.user, report_id, data.as_, data)
        complaint = made.get("complaint")
        return s.TriageResult(
            outcome=data.as_,
            complaint=complaint_read(complaint) if complaint else None,
            record_id=made.get("record_id"),
            report=report_read(made["report"]),
        )


# --- the customer's public survey pages -------------------------------------------------------------


def _html(content: str, status: int) -> Response[str]:
    return Response(
        content,
        status_code=status,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )


INVALID = (
    "链接无效 This link is not valid",
    "这个调查链接无效或不完整。 This survey link is not valid or is incomplete.",
)
ANSWERED = (
    "已经回答过了 Already answered",
    "这个调查已经回答过了，谢谢！ This survey was already answered, thank you.",
)
REVOKED = ("链接已失效 Link withdrawn", "这个调查链接已被撤销。 This survey link was withdrawn.")


class SurveyLinkRefused(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


async def _survey_for(service: FeedbackService, state: State, token: str, *, lock: bool = False) -> Survey:
    try:
        claims = tokens.read_token(state.settings.secret_key, token)
    except tokens.BadToken as exc:
        raise SurveyLinkRefused(400, *INVALID) from exc
    survey = await service.survey_for_token(claims, lock=lock)
    if survey is None:
        raise SurveyLinkRefused(400, *INVALID)
    if survey.status == SurveyStatus.answered:
        raise SurveyLinkRefused(409, *ANSWERED)
    if survey.status == SurveyStatus.revoked:
        raise SurveyLinkRefused(410, *REVOKED)
    if survey.expires_at <= utcnow():
        raise SurveyLinkRefused(410, "链接已过期 Link expired", pages.expired_message(survey.expires_at))
    return survey


async def _form(session: AsyncSession, survey: Survey, token: str, **extra: Any) -> str:
    template = await session.get(SurveyTemplate, survey.template_id)
    job = await session.get(Job, survey.job_id)
    site = await session.get(Site, job.site_id)
    return pages.form_page(
        token=token,
        template=template,
        job_number=job.number,
        site_name=site.name if site else "",
        job_date=job.work_done_at or job.scheduled_start or job.created_at,
        **extra,
    )


@get("/s/survey.css", opt=PUBLIC, include_in_schema=False, sync_to_thread=False)
def survey_stylesheet() -> Response[str]:
    return Response(pages.CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@get("/s/{token:str}", opt=PUBLIC, include_in_schema=False)
async def survey_open(
    db_session: NamedDependency[AsyncSession], state: State, token: FromPath[str]
) -> Response[str]:
    service = FeedbackService(db_session)
    try:
        survey = await _survey_for(service, state, token)
    except SurveyLinkRefused as refused:
        return _html(pages.message_page(refused.title, refused.message), refused.status)
    if survey.opened_at is None:
        survey.opened_at = utcnow()
    return _html(await _form(db_session, survey, token), 200)


@post("/s/{token:str}", opt=PUBLIC, include_in_schema=False, status_code=HTTP_200_OK)
async def survey_answer(
    request: Request, db_session: NamedDependency[AsyncSession], state: State, token: FromPath[str]
) -> Response[str]:
    service = FeedbackService(db_session)
    try:
        survey = await _survey_for(service, state, token, lock=True)
        try:
            form = pages.parse_form(await request.body())
        except pages.FormRefused as exc:
            raise SurveyLinkRefused(400, "无法读取 Could not read the answers", str(exc)) from exc
        if form.get("token") != token:
            raise SurveyLinkRefused(400, *INVALID)
    except SurveyLinkRefused as refused:
        return _html(pages.message_page(refused.title, refused.message), refused.status)
    template = await db_session.get(SurveyTemplate, survey.template_id)
    answers, errors = pages.read_answers(template.questions, form)
    if errors:
        return _html(await _form(db_session, survey, token, values=form, errors=errors), 400)
    await service.answer_survey(survey, template, answers)
    return _html(
        pages.message_page(
            "谢谢！ Thank you!",
            "您的回答已收到，我们会认真对待。 Your answers were received; we take them seriously.",
        ),
        200,
    )


FEEDBACK_ROUTES = [
    EvaluationController,
    JobFeedbackController,
    CallbackPolicyController,
    CallbackController,
    SurveyTemplateController,
    SurveyController,
    ComplaintController,
    TriageController,
    survey_stylesheet,
    survey_open,
    survey_answer,
]
