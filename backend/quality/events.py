"""Quality events, recorded in the transaction that causes them and delivered after it commits
(``backend.events``): Web Push tells the person who now owns the item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class QualityItemAssigned:
    """A complaint, nonconformance, corrective/preventive action or callback now has an owner."""

    kind: str  # complaint | nonconformance | action | callback
    item_id: UUID
    title: str
    assignee_id: UUID
    due_at: datetime | None


@dataclass(frozen=True)
class QualityItemOverdue:
    """An open quality item passed its due date (found by the periodic overdue scan, once per item)."""

    kind: str  # complaint | nonconformance | action | callback
    item_id: UUID
    title: str
    assignee_id: UUID
    due_at: datetime


@dataclass(frozen=True)
class EvaluationRecorded:
    """A rating reached FieldQ (sign-off, survey, callback, self-assessment): the rules may raise a
    nonconformance candidate, the callback policy may call the customer back."""

    evaluation_id: UUID
    job_id: UUID
    technician_id: UUID | None
    team_id: UUID | None
    source: str
    overall: int | None
    technical: int | None
    service: int | None


@dataclass(frozen=True)
class CallbackCompleted:
    """A callback's outcome was recorded."""

    callback_id: UUID
    job_id: UUID
    technician_id: UUID | None
    team_id: UUID | None
    reached: bool
    satisfaction: int | None
