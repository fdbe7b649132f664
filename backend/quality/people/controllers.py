"""HTTP for people in the quality system: training records, required trainings, the training check and
matrix, rewards and penalties. Thin: the rules are in ``services``."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, STAFF, roles
from backend.auth.models import Role
from backend.auth.services import CurrentUser
from backend.errors import error_responses
from backend.jobs.controllers import Limit, Offset
from backend.jobs.schemas import JobTypeName
from backend.quality.models import Incentive, RequiredTraining, TrainingRecord
from backend.quality.people import schemas as s
from backend.quality.people.services import (
    DEFAULT_EXPIRING_DAYS,
    Gap,
    IncentiveFilter,
    PeopleService,
    TrainingFilter,
    amount_text,
    course_key,
)

QUALITY_OFFICE = roles(Role.quality, Role.manager)
Days = Annotated[int, QueryParameter(ge=0, le=3650)]
CourseQuery = Annotated[str, QueryParameter(min_length=1, max_length=120)]
# The last day a date filter can name and still have a next day.
LAST_DAY = date(9999, 12, 30)


async def provide_people(db_session: NamedDependency[AsyncSession]) -> PeopleService:
    return PeopleService(db_session)


DEPENDENCIES = {"people": Provide(provide_people)}


def training_read(r: TrainingRecord, names: dict[UUID, str], people: PeopleService) -> s.TrainingRead:
    return s.TrainingRead(
        id=r.id,
        user_id=r.user_id,
        user_name=names.get(r.user_id, ""),
        category=r.category,
        course=r.course,
        completed_on=r.completed_on,
        passed=r.passed,
        score=r.score,
        expires_on=r.expires_on,
        state=people.state_of(r),
        notes=r.notes,
        recorded_by_id=r.recorded_by_id,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def required_read(r: RequiredTraining) -> s.RequiredTrainingRead:
    return s.RequiredTrainingRead(
        id=r.id, job_type=r.job_type, course=r.course, category=r.category, created_at=r.created_at
    )


def gap_read(g: Gap, who: str, job_type: str, on: date) -> s.GapRead:
    return s.GapRead(
        course=g.course, category=g.category, reason=g.reason, on=g.on, message=g.describe(who, job_type, on)
    )


def incentive_read(i: Incentive, names: dict[UUID, str]) -> s.IncentiveRead:
    return s.IncentiveRead(
        id=i.id,
        user_id=i.user_id,
        user_name=names.get(i.user_id, ""),
        kind=i.kind,
        points=i.points,
        amount=amount_text(i.amount_cents),
        amount_cents=i.amount_cents,
        currency=i.currency,
        reason=i.reason,
        evidence_type=i.evidence_type,
        evidence_id=i.evidence_id,
        awarded_by_id=i.awarded_by_id,
        awarded_at=i.awarded_at,
        voided=i.voided_at is not None,
        voided_at=i.voided_at,
        voided_by_id=i.voided_by_id,
        void_reason=i.void_reason,
    )


class TrainingController(Controller):
    path = "/api/quality/trainings"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        operation_id="recordTraining",
        opt=STAFF,
        status_code=HTTP_201_CREATED,
        summary="Record a course someone took (quality and managers: anyone; supervisors: their teams)",
        responses=error_responses(401, 403, 413, 422),
    )
    async def record(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[s.TrainingCreate],
        people: NamedDependency[PeopleService],
    ) -> s.TrainingRead:
        record = await people.record_training(
            request.user,
            user_id=data.user_id,
            category=data.category,
            course=data.course,
            completed_on=data.completed_on,
            passed=data.passed,
            score=data.score,
            expires_on=data.expires_on,
            notes=data.notes,
        )
        return training_read(record, await people.names([record.user_id]), people)

    @get(
        "/",
        operation_id="listTrainings",
        opt=ANY_ROLE,
        summary="Training records I may see (quality and managers: all; supervisors: their teams'; "
        "technicians: mine), newest first",
        responses=error_responses(401, 403),
    )
    async def list_trainings(
        self,
        request: Request[CurrentUser, str, State],
        people: NamedDependency[PeopleService],
        user_id: FromQuery[UUID | None] = None,
        course: CourseQuery | None = None,
        category: FromQuery[s.CategoryName | None] = None,
        expiring_within_days: Days | None = None,
        expired: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.TrainingPage:
        rows, total = await people.list_trainings(
            request.user,
            TrainingFilter(
                user_id=user_id,
                course=course,
                category=category,
                expiring_within_days=expiring_within_days,
                expired=expired,
                limit=limit,
                offset=offset,
            ),
        )
        names = await people.names(r.user_id for r in rows)
        return s.TrainingPage(items=[training_read(r, names, people) for r in rows], total=total)

    @get(
        "/{training_id:uuid}",
        operation_id="getTraining",
        opt=ANY_ROLE,
        summary="One training record",
        responses=error_responses(401, 403, 404),
    )
    async def get_training(
        self,
        request: Request[CurrentUser, str, State],
        training_id: FromPath[UUID],
        people: NamedDependency[PeopleService],
    ) -> s.TrainingRead:
        record = await people.training(request.user, training_id)
        return training_read(record, await people.names([record.user_id]), people)

    @patch(
        "/{training_id:uuid}",
        operation_id="correctTraining",
        opt=QUALITY_OFFICE,
        summary="Correct a training record's result, score, expiry or notes (quality and managers)",
        responses=error_responses(401, 403, 404, 413, 422),
    )
    async def correct(
        self,
        request: Request[CurrentUser, str, State],
        training_id: FromPath[UUID],
        data: JSONBody[s.TrainingCorrection],
        people: NamedDependency[PeopleService],
    ) -> s.TrainingRead:
        changes = {
            name: getattr(data, name)
            for name in data.__struct_fields__
            if getattr(data, name) is not msgspec.UNSET
        }
        record = await people.correct_training(request.user, training_id, changes)
        return training_read(record, await people.names([record.user_id]), people)


class RequiredTrainingController(Controller):
    path = "/api/quality/required-trainings"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listRequiredTrainings",
        opt=ANY_ROLE,
        summary="The courses each job type requires (`any`: every job type)",
        responses=error_responses(401, 403),
    )
    async def list_required(
        self, people: NamedDependency[PeopleService], job_type: FromQuery[JobTypeName | None] = None
    ) -> list[s.RequiredTrainingRead]:
        return [required_read(r) for r in await people.list_required(job_type)]

    @post(
        "/",
        operation_id="requireTraining",
        opt=QUALITY_OFFICE,
        status_code=HTTP_201_CREATED,
        summary="Require a course for a job type (once per job type and course)",
        responses=error_responses(401, 403, 409, 413, 422),
    )
    async def require(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[s.RequiredTrainingCreate],
        people: NamedDependency[PeopleService],
    ) -> s.RequiredTrainingRead:
        row = await people.require_training(
            request.user, job_type=data.job_type, course=data.course, category=data.category
        )
        return required_read(row)

    @delete(
        "/{requirement_id:uuid}",
        operation_id="dropRequiredTraining",
        opt=QUALITY_OFFICE,
        status_code=HTTP_204_NO_CONTENT,
        summary="No longer require a course for a job type",
        responses=error_responses(401, 403, 404),
    )
    async def drop(
        self,
        request: Request[CurrentUser, str, State],
        requirement_id: FromPath[UUID],
        people: NamedDependency[PeopleService],
    ) -> None:
        await people.drop_requirement(request.user, requirement_id)


class TrainingCheckController(Controller):
    path = "/api/quality"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @get(
        "/training-check",
        operation_id="checkTraining",
        opt=ANY_ROLE,
        summary="Which courses a job type requires that someone does not hold on a day (today by default)",
        responses=error_responses(401, 403, 404),
    )
    async def check(
        self,
        request: Request[CurrentUser, str, State],
        people: NamedDependency[PeopleService],
        user_id: FromQuery[UUID],
        job_type: FromQuery[JobTypeName],
        on: FromQuery[date | None] = None,
    ) -> s.TrainingCheckRead:
        gaps = await people.check(request.user, user_id, job_type, on)
        day = on or people.today
        who = (await people.names([user_id])).get(user_id, str(user_id))
        return s.TrainingCheckRead(
            user_id=user_id,
            job_type=job_type,
            on=day,
            ok=not gaps,
            gaps=[gap_read(g, who, job_type, day) for g in gaps],
        )

    @get(
        "/training-matrix",
        operation_id="trainingMatrix",
        opt=STAFF,
        summary="Technicians × required courses: held, expiring, expired, failed or missing",
        responses=error_responses(401, 403),
    )
    async def matrix(
        self,
        request: Request[CurrentUser, str, State],
        people: NamedDependency[PeopleService],
        job_type: FromQuery[JobTypeName | None] = None,
        team_id: FromQuery[UUID | None] = None,
        expiring_within_days: Days = DEFAULT_EXPIRING_DAYS,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> s.TrainingMatrix:
        result = await people.matrix(
            request.user,
            job_type=job_type,
            team_id=team_id,
            expiring_within_days=expiring_within_days,
            limit=limit,
            offset=offset,
        )
        rows = []
        for user in result.users:
            cells = []
            for course, _category, _types in result.courses:
                state, record = result.cells[(user.id, course_key(course))]
                cells.append(
                    s.MatrixCell(
                        course=course,
                        status=state,
                        completed_on=record.completed_on if record else None,
                        expires_on=record.expires_on if record else None,
                    )
                )
            rows.append(
                s.MatrixRow(
                    user_id=user.id,
                    username=user.username,
                    display_name=user.display_name,
                    team_id=user.team_id,
                    cells=cells,
                )
            )
        return s.TrainingMatrix(
            on=result.on,
            expiring_within_days=result.expiring_within_days,
            courses=[s.MatrixCourse(course=c, category=k, job_types=t) for c, k, t in result.courses],
            rows=rows,
            total=result.total,
            counts=result.counts,
        )


class IncentiveController(Controller):
    path = "/api/quality/incentives"
    tags = ["quality"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        operation_id="recordIncentive",
        opt=QUALITY_OFFICE,
        status_code=HTTP_201_CREATED,
        summary="Record a reward or penalty linked to its evidence (quality and managers)",
        responses=error_responses(401, 403, 409, 413, 422),
    )
    async def award(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[s.IncentiveCreate],
        people: NamedDependency[PeopleService],
    ) -> s.IncentiveRead:
        incentive = await people.award(
            request.user,
            user_id=data.user_id,
            kind=data.kind,
            points=data.points,
            amount=data.amount,
            currency=data.currency,
            reason=data.reason,
            evidence_type=data.evidence_type,
            evidence_id=data.evidence_id,
        )
        return incentive_read(incentive, await people.names([incentive.user_id]))

    @get(
        "/",
        operation_id="listIncentives",
        opt=ANY_ROLE,
        summary="Rewards and penalties I may see, newest first, with each person's totals (voided left out)",
        responses=error_responses(401, 403),
    )
    async def list_incentives(
        self,
        request: Request[CurrentUser, str, State],
        people: NamedDependency[PeopleService],
        user_id: FromQuery[UUID | None] = None,
        kind: FromQuery[s.IncentiveKindName | None] = None,
        evidence_type: FromQuery[s.EvidenceName | None] = None,
        from_day: Annotated[date | None, QueryParameter(name="from")] = None,
        to_day: Annotated[date | None, QueryParameter(name="to")] = None,
        include_voided: FromQuery[bool] = True,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> s.IncentivePage:
        rows, total, totals = await people.list_incentives(
            request.user,
            IncentiveFilter(
                user_id=user_id,
                kind=kind,
                evidence_type=evidence_type,
                from_day=from_day,
                to_day=min(to_day, LAST_DAY) if to_day else None,
                include_voided=include_voided,
                limit=limit,
                offset=offset,
            ),
        )
        names = await people.names([r.user_id for r in rows] + [t.user_id for t in totals])
        return s.IncentivePage(
            items=[incentive_read(r, names) for r in rows],
            total=total,
            totals=[
                s.IncentiveTotal(
                    user_id=t.user_id,
                    user_name=names.get(t.user_id, ""),
                    points=t.points,
                    amounts={currency: amount_text(cents) or "0.00" for currency, cents in t.cents.items()},
                    records=t.records,
                )
                for t in totals
            ],
        )

    @post(
        "/{incentive_id:uuid}/void",
        operation_id="voidIncentive",
        opt=QUALITY_OFFICE,
        status_code=HTTP_200_OK,
        summary="Void a reward or penalty: kept for the audit, left out of the totals",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def void(
        self,
        request: Request[CurrentUser, str, State],
        incentive_id: FromPath[UUID],
        data: JSONBody[s.IncentiveVoid],
        people: NamedDependency[PeopleService],
    ) -> s.IncentiveRead:
        incentive = await people.void(request.user, incentive_id, data.reason)
        return incentive_read(incentive, await people.names([incentive.user_id]))


PEOPLE_ROUTES = [TrainingController, RequiredTrainingController, TrainingCheckController, IncentiveController]
