"""In-transaction listeners: a sign-off's ratings become an evaluation, a refused sign-off a complaint,
and the callback policies call the customer back after approvals, low ratings and refusals. They run
when the unit of work settles its events, so what they write commits with the cause or not at all."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.events import listen_in_transaction
from backend.jobs.events import JobStatusChanged, SignoffRecorded
from backend.jobs.models import Job, JobStatus
from backend.quality.events import EvaluationRecorded
from backend.quality.feedback.services import CUSTOMER_SOURCES, FeedbackService, record_evaluation
from backend.quality.models import CallbackTrigger, ComplaintChannel, EvaluationSource, Severity


async def on_signoff(session: AsyncSession, event: SignoffRecorded) -> None:
    job = await session.get(Job, event.job_id)
    if job is None:
        return
    await record_evaluation(
        session,
        job=job,
        technician_id=event.assignee_id,
        team_id=event.team_id,
        source=EvaluationSource.signoff,
        source_id=event.signoff_id,
        overall=event.rating,
        technical=event.rating_technical,
        service=event.rating_service,
        comment=event.comment,
        evaluated_at=event.signed_at,
    )
    if event.accepted:
        return
    # Received now (when FieldQ learns of it, maybe hours after an offline sign-off): the response
    # targets run from here.
    service = FeedbackService(session)
    comment = event.comment.strip()
    await service.new_complaint(
        channel=ComplaintChannel.refused_signoff,
        severity=Severity.high,
        summary=f"{job.number}: the customer did not accept the work",
        details=comment or "the customer refused the sign-off",
        job=job,
        source_id=event.signoff_id,
    )
    await service.callbacks_by_policy(job, CallbackTrigger.refused_signoff)


async def on_status(session: AsyncSession, event: JobStatusChanged) -> None:
    if event.status != JobStatus.approved:
        return
    job = await session.get(Job, event.job_id)
    if job is not None:
        await FeedbackService(session).callbacks_by_policy(job, CallbackTrigger.job_approved)


async def on_evaluation(session: AsyncSession, event: EvaluationRecorded) -> None:
    if event.source not in CUSTOMER_SOURCES or event.overall is None:
        return
    job = await session.get(Job, event.job_id)
    if job is not None:
        await FeedbackService(session).callbacks_by_policy(job, CallbackTrigger.low_rating, event.overall)


def install() -> None:
    listen_in_transaction(SignoffRecorded, on_signoff)
    listen_in_transaction(JobStatusChanged, on_status)
    listen_in_transaction(EvaluationRecorded, on_evaluation)
