"""Response bodies of the indicators, the scorecards and the review (all GET: no request bodies)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

import msgspec

GroupName = Literal["technician", "team", "region", "all"]
TrendName = Literal["week", "month"]
ReviewFormat = Literal["html", "csv"]
Value = float | int | None


class IndicatorDefinition(msgspec.Struct, kw_only=True):
    name: str
    label: str
    unit: str
    better: str | None  # "up", "down" or null
    snapshot: bool  # a state at the period's end (or now), not a sum over the period


class TrendPoint(msgspec.Struct, kw_only=True):
    bucket: str  # the bucket's first day, YYYY-MM-DD (UTC)
    values: dict[str, Value]


class IndicatorRowRead(msgspec.Struct, kw_only=True):
    key: str  # a technician's or team's id, a region, or "all"
    label: str
    values: dict[str, Value]
    trend: list[TrendPoint]


class IndicatorsRead(msgspec.Struct, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    group: str
    trend: str | None
    indicators: list[IndicatorDefinition]
    rows: list[IndicatorRowRead]


class ScorecardPerson(msgspec.Struct, kw_only=True):
    id: UUID
    username: str
    display_name: str
    team_id: UUID | None
    team_name: str | None
    region: str | None


class IncentiveSummary(msgspec.Struct, kw_only=True):
    count: int
    points: int
    reward_points: int
    penalty_points: int


class TrainingHeld(msgspec.Struct, kw_only=True):
    course: str
    category: str
    completed_on: date
    expires_on: date | None
    passed: bool
    held: bool
    expiring_within_30_days: bool


class OpenNonconformance(msgspec.Struct, kw_only=True):
    id: UUID
    number: str
    title: str
    status: str
    severity: str
    identified_at: datetime
    due_at: datetime | None
    overdue: bool


class RecentComplaint(msgspec.Struct, kw_only=True):
    id: UUID
    number: str
    summary: str
    severity: str
    status: str
    received_at: datetime


class ScorecardRead(msgspec.Struct, kw_only=True):
    technician: ScorecardPerson
    from_: date = msgspec.field(name="from")
    to: date
    previous_from: date
    previous_to: date
    indicators: list[IndicatorDefinition]
    current: dict[str, Value]
    previous: dict[str, Value]
    team: dict[str, Value]  # the technician's team over the same period, for comparison
    incentives: IncentiveSummary
    trainings: list[TrainingHeld]
    open_nonconformances: list[OpenNonconformance]
    recent_complaints: list[RecentComplaint]
