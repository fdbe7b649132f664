"""HTTP for the quality store's intake: report an issue from the field, list the reports. Thin."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE
from backend.errors import error_responses
from backend.jobs.controllers import Limit, Offset, provide_jobs
from backend.jobs.services import JobService
from backend.quality.models import QualityReport
from backend.quality.schemas import KindName, ReportCreate, ReportPage, ReportRead
from backend.quality.services import QualityService, ReportFilter


def report_read(r: QualityReport) -> ReportRead:
    return ReportRead(
        id=r.id,
        kind=r.kind,
        status=r.status,
        job_id=r.job_id,
        text=r.text,
        blobs=list(r.blobs),
        reported_by_id=r.reported_by_id,
        team_id=r.team_id,
        client_time=r.client_time,
        created_at=r.created_at,
        version=r.version,
    )


async def provide_quality(
    db_session: NamedDependency[AsyncSession], jobs: NamedDependency[JobService]
) -> QualityService:
    return QualityService(db_session, jobs)


class QualityReportController(Controller):
    path = "/api/quality/reports"
    tags = ["quality"]
    dependencies = {"jobs": Provide(provide_jobs), "quality": Provide(provide_quality)}

    @post(
        "/",
        operation_id="reportQualityIssue",
        opt=ANY_ROLE,
        status_code=HTTP_201_CREATED,
        summary="Report a complaint, nonconformance or observation from the field (201; a replay 200)",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def report(
        self,
        request: Request,
        data: JSONBody[ReportCreate],
        quality: NamedDependency[QualityService],
    ) -> Response[ReportRead]:
        made = await quality.report(
            request.user,
            data.report_id,
            data.kind,
            data.text,
            job_id=data.job_id,
            blobs=data.blobs,
            client_time=data.client_time,
        )
        return Response(
            report_read(made.record), status_code=HTTP_201_CREATED if made.created else HTTP_200_OK
        )

    @get(
        "/",
        operation_id="listQualityReports",
        opt=ANY_ROLE,
        summary="Reports I may see (quality and managers: all; supervisors: their teams'; technicians: mine)",
        responses=error_responses(401, 403),
    )
    async def list_reports(
        self,
        request: Request,
        quality: NamedDependency[QualityService],
        kind: FromQuery[KindName | None] = None,
        status: FromQuery[Literal["open", "triaged", "closed"] | None] = None,
        job_id: FromQuery[UUID | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ReportPage:
        rows, total = await quality.list_reports(
            request.user, ReportFilter(kind=kind, status=status, job_id=job_id, limit=limit, offset=offset)
        )
        return ReportPage(items=[report_read(r) for r in rows], total=total)


QUALITY_ROUTES = [QualityReportController]
