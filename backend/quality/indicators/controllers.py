"""HTTP for the quality indicators, the technician scorecards and the management review. Thin: GET only."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, STAFF, roles
from backend.auth.models import Role
from backend.errors import error_responses
from backend.quality.indicators.report import render_csv, render_html
from backend.quality.indicators.schemas import (
    GroupName,
    IndicatorDefinition,
    IndicatorRowRead,
    IndicatorsRead,
    ReviewFormat,
    ScorecardRead,
    TrendName,
    TrendPoint,
)
from backend.quality.indicators.services import INDICATORS, IndicatorService, make_period

From = Annotated[
    date | None, QueryParameter(name="from", description="first day of the period (UTC), included")
]
To = Annotated[date | None, QueryParameter(description="the day after the period (UTC): excluded")]
REVIEWERS = roles(Role.quality, Role.manager)


def definitions() -> list[IndicatorDefinition]:
    return [
        IndicatorDefinition(name=i.name, label=i.label, unit=i.unit, better=i.better, snapshot=i.snapshot)
        for i in INDICATORS
    ]


async def provide_indicators(db_session: NamedDependency[AsyncSession]) -> IndicatorService:
    return IndicatorService(db_session)


class IndicatorController(Controller):
    path = "/api/quality"
    tags = ["quality"]
    dependencies = {"indicators": Provide(provide_indicators)}

    @get(
        "/indicators",
        operation_id="qualityIndicators",
        opt=STAFF,
        summary="Quality indicators per technician, team, region or all, for [from, to), with trends "
        "(supervisors: their teams only)",
        responses=error_responses(400, 401, 403),
    )
    async def indicators(
        self,
        request: Request,
        indicators: NamedDependency[IndicatorService],
        from_: From = None,
        to: To = None,
        group: Annotated[GroupName, QueryParameter()] = "technician",
        trend: Annotated[TrendName | None, QueryParameter()] = None,
    ) -> IndicatorsRead:
        period = make_period(from_, to)
        result = await indicators.indicators(request.user, period, group, trend)
        return IndicatorsRead(
            from_=period.start,
            to=period.end,
            group=group,
            trend=trend,
            indicators=definitions(),
            rows=[
                IndicatorRowRead(
                    key=r.key,
                    label=r.label,
                    values=r.values,
                    trend=[TrendPoint(bucket=b, values=v) for b, v in r.trend],
                )
                for r in result.rows
            ],
        )

    @get(
        "/scorecards/{user_id:uuid}",
        operation_id="technicianScorecard",
        opt=ANY_ROLE,
        summary="A technician's scorecard for [from, to): the previous period and the team alongside "
        "(technicians: their own; supervisors: their teams')",
        responses=error_responses(400, 401, 403, 404),
    )
    async def scorecard(
        self,
        request: Request,
        user_id: FromPath[UUID],
        indicators: NamedDependency[IndicatorService],
        from_: From = None,
        to: To = None,
    ) -> ScorecardRead:
        period = make_period(from_, to)
        card: dict[str, Any] = await indicators.scorecard(request.user, user_id, period)
        return msgspec.convert(
            {
                "technician": card["technician"],
                "from": period.start,
                "to": period.end,
                "previous_from": card["previous"].start,
                "previous_to": card["previous"].end,
                "indicators": [msgspec.to_builtins(d) for d in definitions()],
                "current": card["current"],
                "previous": card["previous_values"],
                "team": card["team"],
                "incentives": card["incentives"],
                "trainings": card["trainings"],
                "open_nonconformances": card["open_nonconformances"],
                "recent_complaints": card["recent_complaints"],
            },
            ScorecardRead,
        )

    @get(
        "/review",
        operation_id="managementReview",
        opt=REVIEWERS,
        media_type="text/html",
        summary="The management review for [from, to): indicators against the previous period, trend charts, "
        "worst sites and models, open actions; HTML (inline SVG) or CSV",
        responses=error_responses(400, 401, 403),
    )
    async def review(
        self,
        request: Request,
        indicators: NamedDependency[IndicatorService],
        from_: From = None,
        to: To = None,
        format: Annotated[ReviewFormat, QueryParameter()] = "html",
    ) -> Response[str]:
        period = make_period(from_, to)
        review = await indicators.review(request.user, period)
        if format == "csv":
            name = f"fieldq-review-{period.start.isoformat()}-{period.end.isoformat()}.csv"
            return Response(
                render_csv(review),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return Response(render_html(review), media_type="text/html")


INDICATOR_ROUTES = [IndicatorController]
