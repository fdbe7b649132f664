"""Quality indicators: the SQL, the definitions, the roll-ups. No HTTP here.

Definitions (the review report prints them as footnotes; keep both in step):

* **Period** ``[from, to)`` in UTC dates (``from`` included, ``to`` excluded); at most 3 years. The
  *previous period* is the period of the same length that ends at ``from``.
* **Group**: ``technician`` (the job's assignee; an evaluation's, complaint's, nonconformance's or
  callback's technician), ``team`` (the record's team), ``region`` (the region of the record's team,
  ``Team.region``: a team works one region, so this is the organisation's own split; the site's region is
  not used) or ``all``. Records without a technician (or team) are left out of the technician (team) rows
  but count in ``all``.
* **Trend** buckets: ``week`` (ISO weeks, starting Monday) or ``month``, labelled by their first day
  (``YYYY-MM-DD``) and bucketed in the database (``strftime``/``date`` on SQLite, ``date_trunc`` on
  PostgreSQL, both in UTC). A bucket cut by the period's edges holds only the part inside the period.
* **Jobs**: jobs approved (completed) in the period, by ``job.approved_at``; the denominator of the
  first-time-fix rate, of the response and completion times and of complaints per 100 jobs.
* **Satisfaction**: evaluations from the customer (sources ``signoff``, ``survey``, ``callback``) with
  ``evaluated_at`` in the period: average overall score (1–5), share of overall scores of 4 or 5, average
  technical and average service score (each over the evaluations that carry that score), and count.
* **Self-assessment gap**: over the technician's self-assessments (source ``self``) made in the period whose
  job has a customer evaluation (at any time): the average of self overall − the job's customer overall
  (the average of that job's customer evaluations). Positive: the technician rates themself higher than the
  customer does.
* **First-time fix**: of the approved repair jobs (type ``repair``), the share with no other job (not
  cancelled) whose ``origin_job_id`` points at them (a follow-up, rework or callback visit) and no repeat
  visit.
* **Repeat visit**: an approved repair job whose unit's next repair job (not cancelled; by creation time)
  was created within 30 days after the job's work was done (``work_done_at``, else ``approved_at``). For
  a job without a unit, the next repair job without a unit at the same site. Count and share of the
  approved repair jobs.
* **Response time**: ``arrived_at − created_at`` in hours, averaged over the approved jobs that have an
  arrival; on time: ``arrived_at ≤ respond_by``, as a share of the approved jobs with an arrival and a
  ``respond_by`` target. **Completion time**: ``work_done_at − created_at``; on time:
  ``work_done_at ≤ complete_by``, likewise.
* **Approval turnaround**: the average of ``approval.turnaround_seconds`` (submission to decision, approve
  or return) in hours, over the decisions taken in the period; grouped by the job.
* **Complaints** received in the period (``received_at``), and per 100 jobs (approved in the period).
* **Nonconformances**: opened = identified in the period and not a candidate or dismissed; overdue = not
  closed (nor candidate or dismissed) and ``due_at`` before now (a snapshot at the time of the request);
  closed = ``closed_at`` in the period, with the average days from identification to closing.
* **Callbacks**: due in the period (``due_at``; cancelled ones left out) and the share of them done on
  time (``done_at ≤ due_at``).
* **Training coverage** (a snapshot at the period's end): of the active technicians who had jobs approved
  in the period, the share holding every course required (``required_training``) for the job types they
  did in the period, passed, completed before the period's end and not expired at it (``expires_on`` on or
  after the last day of the period, or none). Technicians are grouped by their own team (``user.team_id``).
* **Spare shortages**: the inventory's open shortages now (``spare_shortage`` not closed): count and units
  short, by region (shown for the ``region`` and ``all`` groups only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Select,
    and_,
    case,
    exists,
    extract,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from backend.auth.models import Role, Team, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.errors import Forbidden, InvalidInput, NotFound
from backend.inventory.models import SpareShortage
from backend.jobs.models import Approval, Job, JobStatus, JobType
from backend.quality.models import (
    ActionStatus,
    Callback,
    CallbackStatus,
    Complaint,
    Evaluation,
    EvaluationSource,
    Incentive,
    Nonconformance,
    NonconformanceStatus,
    QualityAction,
    RequiredTraining,
    TrainingRecord,
)

MAX_PERIOD_DAYS = 3 * 366
REPEAT_WINDOW_DAYS = 30
GROUPS = ("technician", "team", "region", "all")
TRENDS = ("week", "month")
CUSTOMER_SOURCES = (EvaluationSource.signoff, EvaluationSource.survey, EvaluationSource.callback)
NOT_OPENED = (NonconformanceStatus.candidate, NonconformanceStatus.dismissed)
NOT_OPEN_NOW = (NonconformanceStatus.candidate, NonconformanceStatus.dismissed, NonconformanceStatus.closed)
ALL = "all"


class BadParameter(InvalidInput):
    """A query parameter the indicators cannot work with: 400, naming it."""

    status_code = 400


@dataclass(frozen=True)
class Indicator:
    name: str
    label: str
    unit: str  # count | score | points | % | hours | days | units
    better: str | None  # "up", "down" or None (neither direction is better)
    snapshot: bool = False  # a state at the period's end (or now), not a sum over the period


INDICATORS: tuple[Indicator, ...] = (
    Indicator("jobs", "Jobs approved", "count", None),
    Indicator("evaluations", "Customer evaluations", "count", None),
    Indicator("satisfaction_avg", "Satisfaction (average overall)", "score", "up"),
    Indicator("satisfaction_top2_share", "Satisfied (overall 4–5)", "%", "up"),
    Indicator("technical_avg", "Technical quality (average)", "score", "up"),
    Indicator("service_avg", "Service quality (average)", "score", "up"),
    Indicator("self_gap", "Self-assessment gap (self − customer)", "points", None),
    Indicator("repair_jobs", "Repair jobs approved", "count", None),
    Indicator("first_time_fix_share", "First-time fix", "%", "up"),
    Indicator("repeat_visits", "Repeat visits within 30 days", "count", "down"),
    Indicator("repeat_visit_share", "Repeat visit rate", "%", "down"),
    Indicator("response_avg_hours", "Response time (average)", "hours", "down"),
    Indicator("response_on_time_share", "Responded on time", "%", "up"),
    Indicator("completion_avg_hours", "Completion time (average)", "hours", "down"),
    Indicator("completion_on_time_share", "Completed on time", "%", "up"),
    Indicator("approval_turnaround_hours", "Approval turnaround (average)", "hours", "down"),
    Indicator("complaints", "Complaints received", "count", "down"),
    Indicator("complaints_per_100_jobs", "Complaints per 100 jobs", "per 100 jobs", "down"),
    Indicator("nc_opened", "Nonconformances opened", "count", "down"),
    Indicator("nc_overdue", "Nonconformances overdue now", "count", "down", snapshot=True),
    Indicator("nc_closed", "Nonconformances closed", "count", None),
    Indicator("nc_days_to_close", "Days to close a nonconformance", "days", "down"),
    Indicator("callbacks_due", "Callbacks due", "count", None),
    Indicator("callbacks_on_time_share", "Callbacks done on time", "%", "up"),
    Indicator("training_coverage_share", "Training coverage", "%", "up", snapshot=True),
    Indicator("spare_shortages", "Open spare shortages", "count", "down", snapshot=True),
    Indicator("spare_units_short", "Spare units short", "units", "down", snapshot=True),
)
INDICATOR_BY_NAME = {i.name: i for i in INDICATORS}
TREND_INDICATORS = tuple(i.name for i in INDICATORS if not i.snapshot)


# --------------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC dates."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        return Period(self.start - timedelta(days=self.days), self.start)


def make_period(start: date | None, end: date | None, *, today: date | None = None) -> Period:
    """The period asked for: ``to`` defaults to tomorrow (today included), ``from`` to 30 days
    before ``to``."""
    today = today or datetime.now(UTC).date()
    end = end or today + timedelta(days=1)
    start = start or end - timedelta(days=30)
    if start >= end:
        raise BadParameter("from must be a date before to (the period is [from, to))", field="from")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise BadParameter(f"the period may be at most 3 years ({MAX_PERIOD_DAYS} days)", field="to")
    return Period(start, end)


def check_group(group: str) -> str:
    if group not in GROUPS:
        raise BadParameter(f"group must be one of {', '.join(GROUPS)}", field="group")
    return group


def check_trend(trend: str | None) -> str | None:
    if trend is not None and trend not in TRENDS:
        raise BadParameter(f"trend must be one of {', '.join(TRENDS)}", field="trend")
    return trend


def bucket_start(day: date, trend: str) -> date:
    if trend == "month":
        return day.replace(day=1)
    if trend == "week":
        return day - timedelta(days=day.weekday())
    return day


def next_bucket(start: date, trend: str) -> date:
    if trend == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    if trend == "week":
        return start + timedelta(days=7)
    return start + timedelta(days=1)


def buckets_between(period: Period, trend: str) -> list[date]:
    """Every bucket that overlaps the period, in order."""
    out, current = [], bucket_start(period.start, trend)
    while current < period.end:
        out.append(current)
        current = next_bucket(current, trend)
    return out


# --------------------------------------------------------------------------------------------------
# Dialect helpers


def bucket_expr(dialect: str, column: Any, trend: str | None) -> ColumnElement[Any]:
    """The first day (``YYYY-MM-DD``, UTC) of the day, week (Monday) or month ``column`` falls in; a
    constant when there is no trend."""
    if trend is None:
        return literal("")
    if dialect == "postgresql":
        unit = {"day": "day", "week": "week", "month": "month"}[trend]
        # A timestamp (formatted in Python: ``to_char`` per row costs more than the grouping).
        return func.date_trunc(unit, func.timezone("UTC", column))
    if trend == "month":
        return func.strftime("%Y-%m-01", column)
    if trend == "week":
        # 'weekday 0' moves forward to the next Sunday (or stays on one); six days back is its Monday.
        return func.date(column, "weekday 0", "-6 days")
    return func.date(column)


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return extract("epoch", later) - extract("epoch", earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


@dataclass(frozen=True)
class Redo:
    """Whether an approved job had to be done again, as two subqueries to outer-join to ``job`` (a window
    over the repair jobs and a set of continued jobs: one pass each, instead of a correlated lookup per job).

    * ``repeat``: the next repair job (not cancelled) at the same place (the unit; for a job without a unit,
      the site's jobs without a unit), by creation, was created within 30 days after this job's work was
      done (``work_done_at``, else ``approved_at``);
    * ``redone``: ``repeat``, or another job (not cancelled) continues this one (``origin_job_id``: a
      follow-up, rework or callback visit)."""

    next_repair: Any
    continued: Any
    repeat: ColumnElement[bool]
    redone: ColumnElement[bool]

    def join(self, stmt: Select) -> Select:
        return stmt.outerjoin(self.next_repair, self.next_repair.c.job_id == Job.id).outerjoin(
            self.continued, self.continued.c.origin_id == Job.id
        )


def redo_for(dialect: str, period: Period) -> Redo:
    r = aliased(Job, name="r")
    place = func.coalesce(r.unit_id, r.site_id)
    next_at = func.lead(r.created_at).over(partition_by=place, order_by=(r.created_at, r.id))
    next_repair = (
        select(r.id.label("job_id"), type_coerce(next_at, DateTimeUTC()).label("next_at"))
        .where(
            r.type == JobType.repair,
            r.status != JobStatus.cancelled,
            r.created_at < period.end_at + timedelta(days=REPEAT_WINDOW_DAYS),
        )
        .subquery("next_repair")
    )
    f = aliased(Job, name="f")
    continued = (
        select(f.origin_job_id.label("origin_id"))
        .where(f.origin_job_id.is_not(None), f.status != JobStatus.cancelled)
        .group_by(f.origin_job_id)
        .subquery("continued")
    )
    base = func.coalesce(Job.work_done_at, Job.approved_at)
    repeat = and_(
        next_repair.c.next_at.is_not(None),
        next_repair.c.next_at > base,
        seconds_between(dialect, next_repair.c.next_at, base) <= REPEAT_WINDOW_DAYS * 86400,
    )
    return Redo(next_repair, continued, repeat, or_(continued.c.origin_id.is_not(None), repeat))


# --------------------------------------------------------------------------------------------------
# Components: additive sums and counts per (key, bucket); the indicators are ratios of them, so the
# period's values, the trend's and any roll-up (teams → region → all) come from the same numbers.

Components = dict[str, float]


def _add(target: Components, source: Components) -> None:
    for name, value in source.items():
        target[name] = target.get(name, 0) + (value or 0)


def _ratio(num: float | None, den: float | None, scale: float = 1.0, digits: int = 3) -> float | None:
    if not den:
        return None
    return round((num or 0) * scale / den, digits)


def finish(c: Components, *, snapshots: bool = True) -> dict[str, float | int | None]:
    """The indicator values from their components."""
    g = c.get
    values: dict[str, float | int | None] = {
        "jobs": int(g("jobs", 0)),
        "evaluations": int(g("eval_n", 0)),
        "satisfaction_avg": _ratio(g("overall_sum"), g("overall_n")),
        "satisfaction_top2_share": _ratio(g("top2"), g("overall_n"), 100, 2),
        "technical_avg": _ratio(g("technical_sum"), g("technical_n")),
        "service_avg": _ratio(g("service_sum"), g("service_n")),
        "self_gap": _ratio(g("gap_sum"), g("gap_n")),
        "repair_jobs": int(g("repair_n", 0)),
        "first_time_fix_share": _ratio(g("repair_n", 0) - g("repair_redone", 0), g("repair_n"), 100, 2),
        "repeat_visits": int(g("repeat_n", 0)),
        "repeat_visit_share": _ratio(g("repeat_n"), g("repair_n"), 100, 2),
        "response_avg_hours": _ratio(g("response_s"), g("response_n"), 1 / 3600, 2),
        "response_on_time_share": _ratio(g("response_on_time"), g("response_target_n"), 100, 2),
        "completion_avg_hours": _ratio(g("completion_s"), g("completion_n"), 1 / 3600, 2),
        "completion_on_time_share": _ratio(g("completion_on_time"), g("completion_target_n"), 100, 2),
        "approval_turnaround_hours": _ratio(g("approval_s"), g("approval_n"), 1 / 3600, 2),
        "complaints": int(g("complaints", 0)),
        "complaints_per_100_jobs": _ratio(g("complaints"), g("jobs"), 100, 2),
        "nc_opened": int(g("nc_opened", 0)),
        "nc_closed": int(g("nc_closed", 0)),
        "nc_days_to_close": _ratio(g("nc_close_s"), g("nc_closed"), 1 / 86400, 2),
        "callbacks_due": int(g("callbacks_due", 0)),
        "callbacks_on_time_share": _ratio(g("callbacks_on_time"), g("callbacks_due"), 100, 2),
    }
    if snapshots:
        values["nc_overdue"] = int(g("nc_overdue", 0))
        values["training_coverage_share"] = _ratio(g("trained"), g("training_n"), 100, 2)
        values["spare_shortages"] = int(g("shortages")) if "shortages" in c else None
        values["spare_units_short"] = int(g("units_short")) if "units_short" in c else None
    return {i.name: values[i.name] for i in INDICATORS if i.name in values}


@dataclass(frozen=True)
class Scope:
    """What the caller may see: every team (``team_ids`` None) or some; one technician or all."""

    team_ids: frozenset[UUID] | None = None
    technician_id: UUID | None = None


@dataclass
class Raw:
    """Components by SQL key (a technician's or a team's id, None for records without one) and bucket,
    and the snapshot components by key; shortages by region."""

    by_key: dict[Any, dict[str, Components]] = field(default_factory=lambda: defaultdict(dict))
    snapshot: dict[Any, Components] = field(default_factory=lambda: defaultdict(dict))
    shortages: dict[str, Components] = field(default_factory=dict)

    def put(self, key: Any, bucket: Any, values: dict[str, Any]) -> None:
        _add(self.by_key[key].setdefault(bucket_label(bucket), {}), values)


def bucket_label(bucket: Any) -> str:
    """``YYYY-MM-DD`` from a bucket as the database returns it (a string on SQLite, a timestamp on
    PostgreSQL), or "" without a trend."""
    if not bucket:
        return ""
    if isinstance(bucket, datetime | date):
        return bucket.isoformat()[:10]
    return str(bucket)[:10]


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _num(value: Any) -> float:
    return float(value) if value is not None else 0.0


class IndicatorQueries:
    """The aggregate queries. Each one groups by (key, bucket) in the database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialect = _dialect(session)

    def _key(self, by: str, tech_col: Any, team_col: Any) -> Any:
        return tech_col if by == "technician" else team_col

    def _scoped(self, stmt: Select, scope: Scope, tech_col: Any, team_col: Any) -> Select:
        if scope.team_ids is not None:
            stmt = stmt.where(team_col.in_(scope.team_ids))
        if scope.technician_id is not None:
            stmt = stmt.where(tech_col == scope.technician_id)
        return stmt

    async def tune(self) -> None:
        """PostgreSQL settings for these aggregates, for this transaction only: no JIT (the planner prices
        the window and subqueries high enough to JIT-compile, ~0.7 s per statement against ~40 ms of
        execution over 10,000 jobs), room to sort and hash ~100,000 rows in memory (the default 4 MB
        spills the GROUP BY to disk) and a plan for each statement's own parameters."""
        if self.dialect == "postgresql":
            await self.session.execute(text("SET LOCAL jit = off"))
            await self.session.execute(text("SET LOCAL work_mem = '64MB'"))
            # The driver prepares statements; after five runs PostgreSQL may switch to a generic plan,
            # which for the window and outer joins here went from 0.2 s to 110 s in the benchmark.
            await self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def collect(
        self,
        period: Period,
        by: str,
        trend: str | None,
        scope: Scope,
        *,
        sums: bool = True,
        snapshots: bool = True,
    ) -> Raw:
        """Components over ``period`` keyed by technician (``by="technician"``) or team, in ``trend``
        buckets (``day`` too); ``snapshots`` adds the overdue NCs, training coverage and shortages."""
        await self.tune()
        raw = Raw()
        if sums:
            await self._jobs(raw, period, by, trend, scope)
            await self._evaluations(raw, period, by, trend, scope)
            await self._self_gap(raw, period, by, trend, scope)
            await self._approvals(raw, period, by, trend, scope)
            await self._complaints(raw, period, by, trend, scope)
            await self._nonconformances(raw, period, by, trend, scope)
            await self._callbacks(raw, period, by, trend, scope)
        if snapshots:
            await self._overdue(raw, by, scope)
            await self._training(raw, period, by, scope)
            await self._shortages(raw, scope)
        return raw

    async def _rows(self, stmt: Select) -> Iterable[Any]:
        return (await self.session.execute(stmt)).all()

    async def _jobs(self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope) -> None:
        d = self.dialect
        redo = redo_for(d, period)
        is_repair = Job.type == JobType.repair
        response = seconds_between(d, Job.arrived_at, Job.created_at)
        completion = seconds_between(d, Job.work_done_at, Job.created_at)
        key = self._key(by, Job.assignee_id, Job.team_id)
        bucket = bucket_expr(d, Job.approved_at, trend)

        def one_if(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        stmt = select(
            key,
            bucket,
            func.count(),
            one_if(is_repair),
            one_if(and_(is_repair, redo.redone)),
            one_if(and_(is_repair, redo.repeat)),
            func.count(Job.arrived_at),
            func.sum(case((Job.arrived_at.is_not(None), response))),
            one_if(and_(Job.arrived_at.is_not(None), Job.respond_by.is_not(None))),
            one_if(Job.arrived_at <= Job.respond_by),
            func.count(Job.work_done_at),
            func.sum(case((Job.work_done_at.is_not(None), completion))),
            one_if(and_(Job.work_done_at.is_not(None), Job.complete_by.is_not(None))),
            one_if(Job.work_done_at <= Job.complete_by),
        ).where(
            Job.status == JobStatus.approved,
            Job.approved_at >= period.start_at,
            Job.approved_at < period.end_at,
        )
        stmt = redo.join(stmt.select_from(Job))
        stmt = self._scoped(stmt, scope, Job.assignee_id, Job.team_id).group_by(key, bucket)
        names = (
            "jobs repair_n repair_redone repeat_n response_n response_s response_target_n response_on_time "
            "completion_n completion_s completion_target_n completion_on_time"
        ).split()
        for row in await self._rows(stmt):
            raw.put(row[0], row[1], {n: _num(v) for n, v in zip(names, row[2:], strict=True)})

    async def _evaluations(self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope) -> None:
        e = Evaluation
        key = self._key(by, e.technician_id, e.team_id)
        bucket = bucket_expr(self.dialect, e.evaluated_at, trend)
        stmt = select(
            key,
            bucket,
            func.count(),
            func.sum(e.overall),
            func.count(e.overall),
            func.sum(case((e.overall >= 4, 1), else_=0)),
            func.sum(e.technical),
            func.count(e.technical),
            func.sum(e.service),
            func.count(e.service),
        ).where(
            e.source.in_([str(s) for s in CUSTOMER_SOURCES]),
            e.evaluated_at >= period.start_at,
            e.evaluated_at < period.end_at,
        )
        stmt = self._scoped(stmt, scope, e.technician_id, e.team_id).group_by(key, bucket)
        names = "eval_n overall_sum overall_n top2 technical_sum technical_n service_sum service_n".split()
        for row in await self._rows(stmt):
            raw.put(row[0], row[1], {n: _num(v) for n, v in zip(names, row[2:], strict=True)})

    async def _self_gap(self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope) -> None:
        s = aliased(Evaluation, name="self_eval")
        c = aliased(Evaluation, name="customer_eval")
        assessed = aliased(Evaluation, name="assessed")
        assessed_jobs = select(assessed.job_id).where(
            assessed.source == EvaluationSource.self,
            assessed.evaluated_at >= period.start_at,
            assessed.evaluated_at < period.end_at,
        )
        customer = (
            select(c.job_id.label("job_id"), func.avg(c.overall).label("overall"))
            .where(
                c.source.in_([str(x) for x in CUSTOMER_SOURCES]),
                c.overall.is_not(None),
                c.job_id.in_(assessed_jobs),  # only the jobs that have a self-assessment in the period
            )
            .group_by(c.job_id)
            .subquery("customer")
        )
        key = self._key(by, s.technician_id, s.team_id)
        bucket = bucket_expr(self.dialect, s.evaluated_at, trend)
        stmt = (
            select(key, bucket, func.sum(s.overall - customer.c.overall), func.count())
            .join(customer, customer.c.job_id == s.job_id)
            .where(
                s.source == EvaluationSource.self,
                s.overall.is_not(None),
                s.evaluated_at >= period.start_at,
                s.evaluated_at < period.end_at,
            )
        )
        stmt = self._scoped(stmt, scope, s.technician_id, s.team_id).group_by(key, bucket)
        for row in await self._rows(stmt):
            raw.put(row[0], row[1], {"gap_sum": _num(row[2]), "gap_n": _num(row[3])})

    async def _approvals(self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope) -> None:
        key = self._key(by, Job.assignee_id, Job.team_id)
        bucket = bucket_expr(self.dialect, Approval.decided_at, trend)
        stmt = (
            select(key, bucket, func.count(), func.sum(Approval.turnaround_seconds))
            .join(Job, Job.id == Approval.job_id)
            .where(
                Approval.turnaround_seconds.is_not(None),
                Approval.decided_at >= period.start_at,
                Approval.decided_at < period.end_at,
            )
        )
        stmt = self._scoped(stmt, scope, Job.assignee_id, Job.team_id).group_by(key, bucket)
        for row in await self._rows(stmt):
            raw.put(row[0], row[1], {"approval_n": _num(row[2]), "approval_s": _num(row[3])})

    async def _complaints(self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope) -> None:
        c = Complaint
        key = self._key(by, c.technician_id, c.team_id)
        bucket = bucket_expr(self.dialect, c.received_at, trend)
        stmt = select(key, bucket, func.count()).where(
            c.received_at >= period.start_at, c.received_at < period.end_at
        )
        stmt = self._scoped(stmt, scope, c.technician_id, c.team_id).group_by(key, bucket)
        for row in await self._rows(stmt):
            raw.put(row[0], row[1], {"complaints": _num(row[2])})

    async def _nonconformances(
        self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope
    ) -> None:
        n = Nonconformance
        key = self._key(by, n.technician_id, n.team_id)
        bucket = bucket_expr(self.dialect, n.identified_at, trend)
        opened = select(key, bucket, func.count()).where(
            n.identified_at >= period.start_at,
            n.identified_at < period.end_at,
            n.status.not_in([str(s) for s in NOT_OPENED]),
        )
        opened = self._scoped(opened, scope, n.technician_id, n.team_id).group_by(key, bucket)
        for row in await self._rows(opened):
            raw.put(row[0], row[1], {"nc_opened": _num(row[2])})
        closed_bucket = bucket_expr(self.dialect, n.closed_at, trend)
        closed = select(
            key,
            closed_bucket,
            func.count(),
            func.sum(seconds_between(self.dialect, n.closed_at, n.identified_at)),
        ).where(n.closed_at >= period.start_at, n.closed_at < period.end_at)
        closed = self._scoped(closed, scope, n.technician_id, n.team_id).group_by(key, closed_bucket)
        for row in await self._rows(closed):
            raw.put(row[0], row[1], {"nc_closed": _num(row[2]), "nc_close_s": _num(row[3])})

    async def _callbacks(self, raw: Raw, period: Period, by: str, trend: str | None, scope: Scope) -> None:
        c = Callback
        key = self._key(by, c.technician_id, c.team_id)
        bucket = bucket_expr(self.dialect, c.due_at, trend)
        on_time = and_(c.status == CallbackStatus.done, c.done_at <= c.due_at)
        stmt = select(key, bucket, func.count(), func.sum(case((on_time, 1), else_=0))).where(
            c.due_at >= period.start_at, c.due_at < period.end_at, c.status != CallbackStatus.cancelled
        )
        stmt = self._scoped(stmt, scope, c.technician_id, c.team_id).group_by(key, bucket)
        for row in await self._rows(stmt):
            raw.put(row[0], row[1], {"callbacks_due": _num(row[2]), "callbacks_on_time": _num(row[3])})

    async def _overdue(self, raw: Raw, by: str, scope: Scope) -> None:
        n = Nonconformance
        key = self._key(by, n.technician_id, n.team_id)
        stmt = select(key, func.count()).where(
            n.status.not_in([str(s) for s in NOT_OPEN_NOW]), n.due_at < datetime.now(UTC)
        )
        stmt = self._scoped(stmt, scope, n.technician_id, n.team_id).group_by(key)
        for row in await self._rows(stmt):
            _add(raw.snapshot[row[0]], {"nc_overdue": _num(row[1])})

    async def _training(self, raw: Raw, period: Period, by: str, scope: Scope) -> None:
        last_day = period.end - timedelta(days=1)
        did = (
            select(Job.assignee_id.label("user_id"), Job.type.label("type"))
            .where(
                Job.status == JobStatus.approved,
                Job.approved_at >= period.start_at,
                Job.approved_at < period.end_at,
                Job.assignee_id.is_not(None),
            )
            .distinct()
            .subquery("did")
        )
        held = exists().where(
            TrainingRecord.user_id == did.c.user_id,
            TrainingRecord.course == RequiredTraining.course,
            TrainingRecord.passed.is_(True),
            TrainingRecord.completed_on < period.end,
            or_(TrainingRecord.expires_on.is_(None), TrainingRecord.expires_on >= last_day),
        )
        missing = (
            select(
                did.c.user_id,
                func.sum(case((and_(RequiredTraining.id.is_not(None), not_(held)), 1), else_=0)),
            )
            .select_from(did)
            .outerjoin(RequiredTraining, RequiredTraining.job_type == did.c.type)
            .group_by(did.c.user_id)
            .subquery("missing")
        )
        key = User.id if by == "technician" else User.team_id
        stmt = (
            select(key, func.count(), func.sum(case((missing.c[1] == 0, 1), else_=0)))
            .join(missing, missing.c.user_id == User.id)
            .where(User.role == Role.technician, User.is_active.is_(True))
        )
        stmt = self._scoped(stmt, scope, User.id, User.team_id).group_by(key)
        for row in await self._rows(stmt):
            _add(raw.snapshot[row[0]], {"training_n": _num(row[1]), "trained": _num(row[2])})

    async def _shortages(self, raw: Raw, scope: Scope) -> None:
        stmt = (
            select(SpareShortage.region, func.count(), func.sum(SpareShortage.shortage))
            .where(SpareShortage.closed_at.is_(None))
            .group_by(SpareShortage.region)
        )
        if scope.team_ids is not None:
            regions = select(Team.region).where(Team.id.in_(scope.team_ids))
            stmt = stmt.where(SpareShortage.region.in_(regions))
        for region, count, units in await self._rows(stmt):
            raw.shortages[region] = {"shortages": _num(count), "units_short": _num(units)}


# --------------------------------------------------------------------------------------------------
# Roll-ups and labels


@dataclass
class Grouped:
    """Components per output group key: the period total, per bucket, and the labels."""

    totals: dict[str, Components]
    buckets: dict[str, dict[str, Components]]
    labels: dict[str, str]


async def _teams(session: AsyncSession) -> dict[UUID, Team]:
    return {t.id: t for t in (await session.execute(select(Team))).scalars()}


def _region_label(region: str) -> str:
    return region or "(no region)"


async def group_raw(session: AsyncSession, raw: Raw, group: str, by: str) -> Grouped:
    """Turn SQL keys into output groups: technicians and teams as they are (records without one are left
    out), regions and ``all`` by adding up the teams."""
    totals: dict[str, Components] = defaultdict(dict)
    buckets: dict[str, dict[str, Components]] = defaultdict(lambda: defaultdict(dict))
    teams = await _teams(session) if group in ("region", "team") else {}
    labels: dict[str, str] = {}

    def out_key(sql_key: Any) -> str | None:
        if group == ALL:
            return ALL
        if sql_key is None:
            return None
        if group == "region":
            team = teams.get(sql_key)
            return team.region if team else ""
        return str(sql_key)

    for sql_key, per_bucket in raw.by_key.items():
        key = out_key(sql_key)
        if key is None:
            continue
        for bucket, comps in per_bucket.items():
            _add(totals[key], comps)
            if bucket:
                _add(buckets[key][bucket], comps)
    for sql_key, comps in raw.snapshot.items():
        key = out_key(sql_key)
        if key is not None:
            _add(totals[key], comps)
    if group == "region":
        for region, comps in raw.shortages.items():
            _add(totals[region], comps)
    elif group == ALL:
        totals[ALL].setdefault("shortages", 0)
        totals[ALL].setdefault("units_short", 0)
        for comps in raw.shortages.values():
            _add(totals[ALL], comps)
    # Labels
    if group == ALL:
        labels[ALL] = "All"
    elif group == "region":
        labels = {k: _region_label(k) for k in totals}
    elif group == "team":
        labels = {str(t.id): t.name for t in teams.values()}
    else:
        ids = [UUID(k) for k in totals]
        if ids:
            rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
            labels = {str(uid): name for uid, name in rows}
    return Grouped(dict(totals), {k: dict(v) for k, v in buckets.items()}, labels)


# --------------------------------------------------------------------------------------------------
# The service


@dataclass
class IndicatorRow:
    key: str
    label: str
    values: dict[str, float | int | None]
    trend: list[tuple[str, dict[str, float | int | None]]]


@dataclass
class IndicatorResult:
    period: Period
    group: str
    trend: str | None
    rows: list[IndicatorRow]


@dataclass
class Review:
    period: Period
    previous: Period
    trend: str
    generated_at: datetime
    headline: dict[str, float | int | None]
    headline_previous: dict[str, float | int | None]
    trend_points: list[tuple[str, dict[str, float | int | None]]]
    groups: list[tuple[str, str, dict[str, Any], dict[str, Any]]]  # kind, label, current, previous
    worst_sites: list[dict[str, Any]]
    worst_models: list[dict[str, Any]]
    open_actions: list[dict[str, Any]]
    nc_ages: list[tuple[str, int]]
    nc_open_by_status: list[tuple[str, int]]


class IndicatorService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.queries = IndicatorQueries(session)

    async def scope_for(self, current: CurrentUser) -> Scope:
        if current.sees_everything:
            return Scope()
        if current.role == Role.supervisor:
            return Scope(team_ids=frozenset(await led_team_ids(self.session, current.id)))
        raise Forbidden("indicators are for supervisors, the quality department and managers")

    async def indicators(
        self, current: CurrentUser, period: Period, group: str, trend: str | None
    ) -> IndicatorResult:
        check_group(group)
        check_trend(trend)
        scope = await self.scope_for(current)
        by = "technician" if group == "technician" else "team"
        raw = await self.queries.collect(period, by, trend, scope)
        grouped = await group_raw(self.session, raw, group, by)
        return IndicatorResult(period, group, trend, self._rows(grouped, period, trend))

    def _rows(self, grouped: Grouped, period: Period, trend: str | None) -> list[IndicatorRow]:
        rows = []
        series = buckets_between(period, trend) if trend else []
        for key, comps in grouped.totals.items():
            per_bucket = grouped.buckets.get(key, {})
            points = [
                (b.isoformat(), finish(per_bucket.get(b.isoformat(), {}), snapshots=False)) for b in series
            ]
            rows.append(IndicatorRow(key, grouped.labels.get(key, key), finish(comps), points))
        rows.sort(key=lambda r: (r.label.lower(), r.key))
        return rows

    # --- scorecards ---------------------------------------------------------------------------------

    async def scorecard(self, current: CurrentUser, user_id: UUID, period: Period) -> dict[str, Any]:
        technician = await self.session.get(User, user_id)
        if technician is None or technician.role != Role.technician:
            raise NotFound("no technician with this id", field="user_id")
        if current.role == Role.technician and current.id != user_id:
            raise Forbidden("a technician sees only their own scorecard", field="user_id")
        if current.role == Role.supervisor:
            led = await led_team_ids(self.session, current.id)
            if technician.team_id not in led:
                raise NotFound("no technician with this id in your teams", field="user_id")
        team = await self.session.get(Team, technician.team_id) if technician.team_id else None
        mine = Scope(technician_id=user_id)
        previous = period.previous()

        async def values(p: Period, scope: Scope, by: str, key: Any) -> dict[str, Any]:
            raw = await self.queries.collect(p, by, None, scope)
            comps: Components = {}
            for comps_by_bucket in [raw.by_key.get(key, {})]:
                for part in comps_by_bucket.values():
                    _add(comps, part)
            _add(comps, raw.snapshot.get(key, {}))
            out = finish(comps)
            out.pop("spare_shortages", None)
            out.pop("spare_units_short", None)
            return out

        current_values = await values(period, mine, "technician", user_id)
        previous_values = await values(previous, mine, "technician", user_id)
        team_values = (
            await values(period, Scope(team_ids=frozenset({team.id})), "team", team.id) if team else {}
        )
        return {
            "technician": {
                "id": technician.id,
                "username": technician.username,
                "display_name": technician.display_name,
                "team_id": technician.team_id,
                "team_name": team.name if team else None,
                "region": team.region if team else None,
            },
            "period": period,
            "previous": previous,
            "current": current_values,
            "previous_values": previous_values,
            "team": team_values,
            "incentives": await self._incentives(user_id, period),
            "trainings": await self._trainings(user_id),
            "open_nonconformances": await self._open_ncs(user_id),
            "recent_complaints": await self._complaints_about(user_id, period),
        }

    async def _incentives(self, user_id: UUID, period: Period) -> dict[str, int]:
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(Incentive.points), 0),
                    func.coalesce(func.sum(case((Incentive.kind == "reward", Incentive.points), else_=0)), 0),
                    func.coalesce(
                        func.sum(case((Incentive.kind == "penalty", Incentive.points), else_=0)), 0
                    ),
                ).where(
                    Incentive.user_id == user_id,
                    Incentive.voided_at.is_(None),  # a voided reward or penalty leaves the totals
                    Incentive.awarded_at >= period.start_at,
                    Incentive.awarded_at < period.end_at,
                )
            )
        ).one()
        return {
            "count": int(row[0]),
            "points": int(row[1]),
            "reward_points": int(row[2]),
            "penalty_points": int(row[3]),
        }

    async def _trainings(self, user_id: UUID) -> list[dict[str, Any]]:
        today = datetime.now(UTC).date()
        rows = (
            await self.session.execute(
                select(TrainingRecord)
                .where(TrainingRecord.user_id == user_id)
                .order_by(TrainingRecord.completed_on.desc())
                .limit(100)
            )
        ).scalars()
        out = []
        for t in rows:
            expired = t.expires_on is not None and t.expires_on < today
            out.append(
                {
                    "course": t.course,
                    "category": t.category,
                    "completed_on": t.completed_on,
                    "expires_on": t.expires_on,
                    "passed": t.passed,
                    "held": t.passed and not expired,
                    "expiring_within_30_days": t.passed
                    and not expired
                    and t.expires_on is not None
                    and t.expires_on <= today + timedelta(days=30),
                }
            )
        return out

    async def _open_ncs(self, user_id: UUID) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        rows = (
            await self.session.execute(
                select(Nonconformance)
                .where(
                    Nonconformance.technician_id == user_id,
                    Nonconformance.status.not_in([str(s) for s in NOT_OPEN_NOW]),
                )
                .order_by(Nonconformance.identified_at)
                .limit(100)
            )
        ).scalars()
        return [
            {
                "id": n.id,
                "number": n.number,
                "title": n.title,
                "status": n.status,
                "severity": n.severity,
                "identified_at": n.identified_at,
                "due_at": n.due_at,
                "overdue": n.due_at is not None and n.due_at < now,
            }
            for n in rows
        ]

    async def _complaints_about(self, user_id: UUID, period: Period) -> list[dict[str, Any]]:
        rows = (
            await self.session.execute(
                select(Complaint)
                .where(
                    Complaint.technician_id == user_id,
                    Complaint.received_at >= period.start_at,
                    Complaint.received_at < period.end_at,
                )
                .order_by(Complaint.received_at.desc())
                .limit(20)
            )
        ).scalars()
        return [
            {
                "id": c.id,
                "number": c.number,
                "summary": c.summary,
                "severity": c.severity,
                "status": c.status,
                "received_at": c.received_at,
            }
            for c in rows
        ]

    # --- the management review -------------------------------------------------------------------------

    async def review(self, current: CurrentUser, period: Period, *, buckets: int = 12) -> Review:
        """The period against the previous one, the last ``buckets`` months, worst sites and models, open
        actions and nonconformances by age. One pass of the indicator queries, bucketed by day over the
        span that covers the previous period and the trend, rolled up here."""
        if not current.sees_everything:
            raise Forbidden("the management review is for the quality department and managers")
        trend = "month"
        previous = period.previous()
        trend_start = bucket_start(period.end - timedelta(days=1), trend)
        for _ in range(buckets - 1):
            trend_start = bucket_start(trend_start - timedelta(days=1), trend)
        span = Period(min(previous.start, trend_start), period.end)
        raw = await self.queries.collect(span, "team", "day", Scope(), snapshots=False)
        snap = await self.queries.collect(period, "team", None, Scope(), sums=False)
        teams = await _teams(self.session)

        def total(p: Period, key_filter: Any = None) -> Components:
            out: Components = {}
            start, end = p.start.isoformat(), p.end.isoformat()
            for sql_key, per_day in raw.by_key.items():
                if key_filter is not None and not key_filter(sql_key):
                    continue
                for day, comps in per_day.items():
                    if start <= day < end:
                        _add(out, comps)
            return out

        def with_snapshots(comps: Components, key_filter: Any, regions: Iterable[str]) -> Components:
            comps = dict(comps)
            for sql_key, s in snap.snapshot.items():
                if key_filter is None or key_filter(sql_key):
                    _add(comps, s)
            comps.setdefault("shortages", 0)
            comps.setdefault("units_short", 0)
            for region in regions:
                _add(comps, snap.shortages.get(region, {}))
            return comps

        all_regions = list(snap.shortages)
        headline = finish(with_snapshots(total(period), None, all_regions))
        headline_previous = finish(total(previous), snapshots=False)
        trend_points = []
        for b in buckets_between(Period(trend_start, period.end), trend):
            end = min(next_bucket(b, trend), period.end)
            trend_points.append((b.isoformat(), finish(total(Period(b, end)), snapshots=False)))

        groups: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
            ("all", "All", headline, headline_previous)
        ]
        regions = sorted({t.region for t in teams.values()})
        for region in regions:
            ids = {tid for tid, t in teams.items() if t.region == region}

            def in_region(k: Any, ids: set = ids) -> bool:
                return k in ids

            groups.append(
                (
                    "region",
                    _region_label(region),
                    finish(with_snapshots(total(period, in_region), in_region, [region])),
                    finish(total(previous, in_region), snapshots=False),
                )
            )
        for tid, t in sorted(teams.items(), key=lambda kv: kv[1].name):

            def is_team(k: Any, tid: UUID = tid) -> bool:
                return k == tid

            current_values = finish(with_snapshots(total(period, is_team), is_team, []), snapshots=True)
            current_values["spare_shortages"] = current_values["spare_units_short"] = None
            groups.append(("team", t.name, current_values, finish(total(previous, is_team), snapshots=False)))

        worst_sites, worst_models = await self.worst(period)
        return Review(
            period=period,
            previous=previous,
            trend=trend,
            generated_at=datetime.now(UTC),
            headline=headline,
            headline_previous=headline_previous,
            trend_points=trend_points,
            groups=groups,
            worst_sites=worst_sites,
            worst_models=worst_models,
            open_actions=await self.open_actions(),
            nc_ages=await self.nc_ages(),
            nc_open_by_status=await self.nc_by_status(),
        )

    async def worst(
        self, period: Period, limit: int = 10
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The worst sites and the worst unit models of the period, from one pass over its approved jobs
        grouped by (site, model) plus the complaints and low ratings per site.

        * Sites: jobs approved, complaints received, repeat visits and low customer ratings (overall ≤ 2,
          evaluated in the period) per site; ranked by (complaints + repeat visits + low ratings) per job
          approved (per 1 job when the site had none), then by that sum.
        * Models (the item of the unit's asset): approved repair jobs, repeat visits and repairs not fixed
          the first time; ranked by the first-time-fix rate (lowest first), then by the repeat visits."""
        from backend.inventory.models import Asset, Item
        from backend.jobs.models import Site, Unit

        await self.queries.tune()
        redo = redo_for(self.queries.dialect, period)
        is_repair = Job.type == JobType.repair
        stmt = (
            select(
                Job.site_id,
                Item.id,
                Item.sku,
                Item.name,
                func.count(),
                func.sum(case((is_repair, 1), else_=0)),
                func.sum(case((and_(is_repair, redo.repeat), 1), else_=0)),
                func.sum(case((and_(is_repair, redo.redone), 1), else_=0)),
            )
            .select_from(Job)
            .outerjoin(redo.next_repair, redo.next_repair.c.job_id == Job.id)
            .outerjoin(redo.continued, redo.continued.c.origin_id == Job.id)
            .outerjoin(Unit, Unit.id == Job.unit_id)
            .outerjoin(Asset, Asset.id == Unit.asset_id)
            .outerjoin(Item, Item.id == Asset.item_id)
            .where(
                Job.status == JobStatus.approved,
                Job.approved_at >= period.start_at,
                Job.approved_at < period.end_at,
            )
            .group_by(Job.site_id, Item.id, Item.sku, Item.name)
        )
        sites: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        models: dict[Any, dict[str, Any]] = {}
        for site_id, item_id, sku, name, jobs, repairs, repeats, redone in (
            await self.session.execute(stmt)
        ).all():
            sites[site_id]["jobs"] += int(jobs)
            sites[site_id]["repeat_visits"] += int(repeats or 0)
            if item_id is not None and repairs:
                model = models.setdefault(
                    item_id,
                    {"item_id": item_id, "sku": sku, "model": name, "repairs": 0, "repeats": 0, "redone": 0},
                )
                model["repairs"] += int(repairs)
                model["repeats"] += int(repeats or 0)
                model["redone"] += int(redone or 0)
        complaints = select(Complaint.site_id, func.count()).where(
            Complaint.site_id.is_not(None),
            Complaint.received_at >= period.start_at,
            Complaint.received_at < period.end_at,
        )
        for site_id, n in (await self.session.execute(complaints.group_by(Complaint.site_id))).all():
            sites[site_id]["complaints"] += int(n)
        low = (
            select(Job.site_id, func.count())
            .join(Evaluation, Evaluation.job_id == Job.id)
            .where(
                Evaluation.source.in_([str(x) for x in CUSTOMER_SOURCES]),
                Evaluation.overall <= 2,
                Evaluation.evaluated_at >= period.start_at,
                Evaluation.evaluated_at < period.end_at,
            )
            .group_by(Job.site_id)
        )
        for site_id, n in (await self.session.execute(low)).all():
            sites[site_id]["low_ratings"] += int(n)

        def site_rank(item: tuple[Any, dict[str, int]]) -> tuple[float, int]:
            c = item[1]
            bad = c["complaints"] + c["repeat_visits"] + c["low_ratings"]
            return (-bad / max(c["jobs"], 1), -bad)

        ranked = [
            (sid, c)
            for sid, c in sorted(sites.items(), key=site_rank)
            if c["complaints"] + c["repeat_visits"] + c["low_ratings"] > 0
        ][:limit]
        names = {}
        if ranked:
            rows = await self.session.execute(
                select(Site.id, Site.name, Site.code, Site.region).where(
                    Site.id.in_([sid for sid, _ in ranked])
                )
            )
            names = {r[0]: r for r in rows.all()}
        worst_sites = []
        for sid, c in ranked:
            bad = c["complaints"] + c["repeat_visits"] + c["low_ratings"]
            _, name, code, region = names.get(sid, (sid, "?", None, ""))
            worst_sites.append(
                {
                    "site_id": sid,
                    "name": name,
                    "code": code,
                    "region": region,
                    "jobs": c["jobs"],
                    "complaints": c["complaints"],
                    "repeat_visits": c["repeat_visits"],
                    "low_ratings": c["low_ratings"],
                    "score": round(bad / max(c["jobs"], 1), 3),
                }
            )
        worst_models = sorted(
            (
                {
                    "item_id": m["item_id"],
                    "sku": m["sku"],
                    "model": m["model"],
                    "repair_jobs": m["repairs"],
                    "repeat_visits": m["repeats"],
                    "not_fixed_first_time": m["redone"],
                    "first_time_fix_share": round((m["repairs"] - m["redone"]) * 100.0 / m["repairs"], 2),
                    "repeat_visit_share": round(m["repeats"] * 100.0 / m["repairs"], 2),
                }
                for m in models.values()
            ),
            key=lambda m: (m["first_time_fix_share"], -m["repeat_visits"], m["model"]),
        )[:limit]
        return worst_sites, worst_models

    async def open_actions(self, limit: int = 100) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        stmt = (
            select(QualityAction, Nonconformance.number, Nonconformance.title, User.display_name)
            .join(Nonconformance, Nonconformance.id == QualityAction.nonconformance_id)
            .join(User, User.id == QualityAction.owner_id)
            .where(QualityAction.status == ActionStatus.open)
            .order_by(QualityAction.due_at, Nonconformance.number)
            .limit(limit)
        )
        return [
            {
                "id": a.id,
                "nonconformance": number,
                "nonconformance_title": title,
                "kind": a.kind,
                "description": a.description,
                "owner": owner,
                "owner_id": a.owner_id,
                "due_at": a.due_at,
                "overdue": a.due_at < now,
            }
            for a, number, title, owner in (await self.session.execute(stmt)).all()
        ]

    async def nc_ages(self) -> list[tuple[str, int]]:
        """Open nonconformances (not candidates, dismissed or closed) by days since identification."""
        d = self.queries.dialect
        now = datetime.now(UTC)
        age = seconds_between(
            d, literal(now, Nonconformance.identified_at.type), Nonconformance.identified_at
        )
        band = case(
            (age <= 7 * 86400, "0–7 days"),
            (age <= 30 * 86400, "8–30 days"),
            (age <= 90 * 86400, "31–90 days"),
            else_="over 90 days",
        )
        rows = dict(
            (
                await self.session.execute(
                    select(band, func.count())
                    .where(Nonconformance.status.not_in([str(s) for s in NOT_OPEN_NOW]))
                    .group_by(band)
                )
            ).all()
        )
        return [(b, int(rows.get(b, 0))) for b in ("0–7 days", "8–30 days", "31–90 days", "over 90 days")]

    async def nc_by_status(self) -> list[tuple[str, int]]:
        rows = dict(
            (
                await self.session.execute(
                    select(Nonconformance.status, func.count())
                    .where(Nonconformance.status.not_in([str(s) for s in NOT_OPEN_NOW]))
                    .group_by(Nonconformance.status)
                )
            ).all()
        )
        order = ("open", "assigned", "root_cause", "verification")
        return [(s, int(rows.get(s, 0))) for s in order]
