"""People in the quality system: training records, the courses each job type requires, the training
check dispatch runs on every assignment, and rewards and penalties tied to their evidence. No HTTP.

Scope: technicians see their own records; supervisors their teams' members (and their own); quality and
managers everyone's. Points and money of an incentive are stored signed (a penalty's are negative), so a
person's totals are plain sums of the records that are not voided."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.db import begin_write, utcnow
from backend.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from backend.inventory.models import Condition, Movement
from backend.jobs.models import Job, JobType
from backend.quality.models import (
    Complaint,
    Evaluation,
    Incentive,
    IncentiveEvidence,
    IncentiveKind,
    Nonconformance,
    RequiredTraining,
    SupervisionRecord,
    TrainingCategory,
    TrainingRecord,
)

ANY_JOB_TYPE = "any"
DEFAULT_EXPIRING_DAYS = 30


class GapReason:
    missing = "missing"  # never trained (no record of the course)
    failed = "failed"  # tried, never passed
    expired = "expired"  # the latest pass has expired
    expires_before_job = "expires_before_job"  # valid today, expired by the job's scheduled day


WARNING_CODES = {
    GapReason.missing: "TRAINING_MISSING",
    GapReason.failed: "TRAINING_FAILED",
    GapReason.expired: "TRAINING_EXPIRED",
    GapReason.expires_before_job: "TRAINING_EXPIRED",
}


@dataclass(frozen=True)
class Gap:
    course: str
    category: str
    reason: str
    on: date | None = None  # the expiry, or the failed attempt's date

    def describe(self, who: str, job_type: str, job_day: date) -> str:
        what = f"{who} has no valid '{self.course}' for {job_type} jobs"
        if self.reason == GapReason.failed:
            return f"{what}: the course was not passed (last attempt {self.on})"
        if self.reason == GapReason.expired:
            return f"{what}: it expired on {self.on}"
        if self.reason == GapReason.expires_before_job:
            return f"{what}: it expires on {self.on}, before the job on {job_day}"
        return f"{what}: no record of the course"


def course_key(course: str) -> str:
    """Courses match whatever the case and spacing they were typed with."""
    return " ".join(course.split()).casefold()


def clean_course(course: str) -> str:
    cleaned = " ".join(course.split())
    if not cleaned:
        raise InvalidInput("name the course", field="course")
    return cleaned


def _latest(records: Iterable[TrainingRecord]) -> TrainingRecord | None:
    return max(records, key=lambda r: (r.completed_on, r.created_at), default=None)


def standing(records: Sequence[TrainingRecord], on: date) -> tuple[str, TrainingRecord | None]:
    """Where someone stands on one course on day ``on``: the latest passed record counts.
    Returns (held | expired | failed | missing, the record that decided it)."""
    passed = _latest(r for r in records if r.passed)
    if passed is not None:
        if passed.expires_on is not None and passed.expires_on < on:
            return "expired", passed
        return "held", passed
    failed = _latest(records)
    if failed is not None:
        return "failed", failed
    return "missing", None


async def required_for(session: AsyncSession, job_type: str) -> list[RequiredTraining]:
    rows = await session.scalars(
        select(RequiredTraining)
        .where(RequiredTraining.job_type.in_((job_type, ANY_JOB_TYPE)))
        .order_by(RequiredTraining.course)
    )
    unique: dict[str, RequiredTraining] = {}
    for row in rows:
        unique.setdefault(course_key(row.course), row)
    return list(unique.values())


async def _records_by_course(
    session: AsyncSession, user_ids: Sequence[UUID], courses: Iterable[str]
) -> dict[tuple[UUID, str], list[TrainingRecord]]:
    keys = {course_key(c) for c in courses}
    found: dict[tuple[UUID, str], list[TrainingRecord]] = defaultdict(list)
    if not user_ids or not keys:
        return found
    rows = await session.scalars(select(TrainingRecord).where(TrainingRecord.user_id.in_(user_ids)))
    for record in rows:
        key = course_key(record.course)
        if key in keys:
            found[(record.user_id, key)].append(record)
    return found


async def training_gaps(
    session: AsyncSession, user_id: UUID, job_type: str, on: date, *, today: date | None = None
) -> list[Gap]:
    """The courses ``job_type`` requires that ``user_id`` does not hold on day ``on``."""
    today = today or utcnow().date()
    required = await required_for(session, job_type)
    records = await _records_by_course(session, [user_id], (r.course for r in required))
    gaps: list[Gap] = []
    for requirement in required:
        state, record = standing(records.get((user_id, course_key(requirement.course)), []), on)
        if state == "held":
            continue
        if state == "expired":
            assert record is not None and record.expires_on is not None
            reason = GapReason.expired if record.expires_on < today else GapReason.expires_before_job
            gaps.append(Gap(requirement.course, requirement.category, reason, record.expires_on))
        elif state == "failed":
            assert record is not None
            gaps.append(Gap(requirement.course, requirement.category, GapReason.failed, record.completed_on))
        else:
            gaps.append(Gap(requirement.course, requirement.category, GapReason.missing))
    return gaps


@dataclass(frozen=True)
class AssignmentWarning:
    code: str
    course: str
    message: str


async def assignment_warnings(session: AsyncSession, job: Job) -> list[AssignmentWarning]:
    """What dispatch is told when ``job`` goes to someone without the training its type requires.
    A warning, never a refusal: the assignment stands."""
    if job.assignee_id is None:
        return []
    assignee = await session.get(User, job.assignee_id)
    who = assignee.display_name if assignee else str(job.assignee_id)
    day = job.scheduled_start.date() if job.scheduled_start else utcnow().date()
    gaps = await training_gaps(session, job.assignee_id, job.type, day)
    return [
        AssignmentWarning(WARNING_CODES[g.reason], g.course, g.describe(who, job.type, day)) for g in gaps
    ]


# --- filters ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingFilter:
    user_id: UUID | None = None
    course: str | None = None
    category: str | None = None
    expiring_within_days: int | None = None
    expired: bool | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class IncentiveFilter:
    user_id: UUID | None = None
    kind: str | None = None
    evidence_type: str | None = None
    from_day: date | None = None
    to_day: date | None = None
    include_voided: bool = True
    limit: int = 50
    offset: int = 0


@dataclass
class MatrixResult:
    on: date
    expiring_within_days: int
    courses: list[tuple[str, str, list[str]]]
    users: list[User]
    cells: dict[tuple[UUID, str], tuple[str, TrainingRecord | None]]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class IncentiveTotals:
    user_id: UUID
    points: int = 0
    cents: dict[str, int] = field(default_factory=dict)
    records: int = 0


def cents_from(amount: str | None) -> int | None:
    if amount is None:
        return None
    return int((Decimal(amount) * 100).to_integral_value())


def amount_text(cents: int | None) -> str | None:
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


class PeopleService:
    def __init__(self, session: AsyncSession, *, today: date | None = None) -> None:
        self.session = session
        self._today = today

    @property
    def today(self) -> date:
        return self._today or utcnow().date()

    # --- scope ----------------------------------------------------------------------------------------

    async def visible_user_ids(self, current: CurrentUser):
        """A subquery of the user ids ``current`` may see the records of, or None for everyone."""
        if current.sees_everything:
            return None
        if current.role == Role.supervisor:
            teams = await led_team_ids(self.session, current.id)
            return select(User.id).where(or_(User.team_id.in_(teams), User.id == current.id))
        return select(User.id).where(User.id == current.id)

    async def _may_see_user(self, current: CurrentUser, user_id: UUID) -> bool:
        scope = await self.visible_user_ids(current)
        if scope is None:
            return True
        return await self.session.scalar(scope.where(User.id == user_id)) is not None

    async def _user(self, user_id: UUID, *, active: bool = True) -> User:
        user = await self.session.get(User, user_id)
        if user is None or (active and not user.is_active):
            raise InvalidInput("no active user with this id", field="user_id", code="UNKNOWN_USER")
        return user

    async def _names(self, user_ids: Iterable[UUID]) -> dict[UUID, str]:
        wanted = set(user_ids)
        if not wanted:
            return {}
        rows = await self.session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
        return {uid: name for uid, name in rows}

    # --- training records -----------------------------------------------------------------------------

    async def record_training(
        self,
        current: CurrentUser,
        *,
        user_id: UUID,
        category: str,
        course: str,
        completed_on: date,
        passed: bool = True,
        score: int | None = None,
        expires_on: date | None = None,
        notes: str = "",
    ) -> TrainingRecord:
        if current.role == Role.technician:
            raise Forbidden("training records are kept by supervisors and the quality department")
        user = await self._user(user_id)
        if current.role == Role.supervisor and user.team_id not in await led_team_ids(
            self.session, current.id
        ):
            raise Forbidden("you record trainings only for members of teams you lead", field="user_id")
        if category not in set(TrainingCategory):
            raise InvalidInput("category is technical or functional", field="category")
        course = clean_course(course)
        if completed_on > self.today:
            raise InvalidInput("a training cannot be completed in the future", field="completed_on")
        if score is not None and not 0 <= score <= 100:
            raise InvalidInput("the score is 0–100", field="score")
        self._check_expiry(completed_on, expires_on)
        record = TrainingRecord(
            user_id=user.id,
            category=category,
            course=course,
            completed_on=completed_on,
            passed=passed,
            score=score,
            expires_on=expires_on,
            notes=notes.strip(),
            recorded_by_id=current.id,
        )
        self.session.add(record)
        await self.session.flush()
        return record

    @staticmethod
    def _check_expiry(completed_on: date, expires_on: date | None) -> None:
        if expires_on is not None and expires_on <= completed_on:
            raise InvalidInput("the expiry must come after the completion date", field="expires_on")

    async def training(self, current: CurrentUser, record_id: UUID) -> TrainingRecord:
        record = await self.session.get(TrainingRecord, record_id)
        if record is None or not await self._may_see_user(current, record.user_id):
            raise NotFound("no such training record", field="training_id")
        return record

    async def correct_training(
        self, current: CurrentUser, record_id: UUID, changes: dict[str, Any]
    ) -> TrainingRecord:
        if not current.sees_everything:
            raise Forbidden("training records are corrected by the quality department or a manager")
        record = await self.training(current, record_id)
        if "expires_on" in changes:
            self._check_expiry(record.completed_on, changes["expires_on"])
        if "score" in changes and changes["score"] is not None and not 0 <= changes["score"] <= 100:
            raise InvalidInput("the score is 0–100", field="score")
        if "notes" in changes:
            changes["notes"] = changes["notes"].strip()
        for name, value in changes.items():
            setattr(record, name, value)
        if changes:
            record.updated_at = utcnow()
        await self.session.flush()
        return record

    def state_of(self, record: TrainingRecord) -> str:
        if not record.passed:
            return "failed"
        if record.expires_on is not None and record.expires_on < self.today:
            return "expired"
        return "held"

    async def list_trainings(
        self, current: CurrentUser, query: TrainingFilter
    ) -> tuple[list[TrainingRecord], int]:
        statement = select(TrainingRecord)
        scope = await self.visible_user_ids(current)
        if scope is not None:
            statement = statement.where(TrainingRecord.user_id.in_(scope))
        if query.user_id:
            statement = statement.where(TrainingRecord.user_id == query.user_id)
        if query.course:
            statement = statement.where(
                func.lower(TrainingRecord.course) == " ".join(query.course.split()).lower()
            )
        if query.category:
            statement = statement.where(TrainingRecord.category == query.category)
        if query.expiring_within_days is not None:
            statement = statement.where(
                TrainingRecord.passed.is_(True),
                TrainingRecord.expires_on >= self.today,
                TrainingRecord.expires_on <= self.today + timedelta(days=query.expiring_within_days),
            )
        if query.expired is True:
            statement = statement.where(TrainingRecord.expires_on < self.today)
        elif query.expired is False:
            statement = statement.where(
                or_(TrainingRecord.expires_on.is_(None), TrainingRecord.expires_on >= self.today)
            )
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(
                TrainingRecord.completed_on.desc(), TrainingRecord.created_at.desc(), TrainingRecord.id
            )
            .limit(query.limit)
            .offset(query.offset)
        )
        return list(rows), int(total or 0)

    # --- required trainings ---------------------------------------------------------------------------

    async def list_required(self, job_type: str | None = None) -> list[RequiredTraining]:
        statement = select(RequiredTraining)
        if job_type:
            statement = statement.where(RequiredTraining.job_type.in_((job_type, ANY_JOB_TYPE)))
        rows = await self.session.scalars(
            statement.order_by(RequiredTraining.job_type, RequiredTraining.course)
        )
        return list(rows)

    async def require_training(
        self, current: CurrentUser, *, job_type: str, course: str, category: str
    ) -> RequiredTraining:
        if not current.sees_everything:
            raise Forbidden("required trainings are set by the quality department or a manager")
        if job_type != ANY_JOB_TYPE and job_type not in set(JobType):
            raise InvalidInput(f"unknown job type {job_type!r}", field="job_type")
        if category not in set(TrainingCategory):
            raise InvalidInput("category is technical or functional", field="category")
        course = clean_course(course)
        existing = await self.session.scalars(
            select(RequiredTraining).where(RequiredTraining.job_type == job_type)
        )
        if any(course_key(r.course) == course_key(course) for r in existing):
            raise Conflict(
                f"{job_type} jobs already require '{course}'", field="course", code="ALREADY_REQUIRED"
            )
        row = RequiredTraining(job_type=job_type, course=course, category=category)
        self.session.add(row)
        await self.session.flush()
        return row

    async def drop_requirement(self, current: CurrentUser, requirement_id: UUID) -> None:
        if not current.sees_everything:
            raise Forbidden("required trainings are set by the quality department or a manager")
        row = await self.session.get(RequiredTraining, requirement_id)
        if row is None:
            raise NotFound("no such required training", field="requirement_id")
        await self.session.delete(row)
        await self.session.flush()

    # --- the check and the matrix ---------------------------------------------------------------------

    async def check(self, current: CurrentUser, user_id: UUID, job_type: str, on: date | None) -> list[Gap]:
        if current.role == Role.technician and user_id != current.id:
            raise NotFound("no such user", field="user_id")
        user = await self.session.get(User, user_id)
        if user is None or not await self._may_see_user(current, user_id):
            raise NotFound("no such user", field="user_id")
        if job_type not in set(JobType):
            raise InvalidInput(f"unknown job type {job_type!r}", field="job_type")
        return await training_gaps(self.session, user_id, job_type, on or self.today, today=self.today)

    async def matrix(
        self,
        current: CurrentUser,
        *,
        job_type: str | None = None,
        team_id: UUID | None = None,
        expiring_within_days: int = DEFAULT_EXPIRING_DAYS,
        limit: int = 100,
        offset: int = 0,
    ) -> MatrixResult:
        """Active technicians in scope × the required courses (of ``job_type``, or all of them)."""
        if current.role == Role.technician:
            raise Forbidden("the training matrix is for supervisors and the quality department")
        requirements = await self.list_required(job_type)
        courses: dict[str, tuple[str, str, list[str]]] = {}
        for r in requirements:
            key = course_key(r.course)
            if key not in courses:
                courses[key] = (r.course, r.category, [])
            courses[key][2].append(r.job_type)
        people = select(User).where(User.role == Role.technician, User.is_active.is_(True))
        scope = await self.visible_user_ids(current)
        if scope is not None:
            people = people.where(User.id.in_(scope))
        if team_id is not None:
            people = people.where(User.team_id == team_id)
        total = await self.session.scalar(select(func.count()).select_from(people.subquery()))
        users = list(
            await self.session.scalars(people.order_by(User.username, User.id).limit(limit).offset(offset))
        )
        records = await _records_by_course(
            self.session, [u.id for u in users], [c[0] for c in courses.values()]
        )
        soon = self.today + timedelta(days=expiring_within_days)
        cells: dict[tuple[UUID, str], tuple[str, TrainingRecord | None]] = {}
        counts: dict[str, int] = {s: 0 for s in ("held", "expiring", "expired", "failed", "missing")}
        for user in users:
            for key in courses:
                state, record = standing(records.get((user.id, key), []), self.today)
                if state == "held" and record and record.expires_on is not None and record.expires_on <= soon:
                    state = "expiring"
                cells[(user.id, key)] = (state, record)
                counts[state] += 1
        return MatrixResult(
            on=self.today,
            expiring_within_days=expiring_within_days,
            courses=[courses[k] for k in courses],
            users=users,
            cells=cells,
            total=int(total or 0),
            counts=counts,
        )

    # --- rewards and penalties ------------------------------------------------------------------------

    async def award(
        self,
        current: CurrentUser,
        *,
        user_id: UUID,
        kind: str,
        points: int,
        amount: str | None,
        currency: str,
        reason: str,
        evidence_type: str,
        evidence_id: UUID | None,
    ) -> Incentive:
        if not current.sees_everything:
            raise Forbidden("rewards and penalties are recorded by the quality department or a manager")
        user = await self.session.get(User, user_id)
        if user is None:
            raise InvalidInput("no user with this id", field="user_id", code="UNKNOWN_USER")
        if kind not in set(IncentiveKind):
            raise InvalidInput("kind is reward or penalty", field="kind")
        cents = cents_from(amount)
        sign = 1 if kind == IncentiveKind.reward else -1
        if points * sign < 0:
            raise InvalidInput(
                f"a {kind}'s points are {'positive' if sign > 0 else 'negative'} (or 0)", field="points"
            )
        if cents is not None and cents * sign < 0:
            raise InvalidInput(
                f"a {kind}'s amount is {'positive' if sign > 0 else 'negative'} (or 0)", field="amount"
            )
        if points == 0 and not cents:
            raise InvalidInput("give points, an amount, or both", field="points")
        reason = reason.strip()
        if not reason:
            raise InvalidInput("say why", field="reason")
        await self._check_evidence(user, evidence_type, evidence_id)
        if evidence_id is not None:
            twice = await self.session.scalar(
                select(Incentive.id).where(
                    Incentive.user_id == user.id,
                    Incentive.kind == kind,
                    Incentive.evidence_type == evidence_type,
                    Incentive.evidence_id == evidence_id,
                    Incentive.voided_at.is_(None),
                )
            )
            if twice is not None:
                raise Conflict(
                    f"this evidence already backs a {kind} for this person (void it first to replace it)",
                    field="evidence_id",
                    code="ALREADY_AWARDED",
                )
        incentive = Incentive(
            user_id=user.id,
            kind=kind,
            points=points,
            amount_cents=cents,
            currency=currency,
            reason=reason,
            evidence_type=evidence_type,
            evidence_id=evidence_id,
            awarded_by_id=current.id,
        )
        self.session.add(incentive)
        await self.session.flush()
        return incentive

    async def _check_evidence(self, user: User, evidence_type: str, evidence_id: UUID | None) -> None:
        """The evidence exists and concerns ``user``; else 422 naming ``evidence_id`` and why."""
        if evidence_type not in set(IncentiveEvidence):
            raise InvalidInput("unknown evidence type", field="evidence_type")
        if evidence_type == IncentiveEvidence.other:
            if evidence_id is not None:
                raise InvalidInput(
                    "evidence of type 'other' has no record to link; describe it in the reason",
                    field="evidence_id",
                )
            return
        if evidence_id is None:
            raise InvalidInput(
                f"link the {evidence_type.replace('_', ' ')} this rests on",
                field="evidence_id",
                code="EVIDENCE_REQUIRED",
            )
        concerns: bool
        if evidence_type == IncentiveEvidence.evaluation:
            row = await self.session.get(Evaluation, evidence_id)
            concerns = row is not None and row.technician_id == user.id
            what = "an evaluation of"
        elif evidence_type == IncentiveEvidence.complaint:
            row = await self.session.get(Complaint, evidence_id)
            concerns = row is not None and row.technician_id == user.id
            what = "a complaint about"
        elif evidence_type == IncentiveEvidence.nonconformance:
            row = await self.session.get(Nonconformance, evidence_id)
            concerns = row is not None and user.id in (row.technician_id, row.owner_id)
            what = "a nonconformance caused or handled by"
        elif evidence_type == IncentiveEvidence.supervision:
            row = await self.session.get(SupervisionRecord, evidence_id)
            concerns = row is not None and row.technician_id == user.id
            what = "a supervision record of a job by"
        else:
            row = await self.session.get(Movement, evidence_id)
            if row is not None and row.condition != Condition.lost:
                raise InvalidInput(
                    "that inventory movement is not a loss (its condition is not 'lost')",
                    field="evidence_id",
                    code="EVIDENCE_MISMATCH",
                )
            concerns = row is not None and row.custodian_id == user.id
            what = "a loss from the custody of"
        if row is None:
            raise InvalidInput(
                f"no {evidence_type.replace('_', ' ')} with this id",
                field="evidence_id",
                code="EVIDENCE_NOT_FOUND",
            )
        if not concerns:
            raise InvalidInput(
                f"that {evidence_type.replace('_', ' ')} is not {what} {user.display_name}",
                field="evidence_id",
                code="EVIDENCE_MISMATCH",
            )

    async def void(self, current: CurrentUser, incentive_id: UUID, reason: str) -> Incentive:
        if not current.sees_everything:
            raise Forbidden("rewards and penalties are voided by the quality department or a manager")
        await begin_write(self.session)
        incentive = await self.session.get(Incentive, incentive_id, with_for_update=True)
        if incentive is None:
            raise NotFound("no such reward or penalty", field="incentive_id")
        if incentive.voided_at is not None:
            raise InvalidTransition("already voided", field="incentive_id", code="ALREADY_VOIDED")
        reason = reason.strip()
        if not reason:
            raise InvalidInput("say why it is voided", field="reason")
        incentive.voided_at = utcnow()
        incentive.voided_by_id = current.id
        incentive.void_reason = reason
        incentive.updated_at = incentive.voided_at
        await self.session.flush()
        return incentive

    async def list_incentives(
        self, current: CurrentUser, query: IncentiveFilter
    ) -> tuple[list[Incentive], int, list[IncentiveTotals]]:
        statement = select(Incentive)
        scope = await self.visible_user_ids(current)
        if scope is not None:
            statement = statement.where(Incentive.user_id.in_(scope))
        if query.user_id:
            statement = statement.where(Incentive.user_id == query.user_id)
        if query.kind:
            statement = statement.where(Incentive.kind == query.kind)
        if query.evidence_type:
            statement = statement.where(Incentive.evidence_type == query.evidence_type)
        if query.from_day:
            statement = statement.where(Incentive.awarded_at >= _start_of(query.from_day))
        if query.to_day:
            statement = statement.where(Incentive.awarded_at < _start_of(query.to_day + timedelta(days=1)))
        sums = await self.session.execute(
            select(
                Incentive.user_id,
                Incentive.currency,
                func.sum(Incentive.points),
                func.sum(Incentive.amount_cents),
                func.count(),
            )
            .where(
                Incentive.id.in_(
                    statement.where(Incentive.voided_at.is_(None)).with_only_columns(Incentive.id)
                )
            )
            .group_by(Incentive.user_id, Incentive.currency)
        )
        totals: dict[UUID, IncentiveTotals] = {}
        for user_id, currency, points, cents, count in sums:
            entry = totals.setdefault(user_id, IncentiveTotals(user_id))
            entry.points += int(points or 0)
            entry.records += int(count)
            if cents is not None:
                entry.cents[currency] = entry.cents.get(currency, 0) + int(cents)
        if not query.include_voided:
            statement = statement.where(Incentive.voided_at.is_(None))
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(Incentive.awarded_at.desc(), Incentive.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return list(rows), int(total or 0), sorted(totals.values(), key=lambda t: (-t.points, str(t.user_id)))

    async def names(self, user_ids: Iterable[UUID]) -> dict[UUID, str]:
        return await self._names(user_ids)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
