"""The customer's voice: evaluations, callbacks and their policy, surveys and complaints. No HTTP here.

Rules kept in one place:

- Every rating that reaches FieldQ is one ``Evaluation`` per (source, source id), however often the
  sign-off, survey answer or callback outcome is replayed; each records ``EvaluationRecorded``.
- Callback policies decide which jobs get a callback: a job's approval (by type, drawn by a stable
  hash of policy and job so every process and replay decides the same), a customer rating at or below
  a threshold, a refused sign-off. A job gets at most one callback per reason, and a trigger that
  finds the job already has an open callback adds none (the customer is called once).
- Complaints get their response and resolution targets from the severity (``TARGETS``).
- A survey answer raises a complaint when the customer answers yes to the ``contact_me`` question, or
  gives an overall score of 2 or less with a comment (``survey_wants_complaint``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.db import begin_write, utcnow
from backend.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from backend.events import record_event
from backend.jobs.models import Customer, Job, JobStatus, JobType, Site
from backend.jobs.services import reserve_numbers
from backend.quality.events import CallbackCompleted, EvaluationRecorded, QualityItemAssigned
from backend.quality.feedback import tokens
from backend.quality.models import (
    Callback,
    CallbackPolicy,
    CallbackStatus,
    CallbackTrigger,
    Complaint,
    ComplaintChannel,
    ComplaintStatus,
    Evaluation,
    EvaluationSource,
    QualityReport,
    ReportKind,
    ReportStatus,
    Severity,
    Survey,
    SurveyStatus,
    SurveyTemplate,
)

# Response (acknowledge) and resolution targets by severity: the one table.
TARGETS: dict[str, tuple[timedelta, timedelta]] = {
    Severity.critical: (timedelta(hours=4), timedelta(days=2)),
    Severity.high: (timedelta(hours=8), timedelta(days=5)),
    Severity.medium: (timedelta(hours=24), timedelta(days=10)),
    Severity.low: (timedelta(hours=72), timedelta(days=20)),
}
CUSTOMER_SOURCES = (EvaluationSource.signoff, EvaluationSource.survey)
SURVEY_JOB_STATUSES = (JobStatus.awaiting_approval, JobStatus.approved, JobStatus.disputed)
SELF_ASSESSMENT_STATUSES = (
    JobStatus.work_done,
    JobStatus.awaiting_approval,
    JobStatus.disputed,
    JobStatus.returned,
    JobStatus.approved,
)
SELF_NAMESPACE = UUID("5f0c7c2e-6a57-4d0e-9a43-6a1f0d6c5e11")
MANUAL_REASON = "manual"
CONTACT_ME_KEY = "contact_me"
TEXT_ANSWER_MAX = 2000


@dataclass(frozen=True)
class Page:
    limit: int = 50
    offset: int = 0


# --- shared helpers ---------------------------------------------------------------------------------


async def next_number(session: AsyncSession, name: str, prefix: str) -> str:
    """The next number of the ``name`` range as ``PREFIX-000001``."""
    return f"{prefix}-{await reserve_numbers(session, name):06d}"


async def team_scope(session: AsyncSession, current: CurrentUser) -> set[UUID] | None:
    """None: everything (quality, manager); else the teams a supervisor leads."""
    if current.sees_everything:
        return None
    if current.role == Role.supervisor:
        return await led_team_ids(session, current.id)
    raise Forbidden(f"the {current.role} role may not see these records")


async def quality_user(session: AsyncSession, user_id: UUID, field: str = "assignee_id") -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active or user.role != Role.quality:
        raise InvalidInput("the assignee must be an active quality department user", field=field)
    return user


async def least_loaded_quality_user(session: AsyncSession, model: type, open_statuses: tuple) -> UUID | None:
    """The active quality user with the fewest open items of ``model`` (ties: by username)."""
    load = (
        select(model.assignee_id, func.count().label("n"))
        .where(model.status.in_([str(s) for s in open_statuses]))
        .group_by(model.assignee_id)
        .subquery()
    )
    row = await session.execute(
        select(User.id)
        .outerjoin(load, load.c.assignee_id == User.id)
        .where(User.role == Role.quality, User.is_active.is_(True))
        .order_by(func.coalesce(load.c.n, 0), User.username)
        .limit(1)
    )
    return row.scalar()


def _page(statement, page: Page, *order):
    return statement.order_by(*order).limit(page.limit).offset(page.offset)


async def _count(session: AsyncSession, statement) -> int:
    return int(await session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


# --- evaluations ------------------------------------------------------------------------------------


async def record_evaluation(
    session: AsyncSession,
    *,
    job: Job,
    technician_id: UUID | None,
    team_id: UUID | None,
    source: str,
    source_id: UUID,
    overall: int | None,
    technical: int | None,
    service: int | None,
    comment: str = "",
    evaluated_at: datetime | None = None,
    recorded_by_id: UUID | None = None,
    evaluation_id: UUID | None = None,
) -> Evaluation | None:
    """The evaluation of ``source``/``source_id``, once: None when it exists already. ``evaluation_id``
    is the id a phone made for it (a self-assessment recorded offline)."""
    existing = await session.scalar(
        select(Evaluation.id).where(Evaluation.source == source, Evaluation.source_id == source_id)
    )
    if existing is not None:
        return None
    evaluation = Evaluation(
        **({"id": evaluation_id} if evaluation_id is not None else {}),
        job_id=job.id,
        technician_id=technician_id,
        team_id=team_id,
        source=str(source),
        source_id=source_id,
        overall=overall,
        technical=technical,
        service=service,
        comment=(comment or "")[:4000],
        evaluated_at=evaluated_at or utcnow(),
        recorded_by_id=recorded_by_id,
    )
    session.add(evaluation)
    await session.flush()
    record_event(
        session,
        EvaluationRecorded(
            evaluation.id,
            job.id,
            technician_id,
            team_id,
            str(source),
            overall,
            technical,
            service,
        ),
    )
    return evaluation


@dataclass(frozen=True)
class EvaluationFilter:
    job_id: UUID | None = None
    technician_id: UUID | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# --- the service ------------------------------------------------------------------------------------


@dataclass
class OutcomeResult:
    callback: Callback
    evaluation_id: UUID | None
    complaint_id: UUID | None


TriageOutcome = Callable[["FeedbackService", CurrentUser, QualityReport, Any], Awaitable[dict[str, Any]]]
# What a field report may become at triage: "complaint" and "close" here; the nonconformance workflow
# adds its own with ``register_triage("nonconformance", handler)``. A handler returns
# {"complaint": Complaint | None, "record_id": UUID | None} and leaves the report's status to triage().
TRIAGE_OUTCOMES: dict[str, TriageOutcome] = {}


def register_triage(name: str, handler: TriageOutcome) -> None:
    TRIAGE_OUTCOMES[name] = handler


class FeedbackService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- jobs in scope ----------------------------------------------------------------------------

    async def visible_job(self, job_id: UUID, current: CurrentUser, field: str = "job_id") -> Job:
        job = await self.session.get(Job, job_id)
        if job is None:
            raise NotFound("no such job", field=field)
        if current.sees_everything:
            return job
        if current.role == Role.supervisor and job.team_id in await led_team_ids(self.session, current.id):
            return job
        if current.role == Role.technician and job.assignee_id == current.id:
            return job
        raise NotFound("no such job", field=field)

    # --- evaluations ------------------------------------------------------------------------------

    async def self_assess(
        self,
        current: CurrentUser,
        job_id: UUID,
        overall: int,
        technical: int | None,
        service: int | None,
        comment: str,
        *,
        assessment_id: UUID | None = None,
    ) -> Evaluation:
        """Once per job. ``assessment_id`` is the id the phone made (``job.self_assess``): the same id
        again answers with the assessment it made, any other second one is ``ALREADY_ASSESSED``."""
        job = await self.visible_job(job_id, current)
        if current.role != Role.technician or job.assignee_id != current.id:
            raise Forbidden("only the job's assigned technician assesses their own work")
        source_id = uuid5(SELF_NAMESPACE, f"{job.id}:{current.id}")
        if assessment_id is not None:
            earlier = await self.session.get(Evaluation, assessment_id)
            if earlier is not None:
                if earlier.source == EvaluationSource.self and earlier.source_id == source_id:
                    return earlier
                raise Conflict(
                    "this assessment_id is used by another evaluation", field="assessment_id", code="ID_TAKEN"
                )
        if job.status not in SELF_ASSESSMENT_STATUSES:
            raise InvalidTransition(
                f"the job is {job.status}: assess your work once it is done", field="job_id"
            )
        made = await record_evaluation(
            self.session,
            job=job,
            technician_id=current.id,
            team_id=job.team_id,
            source=EvaluationSource.self,
            source_id=source_id,
            overall=overall,
            technical=technical,
            service=service,
            comment=comment.strip(),
            recorded_by_id=current.id,
            evaluation_id=assessment_id,
        )
        if made is None:
            raise Conflict("you already assessed this job", field="job_id", code="ALREADY_ASSESSED")
        return made

    async def list_evaluations(
        self, current: CurrentUser, query: EvaluationFilter, page: Page
    ) -> tuple[list[Evaluation], int]:
        statement = select(Evaluation)
        if current.role == Role.technician:
            statement = statement.where(Evaluation.technician_id == current.id)
        else:
            teams = await team_scope(self.session, current)
            if teams is not None:
                statement = statement.where(Evaluation.team_id.in_(teams))
        if query.job_id:
            statement = statement.where(Evaluation.job_id == query.job_id)
        if query.technician_id:
            statement = statement.where(Evaluation.technician_id == query.technician_id)
        if query.source:
            statement = statement.where(Evaluation.source == query.source)
        if query.since:
            statement = statement.where(Evaluation.evaluated_at >= query.since)
        if query.until:
            statement = statement.where(Evaluation.evaluated_at < query.until)
        total = await _count(self.session, statement)
        rows = await self.session.scalars(
            _page(statement, page, Evaluation.evaluated_at.desc(), Evaluation.id)
        )
        return list(rows), total

    # --- callback policies ------------------------------------------------------------------------

    async def _check_policy(self, policy: CallbackPolicy) -> None:
        if policy.trigger not in set(CallbackTrigger):
            raise InvalidInput("trigger is job_approved, low_rating or refused_signoff", field="trigger")
        if policy.job_type is not None and policy.job_type not in set(JobType):
            raise InvalidInput("job_type is one of " + ", ".join(JobType), field="job_type")
        if not 0 <= policy.share_percent <= 100:
            raise InvalidInput("share_percent is 0 to 100", field="share_percent")
        if not 1 <= policy.due_hours <= 720:
            raise InvalidInput("due_hours is 1 to 720", field="due_hours")
        if policy.trigger == CallbackTrigger.low_rating:
            if policy.rating_at_or_below is None or not 1 <= policy.rating_at_or_below <= 5:
                raise InvalidInput(
                    "a low_rating policy needs rating_at_or_below (1 to 5)", field="rating_at_or_below"
                )
        elif policy.rating_at_or_below is not None:
            raise InvalidInput(
                "rating_at_or_below is only for low_rating policies", field="rating_at_or_below"
            )
        if policy.assignee_id is not None:
            await quality_user(self.session, policy.assignee_id)

    async def create_policy(self, current: CurrentUser, **fields: Any) -> CallbackPolicy:
        policy = CallbackPolicy(**fields, created_by_id=current.id)
        policy.name = policy.name.strip()
        if not policy.name:
            raise InvalidInput("name the policy", field="name")
        await self._check_policy(policy)
        self.session.add(policy)
        await self.session.flush()
        return policy

    async def update_policy(
        self, current: CurrentUser, policy_id: UUID, changes: dict[str, Any]
    ) -> CallbackPolicy:
        policy = await self.session.get(CallbackPolicy, policy_id)
        if policy is None:
            raise NotFound("no such callback policy", field="policy_id")
        for name, value in changes.items():
            setattr(policy, name, value.strip() if isinstance(value, str) else value)
        if not policy.name:
            raise InvalidInput("name the policy", field="name")
        await self._check_policy(policy)
        policy.updated_at = utcnow()
        await self.session.flush()
        return policy

    async def list_policies(self) -> list[CallbackPolicy]:
        rows = await self.session.scalars(
            select(CallbackPolicy).order_by(CallbackPolicy.created_at, CallbackPolicy.id)
        )
        return list(rows)

    # --- callbacks --------------------------------------------------------------------------------

    async def _new_callback(
        self,
        job: Job,
        reason: str,
        *,
        due_at: datetime,
        policy: CallbackPolicy | None = None,
        assignee_id: UUID | None = None,
        comments: str = "",
    ) -> Callback:
        if assignee_id is None and policy is not None and policy.assignee_id is not None:
            user = await self.session.get(User, policy.assignee_id)
            if user is not None and user.is_active and user.role == Role.quality:
                assignee_id = user.id
        if assignee_id is None:
            assignee_id = await least_loaded_quality_user(self.session, Callback, (CallbackStatus.open,))
        callback = Callback(
            number=await next_number(self.session, "callback", "CB"),
            job_id=job.id,
            technician_id=job.assignee_id,
            team_id=job.team_id,
            policy_id=policy.id if policy else None,
            reason=reason,
            assignee_id=assignee_id,
            due_at=due_at,
            comments=comments,
        )
        self.session.add(callback)
        await self.session.flush()
        self._assigned(callback)
        return callback

    def _assigned(self, callback: Callback) -> None:
        if callback.assignee_id is not None:
            record_event(
                self.session,
                QualityItemAssigned(
                    "callback",
                    callback.id,
                    f"{callback.number} callback ({callback.reason})",
                    callback.assignee_id,
                    callback.due_at,
                ),
            )

    async def callbacks_by_policy(self, job: Job, trigger: str, rating: int | None = None) -> list[Callback]:
        """The callback the active policies of ``trigger`` ask for on ``job``, if any (at most one)."""
        policies = await self.session.scalars(
            select(CallbackPolicy)
            .where(CallbackPolicy.active.is_(True), CallbackPolicy.trigger == trigger)
            .order_by(CallbackPolicy.created_at, CallbackPolicy.id)
        )
        for policy in policies:
            if policy.job_type and policy.job_type != job.type:
                continue
            if trigger == CallbackTrigger.low_rating and (
                rating is None or policy.rating_at_or_below is None or rating > policy.rating_at_or_below
            ):
                continue
            if not draws(policy.id, job.id, policy.share_percent):
                continue
            taken = await self.session.scalar(
                select(Callback.id).where(
                    Callback.job_id == job.id,
                    (Callback.reason == trigger) | (Callback.status == CallbackStatus.open),
                )
            )
            if taken is not None:
                return []
            return [
                await self._new_callback(
                    job, trigger, due_at=utcnow() + timedelta(hours=policy.due_hours), policy=policy
                )
            ]
        return []

    async def create_callback(
        self,
        current: CurrentUser,
        job_id: UUID,
        *,
        due_at: datetime | None,
        assignee_id: UUID | None,
        comments: str,
    ) -> Callback:
        job = await self.visible_job(job_id, current)
        if due_at is not None and due_at <= utcnow():
            raise InvalidInput("due_at must be in the future", field="due_at")
        if assignee_id is not None:
            await quality_user(self.session, assignee_id)
        existing = await self.session.scalar(
            select(Callback.number).where(Callback.job_id == job.id, Callback.reason == MANUAL_REASON)
        )
        if existing is not None:
            raise Conflict(
                f"{job.number} already has a manual callback ({existing})", field="job_id", code="EXISTS"
            )
        return await self._new_callback(
            job,
            MANUAL_REASON,
            due_at=due_at or utcnow() + timedelta(hours=72),
            assignee_id=assignee_id,
            comments=comments.strip(),
        )

    async def _callback_query(self, current: CurrentUser):
        statement = select(Callback)
        teams = await team_scope(self.session, current)
        if teams is not None:
            statement = statement.where(Callback.team_id.in_(teams))
        return statement

    async def get_callback(self, current: CurrentUser, callback_id: UUID, *, lock: bool = False) -> Callback:
        statement = (await self._callback_query(current)).where(Callback.id == callback_id)
        if lock:
            await begin_write(self.session)
            statement = statement.with_for_update()
        callback = await self.session.scalar(statement)
        if callback is None:
            raise NotFound("no such callback", field="callback_id")
        return callback

    async def list_callbacks(
        self,
        current: CurrentUser,
        page: Page,
        *,
        status: str | None = None,
        mine: bool = False,
        overdue: bool | None = None,
        job_id: UUID | None = None,
    ) -> tuple[list[Callback], int]:
        statement = await self._callback_query(current)
        now = utcnow()
        if status:
            statement = statement.where(Callback.status == status)
        if mine:
            statement = statement.where(Callback.assignee_id == current.id)
        if job_id:
            statement = statement.where(Callback.job_id == job_id)
        if overdue is True:
            statement = statement.where(Callback.status == CallbackStatus.open, Callback.due_at < now)
        elif overdue is False:
            statement = statement.where((Callback.status != CallbackStatus.open) | (Callback.due_at >= now))
        total = await _count(self.session, statement)
        rows = await self.session.scalars(_page(statement, page, Callback.due_at, Callback.id))
        return list(rows), total

    @staticmethod
    def _open_or_refuse(callback: Callback) -> None:
        if callback.status != CallbackStatus.open:
            raise InvalidTransition(
                f"callback {callback.number} is {callback.status}: it cannot change any more",
                field="callback_id",
            )

    async def attempt(
        self, current: CurrentUser, callback_id: UUID, note: str, due_at: datetime | None
    ) -> Callback:
        callback = await self.get_callback(current, callback_id, lock=True)
        self._open_or_refuse(callback)
        if due_at is not None and due_at <= utcnow():
            raise InvalidInput("the next due_at must be in the future", field="due_at")
        callback.attempts += 1
        line = f"[{utcnow():%Y-%m-%d %H:%M} attempt {callback.attempts}, not reached] {note.strip()}".strip()
        callback.comments = "\n".join(x for x in (callback.comments, line) if x)[-4000:]
        if due_at is not None:
            callback.due_at = due_at
            callback.overdue_notified_at = None
        callback.updated_at = utcnow()
        await self.session.flush()
        return callback

    async def outcome(
        self,
        current: CurrentUser,
        callback_id: UUID,
        *,
        reached: bool,
        satisfaction: int | None,
        rating_technical: int | None,
        rating_service: int | None,
        comments: str,
        complaint: dict[str, Any] | None,
    ) -> OutcomeResult:
        callback = await self.get_callback(current, callback_id, lock=True)
        self._open_or_refuse(callback)
        if reached and satisfaction is None:
            raise InvalidInput(
                "satisfaction (1 to 5) is required when the customer was reached", field="satisfaction"
            )
        if not reached:
            for name, value in (
                ("satisfaction", satisfaction),
                ("rating_technical", rating_technical),
                ("rating_service", rating_service),
            ):
                if value is not None:
                    raise InvalidInput(f"{name} is only given when the customer was reached", field=name)
            if complaint is not None:
                raise InvalidInput("a complaint needs a customer who was reached", field="complaint")
        now = utcnow()
        callback.status = CallbackStatus.done
        callback.reached = reached
        callback.satisfaction = satisfaction
        callback.rating_technical = rating_technical
        callback.rating_service = rating_service
        if not reached:
            callback.attempts += 1
        comments = comments.strip()
        if comments:
            callback.comments = "\n".join(x for x in (callback.comments, comments) if x)[-4000:]
        callback.done_at = now
        callback.done_by_id = current.id
        callback.updated_at = now
        await self.session.flush()
        job = await self.session.get(Job, callback.job_id)
        evaluation_id = complaint_id = None
        if reached and satisfaction is not None:
            evaluation = await record_evaluation(
                self.session,
                job=job,
                technician_id=callback.technician_id,
                team_id=callback.team_id,
                source=EvaluationSource.callback,
                source_id=callback.id,
                overall=satisfaction,
                technical=rating_technical,
                service=rating_service,
                comment=comments,
                evaluated_at=now,
                recorded_by_id=current.id,
            )
            evaluation_id = evaluation.id if evaluation else None
        if complaint is not None:
            made = await self.new_complaint(
                channel=ComplaintChannel.callback,
                severity=complaint["severity"],
                summary=complaint["summary"],
                details=complaint.get("details") or comments,
                job=job,
                source_id=callback.id,
                recorded_by_id=current.id,
            )
            complaint_id = made.id if made else None
        record_event(
            self.session,
            CallbackCompleted(
                callback.id, callback.job_id, callback.technician_id, callback.team_id, reached, satisfaction
            ),
        )
        return OutcomeResult(callback, evaluation_id, complaint_id)

    async def assign_callback(self, current: CurrentUser, callback_id: UUID, assignee_id: UUID) -> Callback:
        callback = await self.get_callback(current, callback_id, lock=True)
        self._open_or_refuse(callback)
        await quality_user(self.session, assignee_id)
        if callback.assignee_id != assignee_id:
            callback.assignee_id = assignee_id
            callback.updated_at = utcnow()
            await self.session.flush()
            self._assigned(callback)
        return callback

    async def cancel_callback(self, current: CurrentUser, callback_id: UUID, reason: str) -> Callback:
        callback = await self.get_callback(current, callback_id, lock=True)
        self._open_or_refuse(callback)
        if not reason.strip():
            raise InvalidInput("say why the callback is cancelled", field="reason")
        callback.status = CallbackStatus.cancelled
        callback.comments = "\n".join(x for x in (callback.comments, f"[cancelled] {reason.strip()}") if x)[
            -4000:
        ]
        callback.done_at = utcnow()
        callback.done_by_id = current.id
        callback.updated_at = utcnow()
        await self.session.flush()
        return callback

    # --- survey templates -------------------------------------------------------------------------

    @staticmethod
    def check_questions(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not 1 <= len(questions) <= 30:
            raise InvalidInput("a survey has 1 to 30 questions", field="questions")
        keys: set[str] = set()
        scores: set[str] = set()
        clean = []
        for index, q in enumerate(questions):
            where = f"questions[{index}]"
            if q["key"] in keys:
                raise InvalidInput(f"the key {q['key']!r} is used twice", field=f"{where}.key")
            keys.add(q["key"])
            text = q["text"].strip()
            if not text:
                raise InvalidInput("the question needs a text", field=f"{where}.text")
            choices = q.get("choices")
            if q["kind"] == "choice":
                if not choices or not 2 <= len(choices) <= 10:
                    raise InvalidInput("a choice question has 2 to 10 choices", field=f"{where}.choices")
                if len(set(choices)) != len(choices):
                    raise InvalidInput("the choices must differ", field=f"{where}.choices")
            elif choices:
                raise InvalidInput("only a choice question has choices", field=f"{where}.choices")
            score = q.get("score")
            if score is not None:
                if q["kind"] != "rating":
                    raise InvalidInput("only a rating question carries a score", field=f"{where}.score")
                if score in scores:
                    raise InvalidInput(f"the {score} score is on two questions", field=f"{where}.score")
                scores.add(score)
            item: dict[str, Any] = {
                "key": q["key"],
                "text": text,
                "kind": q["kind"],
                "required": q["required"],
            }
            if q["kind"] == "choice":
                item["choices"] = list(choices)
            if score is not None:
                item["score"] = score
            clean.append(item)
        return clean

    async def create_template(
        self, current: CurrentUser, code: str, title: str, intro: str, questions: list[dict[str, Any]]
    ) -> SurveyTemplate:
        clean = self.check_questions(questions)
        title = title.strip()
        if not title:
            raise InvalidInput("the survey needs a title", field="title")
        await begin_write(self.session)
        previous = await self.session.scalar(
            select(SurveyTemplate)
            .where(SurveyTemplate.code == code)
            .order_by(SurveyTemplate.revision.desc())
            .limit(1)
            .with_for_update()
        )
        if previous is not None:
            await self.session.execute(
                update(SurveyTemplate).where(SurveyTemplate.code == code).values(is_current=False)
            )
        template = SurveyTemplate(
            code=code,
            revision=(previous.revision + 1) if previous else 1,
            title=title,
            intro=intro.strip(),
            questions=clean,
            is_current=True,
            created_by_id=current.id,
        )
        self.session.add(template)
        await self.session.flush()
        return template

    async def list_templates(self, include_old: bool = False) -> list[SurveyTemplate]:
        statement = select(SurveyTemplate)
        if not include_old:
            statement = statement.where(SurveyTemplate.is_current.is_(True))
        rows = await self.session.scalars(statement.order_by(SurveyTemplate.code, SurveyTemplate.revision))
        return list(rows)

    # --- surveys ----------------------------------------------------------------------------------

    async def create_survey(
        self, current: CurrentUser, job_id: UUID, template_code: str | None, expires_in_days: int
    ) -> Survey:
        job = await self.visible_job(job_id, current)
        if job.status not in SURVEY_JOB_STATUSES:
            raise InvalidTransition(
                f"{job.number} is {job.status}: a survey is sent once the customer has signed",
                field="job_id",
            )
        if not 1 <= expires_in_days <= 60:
            raise InvalidInput("expires_in_days is 1 to 60", field="expires_in_days")
        code = template_code or "default"
        template = await self.session.scalar(
            select(SurveyTemplate).where(SurveyTemplate.code == code, SurveyTemplate.is_current.is_(True))
        )
        if template is None:
            raise InvalidInput(f"there is no survey template {code!r}", field="template_code")
        survey = Survey(
            job_id=job.id,
            template_id=template.id,
            technician_id=job.assignee_id,
            team_id=job.team_id,
            token_nonce=tokens.new_nonce(),
            expires_at=(utcnow() + timedelta(days=expires_in_days)).replace(microsecond=0),
            created_by_id=current.id,
        )
        self.session.add(survey)
        await self.session.flush()
        return survey

    async def job_surveys(self, current: CurrentUser, job_id: UUID) -> list[Survey]:
        job = await self.visible_job(job_id, current)
        rows = await self.session.scalars(
            select(Survey).where(Survey.job_id == job.id).order_by(Survey.created_at, Survey.id)
        )
        return list(rows)

    async def revoke_survey(self, current: CurrentUser, survey_id: UUID) -> Survey:
        await begin_write(self.session)
        survey = await self.session.scalar(select(Survey).where(Survey.id == survey_id).with_for_update())
        if survey is None:
            raise NotFound("no such survey", field="survey_id")
        if survey.status != SurveyStatus.sent:
            raise InvalidTransition(f"the survey is {survey.status}: only an unanswered link is revoked")
        survey.status = SurveyStatus.revoked
        survey.updated_at = utcnow()
        await self.session.flush()
        return survey

    async def survey_for_token(self, claims: tokens.SurveyClaims, *, lock: bool = False) -> Survey | None:
        statement = select(Survey).where(Survey.id == claims.survey_id)
        if lock:
            await begin_write(self.session)
            statement = statement.with_for_update()
        survey = await self.session.scalar(statement)
        if survey is None or survey.token_nonce != claims.nonce:
            return None
        if int(survey.expires_at.timestamp()) != int(claims.expires_at.timestamp()):
            return None
        return survey

    async def answer_survey(
        self, survey: Survey, template: SurveyTemplate, answers: dict[str, Any]
    ) -> tuple[Evaluation | None, Complaint | None]:
        """Store validated ``answers``; the evaluation, and the complaint the survey rule asks for."""
        now = utcnow()
        survey.answers = answers
        survey.status = SurveyStatus.answered
        survey.answered_at = now
        survey.updated_at = now
        await self.session.flush()
        scores: dict[str, int | None] = {"overall": None, "technical": None, "service": None}
        texts = []
        for q in template.questions:
            value = answers.get(q["key"])
            if q["kind"] == "rating" and q.get("score") and value is not None:
                scores[q["score"]] = value
            if q["kind"] == "text" and value:
                texts.append(value)
        comment = "\n".join(texts)
        job = await self.session.get(Job, survey.job_id)
        evaluation = None
        if any(v is not None for v in scores.values()) or comment:
            evaluation = await record_evaluation(
                self.session,
                job=job,
                technician_id=survey.technician_id,
                team_id=survey.team_id,
                source=EvaluationSource.survey,
                source_id=survey.id,
                comment=comment,
                evaluated_at=now,
                **scores,
            )
        complaint = None
        if survey_wants_complaint(answers, scores["overall"], comment):
            overall = scores["overall"]
            complaint = await self.new_complaint(
                channel=ComplaintChannel.survey,
                severity=Severity.high if overall is not None and overall <= 1 else Severity.medium,
                summary=f"Survey for {job.number}: the customer asks to be contacted"
                if answers.get(CONTACT_ME_KEY) is True
                else f"Survey for {job.number}: overall rating {overall}",
                details=comment,
                job=job,
                source_id=survey.id,
            )
        return evaluation, complaint

    # --- complaints -------------------------------------------------------------------------------

    async def new_complaint(
        self,
        *,
        channel: str,
        severity: str,
        summary: str,
        details: str = "",
        job: Job | None = None,
        customer_id: UUID | None = None,
        site_id: UUID | None = None,
        technician_id: UUID | None = None,
        team_id: UUID | None = None,
        source_id: UUID | None = None,
        contact_name: str = "",
        contact_phone: str = "",
        received_at: datetime | None = None,
        assignee_id: UUID | None = None,
        recorded_by_id: UUID | None = None,
    ) -> Complaint | None:
        """A complaint with its targets and owner; None when FieldQ made this one already (the same
        channel and source)."""
        if source_id is not None:
            existing = await self.session.scalar(
                select(Complaint.id).where(Complaint.channel == channel, Complaint.source_id == source_id)
            )
            if existing is not None:
                return None
        received_at = received_at or utcnow()
        respond, resolve = TARGETS[severity]
        if job is not None:
            customer_id, site_id = job.customer_id, job.site_id
            technician_id, team_id = job.assignee_id, job.team_id
        if assignee_id is None:
            assignee_id = await least_loaded_quality_user(
                self.session, Complaint, (ComplaintStatus.open, ComplaintStatus.acknowledged)
            )
        complaint = Complaint(
            number=await next_number(self.session, "complaint", "CMP"),
            channel=str(channel),
            severity=str(severity),
            summary=summary.strip()[:200],
            details=(details or "").strip()[:4000],
            customer_id=customer_id,
            site_id=site_id,
            job_id=job.id if job else None,
            technician_id=technician_id,
            team_id=team_id,
            source_id=source_id,
            contact_name=contact_name.strip(),
            contact_phone=contact_phone.strip(),
            received_at=received_at,
            respond_by=received_at + respond,
            resolve_by=received_at + resolve,
            assignee_id=assignee_id,
            recorded_by_id=recorded_by_id,
        )
        self.session.add(complaint)
        await self.session.flush()
        self._complaint_assigned(complaint)
        return complaint

    def _complaint_assigned(self, complaint: Complaint) -> None:
        if complaint.assignee_id is not None:
            record_event(
                self.session,
                QualityItemAssigned(
                    "complaint",
                    complaint.id,
                    f"{complaint.number} {complaint.summary}"[:200],
                    complaint.assignee_id,
                    complaint.respond_by if complaint.acknowledged_at is None else complaint.resolve_by,
                ),
            )

    async def create_complaint(self, current: CurrentUser, **fields: Any) -> Complaint:
        job = None
        if fields.get("job_id") is not None:
            job = await self.visible_job(fields["job_id"], current)
        elif current.role == Role.supervisor:
            raise InvalidInput(
                "a supervisor logs complaints about their team's jobs: name the job", field="job_id"
            )
        summary = fields["summary"].strip()
        if not summary:
            raise InvalidInput("summarise the complaint", field="summary")
        received_at = fields.get("received_at")
        if received_at is not None and received_at > utcnow() + timedelta(minutes=5):
            raise InvalidInput("received_at is in the future", field="received_at")
        customer_id, site_id = fields.get("customer_id"), fields.get("site_id")
        if job is not None:
            for name, value, expected in (
                ("customer_id", customer_id, job.customer_id),
                ("site_id", site_id, job.site_id),
            ):
                if value is not None and value != expected:
                    raise InvalidInput(f"{name} is not the job's", field=name)
        else:
            if site_id is not None:
                site = await self.session.get(Site, site_id)
                if site is None:
                    raise NotFound("no such site", field="site_id")
                if customer_id is not None and customer_id != site.customer_id:
                    raise InvalidInput("the site is not this customer's", field="site_id")
                customer_id = site.customer_id
            if customer_id is not None and await self.session.get(Customer, customer_id) is None:
                raise NotFound("no such customer", field="customer_id")
        if fields.get("assignee_id") is not None:
            await quality_user(self.session, fields["assignee_id"])
        return await self.new_complaint(
            channel=fields["channel"],
            severity=fields["severity"],
            summary=summary,
            details=fields.get("details", ""),
            job=job,
            customer_id=customer_id,
            site_id=site_id,
            contact_name=fields.get("contact_name", ""),
            contact_phone=fields.get("contact_phone", ""),
            received_at=received_at,
            assignee_id=fields.get("assignee_id"),
            recorded_by_id=current.id,
        )

    async def _complaint_query(self, current: CurrentUser):
        statement = select(Complaint)
        teams = await team_scope(self.session, current)
        if teams is not None:
            statement = statement.where(Complaint.team_id.in_(teams))
        return statement

    async def get_complaint(
        self, current: CurrentUser, complaint_id: UUID, *, lock: bool = False
    ) -> Complaint:
        statement = (await self._complaint_query(current)).where(Complaint.id == complaint_id)
        if lock:
            await begin_write(self.session)
            statement = statement.with_for_update()
        complaint = await self.session.scalar(statement)
        if complaint is None:
            raise NotFound("no such complaint", field="complaint_id")
        return complaint

    async def list_complaints(
        self,
        current: CurrentUser,
        page: Page,
        *,
        status: str | None = None,
        severity: str | None = None,
        channel: str | None = None,
        job_id: UUID | None = None,
        technician_id: UUID | None = None,
        overdue: bool | None = None,
        mine: bool = False,
    ) -> tuple[list[Complaint], int]:
        statement = await self._complaint_query(current)
        for column, value in (
            (Complaint.status, status),
            (Complaint.severity, severity),
            (Complaint.channel, channel),
            (Complaint.job_id, job_id),
            (Complaint.technician_id, technician_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if mine:
            statement = statement.where(Complaint.assignee_id == current.id)
        late = complaint_overdue_clause(utcnow())
        if overdue is True:
            statement = statement.where(late)
        elif overdue is False:
            statement = statement.where(~late)
        total = await _count(self.session, statement)
        rows = await self.session.scalars(_page(statement, page, Complaint.received_at.desc(), Complaint.id))
        return list(rows), total

    async def _transition(
        self, current: CurrentUser, complaint_id: UUID, wanted_from: str, to: str
    ) -> Complaint:
        complaint = await self.get_complaint(current, complaint_id, lock=True)
        if complaint.status != wanted_from:
            raise InvalidTransition(
                f"complaint {complaint.number} is {complaint.status}: only an {wanted_from} complaint "
                f"becomes {to}",
                field="status",
            )
        complaint.status = to
        complaint.updated_at = utcnow()
        return complaint

    async def acknowledge(self, current: CurrentUser, complaint_id: UUID, response: str) -> Complaint:
        if not response.strip():
            raise InvalidInput("say what the customer was told", field="response")
        complaint = await self._transition(
            current, complaint_id, ComplaintStatus.open, ComplaintStatus.acknowledged
        )
        complaint.response = response.strip()
        complaint.acknowledged_at = utcnow()
        await self.session.flush()
        return complaint

    async def resolve(self, current: CurrentUser, complaint_id: UUID, resolution: str) -> Complaint:
        if not resolution.strip():
            raise InvalidInput("say how it was resolved", field="resolution")
        complaint = await self._transition(
            current, complaint_id, ComplaintStatus.acknowledged, ComplaintStatus.resolved
        )
        complaint.resolution = resolution.strip()
        complaint.resolved_at = utcnow()
        await self.session.flush()
        return complaint

    async def close(self, current: CurrentUser, complaint_id: UUID, note: str) -> Complaint:
        complaint = await self._transition(
            current, complaint_id, ComplaintStatus.resolved, ComplaintStatus.closed
        )
        complaint.closed_at = utcnow()
        if note.strip():
            complaint.resolution = "\n".join(x for x in (complaint.resolution, note.strip()) if x)[-4000:]
        await self.session.flush()
        return complaint

    async def assign_complaint(
        self, current: CurrentUser, complaint_id: UUID, assignee_id: UUID
    ) -> Complaint:
        complaint = await self.get_complaint(current, complaint_id, lock=True)
        if complaint.status == ComplaintStatus.closed:
            raise InvalidTransition(f"complaint {complaint.number} is closed", field="status")
        await quality_user(self.session, assignee_id)
        if complaint.assignee_id != assignee_id:
            complaint.assignee_id = assignee_id
            complaint.updated_at = utcnow()
            await self.session.flush()
            self._complaint_assigned(complaint)
        return complaint

    # --- triage of field reports ------------------------------------------------------------------

    async def triage(
        self, current: CurrentUser, report_id: UUID, outcome: str, options: Any
    ) -> dict[str, Any]:
        handler = TRIAGE_OUTCOMES.get(outcome)
        if handler is None:
            raise InvalidInput("as is one of " + ", ".join(sorted(TRIAGE_OUTCOMES)), field="as")
        await begin_write(self.session)
        report = await self.session.scalar(
            select(QualityReport).where(QualityReport.id == report_id).with_for_update()
        )
        if report is None:
            raise NotFound("no such report", field="report_id")
        if report.status != ReportStatus.open:
            raise InvalidTransition(
                f"the report is {report.status}: it was triaged already", field="report_id"
            )
        made = await handler(self, current, report, options)
        report.status = ReportStatus.closed if outcome == "close" else ReportStatus.triaged
        await self.session.flush()
        return {"report": report, **made}


def complaint_overdue_clause(now: datetime):
    return ((Complaint.status == ComplaintStatus.open) & (Complaint.respond_by < now)) | (
        Complaint.status.in_([ComplaintStatus.open, ComplaintStatus.acknowledged])
        & (Complaint.resolve_by < now)
    )


def complaint_is_overdue(complaint: Complaint, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if complaint.status == ComplaintStatus.open and complaint.respond_by < now:
        return True
    return (
        complaint.status in (ComplaintStatus.open, ComplaintStatus.acknowledged)
        and complaint.resolve_by < now
    )


def callback_is_overdue(callback: Callback, now: datetime | None = None) -> bool:
    return callback.status == CallbackStatus.open and callback.due_at < (now or utcnow())


def draws(policy_id: UUID, job_id: UUID, share_percent: int) -> bool:
    """Whether a policy's share draws this job: stable across processes and replays."""
    if share_percent >= 100:
        return True
    if share_percent <= 0:
        return False
    digest = hashlib.sha256(policy_id.bytes + job_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") % 100 < share_percent


def survey_wants_complaint(answers: dict[str, Any], overall: int | None, comment: str) -> bool:
    """The customer ticked "contact me", or rated the job 2 or less overall and said why."""
    if answers.get(CONTACT_ME_KEY) is True:
        return True
    return overall is not None and overall <= 2 and bool(comment.strip())


async def _triage_complaint(
    service: FeedbackService, current: CurrentUser, report: QualityReport, options: Any
) -> dict[str, Any]:
    if report.kind != ReportKind.complaint:
        raise InvalidInput(f"a {report.kind} report does not become a complaint", field="as")
    job = await service.session.get(Job, report.job_id) if report.job_id else None
    text = report.text.strip()
    first_line = text.splitlines()[0].strip() if text else ""
    summary = (options.summary or first_line or "Complaint reported from the field")[:200]
    complaint = await service.new_complaint(
        channel=ComplaintChannel.field_report,
        severity=options.severity,
        summary=summary,
        details=text,
        job=job,
        team_id=None if job else report.team_id,
        source_id=report.id,
        received_at=report.created_at,
        recorded_by_id=current.id,
    )
    return {"complaint": complaint, "record_id": complaint.id if complaint else None}


async def _triage_close(
    service: FeedbackService, current: CurrentUser, report: QualityReport, options: Any
) -> dict[str, Any]:
    return {"complaint": None, "record_id": None}


register_triage("complaint", _triage_complaint)
register_triage("close", _triage_close)


# --- demo defaults ----------------------------------------------------------------------------------

DEFAULT_QUESTIONS: list[dict[str, Any]] = [
    {
        "key": "overall",
        "text": "总体满意度 How satisfied are you with the service overall?",
        "kind": "rating",
        "score": "overall",
        "required": True,
    },
    {
        "key": "technical",
        "text": "技术质量 Was the work done well (the machine works, nothing left undone)?",
        "kind": "rating",
        "score": "technical",
        "required": False,
    },
    {
        "key": "service",
        "text": "服务质量 Was the technician punctual, polite and tidy?",
        "kind": "rating",
        "score": "service",
        "required": False,
    },
    {
        "key": "on_time",
        "text": "技术员是否按约定时间到达？ Did the technician arrive at the agreed time?",
        "kind": "yes_no",
        "required": False,
    },
    {
        "key": "comment",
        "text": "您的意见和建议 Anything you want to tell us?",
        "kind": "text",
        "required": False,
    },
    {
        "key": CONTACT_ME_KEY,
        "text": "我要投诉 / 请联系我 I want to complain / please contact me",
        "kind": "yes_no",
        "required": False,
    },
]


async def seed_feedback_defaults(session: AsyncSession, quality_user_id: UUID | None) -> bool:
    """The default survey template and the usual callback policies, once (False when they exist)."""
    if await session.scalar(select(SurveyTemplate.id).where(SurveyTemplate.code == "default").limit(1)):
        return False
    session.add(
        SurveyTemplate(
            code="default",
            title="服务满意度调查 Service satisfaction survey",
            intro=(
                "感谢您选择我们的服务。请花一分钟告诉我们您的感受。 "
                "Thank you for choosing us: one minute to tell us how we did."
            ),
            questions=FeedbackService.check_questions([{**q} for q in DEFAULT_QUESTIONS]),
            created_by_id=quality_user_id,
        )
    )
    if not await session.scalar(select(CallbackPolicy.id).limit(1)):
        for name, trigger, job_type, share, rating, hours in (
            ("Every install", CallbackTrigger.job_approved, JobType.install, 100, None, 72),
            ("20% of maintenance jobs", CallbackTrigger.job_approved, JobType.maintenance, 20, None, 120),
            ("Every rating of 2 or less", CallbackTrigger.low_rating, None, 100, 2, 24),
            ("Every refused sign-off", CallbackTrigger.refused_signoff, None, 100, None, 8),
        ):
            session.add(
                CallbackPolicy(
                    name=name,
                    trigger=trigger,
                    job_type=job_type,
                    share_percent=share,
                    rating_at_or_below=rating,
                    due_hours=hours,
                    created_by_id=quality_user_id,
                )
            )
    await session.flush()
    return True
