"""The quality store's intake: issues people report from the field (SYNC.md, ``quality.report``).

A report is what a technician or supervisor saw: a complaint the customer made on site, a
nonconformance, an observation, with photos. The quality department triages it into the closed loop
(complaints, nonconformances, actions) that builds on this table."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Column
from sqlmodel import Field

from backend.db import SyncedEntity


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
