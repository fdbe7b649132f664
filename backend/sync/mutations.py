"""The v1 mutation catalog (SYNC.md, Mutations): each name, its arguments, and the domain service call
it makes. The services are the same ones the REST API calls; no rule lives here twice. A mutator
returns what the push answers for it: ``applied`` or ``merged`` (with ``overridden_fields``,
``refused_fields`` or ``exception_id``), and the record's version where there is one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import Request
from backend.auth.services import CurrentUser
from backend.errors import InvalidInput
from backend.inventory.schemas import AwareTime, HandoverReason, Qty, ReturnNote, ReturnPhotos, Size
from backend.inventory.services import InventoryService, OperationContext, OperationResult, Stock
from backend.jobs import schemas as job_schemas
from backend.jobs.blobs import BlobService
from backend.jobs.services import Geo, JobService
from backend.quality.feedback.schemas import SelfAssessment
from backend.quality.schemas import ReportFields

NoteText = job_schemas.Note


# --- arguments ---------------------------------------------------------------------------------------


class StockArgs(Request, kw_only=True):
    move_id: UUID
    asset_id: UUID | None = None
    item_id: UUID | None = None
    qty: Qty | None = None
    size: Size = ""


class CheckoutArgs(StockArgs, kw_only=True):
    from_location_id: UUID
    job_id: UUID | None = None
    to_vehicle: bool = False


class ReturnArgs(StockArgs, kw_only=True):
    to_location_id: UUID
    condition: Literal["ok", "damaged", "lost"]
    from_location_id: UUID | None = None
    note: ReturnNote = ""
    blobs: ReturnPhotos = msgspec.field(default_factory=list)


class TransferArgs(StockArgs, kw_only=True):
    to_user_id: UUID
    from_location_id: UUID | None = None
    note: NoteText = ""


class AcceptArgs(Request, kw_only=True):
    move_id: UUID
    handover_id: UUID
    to_vehicle: bool = False


class DeclineArgs(Request, kw_only=True):
    move_id: UUID
    handover_id: UUID
    reason: HandoverReason = ""


class ConsumeArgs(Request, kw_only=True):
    move_id: UUID
    job_id: UUID
    item_id: UUID
    qty: Qty
    size: Size = ""
    asset_id: UUID | None = None
    from_location_id: UUID | None = None


class SwapArgs(Request, kw_only=True):
    move_id: UUID
    job_id: UUID
    unit_id: UUID
    spare_asset_id: UUID
    removed_serial: job_schemas.RemovedSerial = ""


class TransitionArgs(Request, kw_only=True):
    job_id: UUID
    to: job_schemas.StatusName
    reason: job_schemas.Reason = ""
    geo: job_schemas.Geo | None = None


class JobFields(Request, kw_only=True):
    description: job_schemas.Text | msgspec.UnsetType = msgspec.UNSET
    priority: job_schemas.PriorityName | msgspec.UnsetType = msgspec.UNSET
    scheduled_start: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    scheduled_end: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    respond_by: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    complete_by: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    findings: job_schemas.Text | msgspec.UnsetType = msgspec.UNSET
    arrival_note: NoteText | msgspec.UnsetType = msgspec.UNSET
    departure_note: NoteText | msgspec.UnsetType = msgspec.UNSET
    meter_reading: job_schemas.Reading | msgspec.UnsetType | None = msgspec.UNSET


class UpdateArgs(Request, kw_only=True):
    job_id: UUID
    base_version: Annotated[int, Meta(ge=1)]
    fields: JobFields


class StepArgs(Request, kw_only=True):
    job_id: UUID
    step_id: job_schemas.StepId
    result: Literal["pass", "fail", "na"]
    value: job_schemas.Reading | None = None
    note: NoteText = ""
    blobs: Annotated[list[job_schemas.Sha256], Meta(max_length=20)] = msgspec.field(default_factory=list)


class LogArgs(Request, kw_only=True):
    log_id: UUID
    job_id: UUID
    kind: Literal["note", "time", "reading"]
    text: job_schemas.Text = ""
    minutes: Annotated[int, Meta(ge=1, le=1440)] | None = None
    value: job_schemas.Reading | None = None


class AttachArgs(Request, kw_only=True):
    attachment_id: UUID
    job_id: UUID
    blob: job_schemas.Sha256
    step_id: job_schemas.StepId | None = None
    caption: NoteText = ""


# Where a mutation's args are its REST body plus the job (which REST has in the path), they are that.
class SignoffArgs(job_schemas.SignoffCreate, kw_only=True):
    job_id: UUID


class ApproveArgs(job_schemas.Decision, kw_only=True):
    job_id: UUID


class SelfAssessArgs(SelfAssessment, kw_only=True):
    assessment_id: UUID
    job_id: UUID


# --- what a mutator gets and answers ----------------------------------------------------------------


@dataclass
class MutationContext:
    current: CurrentUser
    jobs: JobService
    blobs: BlobService
    client_time: datetime | None
    # The mutation as it arrived, kept with any exception it raises.
    raw: dict[str, Any]

    @property
    def inventory(self) -> InventoryService:
        return InventoryService(self.jobs.session)

    def operation(self, move_id: UUID, job_id: UUID | None = None) -> OperationContext:
        return OperationContext(
            actor=self.current, move_id=move_id, recorded_at=self.client_time, job_id=job_id, args=self.raw
        )


@dataclass
class Outcome:
    status: str = "applied"  # or "merged"
    version: int | None = None
    overridden_fields: list[str] | None = None
    # job.update (SYNC.md 1.1): fields the caller's role may not change, kept in the job's history.
    refused_fields: list[str] | None = None
    exception_ids: list[UUID] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.version is not None:
            out["version"] = self.version
        if self.overridden_fields:
            out["overridden_fields"] = self.overridden_fields
        if self.refused_fields:
            out["refused_fields"] = self.refused_fields
        if self.exception_ids:
            out["exception_id"] = str(self.exception_ids[0])
            out["exception_ids"] = [str(e) for e in self.exception_ids]
        return out


def _from_operation(result: OperationResult) -> Outcome:
    if result.exception_ids:
        return Outcome("merged", exception_ids=list(result.exception_ids))
    return Outcome()


def _stock(args: StockArgs) -> Stock:
    if (args.asset_id is None) == (args.item_id is None):
        raise InvalidInput("name either asset_id or item_id (with qty)", field="asset_id")
    if args.item_id is not None and args.qty is None:
        raise InvalidInput("a quantity of an item needs qty", field="qty")
    return Stock(asset_id=args.asset_id, item_id=args.item_id, qty=args.qty, size=args.size)


# --- the mutators --------------------------------------------------------------------------------------


async def custody_checkout(ctx: MutationContext, args: CheckoutArgs) -> Outcome:
    if args.job_id is not None:
        await ctx.jobs.check_stock_for_job(ctx.current, args.job_id)
    result = await ctx.inventory.checkout(
        ctx.operation(args.move_id, args.job_id),
        _stock(args),
        from_location_id=args.from_location_id,
        to_vehicle=args.to_vehicle,
    )
    return _from_operation(result)


async def custody_return(ctx: MutationContext, args: ReturnArgs) -> Outcome:
    result = await ctx.inventory.return_(
        ctx.operation(args.move_id),
        _stock(args),
        to_location_id=args.to_location_id,
        condition=args.condition,
        from_location_id=args.from_location_id,
        note=args.note,
        blobs=args.blobs,
    )
    return _from_operation(result)


async def custody_transfer(ctx: MutationContext, args: TransferArgs) -> Outcome:
    op = ctx.operation(args.move_id)
    if args.note:
        op = OperationContext(**{**op.__dict__, "reason": args.note})
    result = await ctx.inventory.transfer(
        op, _stock(args), to_user_id=args.to_user_id, from_location_id=args.from_location_id
    )
    return _from_operation(result)


async def custody_accept(ctx: MutationContext, args: AcceptArgs) -> Outcome:
    # The receiver's answer is a fact recorded offline: one that comes after the hand-over was decided is
    # kept, with a custody conflict, never refused (SYNC.md 1.1).
    result = await ctx.inventory.decide_handover(
        ctx.operation(args.move_id),
        args.handover_id,
        accept=True,
        to_vehicle=args.to_vehicle,
        record_late_answer=True,
    )
    return _from_operation(result)


async def custody_decline(ctx: MutationContext, args: DeclineArgs) -> Outcome:
    op = ctx.operation(args.move_id)
    if args.reason:
        op = OperationContext(**{**op.__dict__, "reason": args.reason})
    result = await ctx.inventory.decide_handover(op, args.handover_id, accept=False, record_late_answer=True)
    return _from_operation(result)


async def stock_consume(ctx: MutationContext, args: ConsumeArgs) -> Outcome:
    result = await ctx.jobs.use_part(
        ctx.current,
        args.job_id,
        args.move_id,
        args.item_id,
        args.qty,
        size=args.size,
        asset_id=args.asset_id,
        from_location_id=args.from_location_id,
        recorded_at=ctx.client_time,
        args=ctx.raw,
    )
    return _from_operation(result)


async def spare_swap(ctx: MutationContext, args: SwapArgs) -> Outcome:
    result = await ctx.jobs.swap_spare(
        ctx.current,
        args.job_id,
        args.move_id,
        args.unit_id,
        args.spare_asset_id,
        args.removed_serial,
        recorded_at=ctx.client_time,
        args=ctx.raw,
    )
    return _from_operation(result)


def _geo(geo: job_schemas.Geo | None) -> Geo | None:
    return Geo(lat=geo.lat, lon=geo.lon, accuracy_m=geo.accuracy_m) if geo else None


async def job_transition(ctx: MutationContext, args: TransitionArgs) -> Outcome:
    job = await ctx.jobs.transition(
        ctx.current, args.job_id, args.to, reason=args.reason, geo=_geo(args.geo), client_time=ctx.client_time
    )
    return Outcome(version=job.version)


async def job_update(ctx: MutationContext, args: UpdateArgs) -> Outcome:
    changes = {
        name: getattr(args.fields, name)
        for name in args.fields.__struct_fields__
        if getattr(args.fields, name) is not msgspec.UNSET
    }
    if not changes:
        raise InvalidInput("fields names nothing to change", field="fields")
    merged = await ctx.jobs.merge_update(ctx.current, args.job_id, changes, base_version=args.base_version)
    if merged.overridden or merged.refused:
        return Outcome(
            "merged",
            version=merged.job.version,
            overridden_fields=merged.overridden,
            refused_fields=merged.refused,
        )
    return Outcome(version=merged.job.version)


async def job_step(ctx: MutationContext, args: StepArgs) -> Outcome:
    row = await ctx.jobs.record_step(
        ctx.current,
        args.job_id,
        args.step_id,
        args.result,
        value=args.value,
        note=args.note,
        blobs=args.blobs,
        client_time=ctx.client_time,
    )
    return Outcome(version=row.version)


async def job_log(ctx: MutationContext, args: LogArgs) -> Outcome:
    made = await ctx.jobs.add_log(
        ctx.current,
        args.log_id,
        args.job_id,
        args.kind,
        text=args.text,
        minutes=args.minutes,
        value=args.value,
        client_time=ctx.client_time,
    )
    return Outcome(version=made.record.version)


async def job_attach(ctx: MutationContext, args: AttachArgs) -> Outcome:
    made = await ctx.jobs.attach(
        ctx.current,
        args.attachment_id,
        args.job_id,
        args.blob,
        step_id=args.step_id,
        caption=args.caption,
        client_time=ctx.client_time,
    )
    return Outcome(version=made.record.version)


async def job_signoff(ctx: MutationContext, args: SignoffArgs) -> Outcome:
    made = await ctx.jobs.signoff(
        ctx.current,
        args.signoff_id,
        args.job_id,
        signer_name=args.signer_name,
        signature_blob=args.signature_blob,
        accepted=args.accepted,
        rating=args.rating,
        rating_technical=args.rating_technical,
        rating_service=args.rating_service,
        comment=args.comment,
        signed_at=args.signed_at,
        geo=_geo(args.geo),
        check_signature=ctx.blobs.check_signature_blob,
        client_hash=args.client_hash,
        args=ctx.raw,
    )
    # A client_hash that differs from the server's is kept, with an exception: merged (SYNC.md 1.1).
    raised = made.extra.get("exception_ids")
    if raised:
        return Outcome("merged", version=made.record.version, exception_ids=list(raised))
    return Outcome(version=made.record.version)


async def job_approve(ctx: MutationContext, args: ApproveArgs) -> Outcome:
    approval = await ctx.jobs.decide(ctx.current, args.job_id, args.decision, args.reason)
    return Outcome(version=approval.version)


async def job_self_assess(ctx: MutationContext, args: SelfAssessArgs) -> Outcome:
    from backend.quality.feedback.services import FeedbackService

    await FeedbackService(ctx.jobs.session).self_assess(
        ctx.current,
        args.job_id,
        args.overall,
        args.technical,
        args.service,
        args.comment,
        assessment_id=args.assessment_id,
    )
    return Outcome()


async def quality_report(ctx: MutationContext, args: ReportFields) -> Outcome:
    from backend.quality.services import QualityService

    made = await QualityService(ctx.jobs.session, ctx.jobs).report(
        ctx.current,
        args.report_id,
        args.kind,
        args.text,
        job_id=args.job_id,
        blobs=args.blobs,
        client_time=ctx.client_time,
    )
    return Outcome(version=made.record.version)


@dataclass(frozen=True)
class Mutator:
    args: type[Request]
    apply: Callable[[MutationContext, Any], Awaitable[Outcome]]

    def decode(self, args: dict[str, Any]) -> Any:
        """The arguments as this mutation's struct (JSON types: ids and times arrive as strings);
        ``msgspec.ValidationError`` names the field at fault."""
        return msgspec.convert(args, self.args, strict=False)


REGISTRY: dict[str, Mutator] = {
    "custody.checkout": Mutator(CheckoutArgs, custody_checkout),
    "custody.return": Mutator(ReturnArgs, custody_return),
    "custody.transfer": Mutator(TransferArgs, custody_transfer),
    "custody.accept": Mutator(AcceptArgs, custody_accept),
    "custody.decline": Mutator(DeclineArgs, custody_decline),
    "stock.consume": Mutator(ConsumeArgs, stock_consume),
    "spare.swap": Mutator(SwapArgs, spare_swap),
    "job.transition": Mutator(TransitionArgs, job_transition),
    "job.update": Mutator(UpdateArgs, job_update),
    "job.step": Mutator(StepArgs, job_step),
    "job.log": Mutator(LogArgs, job_log),
    "job.attach": Mutator(AttachArgs, job_attach),
    "job.signoff": Mutator(SignoffArgs, job_signoff),
    "job.approve": Mutator(ApproveArgs, job_approve),
    "job.self_assess": Mutator(SelfAssessArgs, job_self_assess),
    "quality.report": Mutator(ReportFields, quality_report),
}
