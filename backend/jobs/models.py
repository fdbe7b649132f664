"""Jobs and what hangs off them: customers, sites and installed units (the installed base shared with
inventory), standard procedures, jobs with their history, the work record (steps, logs, attachments),
media blobs, the customer's sign-off and the supervisor's approvals.

A site *is* an inventory location of kind ``site``: ``site.location_id`` links the two, so the ATMs
installed there are the inventory's assets at that location. A ``unit`` is the service position at a
site (the ATM in the lobby of branch X); ``unit.asset_id`` is the physical machine standing there now.
A spare swap changes the asset and keeps the unit, so the unit's job history survives the swap.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db import Entity, SyncedEntity, utcnow

NAME_MAX = 160
CODE_MAX = 40
ADDRESS_MAX = 300
TEXT_MAX = 4000
NOTE_MAX = 1000
SHA256_HEX = 64


class JobType(StrEnum):
    install = "install"
    maintenance = "maintenance"
    repair = "repair"
    inspection = "inspection"
    callback = "callback"
    rework = "rework"


class JobStatus(StrEnum):
    new = "new"
    assigned = "assigned"
    accepted = "accepted"
    en_route = "en_route"
    on_site = "on_site"
    work_done = "work_done"
    incomplete = "incomplete"
    awaiting_approval = "awaiting_approval"
    returned = "returned"
    approved = "approved"
    disputed = "disputed"
    cancelled = "cancelled"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class StepRequirement(StrEnum):
    photo = "photo"
    reading = "reading"
    check = "check"


class StepResult(StrEnum):
    passed = "pass"
    failed = "fail"
    not_applicable = "na"


class LogKind(StrEnum):
    note = "note"
    time = "time"
    reading = "reading"


class ApprovalDecision(StrEnum):
    approve = "approve"
    return_ = "return"


class Customer(SyncedEntity, table=True):
    __tablename__ = "customer"
    __entity_name__ = "customer"

    name: str = Field(max_length=NAME_MAX, nullable=False)
    code: str | None = Field(default=None, max_length=CODE_MAX, unique=True)
    # [{"name", "role", "phone", "email"}]: the people to call about a site or a complaint.
    contacts: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_active: bool = Field(default=True, nullable=False)


class Site(SyncedEntity, table=True):
    __tablename__ = "site"
    __entity_name__ = "site"

    customer_id: UUID = Field(foreign_key="customer.id", nullable=False, index=True, ondelete="RESTRICT")
    name: str = Field(max_length=NAME_MAX, nullable=False)
    code: str | None = Field(default=None, max_length=CODE_MAX, unique=True)
    address: str = Field(default="", max_length=ADDRESS_MAX, nullable=False)
    lat: float | None = Field(default=None)
    lon: float | None = Field(default=None)
    region: str = Field(default="", max_length=80, nullable=False)
    # How to get in: opening hours, the branch contact, the key safe.
    access_notes: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    # The inventory location whose assets are the units installed here.
    location_id: UUID = Field(foreign_key="location.id", nullable=False, unique=True, ondelete="RESTRICT")


class Unit(SyncedEntity, table=True):
    """An installed unit: a service position at a site and the asset standing in it now."""

    __tablename__ = "unit"
    __entity_name__ = "unit"

    site_id: UUID = Field(foreign_key="site.id", nullable=False, index=True, ondelete="RESTRICT")
    asset_id: UUID = Field(foreign_key="asset.id", nullable=False, unique=True, ondelete="RESTRICT")
    # Denormalised from the asset and its item so a phone can show them without the catalog.
    model: str = Field(max_length=NAME_MAX, nullable=False)
    serial: str = Field(max_length=80, nullable=False)
    position: str = Field(default="", max_length=NAME_MAX, nullable=False)
    is_active: bool = Field(default=True, nullable=False)


class Procedure(SyncedEntity, table=True):
    """One published revision of a job type's standard procedure.

    Revisions are immutable: editing a procedure publishes a new row with ``revision + 1`` and
    retires the old one, so a job keeps the exact steps it was given. (``version`` is the row's sync
    version, as on every synced entity; the procedure's own version is ``revision``.)
    """

    __tablename__ = "procedure"
    __entity_name__ = "procedure"
    __table_args__ = (UniqueConstraint("code", "revision", name="uq_procedure_code_revision"),)

    # The family every revision of one procedure shares (e.g. "ATM-PM").
    code: str = Field(max_length=CODE_MAX, nullable=False, index=True)
    revision: int = Field(default=1, nullable=False)
    job_type: str = Field(max_length=20, nullable=False, index=True)
    name: str = Field(max_length=NAME_MAX, nullable=False)
    # Which item (ATM model) it is for; none means every model.
    item_id: UUID | None = Field(default=None, foreign_key="item.id", ondelete="RESTRICT")
    # [{"id", "title", "instructions", "requires": ["photo"|"reading"|"check"], "reading_unit",
    #   "reading_min", "reading_max", "key_moment", "monitoring_point", "mandatory"}], in order.
    steps: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_current: bool = Field(default=True, nullable=False)
    published_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")


class Counter(SQLModel, table=True):
    """Human-readable number ranges (job numbers): one row per name, incremented in the transaction
    that uses the number, so numbers are unique on every database without a sequence."""

    __tablename__ = "counter"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(default=0, nullable=False)


class Job(SyncedEntity, table=True):
    __tablename__ = "job"
    __entity_name__ = "job"
    __table_args__ = (
        # The approval queue and the team board: a team's jobs by status.
        Index("ix_job_team_status", "team_id", "status", "scheduled_start"),
        # A technician's list: their jobs by date.
        Index("ix_job_assignee_start", "assignee_id", "scheduled_start"),
    )

    number: str = Field(max_length=20, nullable=False, unique=True)
    type: str = Field(max_length=20, nullable=False)
    status: str = Field(default=JobStatus.new, max_length=20, nullable=False, index=True)
    priority: str = Field(default=Priority.normal, max_length=10, nullable=False)
    customer_id: UUID = Field(foreign_key="customer.id", nullable=False, index=True, ondelete="RESTRICT")
    site_id: UUID = Field(foreign_key="site.id", nullable=False, index=True, ondelete="RESTRICT")
    unit_id: UUID | None = Field(default=None, foreign_key="unit.id", index=True, ondelete="RESTRICT")
    procedure_id: UUID | None = Field(default=None, foreign_key="procedure.id", ondelete="RESTRICT")
    description: str = Field(default="", max_length=TEXT_MAX, nullable=False)
    scheduled_start: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    scheduled_end: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    # Targets from the priority when the request came in: reach the site by, finish by.
    respond_by: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    complete_by: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    assignee_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", ondelete="RESTRICT")
    # A follow-up of an incomplete job, a rework or a callback points at the job it continues.
    origin_job_id: UUID | None = Field(default=None, foreign_key="job.id", index=True, ondelete="RESTRICT")
    # Where it came from: "dispatch", "request" (the repair-request line or an integration),
    # "follow_up", "rework", "callback".
    source: str = Field(default="dispatch", max_length=20, nullable=False)
    # An integration's own reference: a retried request with the same reference creates nothing new.
    external_ref: str | None = Field(default=None, max_length=80, unique=True)
    reported_by: str = Field(default="", max_length=NAME_MAX, nullable=False)
    reporter_phone: str = Field(default="", max_length=40, nullable=False)
    created_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    # Technician-owned fields (job.update merges them in the technician's favour).
    findings: str = Field(default="", max_length=TEXT_MAX, nullable=False)
    arrival_note: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    departure_note: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    meter_reading: float | None = Field(default=None)
    # Milestones, stamped by the transitions.
    accepted_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    arrived_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    arrival_lat: float | None = Field(default=None)
    arrival_lon: float | None = Field(default=None)
    arrival_accuracy_m: float | None = Field(default=None)
    departed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    departure_lat: float | None = Field(default=None)
    departure_lon: float | None = Field(default=None)
    departure_accuracy_m: float | None = Field(default=None)
    work_done_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    submitted_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    approved_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    closed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    status_reason: str = Field(default="", max_length=NOTE_MAX, nullable=False)


class JobHistory(Entity, table=True):
    """Every change to a job, one row per field: who, when, which field, the old and the new value.
    ``kind`` says why: an edit, a transition, a merge that kept the other side's value (the losing
    value is ``new_value`` of a ``merge_lost`` row), a value a sync ``job.update`` sent for a field
    another role owns (``new_value`` of a ``refused`` row, never applied), an amendment after
    sign-off."""

    __tablename__ = "job_history"
    __table_args__ = (Index("ix_job_history_job_at", "job_id", "at"),)

    job_id: UUID = Field(foreign_key="job.id", nullable=False, ondelete="RESTRICT")
    actor_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    kind: str = Field(default="edit", max_length=20, nullable=False)
    field: str = Field(max_length=60, nullable=False)
    old_value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    new_value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    note: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    # The job's version this change produced: ``job.update`` merges against the fields changed since
    # the version the phone started from.
    job_version: int | None = Field(default=None)
    # The installation (sync client) the change came from, when it came by sync: a phone's own earlier
    # edits are its side of a merge, not the server's.
    client_id: UUID | None = Field(default=None)


class JobStep(SyncedEntity, table=True):
    """A checklist step's result. Its id is derived from (job, step) so a phone and the server name
    the same row without a round trip."""

    __tablename__ = "job_step"
    __entity_name__ = "job_step"
    __table_args__ = (UniqueConstraint("job_id", "step_id", name="uq_job_step_job_step"),)

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    step_id: str = Field(max_length=CODE_MAX, nullable=False)
    result: str = Field(max_length=10, nullable=False)
    value: float | None = Field(default=None)
    # A reading outside the procedure's allowed range is kept, and flagged for the approver.
    in_range: bool | None = Field(default=None)
    note: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    blobs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    completed_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    client_time: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class JobLog(SyncedEntity, table=True):
    """Append-only notes, time spent and readings."""

    __tablename__ = "job_log"
    __entity_name__ = "job_log"

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    kind: str = Field(max_length=10, nullable=False)
    text: str = Field(default="", max_length=TEXT_MAX, nullable=False)
    minutes: int | None = Field(default=None)
    value: float | None = Field(default=None)
    author_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    client_time: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class Blob(SQLModel, table=True):
    """A stored image, named by the sha256 of its bytes. The original stays as uploaded; what is
    served is re-encoded without metadata (display size and thumbnail). Capture time and GPS read from
    the EXIF are kept here as fields."""

    __tablename__ = "blob"

    sha256: str = Field(primary_key=True, max_length=SHA256_HEX)
    content_type: str = Field(max_length=40, nullable=False)
    size_bytes: int = Field(nullable=False)
    width: int = Field(nullable=False)
    height: int = Field(nullable=False)
    captured_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    gps_lat: float | None = Field(default=None)
    gps_lon: float | None = Field(default=None)
    uploaded_by_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)


class Attachment(SyncedEntity, table=True):
    __tablename__ = "attachment"
    __entity_name__ = "attachment"

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    blob: str = Field(
        foreign_key="blob.sha256", max_length=SHA256_HEX, nullable=False, index=True, ondelete="RESTRICT"
    )
    step_id: str | None = Field(default=None, max_length=CODE_MAX)
    caption: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    author_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    client_time: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class Signoff(SyncedEntity, table=True):
    """The customer's acceptance, once per job. ``hash`` is sha256 over the canonical job record as
    signed (``snapshot``), the signature image's hash and the ratings; ``seal`` is an HMAC of that
    hash with the server's key, so rewriting record, snapshot and hash together is still detected."""

    __tablename__ = "signoff"
    __entity_name__ = "signoff"

    job_id: UUID = Field(foreign_key="job.id", nullable=False, unique=True, ondelete="RESTRICT")
    signer_name: str = Field(max_length=NAME_MAX, nullable=False)
    signature_blob: str = Field(
        foreign_key="blob.sha256", max_length=SHA256_HEX, nullable=False, index=True, ondelete="RESTRICT"
    )
    accepted: bool = Field(nullable=False)
    rating: int = Field(nullable=False)
    rating_technical: int | None = Field(default=None)
    rating_service: int | None = Field(default=None)
    comment: str = Field(default="", max_length=TEXT_MAX, nullable=False)
    signed_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    lat: float | None = Field(default=None)
    lon: float | None = Field(default=None)
    accuracy_m: float | None = Field(default=None)
    recorded_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    snapshot: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    hash: str = Field(max_length=SHA256_HEX, nullable=False)
    seal: str = Field(max_length=SHA256_HEX, nullable=False)
    # SYNC.md 1.1: the phone's sha256 of the customer summary it showed (``client_hash``), and the
    # server's over the same canonical form of its own rows when the sign-off arrived
    # (``backend.jobs.signoff_canonical``; null for sign-offs from before it existed).
    client_hash: str | None = Field(default=None, max_length=SHA256_HEX)
    summary_hash: str | None = Field(default=None, max_length=SHA256_HEX)

    @property
    def hash_match(self) -> bool | None:
        return hashes_match(self.client_hash, self.summary_hash)


def hashes_match(client_hash: str | None, summary_hash: str | None) -> bool | None:
    """``null`` when the phone sent no hash, else whether the server's recomputation equals it."""
    if client_hash is None:
        return None
    return client_hash == summary_hash


class Approval(SyncedEntity, table=True):
    """A supervisor's decision on a submitted job; a job returned and resubmitted has several."""

    __tablename__ = "approval"
    __entity_name__ = "approval"

    job_id: UUID = Field(foreign_key="job.id", nullable=False, index=True, ondelete="RESTRICT")
    decision: str = Field(max_length=10, nullable=False)
    reason: str = Field(default="", max_length=NOTE_MAX, nullable=False)
    decided_by: UUID = Field(foreign_key="user.id", nullable=False, ondelete="RESTRICT")
    decided_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)
    # From submission to this decision: the internal turnaround the indicators report.
    turnaround_seconds: int | None = Field(default=None)
