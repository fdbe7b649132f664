"""HTTP for the sync protocol (docs/SYNC.md): push and pull, and re-applying a kept mutation. Thin:
the rules live in ``backend.sync.push``/``pull`` and the domain services they call."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK
from msgspec import Meta
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, STAFF
from backend.auth.schemas import AppVersion, DeviceReport
from backend.auth.services import CurrentUser, reported_app_version
from backend.db import begin_snapshot
from backend.errors import error_responses
from backend.inventory import schemas as inventory_schemas
from backend.inventory.controllers import exception_read
from backend.jobs.blobs import BlobService
from backend.jobs.controllers import provide_blobs, provide_jobs
from backend.jobs.services import JobService
from backend.sync.pull import MAX_LIMIT, PullService
from backend.sync.push import (
    MAX_PUSH_BYTES,
    PushRequest,
    PushService,
    check_protocol,
    client_for,
    note_pull,
)
from backend.sync.reapply import ReapplyService


class PushResponse(msgspec.Struct, kw_only=True):
    last_mutation_id: int
    write_checkpoint: str
    # Per mutation: {"id", "status": applied|merged|rejected|duplicate|blocked, "version"?,
    # "overridden_fields"?, "refused_fields"?, "exception_id"?, "code"?, "message"?, "field"?, "blob"?,
    # "result"?}
    results: list[dict[str, Any]]


class PullRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    protocol: int
    client_id: UUID
    cursor: Annotated[str, Meta(max_length=400)] | None = None
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = MAX_LIMIT
    app_version: AppVersion = ""
    # SYNC.md 1.1: the phone's health, noted after the page is read (``note_pull``).
    device: DeviceReport | None = None


class PullResponse(msgspec.Struct, kw_only=True):
    cursor: str
    has_more: bool
    reset: bool
    last_mutation_id: int
    server_time: datetime
    # Additive to SYNC.md: the feed position this page reached, comparable with a push's
    # write_checkpoint (both decimal strings of the same counter).
    checkpoint: str
    # {"entity", "id", "op": put|del, "version"?, "data"?} in commit order (the pull service hands
    # them over already encoded).
    changes: list[dict[str, Any]]


class ReapplyRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[str, Meta(max_length=1000)] = ""
    # SYNC.md 1.1: corrected args, applied instead of the kept ones (checked as a push checks them);
    # the exception keeps the original beside them.
    args: dict[str, Any] | None = None


class ReapplyResponse(msgspec.Struct, kw_only=True):
    exception: inventory_schemas.ExceptionRead
    result: dict[str, Any]


async def provide_push(
    db_session: NamedDependency[AsyncSession],
    jobs: NamedDependency[JobService],
    blobs: NamedDependency[BlobService],
) -> PushService:
    return PushService(db_session, jobs, blobs)


async def provide_pull(db_session: NamedDependency[AsyncSession], state: State) -> PullService:
    return PullService(db_session, state.settings.secret_key)


async def provide_reapply(
    db_session: NamedDependency[AsyncSession],
    jobs: NamedDependency[JobService],
    blobs: NamedDependency[BlobService],
) -> ReapplyService:
    return ReapplyService(db_session, jobs, blobs)


SYNC_DEPENDENCIES = {
    "jobs": Provide(provide_jobs),
    "blobs": Provide(provide_blobs),
    "pushes": Provide(provide_push),
    "pulls": Provide(provide_pull),
    "reapplies": Provide(provide_reapply),
}


class SyncController(Controller):
    path = "/api/sync/v1"
    tags = ["sync"]
    dependencies = SYNC_DEPENDENCIES

    @post(
        "/push",
        operation_id="syncPush",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        request_max_body_size=MAX_PUSH_BYTES,
        summary="Push the outbox: each mutation applied, merged, rejected (and kept), duplicate or blocked",
        description=(
            "Mutations are processed in `id` order, exactly once per client (docs/SYNC.md, Push). "
            "At most 500 mutations and 4 MiB per push (413 beyond). 409 `CLIENT_UNKNOWN`: start over "
            "with a new client_id. 426 `PROTOCOL_UNSUPPORTED`. Business outcomes are per mutation."
        ),
        responses=error_responses(401, 403, 409, 413, 426),
    )
    async def push(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[PushRequest],
        pushes: NamedDependency[PushService],
    ) -> PushResponse:
        outcome = await pushes.push(request.user, data)
        return PushResponse(
            last_mutation_id=outcome.last_mutation_id,
            write_checkpoint=outcome.write_checkpoint,
            results=outcome.results,
        )

    @post(
        "/pull",
        operation_id="syncPull",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Pull the changes in my scope since my cursor (null: everything, with reset)",
        description=(
            "Changes in commit order, at most `limit` (max 1000) and about 1 MiB per page; "
            "`has_more` says to pull again. A forged or foreign cursor is 400 `INVALID_CURSOR`."
        ),
        responses=error_responses(401, 403, 413, 426),
    )
    async def pull(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[PullRequest],
        db_session: NamedDependency[AsyncSession],
        pulls: NamedDependency[PullService],
    ) -> PullResponse:
        check_protocol(data.protocol)
        client = await client_for(
            db_session,
            request.user,
            data.client_id,
            app_version=reported_app_version(data.app_version, data.device),
        )
        # The page is read in one snapshot of its own (after a new client's registration commits);
        # the pull is noted afterwards, without ever holding the page up.
        await begin_snapshot(db_session)
        page = await pulls.pull(request.user, client, data.cursor, data.limit)
        await db_session.commit()
        await note_pull(db_session, client, data.device)
        return PullResponse(
            cursor=page.cursor,
            has_more=page.has_more,
            reset=page.reset,
            last_mutation_id=page.last_mutation_id,
            server_time=page.server_time,
            checkpoint=str(page.checkpoint),
            changes=page.changes,
        )


class ExceptionReapplyController(Controller):
    path = "/api/exceptions"
    tags = ["exceptions"]
    dependencies = SYNC_DEPENDENCIES

    @post(
        "/{exception_id:uuid}/reapply",
        operation_id="reapplyException",
        opt=STAFF,
        status_code=HTTP_200_OK,
        summary="Apply a rejected mutation again, as its technician, now that its cause is fixed",
        description=(
            "For `rejected` and `duplicate_signoff` exceptions. `args`, when given, are corrected "
            "args applied instead of the kept ones (checked as a push checks them: 400 `INVALID_ARGS` "
            "naming the field; the ids of the records the mutation creates stay as the phone made "
            "them, 422); the exception's `mutation` keeps the original with the correction beside it "
            "under `corrected`. When the mutation now applies, the exception is resolved as "
            "`corrected`; when it is still refused, 409 names why and the exception stays open."
        ),
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def reapply(
        self,
        exception_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        reapplies: NamedDependency[ReapplyService],
        data: JSONBody[ReapplyRequest | None] = None,
    ) -> ReapplyResponse:
        exception, result = await reapplies.reapply(
            request.user,
            exception_id,
            note=(data.note.strip() if data else ""),
            args=data.args if data else None,
        )
        return ReapplyResponse(exception=exception_read(exception), result=result)


SYNC_ROUTES = [SyncController, ExceptionReapplyController]
