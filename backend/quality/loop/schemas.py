"""Request and response bodies of the closed quality loop: nonconformances, their actions, the rules
that raise candidates, supervision records (msgspec, strict, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import SINGLE_LINE_PATTERN, Request
from backend.inventory.schemas import AwareTime
from backend.jobs.schemas import StepId

Title = Annotated[str, Meta(min_length=1, max_length=200, pattern=SINGLE_LINE_PATTERN)]
LongText = Annotated[str, Meta(max_length=4000)]
RequiredText = Annotated[str, Meta(min_length=1, max_length=4000)]
ActionText = Annotated[str, Meta(min_length=1, max_length=2000)]
Reason = Annotated[str, Meta(min_length=1, max_length=1000)]
SeverityName = Literal["low", "medium", "high", "critical"]
ManualSource = Literal[
    "complaint", "callback", "survey", "monitoring", "mystery_shopper", "field_report", "other"
]
SourceName = Literal[
    "complaint",
    "low_rating",
    "refused_signoff",
    "callback",
    "survey",
    "repeat_visit",
    "monitoring",
    "mystery_shopper",
    "field_report",
    "other",
]
NcStatusName = Literal["candidate", "open", "assigned", "root_cause", "verification", "closed", "dismissed"]
CategoryName = Literal["people", "method", "equipment", "material", "environment", "measurement", "other"]
ActionKindName = Literal["corrective", "preventive"]
ActionStatusName = Literal["open", "done", "cancelled"]
SignalName = Literal["low_rating", "refused_signoff", "repeat_visit", "unsatisfied_callback"]
Threshold = Annotated[int, Meta(ge=1, le=5)]
WindowDays = Annotated[int, Meta(ge=1, le=365)]


# --- nonconformances --------------------------------------------------------------------------------


class NonconformanceCreate(Request, kw_only=True):
    """Identify a nonconformance by hand. ``source_id`` names the complaint, callback, survey,
    supervision record or field report it comes from (required for those sources, refused for
    mystery_shopper and other); the job, technician, team, site and unit come from it or from ``job_id``."""

    source: ManualSource
    source_id: UUID | None = None
    title: Title
    description: LongText = ""
    severity: SeverityName = "medium"
    job_id: UUID | None = None


class AcceptBody(Request, kw_only=True):
    """Accept a candidate; with an owner and a due date it is assigned at once."""

    owner_id: UUID | None = None
    due_at: AwareTime | None = None
    note: LongText = ""


class DismissBody(Request, kw_only=True):
    reason: Reason


class AssignBody(Request, kw_only=True):
    owner_id: UUID
    due_at: AwareTime
    note: LongText = ""


class RootCauseBody(Request, kw_only=True):
    root_cause: RequiredText
    category: CategoryName


class ActionCreate(Request, kw_only=True):
    kind: ActionKindName
    description: ActionText
    owner_id: UUID
    due_at: AwareTime


class ActionDone(Request, kw_only=True):
    note: Annotated[str, Meta(max_length=2000)] = ""


class ActionAssign(Request, kw_only=True):
    owner_id: UUID
    due_at: AwareTime


class ActionCancel(Request, kw_only=True):
    reason: Reason


class SubmitVerificationBody(Request, kw_only=True):
    note: LongText = ""


class VerifyBody(Request, kw_only=True):
    effective: bool
    note: RequiredText
    verification_job_id: UUID | None = None


class ResolveOnSiteBody(Request, kw_only=True):
    resolution: RequiredText


class ActionRead(msgspec.Struct, kw_only=True):
    id: UUID
    nonconformance_id: UUID
    kind: str
    description: str
    owner_id: UUID
    due_at: datetime
    status: str
    done_at: datetime | None
    done_note: str
    created_by_id: UUID | None
    created_at: datetime
    overdue: bool


class ActionPage(msgspec.Struct, kw_only=True):
    items: list[ActionRead]
    total: int


class TimelineEntry(msgspec.Struct, kw_only=True):
    at: datetime
    actor_id: UUID | None
    verb: str
    from_status: str | None
    to_status: str
    note: str
    data: dict[str, Any]


class NonconformanceRead(msgspec.Struct, kw_only=True):
    id: UUID
    number: str
    source: str
    source_id: UUID | None
    rule_id: UUID | None
    status: str
    severity: str
    title: str
    description: str
    job_id: UUID | None
    technician_id: UUID | None
    team_id: UUID | None
    site_id: UUID | None
    unit_id: UUID | None
    complaint_id: UUID | None
    identified_at: datetime
    identified_by_id: UUID | None
    owner_id: UUID | None
    due_at: datetime | None
    root_cause: str
    root_cause_category: str
    front_line_resolution: str
    verification_job_id: UUID | None
    verification_note: str
    verified_by_id: UUID | None
    verified_at: datetime | None
    closed_at: datetime | None
    closed_by_id: UUID | None
    overdue: bool


class NonconformanceDetail(NonconformanceRead, kw_only=True):
    actions: list[ActionRead]
    timeline: list[TimelineEntry]


class NonconformancePage(msgspec.Struct, kw_only=True):
    items: list[NonconformanceRead]
    total: int


# --- rules ------------------------------------------------------------------------------------------


class RuleCreate(Request, kw_only=True):
    name: Title
    signal: SignalName
    threshold: Threshold | None = None
    window_days: WindowDays | None = None
    severity: SeverityName = "medium"
    active: bool = True


class RuleUpdate(Request, kw_only=True):
    name: Title | msgspec.UnsetType = msgspec.UNSET
    threshold: Threshold | msgspec.UnsetType = msgspec.UNSET
    window_days: WindowDays | msgspec.UnsetType = msgspec.UNSET
    severity: SeverityName | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class RuleRead(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    signal: str
    threshold: int | None
    window_days: int | None
    severity: str
    active: bool
    created_by_id: UUID | None
    created_at: datetime
    updated_at: datetime


# --- supervision records ----------------------------------------------------------------------------


class Finding(Request, kw_only=True):
    step_id: StepId | None = None
    point: Title
    result: Literal["pass", "fail", "not_applicable"]
    note: Annotated[str, Meta(max_length=1000)] = ""


class SupervisionCreate(Request, kw_only=True):
    job_id: UUID
    mode: Literal["on_site", "record"]
    checked_at: AwareTime | None = None
    findings: Annotated[list[Finding], Meta(min_length=1, max_length=100)]
    notes: LongText = ""
    open_nonconformance: bool = False


class SupervisionRead(msgspec.Struct, kw_only=True):
    id: UUID
    job_id: UUID
    technician_id: UUID | None
    team_id: UUID | None
    checked_by_id: UUID
    mode: str
    checked_at: datetime
    findings: list[dict[str, Any]]
    passed: bool
    score: int | None
    notes: str
    created_at: datetime
    nonconformance_id: UUID | None = None


class SupervisionPage(msgspec.Struct, kw_only=True):
    items: list[SupervisionRead]
    total: int


class MonitoringPoint(msgspec.Struct, kw_only=True):
    step_id: str
    title: str
    instructions: str
    requires: list[str]
    key_moment: bool
    # What the technician recorded for the step (None: not recorded yet).
    result: str | None
    value: float | None
    in_range: bool | None
    note: str
    blobs: list[str]
    completed_by_id: UUID | None


class MonitoringPoints(msgspec.Struct, kw_only=True):
    job_id: UUID
    number: str
    status: str
    technician_id: UUID | None
    procedure_id: UUID | None
    points: list[MonitoringPoint]
