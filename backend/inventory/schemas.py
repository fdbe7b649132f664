"""Request and response bodies of the inventory and custody API.

Requests refuse unknown fields and wrong types (msgspec, strict). Every operation carries the
client's ``move_id``: sending the same one again is a no-op answered with the first result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import MULTILINE_PATTERN, NAME_PATTERN, SINGLE_LINE_PATTERN, Request
from backend.inventory.models import NAME_MAX, NOTE_MAX, REGION_MAX, SERIAL_MAX, SIZE_MAX, SKU_MAX
from backend.sync.models import EXCEPTION_BLOBS_MAX, EXCEPTION_NOTE_MAX

Qty = Annotated[int, Meta(gt=0, le=1_000_000)]
Size = Annotated[str, Meta(max_length=SIZE_MAX, pattern=SINGLE_LINE_PATTERN)]
Sku = Annotated[str, Meta(min_length=1, max_length=SKU_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
Name = Annotated[str, Meta(max_length=NAME_MAX, pattern=NAME_PATTERN)]
Serial = Annotated[
    str, Meta(min_length=1, max_length=SERIAL_MAX, pattern=r"^[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$")
]
Note = Annotated[str, Meta(max_length=NOTE_MAX)]
HandoverReason = Annotated[str, Meta(max_length=NOTE_MAX, pattern=MULTILINE_PATTERN)]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
# A damaged or lost return's account and photos, kept with the exception it raises.
ReturnNote = Annotated[str, Meta(max_length=EXCEPTION_NOTE_MAX, pattern=MULTILINE_PATTERN)]
ReturnPhotos = Annotated[list[Sha256], Meta(max_length=EXCEPTION_BLOBS_MAX)]
Region = Annotated[str, Meta(max_length=REGION_MAX, pattern=SINGLE_LINE_PATTERN)]
ItemKindName = Literal["tool", "toolbox", "uniform", "vehicle", "spare_unit", "part", "consumable"]
ServiceKindName = Literal["calibration", "inspection", "maintenance"]
LocationKindName = Literal["depot", "vehicle", "person", "site", "repair", "written_off"]
AssetStatusName = Literal["in_stock", "in_custody", "in_transit", "installed", "in_repair", "written_off"]
HandoverStatusName = Literal["pending", "accepted", "declined"]
ExceptionStatusName = Literal["open", "resolved"]
ExceptionKindName = Literal[
    "rejected",
    "custody_conflict",
    "stock_discrepancy",
    "damaged",
    "lost",
    "duplicate_signoff",
    "signoff_mismatch",
]
Days = Annotated[int, Meta(ge=1, le=3650)]
# Times from devices must say their offset; a naive time is ambiguous across time zones.
AwareTime = Annotated[datetime, Meta(tz=True)]


# --- catalog ---------------------------------------------------------------------------------------


class KitLine(Request):
    item_id: UUID
    qty: Annotated[int, Meta(ge=1, le=1000)] = 1


class ItemCreate(Request):
    sku: Sku
    name: Name
    kind: ItemKindName
    # Default: serial for tools, toolboxes, vehicles and spare units; quantity for the rest.
    tracking: Literal["serial", "quantity"] | None = None
    unit: Annotated[str, Meta(min_length=1, max_length=12, pattern=SINGLE_LINE_PATTERN)] = "ea"
    sizes: Annotated[list[Size], Meta(max_length=30)] = msgspec.field(default_factory=list)
    service_kind: ServiceKindName | None = None
    service_interval_days: Days | None = None
    loan_days: Days | None = None
    contents: Annotated[list[KitLine], Meta(max_length=100)] = msgspec.field(default_factory=list)


class ItemUpdate(Request):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    unit: Annotated[str, Meta(min_length=1, max_length=12)] | msgspec.UnsetType = msgspec.UNSET
    sizes: Annotated[list[Size], Meta(max_length=30)] | msgspec.UnsetType = msgspec.UNSET
    service_kind: ServiceKindName | msgspec.UnsetType | None = msgspec.UNSET
    service_interval_days: Days | msgspec.UnsetType | None = msgspec.UNSET
    loan_days: Days | msgspec.UnsetType | None = msgspec.UNSET
    contents: Annotated[list[KitLine], Meta(max_length=100)] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class ItemRead(msgspec.Struct, kw_only=True):
    id: UUID
    sku: str
    name: str
    kind: str
    tracking: str
    unit: str
    sizes: list[str]
    service_kind: str | None
    service_interval_days: int | None
    loan_days: int | None
    contents: list[KitLine]
    is_active: bool
    version: int
    updated_at: datetime


class LocationCreate(Request):
    kind: Literal["depot", "site", "repair", "written_off"]
    name: Name
    code: (
        Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] | None
    ) = None
    region: Region = ""
    address: Annotated[str, Meta(max_length=300, pattern=SINGLE_LINE_PATTERN)] = ""


class LocationRead(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    name: str
    code: str | None
    region: str
    address: str
    user_id: UUID | None
    is_active: bool
    version: int
    updated_at: datetime


class AssetRead(msgspec.Struct, kw_only=True):
    id: UUID
    item_id: UUID
    sku: str
    item_name: str
    kind: str
    serial: str
    status: str
    condition: str
    location_id: UUID
    holder_id: UUID | None
    region: str
    parent_asset_id: UUID | None
    vehicle_location_id: UUID | None
    due_at: datetime | None
    due_kind: str | None
    last_serviced_at: datetime | None
    return_due_at: datetime | None
    installed_at: datetime | None
    overdue: bool
    version: int
    updated_at: datetime


class BalanceRead(msgspec.Struct, kw_only=True):
    id: UUID
    location_id: UUID
    item_id: UUID
    sku: str
    item_name: str
    kind: str
    unit: str
    size: str
    qty: int
    version: int


class MovementRead(msgspec.Struct, kw_only=True):
    id: UUID
    move_id: UUID
    line: int
    operation: str
    from_location_id: UUID | None
    to_location_id: UUID | None
    item_id: UUID
    asset_id: UUID | None
    size: str
    qty: int
    condition: str | None
    job_id: UUID | None
    actor_id: UUID
    custodian_id: UUID | None
    reason: str
    recorded_at: datetime
    received_at: datetime


class ServiceRecordRead(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    performed_at: datetime
    actor_id: UUID
    note: str
    next_due_at: datetime | None


class AssetHistory(msgspec.Struct, kw_only=True):
    asset: AssetRead
    movements: list[MovementRead]
    services: list[ServiceRecordRead]


class HandoverRead(msgspec.Struct, kw_only=True):
    id: UUID
    move_id: UUID
    from_user_id: UUID
    to_user_id: UUID
    from_location_id: UUID
    item_id: UUID
    asset_id: UUID | None
    size: str
    qty: int
    status: str
    note: str
    recorded_at: datetime
    decided_at: datetime | None


class Custody(msgspec.Struct, kw_only=True):
    """What one technician holds: on their person and in their van."""

    user_id: UUID
    display_name: str
    person_location_id: UUID | None
    vehicle: AssetRead | None
    vehicle_location_id: UUID | None
    assets: list[AssetRead]
    stock: list[BalanceRead]
    handovers_in: list[HandoverRead]
    handovers_out: list[HandoverRead]
    overdue_count: int


class LocationStock(msgspec.Struct, kw_only=True):
    location: LocationRead
    stock: list[BalanceRead]
    assets: list[AssetRead]


# --- operations ------------------------------------------------------------------------------------


class Operation(Request, kw_only=True):
    move_id: UUID
    recorded_at: AwareTime | None = None
    reason: Note = ""


class ReceiveAsset(Request):
    serial: Serial
    due_at: AwareTime | None = None


class ReceiveRequest(Operation, kw_only=True):
    to_location_id: UUID
    item_id: UUID
    qty: Qty | None = None
    size: Size = ""
    assets: Annotated[list[ReceiveAsset], Meta(max_length=500)] = msgspec.field(default_factory=list)


class CheckoutRequest(Operation, kw_only=True):
    from_location_id: UUID
    asset_id: UUID | None = None
    item_id: UUID | None = None
    qty: Qty | None = None
    size: Size = ""
    user_id: UUID | None = None
    to_vehicle: bool = False
    job_id: UUID | None = None


class IssueUniformRequest(Operation, kw_only=True):
    user_id: UUID
    item_id: UUID
    size: Size
    qty: Qty
    from_location_id: UUID


class ReturnRequest(Operation, kw_only=True):
    to_location_id: UUID
    condition: Literal["ok", "damaged", "lost"]
    asset_id: UUID | None = None
    item_id: UUID | None = None
    qty: Qty | None = None
    size: Size = ""
    user_id: UUID | None = None
    from_location_id: UUID | None = None
    note: ReturnNote = ""
    blobs: ReturnPhotos = msgspec.field(default_factory=list)


class TransferRequest(Operation, kw_only=True):
    to_user_id: UUID
    asset_id: UUID | None = None
    item_id: UUID | None = None
    qty: Qty | None = None
    size: Size = ""
    user_id: UUID | None = None
    from_location_id: UUID | None = None


class HandoverDecision(Operation, kw_only=True):
    to_vehicle: bool = False
    # A decline's reason goes into the custody conflict it raises: no NUL or other control character.
    reason: HandoverReason = ""


class ConsumeRequest(Operation, kw_only=True):
    job_id: UUID
    item_id: UUID
    qty: Qty
    size: Size = ""
    asset_id: UUID | None = None
    from_location_id: UUID | None = None
    user_id: UUID | None = None


class SwapRequest(Operation, kw_only=True):
    job_id: UUID
    installed_asset_id: UUID
    spare_asset_id: UUID
    removed_serial: Annotated[str, Meta(max_length=SERIAL_MAX, pattern=SINGLE_LINE_PATTERN)]
    repair_location_id: UUID | None = None
    user_id: UUID | None = None


class InstallRequest(Operation, kw_only=True):
    asset_id: UUID
    site_location_id: UUID
    job_id: UUID | None = None


class RepairSendRequest(Operation, kw_only=True):
    asset_id: UUID
    to_location_id: UUID


class RepairReceiveRequest(Operation, kw_only=True):
    asset_id: UUID
    to_location_id: UUID
    repaired: bool


class CountLineIn(Request):
    item_id: UUID
    counted: Annotated[int, Meta(ge=0, le=1_000_000)]
    size: Size = ""


class CountRequest(Operation, kw_only=True):
    location_id: UUID
    lines: Annotated[list[CountLineIn], Meta(min_length=1, max_length=500)]


class VehicleAssignRequest(Operation, kw_only=True):
    user_id: UUID


class VehicleUnassignRequest(Operation, kw_only=True):
    to_location_id: UUID


class ServiceRequest(Request):
    kind: ServiceKindName
    performed_at: AwareTime | None = None
    note: Note = ""


class OperationResultRead(msgspec.Struct, kw_only=True):
    move_id: UUID
    operation: str
    duplicate: bool
    movement_ids: list[UUID]
    exception_ids: list[UUID]
    asset_ids: list[UUID]
    handover_id: UUID | None


# --- exceptions ------------------------------------------------------------------------------------


class ExceptionRead(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    status: str
    message: str
    mutation: dict | None
    user_id: UUID | None
    team_id: UUID | None
    raised_by_id: UUID | None
    move_id: UUID | None
    item_id: UUID | None
    asset_id: UUID | None
    location_id: UUID | None
    job_id: UUID | None
    other_user_id: UUID | None
    qty: int | None
    note: str
    blobs: list[str]
    outcome: str | None
    resolution: str
    resolved_by_id: UUID | None
    resolved_at: datetime | None
    created_at: datetime
    version: int


class ExceptionPage(msgspec.Struct, kw_only=True):
    total: int
    items: list[ExceptionRead]


class ResolveRequest(Request):
    outcome: Literal["confirmed", "corrected", "written_off", "charged", "dismissed"]
    resolution: Annotated[str, Meta(min_length=1, max_length=1000, pattern=r"^(?=[\s\S]*\S)[\s\S]*$")]


# --- spares ----------------------------------------------------------------------------------------


class SparePolicyWrite(Request):
    item_id: UUID
    region: Annotated[str, Meta(min_length=1, max_length=REGION_MAX, pattern=NAME_PATTERN)]
    ratio: Annotated[float, Meta(ge=0, le=1)] = 0.01
    minimum: Annotated[int, Meta(ge=0, le=100_000)] = 0


class SparePolicyRead(msgspec.Struct, kw_only=True):
    item_id: UUID
    region: str
    ratio: float
    minimum: int


class SpareReportLine(msgspec.Struct, kw_only=True):
    item_id: UUID
    sku: str
    model: str
    region: str
    installed: int
    ratio: float
    minimum: int
    required: int
    serviceable: int
    in_repair: int
    in_transit: int
    shortage: int


class SpareShortageRead(msgspec.Struct, kw_only=True):
    item_id: UUID
    region: str
    shortage: int
    required: int
    serviceable: int
    opened_at: datetime
    closed_at: datetime | None
