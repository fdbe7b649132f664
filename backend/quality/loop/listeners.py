"""The quality rules at work: signals become nonconformance candidates, in the transaction of the signal.

- a customer's rating (sign-off or survey; never a technician's self-assessment) at or below a
  ``low_rating`` rule's threshold;
- a refused sign-off;
- a repeat visit: a new corrective job (repair, callback or rework) on a unit (or, with no unit, a site)
  where another job's work was done or approved within a ``repeat_visit`` rule's window. Scheduled
  maintenance, inspections and installs are planned visits, not a sign the last work did not last, so
  they raise nothing; the candidate names the earlier job (the work that did not last);
- a callback whose satisfaction is at or below an ``unsatisfied_callback`` rule's threshold.

A signal raises one candidate however often it is replayed (``source``, ``source_id`` is unique); a
candidate has no owner and tells nobody until the quality department accepts and assigns it.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.events import listen_in_transaction
from backend.jobs.events import JobCreated, SignoffRecorded
from backend.jobs.models import Job, JobType
from backend.quality.events import CallbackCompleted, EvaluationRecorded
from backend.quality.loop.services import find_by_source, new_nonconformance
from backend.quality.models import (
    EvaluationSource,
    NonconformanceSource,
    NonconformanceStatus,
    QualityRule,
    RuleSignal,
)

CUSTOMER_SOURCES = frozenset({EvaluationSource.signoff, EvaluationSource.survey})
CORRECTIVE_JOB_TYPES = frozenset({JobType.repair, JobType.callback, JobType.rework})
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


async def _active_rules(session: AsyncSession, signal: str) -> list[QualityRule]:
    rows = await session.scalars(
        select(QualityRule).where(QualityRule.signal == signal, QualityRule.active.is_(True))
    )
    return sorted(rows, key=lambda r: (SEVERITY_ORDER.get(r.severity, 9), r.created_at))


async def _candidate(
    session: AsyncSession,
    rule: QualityRule,
    source: str,
    source_id: UUID,
    job_id: UUID | None,
    title: str,
    description: str,
    technician_id: UUID | None = None,
    team_id: UUID | None = None,
) -> None:
    if await find_by_source(session, source, source_id) is not None:
        return  # the same signal again: its candidate exists
    job = await session.get(Job, job_id) if job_id else None
    await new_nonconformance(
        session,
        source=source,
        source_id=source_id,
        title=title,
        status=NonconformanceStatus.candidate,
        description=description,
        severity=rule.severity,
        job=job,
        technician_id=technician_id,
        team_id=team_id,
        rule_id=rule.id,
    )


async def _job_number(session: AsyncSession, job_id: UUID) -> str:
    return await session.scalar(select(Job.number).where(Job.id == job_id)) or str(job_id)


async def on_evaluation(session: AsyncSession, event: EvaluationRecorded) -> None:
    if event.source not in CUSTOMER_SOURCES or event.overall is None:
        return
    for rule in await _active_rules(session, RuleSignal.low_rating):
        if rule.threshold is not None and event.overall <= rule.threshold:
            number = await _job_number(session, event.job_id)
            await _candidate(
                session,
                rule,
                NonconformanceSource.low_rating,
                event.evaluation_id,
                event.job_id,
                f"Low rating {event.overall}/5 on job {number}",
                f"The customer rated job {number} {event.overall}/5 ({event.source}); rule: {rule.name}",
                event.technician_id,
                event.team_id,
            )
            return


async def on_signoff(session: AsyncSession, event: SignoffRecorded) -> None:
    if event.accepted:
        return
    rules = await _active_rules(session, RuleSignal.refused_signoff)
    if not rules:
        return
    number = await _job_number(session, event.job_id)
    comment = f": “{event.comment}”" if event.comment else ""
    await _candidate(
        session,
        rules[0],
        NonconformanceSource.refused_signoff,
        event.signoff_id,
        event.job_id,
        f"Sign-off refused on job {number}",
        f"The customer did not accept the work on job {number} (rating {event.rating}/5){comment}",
        event.assignee_id,
        event.team_id,
    )


async def on_job_created(session: AsyncSession, event: JobCreated) -> None:
    if event.type not in CORRECTIVE_JOB_TYPES:
        return
    rules = [r for r in await _active_rules(session, RuleSignal.repeat_visit) if r.window_days]
    if not rules:
        return
    widest = max(r.window_days or 0 for r in rules)
    finished = func.coalesce(Job.work_done_at, Job.approved_at)
    same_place = Job.unit_id == event.unit_id if event.unit_id else Job.site_id == event.site_id
    earlier = await session.scalar(
        select(Job)
        .where(
            same_place,
            Job.id != event.job_id,
            finished.is_not(None),
            finished >= event.created_at - timedelta(days=widest),
            finished <= event.created_at,
        )
        .order_by(finished.desc(), Job.id)
        .limit(1)
    )
    if earlier is None:
        return
    done_at = earlier.work_done_at or earlier.approved_at
    age = event.created_at - done_at
    rule = next((r for r in rules if age <= timedelta(days=r.window_days or 0)), None)
    if rule is None:
        return
    place = "unit" if event.unit_id else "site"
    await _candidate(
        session,
        rule,
        NonconformanceSource.repeat_visit,
        event.job_id,
        earlier.id,
        f"Repeat visit: {event.number} after {earlier.number}",
        f"{event.type} job {event.number} on the same {place} {age.days} day(s) after the work of job "
        f"{earlier.number} was done; rule: {rule.name}",
        earlier.assignee_id,
        earlier.team_id,
    )


async def on_callback(session: AsyncSession, event: CallbackCompleted) -> None:
    if not event.reached or event.satisfaction is None:
        return
    for rule in await _active_rules(session, RuleSignal.unsatisfied_callback):
        if rule.threshold is not None and event.satisfaction <= rule.threshold:
            number = await _job_number(session, event.job_id)
            await _candidate(
                session,
                rule,
                NonconformanceSource.callback,
                event.callback_id,
                event.job_id,
                f"Unsatisfied customer at callback on job {number}",
                f"The customer's satisfaction at the callback after job {number} was "
                f"{event.satisfaction}/5; rule: {rule.name}",
                event.technician_id,
                event.team_id,
            )
            return


def install() -> None:
    listen_in_transaction(EvaluationRecorded, on_evaluation)
    listen_in_transaction(SignoffRecorded, on_signoff)
    listen_in_transaction(JobCreated, on_job_created)
    listen_in_transaction(CallbackCompleted, on_callback)
