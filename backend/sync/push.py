"""Push (SYNC.md, Push): a client's outbox, processed in order, exactly once.

One push is one transaction: each mutation runs in a savepoint through the same domain services the
REST API uses; its effects, its stored result and the client's new ``last_mutation_id`` commit
together, or (on a crash, a lost connection) none of them do and the retry finds nothing done.
A mutation a rule refuses is rolled back alone and kept in full as a sync exception; a mutation
waiting for an image stops the batch (``blocked``) without moving ``last_mutation_id`` past it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta
from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Client
from backend.auth.schemas import AppVersion, DeviceReport
from backend.auth.services import CurrentUser, bind_client, health_report, reported_app_version
from backend.db import begin_write, queue_insert, utcnow
from backend.errors import Conflict, DomainError, Forbidden, NotFound
from backend.events import settle_events
from backend.inventory.services import InventoryService, check_device_time
from backend.jobs.blobs import BlobService
from backend.jobs.models import Attachment, JobLog
from backend.jobs.services import BlobMissing, JobService
from backend.sync.exceptions import raise_exception
from backend.sync.feed import LAST_SEQ_KEY, savepoint
from backend.sync.models import ExceptionKind, MutationResult, SyncChange
from backend.sync.mutations import REGISTRY, MutationContext

PROTOCOL = 1
MAX_MUTATIONS = 500
MAX_PUSH_BYTES = 4 * 1024 * 1024
RESULTS_TABLE = MutationResult.__table__

# Codes that only say "bad input" in general; a push names them INVALID_ARGS (SYNC.md).
_GENERIC_INPUT_CODES = frozenset({"INVALID_INPUT", "BAD_REQUEST", "MISSING_FIELD", "UNKNOWN_FIELD"})


class ProtocolUnsupported(DomainError):
    status_code = 426
    code = "PROTOCOL_UNSUPPORTED"


class ClientUnknown(Conflict):
    code = "CLIENT_UNKNOWN"


class TooManyMutations(DomainError):
    status_code = 413
    code = "TOO_MANY_MUTATIONS"


class PushedMutation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: Annotated[int, Meta(ge=1, le=2**53)]
    name: Annotated[str, Meta(min_length=1, max_length=60)]
    args: dict[str, Any]
    client_time: datetime | None = None


class PushRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    protocol: int
    client_id: UUID
    mutations: list[PushedMutation]
    app_version: AppVersion = ""
    # SYNC.md 1.1: the phone's health, kept (the latest per client) for the supervisors' device list.
    device: DeviceReport | None = None


@dataclass
class PushOutcome:
    last_mutation_id: int
    write_checkpoint: str
    results: list[dict[str, Any]]


def check_protocol(protocol: int) -> None:
    if protocol != PROTOCOL:
        raise ProtocolUnsupported(
            f"this server speaks sync protocol {PROTOCOL}; update the app", field="protocol"
        )


async def client_for(
    session: AsyncSession,
    current: CurrentUser,
    client_id: UUID,
    *,
    first_mutation_id: int | None = None,
    lock: bool = False,
    app_version: str = "",
) -> Client:
    """The client registered to ``current`` on first use (``bind_client``). A push that starts past 1
    from a client the server never saw gets ``CLIENT_UNKNOWN`` and registers nothing."""
    register = first_mutation_id is None or first_mutation_id <= 1
    client = await bind_client(session, current.id, client_id, lock=lock, register=register)
    if client is None:
        raise ClientUnknown(
            "this server has no record of this client; start over with a new client_id", field="client_id"
        )
    if app_version and client.app_version != app_version:
        client.app_version = app_version
    return client


def note_device(client: Client, device: DeviceReport | None) -> None:
    """Keep a push's device report on its (locked) client row, committed with the push."""
    if device is not None:
        client.health = health_report(device)
        client.health_received_at = utcnow()


PULL_NOTE_INTERVAL = timedelta(seconds=60)


async def note_pull(session: AsyncSession, client: Client, device: DeviceReport | None = None) -> None:
    """Remember when the device last pulled and what it reported about itself (the supervisors' device
    list): the time at most once a minute, a report when it differs from the one kept (or with the
    time). Never at the cost of the pull: a writer holding SQLite's lock (an import) makes this a
    no-op."""
    now = utcnow()
    values: dict[str, Any] = {}
    if client.last_pull_at is None or now - client.last_pull_at >= PULL_NOTE_INTERVAL:
        values.update(last_pull_at=now, last_seen_at=now)
    if device is not None:
        health = health_report(device)
        if values or health != client.health:
            values.update(health=health, health_received_at=now)
    if not values:
        return
    sqlite = session.bind.dialect.name == "sqlite"
    connection = await session.connection()
    if sqlite:
        usual_timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    try:
        if sqlite:
            await connection.exec_driver_sql("PRAGMA busy_timeout=200")
        await session.execute(update(Client).where(Client.id == client.id).values(**values))
        await session.commit()
    except OperationalError:
        await session.rollback()
    finally:
        if sqlite:
            connection = await session.connection()
            await connection.exec_driver_sql(f"PRAGMA busy_timeout={int(usual_timeout)}")
            await session.commit()


