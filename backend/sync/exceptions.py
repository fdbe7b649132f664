"""Exceptions people must look at: raised by the services that met the contradiction (a custody
conflict, stock below zero, a damaged or lost return; later a rejected mutation), listed and
resolved by supervisors of the technician's team, quality and managers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.db import utcnow
from backend.errors import Conflict, Forbidden, NotFound
from backend.events import ExceptionRaised, record_event
from backend.sync.models import ExceptionOutcome, ExceptionStatus, SyncException


@dataclass(frozen=True)
class ExceptionFilter:
    status: str | None = None
    kind: str | None = None
    user_id: UUID | None = None
    limit: int = 100
    offset: int = 0


async def raise_exception(
    session: AsyncSession,
    *,
    kind: str,
    message: str,
    user_id: UUID | None,
    raised_by_id: UUID | None,
    mutation: dict[str, Any] | None = None,
    **refs: Any,
) -> SyncException:
    """Record an exception for the technician ``user_id`` (their team is looked up for scoping)."""
    team_id = None
    if user_id is not None:
        team_id = await session.scalar(select(User.team_id).where(User.id == user_id))
    exception = SyncException(
        kind=kind,
        message=message[:1000],
        mutation=mutation,
        user_id=user_id,
        team_id=team_id,
        raised_by_id=raised_by_id,
        **refs,
    )
    session.add(exception)
    record_event(session, ExceptionRaised(exception.id, kind, user_id, team_id, exception.message))
    return exception


class ExceptionService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def visibility(self, current: CurrentUser):
        """The condition on ``SyncException`` rows ``current`` may see (None: all of them); the photos an
        exception names are visible by the same rule (``BlobService.may_see``)."""
        if current.sees_everything:
            return None
        if current.role == Role.supervisor:
            teams = await led_team_ids(self.session, current.id)
            members = select(User.id).where(User.team_id.in_(teams))
            # Their teams' exceptions, their own, and those where one of theirs is the other party
            # (a technician of another team took a tool the store had with one of theirs).
            return (
                SyncException.team_id.in_(teams)
                | (SyncException.user_id == current.id)
                | SyncException.other_user_id.in_(members)
            )
        return SyncException.user_id == current.id

    async def list(self, current: CurrentUser, query: ExceptionFilter) -> tuple[list[SyncException], int]:
        statement = select(SyncException)
        scope = await self.visibility(current)
        if scope is not None:
            statement = statement.where(scope)
        if query.status:
            statement = statement.where(SyncException.status == query.status)
        if query.kind:
            statement = statement.where(SyncException.kind == query.kind)
        if query.user_id:
            statement = statement.where(SyncException.user_id == query.user_id)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(SyncException.created_at.desc(), SyncException.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return list(rows), int(total or 0)

    async def get(self, current: CurrentUser, exception_id: UUID) -> SyncException:
        statement = select(SyncException).where(SyncException.id == exception_id)
        scope = await self.visibility(current)
        if scope is not None:
            statement = statement.where(scope)
        exception = await self.session.scalar(statement)
        if exception is None:
            raise NotFound("no such exception", field="exception_id")
        return exception

    async def resolve(
        self,
        current: CurrentUser,
        exception_id: UUID,
        *,
        outcome: ExceptionOutcome,
        resolution: str,
        at: datetime | None = None,
    ) -> SyncException:
        exception = await self.get(current, exception_id)
        if current.role == Role.technician:
            raise Forbidden("only supervisors, quality and managers resolve exceptions")
        if exception.user_id == current.id and not current.sees_everything:
            raise Forbidden("an exception about yourself is resolved by quality or a manager")
        if exception.status == ExceptionStatus.resolved:
            raise Conflict("the exception is already resolved", code="ALREADY_RESOLVED")
        exception.status = ExceptionStatus.resolved
        exception.outcome = outcome
        exception.resolution = resolution
        exception.resolved_by_id = current.id
        exception.resolved_at = at or utcnow()
        return exception
