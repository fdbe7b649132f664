"""Job events, recorded in the transaction that causes them and delivered after it commits
(``backend.events``): push notifications and the quality department listen to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class JobStatusChanged:
    job_id: UUID
    number: str
    previous: str
    status: str
    actor_id: UUID | None
    assignee_id: UUID | None
    team_id: UUID | None
    reason: str = ""


@dataclass(frozen=True)
class JobAssigned:
    job_id: UUID
    number: str
    assignee_id: UUID
    previous_assignee_id: UUID | None
    team_id: UUID | None
    actor_id: UUID


@dataclass(frozen=True)
class SignoffRefused:
    """The customer did not accept the work: the job is ``disputed`` and the quality department acts."""

    job_id: UUID
    number: str
    signoff_id: UUID
    assignee_id: UUID | None
    team_id: UUID | None
    rating: int
    comment: str


@dataclass(frozen=True)
class SignoffRecorded:
    """The customer signed (accepted or not) and rated the work: the quality store turns the ratings
    into an evaluation of the job and its technician."""

    job_id: UUID
    signoff_id: UUID
    accepted: bool
    assignee_id: UUID | None
    team_id: UUID | None
    rating: int
    rating_technical: int | None
    rating_service: int | None
    comment: str
    signed_at: datetime


@dataclass(frozen=True)
class JobCreated:
    """A new job: the quality rules look for a repeat visit to the same unit or site."""

    job_id: UUID
    number: str
    type: str
    source: str
    site_id: UUID
    unit_id: UUID | None
    origin_job_id: UUID | None
    team_id: UUID | None
    created_at: datetime
