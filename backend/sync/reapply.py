"""Re-applying a kept mutation: a supervisor fixed the cause of a rejection (moved the job back,
corrected a record) and runs the technician's mutation again, through the same mutator a push uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser
from backend.db import begin_write, utcnow
from backend.errors import Conflict, DomainError, Forbidden
from backend.jobs.blobs import BlobService
from backend.jobs.services import BlobMissing, JobService
from backend.sync.exceptions import ExceptionService
from backend.sync.feed import savepoint
from backend.sync.models import ExceptionKind, ExceptionOutcome, ExceptionStatus, SyncException
from backend.sync.mutations import REGISTRY, MutationContext
from backend.sync.push import _sync_code

REAPPLIABLE = frozenset({ExceptionKind.rejected, ExceptionKind.duplicate_signoff})


class ReapplyService:
    def __init__(self, session: AsyncSession, jobs: JobService, blobs: BlobService) -> None:
        self.session = session
        self.jobs = jobs
        self.blobs = blobs

    async def reapply(
        self, current: CurrentUser, exception_id: UUID, *, note: str = ""
    ) -> tuple[SyncException, dict[str, Any]]:
        await begin_write(self.session)
        exceptions = ExceptionService(self.session)
        exception = await exceptions.get(current, exception_id)
        if current.role == Role.technician:
            raise Forbidden("only supervisors, quality and managers re-apply mutations")
        if exception.status == ExceptionStatus.resolved:
            raise Conflict("the exception is already resolved", code="ALREADY_RESOLVED")
        mutation = exception.mutation or {}
        mutator = REGISTRY.get(mutation.get("name", ""))
        if exception.kind not in REAPPLIABLE or mutator is None or exception.user_id is None:
            raise Conflict("this exception holds no mutation that can be applied", code="NOT_REAPPLIABLE")
        author = await self.session.get(User, exception.user_id)
        if author is None or not author.is_active:
            raise Conflict("the mutation's technician is no longer active", code="NOT_REAPPLIABLE")
        actor = CurrentUser.acting_as(author)
        try:
            args = mutator.decode(mutation.get("args") or {})
        except msgspec.ValidationError as error:
            raise Conflict(f"the kept mutation's args are invalid: {error}", code="INVALID_ARGS") from None
        # The fact happened when the phone said; re-applying it later does not move it.
        client_time = datetime.fromisoformat(mutation["client_time"]) if mutation.get("client_time") else None
        context = MutationContext(
            current=actor, jobs=self.jobs, blobs=self.blobs, client_time=client_time, raw=mutation
        )
        try:
            async with savepoint(self.session):
                outcome = await mutator.apply(context, args)
        except BlobMissing as missing:
            raise Conflict(missing.message, code="BLOB_MISSING", field=missing.field) from None
        except DomainError as error:
            raise Conflict(
                f"still refused: {error.message}", code=_sync_code(error), field=error.field
            ) from None
        result = outcome.to_json()
        resolution = f"re-applied by {current.display_name}: {result['status']}"
        if note:
            resolution += f" ({note})"
        resolved = await exceptions.resolve(
            current,
            exception.id,
            outcome=ExceptionOutcome.corrected,
            resolution=resolution[:1000],
            at=utcnow(),
        )
        return resolved, result
