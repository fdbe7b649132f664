"""Job events, recorded in the transaction that causes them and delivered after it commits
(``backend.events``): push notifications and the quality department listen to them."""

from __future__ import annotations

from dataclasses import dataclass
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
