"""Who is told what: domain events → outbox rows, in the transaction of the change (``backend.events``).

- a job assigned → its new assignee; reassigned → also the previous assignee (it was taken away);
- a job returned → its assignee; a job awaiting approval → the supervisors of its team;
- a sync exception → the supervisors of the technician's team;
- a complaint, nonconformance, action or callback assigned or overdue → its owner;
- a spare shortage → every active manager.

"Supervisors of a team" are the team's own supervisors; a team with none falls back to the managers
(who supervise everywhere) rather than telling every manager about every job. Nobody is told about their
own action. After a commit that wrote outbox rows, the worker of this process is nudged to deliver at
once (other processes find them at their next poll).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from backend.auth.models import Role, TeamSupervisor, User
from backend.events import ExceptionRaised, SpareShortageAppeared, listen_in_transaction
from backend.jobs.events import JobAssigned, JobStatusChanged
from backend.push.messages import quality_item_names
from backend.push.services import OUTBOX_WRITTEN_KEY, Message, enqueue
from backend.push.worker import nudge_workers
from backend.quality.events import QualityItemAssigned, QualityItemOverdue


async def active_managers(session: AsyncSession) -> set[UUID]:
    rows = await session.scalars(select(User.id).where(User.role == Role.manager, User.is_active.is_(True)))
    return set(rows)


async def team_supervisors(session: AsyncSession, team_id: UUID | None) -> set[UUID]:
    """The active supervisors of ``team_id``; the managers when the team has none (or there is no team)."""
    if team_id is not None:
        rows = await session.scalars(
            select(TeamSupervisor.user_id)
            .join(User, User.id == TeamSupervisor.user_id)
            .where(TeamSupervisor.team_id == team_id, User.is_active.is_(True))
        )
        supervisors = set(rows)
        if supervisors:
            return supervisors
    return await active_managers(session)


def _others(recipients: Iterable[UUID | None], actor_id: UUID | None) -> set[UUID]:
    return {r for r in recipients if r is not None and r != actor_id}


def _job_message(kind: str, template: str, job_id: UUID, number: str, **params: str) -> Message:
    return Message(
        kind=kind,
        template=template,
        params={"number": number, **params},
        url=f"/#/jobs/{job_id}",
        topic=f"job:{job_id}",
        data={"job_id": str(job_id), "number": number},
    )


async def on_job_assigned(session: AsyncSession, event: JobAssigned) -> None:
    reassigned = event.previous_assignee_id is not None and event.previous_assignee_id != event.assignee_id
    template = "job_reassigned_to_you" if reassigned else "job_assigned"
    await enqueue(
        session,
        _others([event.assignee_id], event.actor_id),
        _job_message("job_assigned", template, event.job_id, event.number),
    )
    if reassigned:
        await enqueue(
            session,
            _others([event.previous_assignee_id], event.actor_id),
            _job_message("job_reassigned", "job_taken_away", event.job_id, event.number),
        )


async def on_job_status_changed(session: AsyncSession, event: JobStatusChanged) -> None:
    if event.status == "returned":
        await enqueue(
            session,
            _others([event.assignee_id], event.actor_id),
            _job_message(
                "job_returned", "job_returned", event.job_id, event.number, reason=event.reason or "—"
            ),
        )
    elif event.status == "awaiting_approval":
        supervisors = await team_supervisors(session, event.team_id)
        await enqueue(
            session,
            _others(supervisors, event.actor_id),
            _job_message("job_awaiting_approval", "job_awaiting_approval", event.job_id, event.number),
        )


async def on_exception_raised(session: AsyncSession, event: ExceptionRaised) -> None:
    supervisors = await team_supervisors(session, event.team_id)
    # One notification per technician with open news: a push of many rejections does not buzz fifty times.
    await enqueue(
        session,
        _others(supervisors, None),
        Message(
            kind="sync_exception",
            template="sync_exception",
            params={"exception_kind": event.kind.replace("_", " "), "message": event.message},
            url=f"/#/exceptions/{event.exception_id}",
            topic=f"sync_exception:{event.user_id or event.team_id}",
            data={"exception_id": str(event.exception_id)},
        ),
    )


async def on_spare_shortage(session: AsyncSession, event: SpareShortageAppeared) -> None:
    await enqueue(
        session,
        await active_managers(session),
        Message(
            kind="spare_shortage",
            template="spare_shortage",
            params={
                "sku": event.sku,
                "region": event.region,
                "required": event.required,
                "serviceable": event.serviceable,
                "shortage": event.shortage,
            },
            url="/#/spares",
            topic=f"spare:{event.sku}:{event.region}",
            data={"item_id": str(event.item_id), "sku": event.sku, "region": event.region},
        ),
    )


def _quality_message(kind: str, event: QualityItemAssigned | QualityItemOverdue) -> Message:
    due = event.due_at.date().isoformat() if event.due_at else ""
    return Message(
        kind=kind,
        template=kind,
        params={
            "title": event.title,
            "due": due,
            "due_en": f" — due {due}" if due else "",
            "due_zh": f"（截止 {due}）" if due else "",
            **quality_item_names(event.kind),
        },
        url=f"/#/quality/{event.kind}/{event.item_id}",
        topic=f"quality:{event.kind}:{event.item_id}",
        data={"item_kind": event.kind, "item_id": str(event.item_id)},
    )


async def on_quality_assigned(session: AsyncSession, event: QualityItemAssigned) -> None:
    await enqueue(session, [event.assignee_id], _quality_message("quality_assigned", event))


async def on_quality_overdue(session: AsyncSession, event: QualityItemOverdue) -> None:
    await enqueue(session, [event.assignee_id], _quality_message("quality_overdue", event))


HANDLERS = {
    JobAssigned: on_job_assigned,
    JobStatusChanged: on_job_status_changed,
    ExceptionRaised: on_exception_raised,
    SpareShortageAppeared: on_spare_shortage,
    QualityItemAssigned: on_quality_assigned,
    QualityItemOverdue: on_quality_overdue,
}
_installed = False


def _nudge_after_commit(session: Session) -> None:
    # Only when the committed transaction wrote outbox rows; cheap and non-blocking (runs inside commit).
    if session.info.pop(OUTBOX_WRITTEN_KEY, False):
        nudge_workers()


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(OUTBOX_WRITTEN_KEY, None)


def install_push_listeners() -> None:
    """Register the handlers (idempotent): create_app, the CLI and the benchmarks call it."""
    global _installed
    if _installed:
        return
    for event_type, handler in HANDLERS.items():
        listen_in_transaction(event_type, handler)
    event.listen(Session, "after_commit", _nudge_after_commit)
    event.listen(Session, "after_rollback", _forget_after_rollback)
    _installed = True
