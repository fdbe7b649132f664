"""Request and response bodies of the jobs API: customers, sites, units, procedures, jobs, the work
record, sign-off, approval. Requests refuse unknown fields and wrong types (msgspec, strict)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import MULTILINE_PATTERN, NAME_PATTERN, SINGLE_LINE_PATTERN, Request
from backend.inventory.schemas import AwareTime, Qty, Sha256, Size
from backend.jobs.models import ADDRESS_MAX, CODE_MAX, NAME_MAX, NOTE_MAX, TEXT_MAX

Name = Annotated[str, Meta(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]
Code = Annotated[str, Meta(min_length=1, max_length=CODE_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
Line = Annotated[str, Meta(max_length=NAME_MAX, pattern=SINGLE_LINE_PATTERN)]
Address = Annotated[str, Meta(max_length=ADDRESS_MAX, pattern=SINGLE_LINE_PATTERN)]
Note = Annotated[str, Meta(max_length=NOTE_MAX)]
Text = Annotated[str, Meta(max_length=TEXT_MAX)]
Reason = Annotated[str, Meta(max_length=NOTE_MAX)]
Lat = Annotated[float, Meta(ge=-90, le=90)]
Lon = Annotated[float, Meta(ge=-180, le=180)]
StepId = Annotated[str, Meta(min_length=1, max_length=CODE_MAX, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Rating = Annotated[int, Meta(ge=1, le=5)]
Reading = Annotated[float, Meta(ge=-1e9, le=1e9)]
# The serial a technician reads off the faulty unit they take out (empty: unreadable).
RemovedSerial = Annotated[str, Meta(max_length=80, pattern=SINGLE_LINE_PATTERN)]
JobTypeName = Literal["install", "maintenance", "repair", "inspection", "callback", "rework"]
PriorityName = Literal["low", "normal", "high", "urgent"]
StatusName = Literal[
    "new",
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "work_done",
    "incomplete",
    "awaiting_approval",
    "returned",
    "approved",
    "disputed",
    "cancelled",
]
RequirementName = Literal["photo", "reading", "check"]


class Geo(Request, kw_only=True):
    lat: Lat
    lon: Lon
    accuracy_m: Annotated[float, Meta(ge=0, le=100_000)] | None = None


# --- customers, sites, units ------------------------------------------------------------------------


class Contact(Request, kw_only=True):
    name: Name
    role: Line = ""
    phone: Annotated[str, Meta(max_length=40, pattern=r"^[0-9+()\- ]*$")] = ""
    email: Annotated[str, Meta(max_length=160, pattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$")] = ""


class CustomerCreate(Request, kw_only=True):
    name: Name
    code: Code | None = None
    contacts: Annotated[list[Contact], Meta(max_length=50)] = msgspec.field(default_factory=list)


class CustomerUpdate(Request, kw_only=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    contacts: Annotated[list[Contact], Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class CustomerRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    name: str
    code: str | None
    contacts: list[dict[str, str]]
    is_active: bool
    updated_at: datetime


class SiteCreate(Request, kw_only=True):
    customer_id: UUID
    name: Name
    code: Code | None = None
    address: Address = ""
    lat: Lat | None = None
    lon: Lon | None = None
    region: Line = ""
    access_notes: Note = ""


class SiteUpdate(Request, kw_only=True):
    # Another customer (e.g. for a site imported without one); its jobs follow.
    customer_id: UUID | msgspec.UnsetType = msgspec.UNSET
    name: Name | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    lat: Lat | msgspec.UnsetType | None = msgspec.UNSET
    lon: Lon | msgspec.UnsetType | None = msgspec.UNSET
    region: Line | msgspec.UnsetType = msgspec.UNSET
    access_notes: Note | msgspec.UnsetType = msgspec.UNSET


class SiteRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    customer_id: UUID
    name: str
    code: str | None
    address: str
    lat: float | None
    lon: float | None
    region: str
    access_notes: str
    location_id: UUID
    updated_at: datetime


class UnitCreate(Request, kw_only=True):
    asset_id: UUID
    position: Line = ""


class UnitRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    site_id: UUID
    asset_id: UUID
    model: str
    serial: str
    position: str
    is_active: bool
    updated_at: datetime


# --- procedures -------------------------------------------------------------------------------------


class StepWrite(Request, kw_only=True):
    id: StepId
    title: Name
    instructions: Text = ""
    requires: Annotated[list[RequirementName], Meta(max_length=3)] = msgspec.field(default_factory=list)
    reading_unit: Annotated[str, Meta(max_length=20, pattern=SINGLE_LINE_PATTERN)] = ""
    reading_min: Reading | None = None
    reading_max: Reading | None = None
    key_moment: bool = False
    monitoring_point: bool = False
    mandatory: bool = True


class ProcedurePublish(Request, kw_only=True):
    code: Code
    job_type: JobTypeName
    name: Name
    item_id: UUID | None = None
    steps: Annotated[list[StepWrite], Meta(min_length=1, max_length=200)]


class ProcedureRead(msgspec.Struct, kw_only=True):
    id: UUID
    code: str
    revision: int
    job_type: str
    name: str
    item_id: UUID | None
    steps: list[dict[str, Any]]
    is_current: bool
    created_at: datetime


# --- jobs -------------------------------------------------------------------------------------------


class JobCreate(Request, kw_only=True):
    """A dispatcher's job, or a service request from the repair line or an integration."""

    id: UUID | None = None
    type: JobTypeName
    site_id: UUID
    unit_id: UUID | None = None
    priority: PriorityName = "normal"
    description: Text = ""
    scheduled_start: AwareTime | None = None
    scheduled_end: AwareTime | None = None
    respond_by: AwareTime | None = None
    complete_by: AwareTime | None = None
    assignee_id: UUID | None = None
    team_id: UUID | None = None
    procedure_id: UUID | None = None
    external_ref: Annotated[str, Meta(min_length=1, max_length=80, pattern=SINGLE_LINE_PATTERN)] | None = None
    reported_by: Line = ""
    reporter_phone: Annotated[str, Meta(max_length=40, pattern=r"^[0-9+()\- ]*$")] = ""