class _Refused(Exception):
    """A mutation run without its own savepoint was refused: the batch starts over, guarding it."""

    def __init__(self, mutation_id: int) -> None:
        super().__init__(mutation_id)
        self.mutation_id = mutation_id


# After this many restarts every mutation of the batch runs in its own savepoint.
OPTIMISTIC_ATTEMPTS = 3


class PushService:
    """Most mutations of a push apply cleanly. They run one after the other in the push's transaction
    with no savepoint each (a savepoint costs two flushes and two statements per mutation). When one
    is refused, the transaction is rolled back and the batch runs again with that mutation guarded by
    a savepoint, so its refusal is undone alone and the rest goes on; after a few refusals, every
    mutation is guarded. Either way the outcome is the one a mutation-by-mutation run would give."""

    def __init__(self, session: AsyncSession, jobs: JobService, blobs: BlobService) -> None:
        self.session = session
        self.jobs = jobs
        self.blobs = blobs
        self._guarded: set[int] | None = set()  # None: all

    async def push(self, current: CurrentUser, request: PushRequest) -> PushOutcome:
        check_protocol(request.protocol)
        if len(request.mutations) > MAX_MUTATIONS:
            raise TooManyMutations(
                f"at most {MAX_MUTATIONS} mutations per push; send the rest in another", field="mutations"
            )
        for _attempt in range(OPTIMISTIC_ATTEMPTS):
            try:
                return await self._push_once(current, request)
            except _Refused as refused:
                await self.session.rollback()
                self._guarded.add(refused.mutation_id)
                self.jobs = self.jobs.fresh()
        self._guarded = None
        return await self._push_once(current, request)

    async def _push_once(self, current: CurrentUser, request: PushRequest) -> PushOutcome:
        await begin_write(self.session)
        first = request.mutations[0].id if request.mutations else None
        client = await client_for(
            self.session,
            current,
            request.client_id,
            first_mutation_id=first,
            lock=True,
            app_version=reported_app_version(request.app_version, request.device),
        )
        note_device(client, request.device)
        # The mutations act as this installation, whatever device the access token was issued to.
        self._as_client = dataclasses.replace(current, client_id=client.id)
        last = client.last_mutation_id
        stored = await self._stored_results(client.id, [m.id for m in request.mutations if m.id <= last])
        await self._preload(request.mutations, last)
        results: list[dict[str, Any]] = []
        gap_from = None
        for mutation in request.mutations:
            if mutation.id <= last:
                results.append({"id": mutation.id, "status": "duplicate", "result": stored.get(mutation.id)})
                continue
            if mutation.id > last + 1:
                gap_from = mutation.id  # the client is ahead of us: it resends from last + 1
                break
            result = await self._process(current, mutation)
            results.append(result)
            if result["status"] == "blocked":
                break
            queue_insert(
                self.session,
                RESULTS_TABLE,
                {
                    "client_id": client.id,
                    "mutation_id": mutation.id,
                    "name": mutation.name[:40],
                    "status": result["status"],
                    "result": result,
                    "created_at": utcnow(),
                },
            )
            last = mutation.id
        now = utcnow()
        client.last_mutation_id = last
        client.pending_gap_from = gap_from
        client.last_push_at = now
        client.last_seen_at = now
        self.session.info.pop(LAST_SEQ_KEY, None)
        await settle_events(self.session)  # a rejection's exception record, for instance
        await self.session.commit()
        checkpoint = self.session.info.pop(LAST_SEQ_KEY, None)
        if checkpoint is None:
            checkpoint = await self.session.scalar(select(func.max(SyncChange.seq))) or 0
            await self.session.commit()
        return PushOutcome(last_mutation_id=last, write_checkpoint=str(checkpoint), results=results)

    async def _stored_results(self, client_id: UUID, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = await self.session.execute(
            select(MutationResult.mutation_id, MutationResult.result).where(
                MutationResult.client_id == client_id, MutationResult.mutation_id.in_(ids)
            )
        )
        return {mutation_id: result for mutation_id, result in rows}

    async def _preload(self, mutations: list[PushedMutation], last: int) -> None:
        """Look up the batch's client-made ids (stock moves, logs, attachments) in one query per kind
        instead of one per mutation."""
        wanted: dict[str, list[UUID]] = {"move_id": [], "log_id": [], "attachment_id": []}
        for mutation in mutations:
            if mutation.id <= last:
                continue
            for key, ids in wanted.items():
                value = mutation.args.get(key)
                if isinstance(value, str):
                    try:
                        ids.append(UUID(value))
                    except ValueError:
                        pass
        if wanted["move_id"]:
            await InventoryService(self.session).preload_operations(wanted["move_id"])
        await self.jobs.preload_new_records(JobLog, wanted["log_id"])
        await self.jobs.preload_new_records(Attachment, wanted["attachment_id"])

    async def _process(self, current: CurrentUser, mutation: PushedMutation) -> dict[str, Any]:
        raw = {
            "id": mutation.id,
            "name": mutation.name,
            "client_time": mutation.client_time.isoformat() if mutation.client_time else None,
            "args": mutation.args,
        }
        mutator = REGISTRY.get(mutation.name)
        if mutator is None:
            return await self._reject(
                current, mutation, raw, "UNKNOWN_MUTATION", f"unknown mutation {mutation.name!r}", "name"
            )
        try:
            args = mutator.decode(mutation.args)
        except msgspec.ValidationError as error:
            field = _field_of(str(error))
            return await self._reject(current, mutation, raw, "INVALID_ARGS", f"args: {error}", field)
        context = MutationContext(
            current=self._as_client,
            jobs=self.jobs,
            blobs=self.blobs,
            client_time=mutation.client_time,
            raw=raw,
        )
        guarded = self._guarded is None or mutation.id in self._guarded
        try:
            check_device_time(mutation.client_time, "client_time")
            if guarded:
                async with savepoint(self.session):
                    outcome = await mutator.apply(context, args)
                    await settle_events(self.session)
            else:
                try:
                    outcome = await mutator.apply(context, args)
                    await settle_events(self.session)
                except (DomainError, IntegrityError, DataError):
                    raise _Refused(mutation.id) from None
        except BlobMissing as missing:
            return {
                "id": mutation.id,
                "status": "blocked",
                "code": "BLOB_MISSING",
                "blob": missing.blob,
                "message": missing.message,
            }
        except DomainError as error:
            return await self._reject(
                current, mutation, raw, _sync_code(error), error.message, error.field, args=args
            )
        except (IntegrityError, DataError) as error:
            # A value or reference the database refused (the services check first; this is the
            # backstop): the mutation alone is refused and kept.
            message = "a value or reference in args cannot be stored"
            if isinstance(error, IntegrityError):
                message = "args conflict with existing records (an id used for something else?)"
            return await self._reject(current, mutation, raw, "INVALID_ARGS", message, None, args=args)
        return {"id": mutation.id, **outcome.to_json()}

    async def _reject(
        self,
        current: CurrentUser,
        mutation: PushedMutation,
        raw: dict[str, Any],
        code: str,
        message: str,
        field: str | None,
        *,
        args: Any = None,
    ) -> dict[str, Any]:
        kind = ExceptionKind.duplicate_signoff if code == "ALREADY_SIGNED" else ExceptionKind.rejected
        job_id = getattr(args, "job_id", None)
        exception = await raise_exception(
            self.session,
            kind=kind,
            message=f"{mutation.name} #{mutation.id} rejected ({code}): {message}",
            user_id=current.id,
            raised_by_id=current.id,
            mutation={**raw, "code": code, "field": field},
            job_id=job_id,
        )
        result = {
            "id": mutation.id,
            "status": "rejected",
            "code": code,
            "message": message,
            "exception_id": str(exception.id),
        }
        if field:
            result["field"] = field
        return result


def _sync_code(error: DomainError) -> str:
    if isinstance(error, NotFound) and error.field in ("job_id", "handover_id"):
        return "FORBIDDEN"  # someone else's job or hand-over is outside the caller's scope
    if isinstance(error, NotFound):
        return "INVALID_ARGS"
    if isinstance(error, Forbidden):
        return "FORBIDDEN"
    if error.code in _GENERIC_INPUT_CODES:
        return "INVALID_ARGS"
    return error.code


def _field_of(message: str) -> str | None:
    """The field a msgspec error names: its path (``at `$.fields.priority```), with the unknown or
    missing field's own name after the path of the object that holds it."""
    at = _ERROR_PATH.search(message)
    named = _NAMED_FIELD.match(message)
    parts = (at.group(1) if at else "", named.group(1) if named else "")
    return ".".join(part for part in parts if part) or None


_ERROR_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_NAMED_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `([^`]+)`")
