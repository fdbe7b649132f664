"""Recording what people report from the field into the quality store; no HTTP here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser, led_team_ids
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.inventory.services import check_device_time
from backend.jobs.models import Attachment, Blob
from backend.jobs.services import BlobMissing, Created, JobService
from backend.quality.models import QualityReport, ReportKind


@dataclass(frozen=True)
class ReportFilter:
    kind: str | None = None
    status: str | None = None
    job_id: UUID | None = None
    limit: int = 50
    offset: int = 0


class QualityService:
    def __init__(self, session: AsyncSession, jobs: JobService) -> None:
        self.session = session
        self.jobs = jobs

    async def report(
        self,
        current: CurrentUser,
        report_id: UUID,
        kind: str,
        text: str,
        *,
        job_id: UUID | None = None,
        blobs: Sequence[str] = (),
        client_time: datetime | None = None,
    ) -> Created:
        """Record an issue seen in the field; the same ``report_id`` again changes nothing."""
        check_device_time(client_time, "client_time")
        existing = await self.session.get(QualityReport, report_id)
        if existing is not None:
            if existing.reported_by_id != current.id:
                raise Conflict("this report_id is used by another report", field="report_id", code="ID_TAKEN")
            return Created(existing, created=False)
        if kind not in set(ReportKind):
            raise InvalidInput("kind is complaint, nonconformance or observation", field="kind")
        text = text.strip()
        if not text:
            raise InvalidInput("say what was seen", field="text")
        job = await self.jobs.visible_job(job_id, current) if job_id is not None else None
        blobs = list(dict.fromkeys(blobs))
        await self._check_blobs(current, blobs, job.id if job else None)
        report = QualityReport(
            id=report_id,
            kind=kind,
            job_id=job.id if job else None,
            text=text,
            blobs=blobs,
            reported_by_id=current.id,
            team_id=job.team_id if job and job.team_id else current.team_id,
            client_time=client_time,
        )
        self.session.add(report)
        await self.session.flush()
        return Created(report)

    async def _check_blobs(self, current: CurrentUser, blobs: list[str], job_id: UUID | None) -> None:
        """Photos are the reporter's own uploads, or already part of the job reported on."""
        if not blobs:
            return
        found = await self.session.execute(
            select(Blob.sha256, Blob.uploaded_by_id).where(Blob.sha256.in_(blobs))
        )
        uploaders = {sha: uploader for sha, uploader in found}
        on_job: set[str] = set()
        if job_id is not None:
            on_job = set(
                await self.session.scalars(
                    select(Attachment.blob).where(Attachment.job_id == job_id, Attachment.blob.in_(blobs))
                )
            )
        for index, sha in enumerate(blobs):
            if sha not in uploaders:
                raise BlobMissing(sha, f"blobs[{index}]")
            if uploaders[sha] != current.id and sha not in on_job:
                raise Forbidden(f"blob {sha} was uploaded by someone else", field=f"blobs[{index}]")

    async def list_reports(
        self, current: CurrentUser, query: ReportFilter
    ) -> tuple[list[QualityReport], int]:
        statement = select(QualityReport)
        if current.role == Role.supervisor:
            teams = await led_team_ids(self.session, current.id)
            members = select(User.id).where(User.team_id.in_(teams))
            statement = statement.where(
                QualityReport.team_id.in_(teams)
                | (QualityReport.reported_by_id == current.id)
                | QualityReport.reported_by_id.in_(members)
            )
        elif current.role == Role.technician:
            statement = statement.where(QualityReport.reported_by_id == current.id)
        if query.kind:
            statement = statement.where(QualityReport.kind == query.kind)
        if query.status:
            statement = statement.where(QualityReport.status == query.status)
        if query.job_id:
            statement = statement.where(QualityReport.job_id == query.job_id)
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        rows = await self.session.scalars(
            statement.order_by(QualityReport.created_at.desc(), QualityReport.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return list(rows), int(total or 0)
