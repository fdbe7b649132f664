"""Request and response bodies of the quality store's intake (msgspec, strict, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.schemas import Request
from backend.inventory.schemas import AwareTime
from backend.jobs import schemas as job_schemas

KindName = Literal["complaint", "nonconformance", "observation"]


class ReportFields(Request, kw_only=True):
    """An issue seen in the field: the ``quality.report`` mutation's args (SYNC.md)."""

    report_id: UUID
    kind: KindName
    text: Annotated[str, Meta(min_length=1, max_length=4000)]
    job_id: UUID | None = None
    blobs: Annotated[list[job_schemas.Sha256], Meta(max_length=20)] = msgspec.field(default_factory=list)


class ReportCreate(ReportFields, kw_only=True):
    """The same by REST, where the device's time travels in the body (a push has it per mutation)."""

    client_time: AwareTime | None = None


class ReportRead(msgspec.Struct, kw_only=True):
    id: UUID
    kind: str
    status: str
    job_id: UUID | None
    text: str
    blobs: list[str]
    reported_by_id: UUID
    team_id: UUID | None
    client_time: datetime | None
    created_at: datetime
    version: int


class ReportPage(msgspec.Struct, kw_only=True):
    items: list[ReportRead]
    total: int
