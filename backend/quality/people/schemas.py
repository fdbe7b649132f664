"""Request and response bodies for people: training records, required trainings, the training check
and matrix, rewards and penalties (msgspec, strict: unknown fields and wrong types are refused)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import NAME_PATTERN, Request

CategoryName = Literal["technical", "functional"]
# The job types a required course applies to; ``any``: every job type.
RequiredJobType = Literal["install", "maintenance", "repair", "inspection", "callback", "rework", "any"]
Course = Annotated[str, Meta(min_length=1, max_length=120, pattern=NAME_PATTERN)]
Score = Annotated[int, Meta(ge=0, le=100)]
Notes = Annotated[str, Meta(max_length=2000)]
IncentiveKindName = Literal["reward", "penalty"]
EvidenceName = Literal["evaluation", "complaint", "nonconformance", "custody_loss", "supervision", "other"]
# Signed like the points: a penalty's fine is negative. Up to two decimal places and 9,999,999.99 (the
# cents fit the 32-bit column).
Amount = Annotated[str, Meta(pattern=r"^-?[0-9]{1,7}(\.[0-9]{1,2})?$")]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Points = Annotated[int, Meta(ge=-100_000, le=100_000)]
Reason = Annotated[str, Meta(min_length=1, max_length=1000, pattern=NAME_PATTERN)]


# --- training records -------------------------------------------------------------------------------


class TrainingCreate(Request, kw_only=True):
    user_id: UUID
    category: CategoryName
    course: Course
    completed_on: date
    passed: bool = True
    score: Score | None = None
    expires_on: date | None = None
    notes: Notes = ""


class TrainingCorrection(Request, kw_only=True):
    """A correction by the quality department; the course, person and date stay as recorded."""

    passed: bool | msgspec.UnsetType = msgspec.UNSET
    score: Score | msgspec.UnsetType | None = msgspec.UNSET
    expires_on: date | msgspec.UnsetType | None = msgspec.UNSET
    notes: Notes | msgspec.UnsetType = msgspec.UNSET


class TrainingRead(msgspec.Struct, kw_only=True):
    id: UUID
    user_id: UUID
    user_name: str
    category: str
    course: str
    completed_on: date
    passed: bool
    score: int | None
    expires_on: date | None
    # held | expired | failed, as of today
    state: str
    notes: str
    recorded_by_id: UUID | None
    created_at: datetime
    updated_at: datetime


class TrainingPage(msgspec.Struct, kw_only=True):
    items: list[TrainingRead]
    total: int


# --- required trainings -----------------------------------------------------------------------------


class RequiredTrainingCreate(Request, kw_only=True):
    job_type: RequiredJobType
    course: Course
    category: CategoryName


class RequiredTrainingRead(msgspec.Struct, kw_only=True):
    id: UUID
    job_type: str
    course: str
    category: str
    created_at: datetime


# --- the training check and matrix ------------------------------------------------------------------


class GapRead(msgspec.Struct, kw_only=True):
    course: str
    category: str
    # missing | failed | expired | expires_before_job
    reason: str
    # The expiry of the latest passed record (expired, expires_before_job), or the failed attempt's date.
    on: date | None
    message: str


class TrainingCheckRead(msgspec.Struct, kw_only=True):
    user_id: UUID
    job_type: str
    on: date
    ok: bool
    gaps: list[GapRead]


class MatrixCourse(msgspec.Struct, kw_only=True):
    course: str
    category: str
    job_types: list[str]


class MatrixCell(msgspec.Struct, kw_only=True):
    course: str
    # held | expiring | expired | failed | missing
    status: str
    completed_on: date | None
    expires_on: date | None


class MatrixRow(msgspec.Struct, kw_only=True):
    user_id: UUID
    username: str
    display_name: str
    team_id: UUID | None
    cells: list[MatrixCell]


class TrainingMatrix(msgspec.Struct, kw_only=True):
    on: date
    expiring_within_days: int
    courses: list[MatrixCourse]
    rows: list[MatrixRow]
    # Users in scope (the rows are one page of them).
    total: int
    # Cells of this page by status.
    counts: dict[str, int]


# --- rewards and penalties --------------------------------------------------------------------------


class IncentiveCreate(Request, kw_only=True):
    """Points and money are signed by the kind: a reward's are zero or positive, a penalty's zero or
    negative, and at least one of them is not zero. ``evidence_id`` is required unless the evidence is
    ``other``: an evaluation of the person, a complaint about them, a nonconformance they caused or
    handled, a supervision record of their job, or the movement that recorded a loss from their custody."""

    user_id: UUID
    kind: IncentiveKindName
    points: Points = 0
    amount: Amount | None = None
    currency: Currency = "CNY"
    reason: Reason
    evidence_type: EvidenceName
    evidence_id: UUID | None = None


class IncentiveVoid(Request, kw_only=True):
    reason: Reason


class IncentiveRead(msgspec.Struct, kw_only=True):
    id: UUID
    user_id: UUID
    user_name: str
    kind: str
    points: int
    # Decimal string, signed like the points ("-200.00"); None: no money involved.
    amount: str | None
    amount_cents: int | None
    currency: str
    reason: str
    evidence_type: str
    evidence_id: UUID | None
    awarded_by_id: UUID
    awarded_at: datetime
    voided: bool
    voided_at: datetime | None
    voided_by_id: UUID | None
    void_reason: str


class IncentiveTotal(msgspec.Struct, kw_only=True):
    user_id: UUID
    user_name: str
    points: int
    # currency → decimal string, e.g. {"CNY": "-150.00"}
    amounts: dict[str, str]
    records: int


class IncentivePage(msgspec.Struct, kw_only=True):
    items: list[IncentiveRead]
    total: int
    # Per person over every record matching the filters (not only this page), voided ones left out.
    totals: list[IncentiveTotal]