class LinkedJobCreate(Request, kw_only=True):
    """A rework or a callback of a job."""

    id: UUID | None = None
    type: Literal["rework", "callback"]
    description: Text = ""
    assignee_id: UUID | None = None
    scheduled_start: AwareTime | None = None
    scheduled_end: AwareTime | None = None


class JobUpdate(Request, kw_only=True):
    base_version: Annotated[int, Meta(ge=1)] | None = None
    description: Text | msgspec.UnsetType = msgspec.UNSET
    priority: PriorityName | msgspec.UnsetType = msgspec.UNSET
    scheduled_start: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    scheduled_end: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    respond_by: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    complete_by: AwareTime | msgspec.UnsetType | None = msgspec.UNSET
    findings: Text | msgspec.UnsetType = msgspec.UNSET
    arrival_note: Note | msgspec.UnsetType = msgspec.UNSET
    departure_note: Note | msgspec.UnsetType = msgspec.UNSET
    meter_reading: Reading | msgspec.UnsetType | None = msgspec.UNSET


class Assign(Request, kw_only=True):
    assignee_id: UUID
    scheduled_start: AwareTime | None = None
    scheduled_end: AwareTime | None = None
    note: Note = ""


class Transition(Request, kw_only=True):
    to: StatusName
    reason: Reason = ""
    geo: Geo | None = None
    client_time: AwareTime | None = None


class StepRecord(Request, kw_only=True):
    result: Literal["pass", "fail", "na"]
    value: Reading | None = None
    note: Note = ""
    blobs: Annotated[list[Sha256], Meta(max_length=20)] = msgspec.field(default_factory=list)
    client_time: AwareTime | None = None


class LogCreate(Request, kw_only=True):
    log_id: UUID
    kind: Literal["note", "time", "reading"]
    text: Text = ""
    minutes: Annotated[int, Meta(ge=1, le=1440)] | None = None
    value: Reading | None = None
    client_time: AwareTime | None = None


class AttachmentCreate(Request, kw_only=True):
    attachment_id: UUID
    blob: Sha256
    step_id: StepId | None = None
    caption: Note = ""
    client_time: AwareTime | None = None


class PartUse(Request, kw_only=True):
    move_id: UUID
    item_id: UUID
    qty: Qty
    size: Size = ""
    asset_id: UUID | None = None
    from_location_id: UUID | None = None
    recorded_at: AwareTime | None = None


class SpareSwap(Request, kw_only=True):
    move_id: UUID
    unit_id: UUID
    spare_asset_id: UUID
    removed_serial: RemovedSerial = ""
    recorded_at: AwareTime | None = None


class SignoffCreate(Request, kw_only=True):
    signoff_id: UUID
    signer_name: Name
    signature_blob: Sha256
    accepted: bool
    rating: Rating
    rating_technical: Rating | None = None
    rating_service: Rating | None = None
    comment: Annotated[str, Meta(max_length=TEXT_MAX, pattern=MULTILINE_PATTERN)] = ""
    signed_at: AwareTime
    geo: Geo | None = None
    # SYNC.md 1.1: the phone's sha256 (lowercase hex) of the customer summary it showed, in the canonical
    # form of backend.jobs.signoff_canonical (docs/SYNC.md). A mismatch is kept, with an exception.
    client_hash: Sha256 | None = None


class Decision(Request, kw_only=True):
    decision: Literal["approve", "return"]
    reason: Reason = ""


class JobRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    number: str
    type: str
    status: str
    priority: str
    customer_id: UUID
    site_id: UUID
    unit_id: UUID | None
    procedure_id: UUID | None
    description: str
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    respond_by: datetime | None
    complete_by: datetime | None
    assignee_id: UUID | None
    team_id: UUID | None
    origin_job_id: UUID | None
    source: str
    external_ref: str | None
    reported_by: str
    reporter_phone: str
    findings: str
    arrival_note: str
    departure_note: str
    meter_reading: float | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    arrival_lat: float | None
    arrival_lon: float | None
    departed_at: datetime | None
    work_done_at: datetime | None
    submitted_at: datetime | None
    approved_at: datetime | None
    closed_at: datetime | None
    status_reason: str
    created_at: datetime
    updated_at: datetime
    # Names the phone and the board show without another request.
    customer_name: str = ""
    site_name: str = ""
    site_address: str = ""
    assignee_name: str = ""
    unit_serial: str = ""
    unit_model: str = ""


class HistoryRead(msgspec.Struct, kw_only=True):
    id: UUID
    at: datetime
    actor_id: UUID | None
    actor_name: str
    kind: str
    field: str
    old_value: Any
    new_value: Any
    note: str


class StepRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    job_id: UUID
    step_id: str
    title: str
    result: str
    value: float | None
    in_range: bool | None
    note: str
    blobs: list[str]
    key_moment: bool
    monitoring_point: bool
    updated_at: datetime


class LogRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    job_id: UUID
    kind: str
    text: str
    minutes: int | None
    value: float | None
    author_id: UUID | None
    client_time: datetime | None
    created_at: datetime


class AttachmentRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    job_id: UUID
    blob: str
    url: str
    thumbnail_url: str
    step_id: str | None
    caption: str
    captured_at: datetime | None
    gps_lat: float | None
    gps_lon: float | None
    created_at: datetime


class PartRead(msgspec.Struct, kw_only=True):
    move_id: UUID
    line: int
    operation: str
    item_id: UUID
    sku: str
    name: str
    asset_id: UUID | None
    serial: str | None
    size: str
    qty: int
    recorded_at: datetime


class SignoffRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    job_id: UUID
    signer_name: str
    accepted: bool
    rating: int
    rating_technical: int | None
    rating_service: int | None
    comment: str
    signed_at: datetime
    lat: float | None
    lon: float | None
    signature_blob: str
    signature_url: str
    hash: str
    # The phone's hash of the customer summary, the server's, and whether they agree (null: none sent).
    client_hash: str | None = None
    summary_hash: str | None = None
    hash_match: bool | None = None


class ApprovalRead(msgspec.Struct, kw_only=True):
    id: UUID
    version: int
    job_id: UUID
    decision: str
    reason: str
    decided_by: UUID
    decided_by_name: str
    decided_at: datetime
    turnaround_seconds: int | None


class VerificationRead(msgspec.Struct, kw_only=True):
    valid: bool
    hash: str
    recomputed_hash: str
    seal_valid: bool
    snapshot_intact: bool
    changed: list[str]
    amendments: list[HistoryRead]
    signature_intact: bool | None = None
    client_hash: str | None = None
    summary_hash: str | None = None
    hash_match: bool | None = None


class Evidence(msgspec.Struct, kw_only=True):
    """Everything a supervisor needs to approve a job, in one response."""

    job: JobRead
    procedure: ProcedureRead | None
    steps: list[StepRead]
    missing_steps: list[str]
    logs: list[LogRead]
    attachments: list[AttachmentRead]
    parts: list[PartRead]
    signoff: SignoffRead | None
    verification: VerificationRead | None
    approvals: list[ApprovalRead]
    minutes_logged: int


class QueuePage(msgspec.Struct, kw_only=True):
    total: int
    items: list[Evidence]


class BoardColumn(msgspec.Struct, kw_only=True):
    status: str
    count: int
    jobs: list[JobRead]


class Board(msgspec.Struct, kw_only=True):
    team_ids: list[UUID]
    columns: list[BoardColumn]


class DispatchWarning(msgspec.Struct, kw_only=True):
    """Something dispatch should know about an assignment that still went ahead: the assignee lacks a
    course the job type requires (TRAINING_MISSING, TRAINING_EXPIRED, TRAINING_FAILED)."""

    code: str
    course: str
    message: str


class CreatedJob(msgspec.Struct, kw_only=True):
    job: JobRead
    created: bool
    warnings: list[DispatchWarning] = msgspec.field(default_factory=list)


class AssignedJob(JobRead, kw_only=True):
    """The job after an assignment, with what dispatch should know about the assignee."""

    warnings: list[DispatchWarning] = msgspec.field(default_factory=list)


class BlobRead(msgspec.Struct, kw_only=True):
    sha256: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    captured_at: datetime | None
    gps_lat: float | None
    gps_lon: float | None
    url: str
    thumbnail_url: str
    created: bool
