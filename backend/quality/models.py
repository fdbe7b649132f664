"""The quality store's intake: issues people report from the field (SYNC.md, ``quality.report``).

A report is what a technician or supervisor saw: a complaint the customer made on site, a
nonconformance, an observation, with photos. The quality department triages it into the closed loop
(complaints, nonconformances, actions) that builds on this table."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field

from backend.db import Entity, SyncedEntity, utcnow


class ReportKind(StrEnum):
    complaint = "complaint"
    nonconformance = "nonconformance"
    observation = "observation"


class ReportStatus(StrEnum):
    open = "open"  # waiting for the quality department
    triaged = "triaged"  # turned into a complaint or nonconformance of the quality loop
    closed = "closed"


class QualityReport(SyncedEntity, table=True):
    __tablename__ = "quality_report"
    __entity_name__ = "quality_report"

    kind: str = Field(max_length=20, nullable=False, index=True)
    status: str = Field(default=ReportStatus.open, max_length=10, nullable=False, index=True)
    job_id: UUID | None = Field(default=None, foreign_key="job.id", index=True, ondelete="RESTRICT")
    text: str = Field(max_length=4000, nullable=False)
    blobs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reported_by_id: UUID = Field(foreign_key="user.id", nullable=False, index=True, ondelete="RESTRICT")
    # The reporter's team (a technician's) or the job's team, for the supervisors who see it.
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    client_time: datetime | None = Field(default=None, sa_type=DateTimeUTC)


# --------------------------------------------------------------------------------------------------
# The closed quality loop. Plain tables (not replicated to the phones): the quality department works
# on them through the REST API and the indicators read them. Every record names the job and the
# technician it concerns where there is one, so the indicators can group by person, team and region.
# --------------------------------------------------------------------------------------------------


class EvaluationSource(StrEnum):
    signoff = "signoff"  # the customer's ratings on the phone at sign-off
    survey = "survey"  # the customer's answers on their own phone, from the survey link
    callback = "callback"  # the quality department's return call or visit
    self = "self"  # the technician's own assessment of the job (compared with the customer's)


class Evaluation(Entity, table=True):
    """One rating of a job and its technician. The overall, technical-quality and service-quality
    scores (1–5) are kept apart: the brief assesses the work and the way it was delivered separately."""

    __tablename__ = "evaluation"
    __table_args__ = (
        # The same sign-off, survey answer or callback is one evaluation, however often it is replayed.
        UniqueConstraint("source", "source_id", name="uq_evaluation_source_source_id"),
        Index("ix_evaluation_technician_at", "technician_id", "evaluated_at"),
        Index("ix_evaluation_at", "evaluated_at"),
    )

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    technician_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    source: str = Field(max_length=12, nullable=False)
    source_id: UUID = Field(nullable=False)
    overall: int | None = Field(default=None)
    technical: int | None = Field(default=None)
    service: int | None = Field(default=None)
    comment: str = Field(default="", max_length=4000, nullable=False)
    evaluated_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    recorded_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class CallbackTrigger(StrEnum):
    job_approved = "job_approved"  # a job of ``job_type`` (any type when empty) was approved
    low_rating = "low_rating"  # a customer rating at or below ``rating_at_or_below``
    refused_signoff = "refused_signoff"  # the customer did not accept the work


class CallbackPolicy(Entity, table=True):
    """When the quality department calls the customer back (the brief's return visits and calls):
    e.g. every install, 20% of maintenance jobs, every rating ≤ 2, every refused sign-off."""

    __tablename__ = "callback_policy"

    name: str = Field(max_length=120, nullable=False)
    trigger: str = Field(max_length=20, nullable=False)
    job_type: str | None = Field(default=None, max_length=20)
    # The share of matching jobs called back, drawn from a hash of the job and policy ids so a replay
    # or a second process decides the same way.
    share_percent: int = Field(default=100, nullable=False)
    rating_at_or_below: int | None = Field(default=None)
    due_hours: int = Field(default=72, nullable=False)
    # Who gets the callbacks (a quality officer); empty: the least loaded active quality user.
    assignee_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    active: bool = Field(default=True, nullable=False)
    created_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class CallbackStatus(StrEnum):
    open = "open"
    done = "done"  # an outcome was recorded (reached or not reached after the last attempt)
    cancelled = "cancelled"


class Callback(Entity, table=True):
    """A return call or visit to the customer after a job, its due date and its outcome."""

    __tablename__ = "callback"
    __table_args__ = (
        # One callback per job and reason: policies overlapping on a job call the customer once.
        UniqueConstraint("job_id", "reason", name="uq_callback_job_id"),
        Index("ix_callback_status_due", "status", "due_at"),
    )

    number: str = Field(max_length=20, nullable=False, unique=True)
    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    technician_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    policy_id: UUID | None = Field(default=None, foreign_key="callback_policy.id", ondelete="RESTRICT")
    reason: str = Field(max_length=20, nullable=False)  # a CallbackTrigger, or "manual"
    status: str = Field(default=CallbackStatus.open, max_length=10, nullable=False)
    assignee_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    due_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    reached: bool | None = Field(default=None)
    satisfaction: int | None = Field(default=None)
    rating_technical: int | None = Field(default=None)
    rating_service: int | None = Field(default=None)
    comments: str = Field(default="", max_length=4000, nullable=False)
    done_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    done_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    overdue_notified_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class SurveyTemplate(Entity, table=True):
    """Questions for the customer. ``questions`` is a list of
    ``{"key", "text", "kind": rating|text|yes_no|choice, "choices"?, "score"?: overall|technical|service,
    "required"}``; the rating questions that carry a ``score`` become the evaluation's scores."""

    __tablename__ = "survey_template"

    code: str = Field(max_length=40, nullable=False, index=True)
    revision: int = Field(default=1, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    intro: str = Field(default="", max_length=2000, nullable=False)
    questions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_current: bool = Field(default=True, nullable=False)
    created_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class SurveyStatus(StrEnum):
    sent = "sent"  # the link exists and has not been answered
    answered = "answered"
    revoked = "revoked"


class Survey(Entity, table=True):
    """A survey link for one job. The link carries a signed token naming this row and its expiry;
    ``token_nonce`` makes each link unique and ``answered_at`` makes it single-use."""

    __tablename__ = "survey"
    __table_args__ = (Index("ix_survey_status_expires", "status", "expires_at"),)

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    template_id: UUID = Field(foreign_key="survey_template.id", nullable=False, ondelete="RESTRICT")
    technician_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", ondelete="RESTRICT")
    status: str = Field(default=SurveyStatus.sent, max_length=10, nullable=False)
    token_nonce: str = Field(max_length=40, nullable=False, unique=True)
    expires_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    opened_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    answered_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class ComplaintChannel(StrEnum):
    phone = "phone"
    email = "email"
    callback = "callback"
    survey = "survey"
    field_report = "field_report"  # a technician's or supervisor's ``quality.report``
    refused_signoff = "refused_signoff"
    other = "other"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class ComplaintStatus(StrEnum):
    open = "open"  # received, nobody has answered the customer yet
    acknowledged = "acknowledged"  # the customer was answered (the response target)
    resolved = "resolved"  # the cause was dealt with and the customer told (the resolution target)
    closed = "closed"


class Complaint(Entity, table=True):
    """A customer's complaint from any channel, with severity, the job and technician concerned and
    response targets set from the severity."""

    __tablename__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_status_respond", "status", "respond_by"),
        Index("ix_complaint_received", "received_at"),
    )

    number: str = Field(max_length=20, nullable=False, unique=True)
    channel: str = Field(max_length=20, nullable=False)
    severity: str = Field(default=Severity.medium, max_length=10, nullable=False)
    status: str = Field(default=ComplaintStatus.open, max_length=12, nullable=False)
    summary: str = Field(max_length=200, nullable=False)
    details: str = Field(default="", max_length=4000, nullable=False)
    customer_id: UUID | None = Field(default=None, foreign_key="customer.id", ondelete="RESTRICT")
    site_id: UUID | None = Field(default=None, foreign_key="site.id", ondelete="RESTRICT")
    job_id: UUID | None = Field(default=None, foreign_key="job.id", index=True, ondelete="RESTRICT")
    technician_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    # Where it came from when FieldQ itself made it: the report, callback, survey or sign-off's id.
    source_id: UUID | None = Field(default=None, index=True)
    contact_name: str = Field(default="", max_length=120, nullable=False)
    contact_phone: str = Field(default="", max_length=40, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    respond_by: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    resolve_by: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    acknowledged_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    resolved_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    closed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    response: str = Field(default="", max_length=4000, nullable=False)
    resolution: str = Field(default="", max_length=4000, nullable=False)
    assignee_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    recorded_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    overdue_notified_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class NonconformanceSource(StrEnum):
    complaint = "complaint"
    low_rating = "low_rating"
    refused_signoff = "refused_signoff"
    callback = "callback"
    survey = "survey"
    repeat_visit = "repeat_visit"
    monitoring = "monitoring"  # a supervision record's finding
    mystery_shopper = "mystery_shopper"
    field_report = "field_report"
    other = "other"


class NonconformanceStatus(StrEnum):
    candidate = "candidate"  # raised by a rule from a signal; the quality department accepts or dismisses
    open = "open"  # identified, nobody owns it yet
    assigned = "assigned"  # an owner investigates
    root_cause = "root_cause"  # the cause is found; corrective and preventive actions are planned
    verification = "verification"  # every action is done; someone checks they worked
    closed = "closed"
    dismissed = "dismissed"  # a candidate that was not a nonconformance


class Nonconformance(Entity, table=True):
    """Nonconforming service: identified → assigned → root cause → actions → verified → closed. A
    problem resolved on the spot by the front line is recorded as such and closes without actions."""

    __tablename__ = "nonconformance"
    __table_args__ = (
        # A rule raises one candidate per signal (the same rating replayed raises nothing new).
        UniqueConstraint("source", "source_id", name="uq_nonconformance_source_source_id"),
        Index("ix_nonconformance_status_due", "status", "due_at"),
        Index("ix_nonconformance_identified", "identified_at"),
    )

    number: str = Field(max_length=20, nullable=False, unique=True)
    source: str = Field(max_length=20, nullable=False)
    source_id: UUID | None = Field(default=None)
    rule_id: UUID | None = Field(default=None, foreign_key="quality_rule.id", ondelete="RESTRICT")
    status: str = Field(default=NonconformanceStatus.open, max_length=14, nullable=False, index=True)
    severity: str = Field(default=Severity.medium, max_length=10, nullable=False)
    title: str = Field(max_length=200, nullable=False)
    description: str = Field(default="", max_length=4000, nullable=False)
    job_id: UUID | None = Field(default=None, foreign_key="job.id", index=True, ondelete="RESTRICT")
    technician_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    site_id: UUID | None = Field(default=None, foreign_key="site.id", ondelete="RESTRICT")
    unit_id: UUID | None = Field(default=None, foreign_key="unit.id", ondelete="RESTRICT")
    complaint_id: UUID | None = Field(default=None, foreign_key="complaint.id", ondelete="RESTRICT")
    identified_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    identified_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    owner_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    due_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    root_cause: str = Field(default="", max_length=4000, nullable=False)
    # people | method | equipment | material | environment | measurement (the six Ms), or other
    root_cause_category: str = Field(default="", max_length=20, nullable=False)
    front_line_resolution: str = Field(default="", max_length=4000, nullable=False)
    verification_job_id: UUID | None = Field(default=None, foreign_key="job.id", ondelete="RESTRICT")
    verification_note: str = Field(default="", max_length=4000, nullable=False)
    verified_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    verified_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    closed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    closed_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    overdue_notified_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class NonconformanceEvent(Entity, table=True):
    """The timeline of a nonconformance: who did what when (identified, accepted, assigned, root cause,
    actions, verification, closed), with the status before and after and the note they gave."""

    __tablename__ = "nonconformance_event"
    __table_args__ = (Index("ix_nonconformance_event_nc_at", "nonconformance_id", "at"),)

    nonconformance_id: UUID = Field(foreign_key="nonconformance.id", nullable=False, ondelete="RESTRICT")
    at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    actor_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    verb: str = Field(max_length=24, nullable=False)
    from_status: str | None = Field(default=None, max_length=14)
    to_status: str = Field(max_length=14, nullable=False)
    note: str = Field(default="", max_length=4000, nullable=False)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ActionKind(StrEnum):
    corrective = "corrective"  # removes the cause of this nonconformance
    preventive = "preventive"  # keeps it from happening elsewhere


class ActionStatus(StrEnum):
    open = "open"
    done = "done"
    cancelled = "cancelled"


class QualityAction(Entity, table=True):
    """A corrective or preventive action of a nonconformance, with its owner and due date."""

    __tablename__ = "quality_action"
    __table_args__ = (Index("ix_quality_action_status_due", "status", "due_at"),)

    nonconformance_id: UUID = Field(
        foreign_key="nonconformance.id", nullable=False, index=True, ondelete="RESTRICT"
    )
    kind: str = Field(max_length=12, nullable=False)
    description: str = Field(max_length=2000, nullable=False)
    owner_id: UUID = Field(foreign_key="user.id", nullable=False, index=True, ondelete="RESTRICT")
    due_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    status: str = Field(default=ActionStatus.open, max_length=10, nullable=False)
    done_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    done_note: str = Field(default="", max_length=2000, nullable=False)
    created_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    overdue_notified_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class RuleSignal(StrEnum):
    low_rating = "low_rating"  # any customer evaluation's overall score at or below ``threshold``
    refused_signoff = "refused_signoff"
    repeat_visit = "repeat_visit"  # a new corrective job on a unit within ``window_days`` of the last
    unsatisfied_callback = "unsatisfied_callback"  # a callback's satisfaction at or below ``threshold``


class QualityRule(Entity, table=True):
    """A rule the quality department configures that turns a signal into a nonconformance candidate."""

    __tablename__ = "quality_rule"

    name: str = Field(max_length=120, nullable=False)
    signal: str = Field(max_length=24, nullable=False)
    threshold: int | None = Field(default=None)
    window_days: int | None = Field(default=None)
    severity: str = Field(default=Severity.medium, max_length=10, nullable=False)
    active: bool = Field(default=True, nullable=False)
    created_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class SupervisionMode(StrEnum):
    on_site = "on_site"  # the checker was there
    record = "record"  # checked from the job's record (photos, readings, history)


class SupervisionRecord(Entity, table=True):
    """The organisation's own assessment of a job: a supervisor's or quality officer's check against
    its procedure's monitoring points. ``findings`` is a list of ``{"step_id"?, "point", "result":
    pass|fail|not_applicable, "note"}``; a failed point can open a nonconformance."""

    __tablename__ = "supervision_record"
    __table_args__ = (Index("ix_supervision_checked", "checked_at"),)

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    technician_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", ondelete="RESTRICT")
    checked_by_id: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    mode: str = Field(max_length=10, nullable=False)
    checked_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    findings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    passed: bool = Field(nullable=False)
    score: int | None = Field(default=None)  # share of applicable points passed, in percent
    notes: str = Field(default="", max_length=4000, nullable=False)


class TrainingCategory(StrEnum):
    technical = "technical"
    functional = "functional"  # service manners, safety, procedures


class TrainingRecord(Entity, table=True):
    """A course someone took: when, the result, and until when it counts."""

    __tablename__ = "training_record"
    __table_args__ = (Index("ix_training_user_course", "user_id", "course"),)

    user_id: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    category: str = Field(max_length=12, nullable=False)
    course: str = Field(max_length=120, nullable=False)
    completed_on: date = Field(nullable=False)
    passed: bool = Field(default=True, nullable=False)
    score: int | None = Field(default=None)
    expires_on: date | None = Field(default=None)
    notes: str = Field(default="", max_length=2000, nullable=False)
    recorded_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class RequiredTraining(Entity, table=True):
    """A course everyone assigned jobs of ``job_type`` must hold (passed and not expired)."""

    __tablename__ = "required_training"
    __table_args__ = (UniqueConstraint("job_type", "course", name="uq_required_training_job_type"),)

    job_type: str = Field(max_length=20, nullable=False)
    course: str = Field(max_length=120, nullable=False)
    category: str = Field(max_length=12, nullable=False)


class IncentiveKind(StrEnum):
    reward = "reward"
    penalty = "penalty"


class IncentiveEvidence(StrEnum):
    evaluation = "evaluation"
    complaint = "complaint"
    nonconformance = "nonconformance"  # handled well, or caused
    custody_loss = "custody_loss"  # a lost tool or uniform: an inventory movement
    supervision = "supervision"
    other = "other"


class Incentive(Entity, table=True):
    """A reward or penalty, in points and/or money, always linked to the evidence it rests on."""

    __tablename__ = "incentive"
    __table_args__ = (Index("ix_incentive_user_at", "user_id", "awarded_at"),)

    user_id: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    kind: str = Field(max_length=8, nullable=False)
    points: int = Field(default=0, nullable=False)
    amount_cents: int | None = Field(default=None)
    currency: str = Field(default="CNY", max_length=3, nullable=False)
    reason: str = Field(max_length=1000, nullable=False)
    evidence_type: str = Field(max_length=16, nullable=False)
    evidence_id: UUID | None = Field(default=None)
    awarded_by_id: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    awarded_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    # A voided record stays for the audit trail but no longer counts in anyone's totals.
    voided_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    voided_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    void_reason: str = Field(default="", max_length=1000, nullable=False)
