"""Re-applying a kept mutation: a supervisor fixed the cause of a rejection (moved the job back,
corrected a record) and runs the technician's mutation again, through the same mutator a push uses;
or corrects the mutation's args and runs it with those (SYNC.md 1.1). The exception keeps the
mutation as it arrived, and beside it the corrected args, who corrected them and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser
from backend.db import begin_write, utcnow
from backend.errors import Conflict, DomainError, Forbidden, InvalidInput
from backend.jobs.blobs import BlobService
from backend.jobs.services import BlobMissing, JobService
from backend.sync.exceptions import ExceptionService
from backend.sync.feed import savepoint
from backend.sync.models import ExceptionKind, ExceptionOutcome, ExceptionStatus, SyncException
from backend.sync.mutations import REGISTRY, MutationContext, Mutator
from backend.sync.push import _field_of, _sync_code

REAPPLIABLE = frozenset({ExceptionKind.rejected, ExceptionKind.duplicate_signoff})


class ReapplyService:
    def __init__(self, session: AsyncSession, jobs: JobService, blobs: BlobService) -> None:
        self.session = session
        self.jobs = jobs
        self.blobs = blobs

    async def reapply(
        self,
        current: CurrentUser,
        exception_id: UUID,
        *,
        note: str = "",
        args: dict[str, Any] | None = None,
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
        now = utcnow()
        raw = mutation
        if args is None:
            try:
                decoded = mutator.decode(mutation.get("args") or {})
            except msgspec.ValidationError as error:
                raise Conflict(
                    f"the kept mutation's args are invalid: {error}", code="INVALID_ARGS"
                ) from None
        else:
            decoded = _corrected(mutator, mutation.get("args") or {}, args)
            # What the mutator applies (and a ledger operation keeps) is the corrected mutation.
            raw = {**mutation, "args": args, "corrected_by_id": str(current.id)}
        # The fact happened when the phone said; re-applying it later does not move it.
        client_time = datetime.fromisoformat(mutation["client_time"]) if mutation.get("client_time") else None
        context = MutationContext(
            current=actor, jobs=self.jobs, blobs=self.blobs, client_time=client_time, raw=raw
        )
        try:
            async with savepoint(self.session):
                outcome = await mutator.apply(context, decoded)
        except BlobMissing as missing:
            raise Conflict(missing.message, code="BLOB_MISSING", field=missing.field) from None
        except DomainError as error:
            raise Conflict(
                f"still refused: {error.message}", code=_sync_code(error), field=error.field
            ) from None
        result = outcome.to_json()
        if args is not None:
            # The mutation as it arrived stays as it was; the correction is kept beside it.
            exception.mutation = {
                **mutation,
                "corrected": {
                    "args": args,
                    "by_id": str(current.id),
                    "by": current.display_name,
                    "at": now.isoformat(),
                    "note": note,
                },
            }
        how = "re-applied with corrected args" if args is not None else "re-applied"
        resolution = f"{how} by {current.display_name}: {result['status']}"
        if note:
            resolution += f" ({note})"
        resolved = await exceptions.resolve(
            current,
            exception.id,
            outcome=ExceptionOutcome.corrected,
            resolution=resolution[:1000],
            at=now,
        )
        return resolved, result


# The ids of the records a mutation creates: the phone knows its record by them (its outbox, a pinned
# record), so a correction may change what the record says, never which record it is.
CREATED_RECORD_IDS = ("move_id", "log_id", "attachment_id", "signoff_id", "report_id", "assessment_id")


def _corrected(mutator: Mutator, original: dict[str, Any], args: dict[str, Any]) -> Any:
    """Corrected args, checked as a push checks a mutation's args (400 naming the field)."""
    try:
        decoded = mutator.decode(args)
    except msgspec.ValidationError as error:
        field = _field_of(str(error))
        raise DomainError(
            f"args: {error}", field=f"args.{field}" if field else "args", code="INVALID_ARGS"
        ) from None
    for key in CREATED_RECORD_IDS:
        made = _uuid(original.get(key))
        if made is not None and getattr(decoded, key, None) != made:
            raise InvalidInput(
                f"{key} names the record the phone made; a correction keeps it", field=f"args.{key}"
            )
    return decoded


def _uuid(value: Any) -> UUID | None:
    """The id the phone sent, if it was one (a malformed id is what a correction may fix)."""
    try:
        return UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
