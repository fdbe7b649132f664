"""Request and response bodies of evaluations, callbacks, surveys and complaints (msgspec, strict:
unknown fields are refused with a 400 naming them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import MULTILINE_PATTERN, SINGLE_LINE_PATTERN, Request
from backend.inventory.schemas import AwareTime
from backend.quality.schemas import ReportRead

Score = Annotated[int, Meta(ge=1, le=5)]
Comment = Annotated[str, Meta(max_length=4000, pattern=MULTILINE_PATTERN)]
Summary = Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE_PATTERN)]
Reason = Annotated[str, Meta(max_length=1000)]
SeverityName = Literal["low", "medium", "high", "critical"]
TriggerName = Literal["job_approved", "low_rating", "refused_signoff"]
JobTypeName = Literal["install", "maintenance", "repair", "inspection", "callback", "rework"]
SourceName = Literal["signoff", "survey", "callback", "self"]
ComplaintChannelName = Literal[
    "phone", "email", "callback", "survey", "field_report", "refused_signoff", "other"
]
ManualChannel = Literal["phone", "email", "other"]
ComplaintStatusName = Literal["open", "acknowledged", "resolved", "closed"]
CallbackStatusName = Literal["open", "done", "cancelled"]


# --- evaluations ------------------------------------------------------------------------------------


class SelfAssessment(Request, kw_only=True):
    overall: Score
    technical: Score | None = None
    service: Score | None = None
    comment: Comment = ""


class EvaluationRead(msgspec.Struct, kw_only=True):
    id: UUID
    job_id: UUID
    technician_id: UUID | None
    team_id: UUID | None
    source: str
    source_id: UUID
    overall: int | None
    technical: int | None
    service: int | None
    comment: str
    evaluated_at: datetime
    recorded_by_id: UUID | None


class EvaluationPage(msgspec.Struct, kw_only=True):
    items: list[EvaluationRead]
    total: int


# --- callback policies and callbacks ----------------------------------------------------------------


class PolicyCreate(Request, kw_only=True):
    name: Summary
    trigger: TriggerName
    job_type: JobTypeName | None = None
    share_percent: Annotated[int, Meta(ge=0, le=100)] = 100
    rating_at_or_below: Score | None = None
    due_hours: Annotated[int, Meta(ge=1, le=720)] = 72
    assignee_id: UUID | None = None
    active: bool = True


class PolicyUpdate(Request, kw_only=True):
    name: Summary | msgspec.UnsetType = msgspec.UNSET
    job_type: JobTypeName | msgspec.UnsetType | None = msgspec.UNSET
    share_percent: Annotated[int, Meta(ge=0, le=100)] | msgspec.UnsetType = msgspec.UNSET
    rating_at_or_below: Score | msgspec.UnsetType | None = msgspec.UNSET
    due_hours: Annotated[int, Meta(ge=1, le=720)] | msgspec.UnsetType = msgspec.UNSET
    assignee_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class PolicyRead(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    trigger: str
    job_type: str | None
    share_percent: int
    rating_at_or_below: int | None
    due_hours: int
    assignee_id: UUID | None
    active: bool
    created_by_id: UUID | None
    created_at: datetime
    updated_at: datetime


class CallbackCreate(Request, kw_only=True):
    job_id: UUID
    due_at: AwareTime | None = None
    assignee_id: UUID | None = None
    comments: Comment = ""


class CallbackAttempt(Request, kw_only=True):
    note: Reason = ""
    due_at: AwareTime | None = None


class ComplaintFromCall(Request, kw_only=True):
    summary: Summary
    severity: SeverityName = "medium"
    details: Comment = ""


class CallbackOutcome(Request, kw_only=True):
    reached: bool
    satisfaction: Score | None = None
    rating_technical: Score | None = None
    rating_service: Score | None = None
    comments: Comment = ""
    complaint: ComplaintFromCall | None = None


class Assign(Request, kw_only=True):
    assignee_id: UUID


class Cancel(Request, kw_only=True):
    reason: Annotated[str, Meta(min_length=1, max_length=1000)]


class CallbackRead(msgspec.Struct, kw_only=True):
    id: UUID
    number: str
    job_id: UUID
    technician_id: UUID | None
    team_id: UUID | None
    policy_id: UUID | None
    reason: str
    status: str
    assignee_id: UUID | None
    due_at: datetime
    overdue: bool
    attempts: int
    reached: bool | None
    satisfaction: int | None
    rating_technical: int | None
    rating_service: int | None
    comments: str
    done_at: datetime | None
    done_by_id: UUID | None
    created_at: datetime
    complaint_id: UUID | None = None
    evaluation_id: UUID | None = None


class CallbackPage(msgspec.Struct, kw_only=True):
    items: list[CallbackRead]
    total: int


# --- survey templates and surveys -------------------------------------------------------------------

QuestionKey = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Choice = Annotated[str, Meta(min_length=1, max_length=100, pattern=SINGLE_LINE_PATTERN)]


class Question(Request, kw_only=True):
    key: QuestionKey
    text: Annotated[str, Meta(min_length=1, max_length=300)]
    kind: Literal["rating", "text", "yes_no", "choice"]
    choices: Annotated[list[Choice], Meta(max_length=10)] | None = None
    score: Literal["overall", "technical", "service"] | None = None
    required: bool = False


class TemplateCreate(Request, kw_only=True):
    code: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    title: Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE_PATTERN)]
    intro: Annotated[str, Meta(max_length=2000)] = ""
    questions: Annotated[list[Question], Meta(min_length=1, max_length=30)]


class TemplateRead(msgspec.Struct, kw_only=True):
    id: UUID
    code: str
    revision: int
    title: str
    intro: str
    questions: list[dict[str, Any]]
    is_current: bool
    created_by_id: UUID | None
    created_at: datetime


class SurveyCreate(Request, kw_only=True):
    template_code: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")] | None = None
    expires_in_days: Annotated[int, Meta(ge=1, le=60)] = 14


class SurveyRead(msgspec.Struct, kw_only=True):
    id: UUID
    job_id: UUID
    template_id: UUID
    status: str
    expires_at: datetime
    opened_at: datetime | None
    answered_at: datetime | None
    answers: dict[str, Any]
    created_by_id: UUID | None
    created_at: datetime
    # The link, while it can still be answered (staff may send it again).
    url: str | None = None
    path: str | None = None


# --- complaints -------------------------------------------------------------------------------------

Phone = Annotated[str, Meta(max_length=40, pattern=SINGLE_LINE_PATTERN)]
Name = Annotated[str, Meta(max_length=120, pattern=SINGLE_LINE_PATTERN)]


class ComplaintCreate(Request, kw_only=True):
    channel: ManualChannel
    severity: SeverityName = "medium"
    summary: Summary
    details: Comment = ""
    job_id: UUID | None = None
    customer_id: UUID | None = None
    site_id: UUID | None = None
    contact_name: Name = ""
    contact_phone: Phone = ""
    received_at: AwareTime | None = None
    assignee_id: UUID | None = None


class Acknowledge(Request, kw_only=True):
    response: Annotated[str, Meta(min_length=1, max_length=4000)]


class Resolve(Request, kw_only=True):
    resolution: Annotated[str, Meta(min_length=1, max_length=4000)]


class Close(Request, kw_only=True):
    note: Reason = ""


class ComplaintRead(msgspec.Struct, kw_only=True):
    id: UUID
    number: str
    channel: str
    severity: str
    status: str
    summary: str
    details: str
    customer_id: UUID | None
    site_id: UUID | None
    job_id: UUID | None
    technician_id: UUID | None
    team_id: UUID | None
    source_id: UUID | None
    contact_name: str
    contact_phone: str
    received_at: datetime
    respond_by: datetime
    resolve_by: datetime
    overdue: bool
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    response: str
    resolution: str
    assignee_id: UUID | None
    recorded_by_id: UUID | None


class ComplaintPage(msgspec.Struct, kw_only=True):
    items: list[ComplaintRead]
    total: int


class Triage(Request, kw_only=True):
    # What the report becomes: "complaint" or "close" here; other engineers register more outcomes
    # (``backend.quality.feedback.services.TRIAGE_OUTCOMES``).
    as_: Annotated[str, Meta(pattern=r"^[a-z_]{1,30}$")] = msgspec.field(name="as")
    severity: SeverityName = "medium"
    summary: Summary | None = None
    note: Reason = ""


class TriageResult(msgspec.Struct, kw_only=True):
    outcome: str
    report: ReportRead
    complaint: ComplaintRead | None = None
    record_id: UUID | None = None
