"""HTTP for customers, sites, units, procedures, jobs, their work record, sign-off and approval, and
blobs. Thin: the rules live in ``services`` (verbs), ``catalog`` and ``views`` (reads)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, head, patch, post, put
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import File
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, STAFF, roles
from backend.auth.models import Role
from backend.auth.services import CurrentUser
from backend.errors import NotFound, error_responses
from backend.inventory.controllers import REPLAY, _answer
from backend.jobs import schemas as s
from backend.jobs.blobs import BlobService, blob_url, render_in_background
from backend.jobs.catalog import StepSpec
from backend.jobs.report import render_report, render_report_pdf
from backend.jobs.services import Geo, JobService, NewJob
from backend.jobs.views import JobViews, procedure_read
from backend.media.pipeline import MAX_BLOB_BYTES
from backend.media.store import BlobStore
from backend.quality.people.services import assignment_warnings
from backend.settings import Settings

DISPATCH = roles(Role.supervisor, Role.manager)
INTAKE = roles(Role.supervisor, Role.manager, Role.quality)
PROCEDURE_OWNERS = roles(Role.manager, Role.quality)
FIELD = roles(Role.technician)
Limit = Annotated[int, QueryParameter(ge=1, le=200)]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000)]
Days = Annotated[int, QueryParameter(ge=1, le=60)]
BLOB_BODY_LIMIT = MAX_BLOB_BYTES + 1024


def _settings(state: State) -> Settings:
    return state.settings


async def provide_jobs(db_session: NamedDependency[AsyncSession], state: State) -> JobService:
    return JobService(db_session, _settings(state).secret_key, blob_store(state))


async def provide_job_views(
    db_session: NamedDependency[AsyncSession], jobs: NamedDependency[JobService]
) -> JobViews:
    return JobViews(db_session, jobs)


def blob_store(state: State) -> BlobStore:
    store = state.get("blob_store")
    if store is None:
        store = BlobStore(_settings(state).data_dir / "blobs")
        state.blob_store = store
    return store


async def provide_blobs(db_session: NamedDependency[AsyncSession], state: State) -> BlobService:
    return BlobService(db_session, blob_store(state))


DEPENDENCIES = {
    "jobs": Provide(provide_jobs),
    "job_views": Provide(provide_job_views),
    "blobs": Provide(provide_blobs),
}


def _changes(data: msgspec.Struct, skip: tuple[str, ...] = ()) -> dict:
    return {
        name: getattr(data, name)
        for name in data.__struct_fields__
        if name not in skip and getattr(data, name) is not msgspec.UNSET
    }


def _geo(data: s.Geo | None) -> Geo | None:
    return Geo(lat=data.lat, lon=data.lon, accuracy_m=data.accuracy_m) if data else None


async def _dispatch_warnings(jobs: JobService, job) -> list[s.DispatchWarning]:
    """Training the assignee lacks for the job's type: told to dispatch, never a refusal."""
    found = await assignment_warnings(jobs.session, job)
    return [s.DispatchWarning(code=w.code, course=w.course, message=w.message) for w in found]


# --- customers, sites, units ------------------------------------------------------------------------


def customer_read(c) -> s.CustomerRead:
    return s.CustomerRead(
        id=c.id,
        version=c.version,
        name=c.name,
        code=c.code,
        contacts=c.contacts,
        is_active=c.is_active,
        updated_at=c.updated_at,
    )


def site_read(x) -> s.SiteRead:
    return s.SiteRead(
        id=x.id,
        version=x.version,
        customer_id=x.customer_id,
        name=x.name,
        code=x.code,
        address=x.address,
        lat=x.lat,
        lon=x.lon,
        region=x.region,
        access_notes=x.access_notes,
        location_id=x.location_id,
        updated_at=x.updated_at,
    )


def unit_read(u) -> s.UnitRead:
    return s.UnitRead(
        id=u.id,
        version=u.version,
        site_id=u.site_id,
        asset_id=u.asset_id,
        model=u.model,
        serial=u.serial,
        position=u.position,
        is_active=u.is_active,
        updated_at=u.updated_at,
    )


class CustomerController(Controller):
    path = "/api"
    tags = ["customers"]
    dependencies = DEPENDENCIES

    @get(
        "/customers",
        operation_id="listCustomers",
        opt=STAFF,
        summary="Customers",
        responses=error_responses(401, 403),
    )
    async def list_customers(
        self,
        jobs: NamedDependency[JobService],
        search: FromQuery[str] = "",
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[s.CustomerRead]:
        return [
            customer_read(c)
            for c in await jobs.catalog.list_customers(search=search[:100], limit=limit, offset=offset)
        ]

    @post(
        "/customers",
        operation_id="createCustomer",
        opt=DISPATCH,
        status_code=HTTP_201_CREATED,
        summary="Add a customer with its contacts",
        responses=error_responses(401, 403, 409, 413, 422),
    )
    async def create_customer(
        self, data: JSONBody[s.CustomerCreate], jobs: NamedDependency[JobService]
    ) -> s.CustomerRead:
        contacts = [msgspec.to_builtins(c) for c in data.contacts]
        return customer_read(
            await jobs.catalog.create_customer(name=data.name, code=data.code, contacts=contacts)
        )

    @get(
        "/customers/{customer_id:uuid}",
        operation_id="getCustomer",
        opt=STAFF,
        summary="One customer",
        responses=error_responses(401, 403, 404),
    )
    async def get_customer(
        self, customer_id: FromPath[UUID], jobs: NamedDependency[JobService]
    ) -> s.CustomerRead:
        return customer_read(await jobs.catalog.customer(customer_id))

    @patch(
        "/customers/{customer_id:uuid}",
        operation_id="updateCustomer",
        opt=DISPATCH,
        summary="Change a customer",
        responses=error_responses(401, 403, 404, 413, 422),
    )
    async def update_customer(
        self, customer_id: FromPath[UUID], data: JSONBody[s.CustomerUpdate], jobs: NamedDependency[JobService]
    ) -> s.CustomerRead:
        changes = _changes(data)
        if "contacts" in changes:
            changes["contacts"] = [msgspec.to_builtins(c) for c in changes["contacts"]]
        return customer_read(await jobs.catalog.update_customer(customer_id, changes))

    @get(
        "/sites",
        operation_id="listSites",
        opt=STAFF,
        summary="Customer sites",
        responses=error_responses(401, 403),
    )
    async def list_sites(
        self,
        jobs: NamedDependency[JobService],
        customer_id: FromQuery[UUID | None] = None,
        search: FromQuery[str] = "",
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[s.SiteRead]:
        rows = await jobs.catalog.list_sites(
            customer_id=customer_id, search=search[:100], limit=limit, offset=offset
        )
        return [site_read(x) for x in rows]

    @post(
        "/sites",
        operation_id="createSite",
        opt=DISPATCH,
        status_code=HTTP_201_CREATED,
        summary="Add a site (with its inventory location)",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def create_site(
        self, data: JSONBody[s.SiteCreate], jobs: NamedDependency[JobService]
    ) -> s.SiteRead:
        return site_read(
            await jobs.catalog.create_site(
                customer_id=data.customer_id,
                name=data.name,
                code=data.code,
                address=data.address,
                lat=data.lat,
                lon=data.lon,
                region=data.region,
                access_notes=data.access_notes,
            )
        )

    @get(
        "/sites/{site_id:uuid}",
        operation_id="getSite",
        opt=STAFF,
        summary="One site",
        responses=error_responses(401, 403, 404),
    )
    async def get_site(self, site_id: FromPath[UUID], jobs: NamedDependency[JobService]) -> s.SiteRead:
        return site_read(await jobs.catalog.site(site_id))

    @patch(
        "/sites/{site_id:uuid}",
        operation_id="updateSite",
        opt=DISPATCH,
        summary="Change a site",
        responses=error_responses(401, 403, 404, 413, 422),
    )
    async def update_site(
        self,
        request: Request[CurrentUser, str, State],
        site_id: FromPath[UUID],
        data: JSONBody[s.SiteUpdate],
        jobs: NamedDependency[JobService],
    ) -> s.SiteRead:
        return site_read(await jobs.catalog.update_site(site_id, _changes(data), request.user))

    @get(
        "/sites/{site_id:uuid}/units",
        operation_id="listUnits",
        opt=STAFF,
        summary="The units installed at a site",
        responses=error_responses(401, 403, 404),
    )
    async def list_units(
        self, site_id: FromPath[UUID], jobs: NamedDependency[JobService]
    ) -> list[s.UnitRead]:
        return [unit_read(u) for u in await jobs.catalog.units_of_site(site_id)]

    @post(
        "/sites/{site_id:uuid}/units",
        operation_id="registerUnit",
        opt=DISPATCH,
        status_code=HTTP_201_CREATED,
        summary="Name an asset installed at the site as one of its units",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def register_unit(
        self, site_id: FromPath[UUID], data: JSONBody[s.UnitCreate], jobs: NamedDependency[JobService]
    ) -> s.UnitRead:
        return unit_read(
            await jobs.catalog.register_unit(site_id=site_id, asset_id=data.asset_id, position=data.position)
        )

    @get(
        "/units/{unit_id:uuid}",
        operation_id="getUnit",
        opt=STAFF,
        summary="One installed unit",
        responses=error_responses(401, 403, 404),
    )
    async def get_unit(self, unit_id: FromPath[UUID], jobs: NamedDependency[JobService]) -> s.UnitRead:
        return unit_read(await jobs.catalog.unit(unit_id))


# --- procedures -------------------------------------------------------------------------------------


class ProcedureController(Controller):
    path = "/api/procedures"
    tags = ["procedures"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listProcedures",
        opt=ANY_ROLE,
        summary="Standard procedures (current revisions unless include_retired)",
        responses=error_responses(401, 403),
    )
    async def list_procedures(
        self,
        jobs: NamedDependency[JobService],
        job_type: FromQuery[s.JobTypeName | None] = None,
        include_retired: FromQuery[bool] = False,
    ) -> list[s.ProcedureRead]:
        rows = await jobs.catalog.list_procedures(job_type=job_type, include_retired=include_retired)
        return [procedure_read(p) for p in rows]

    @get(
        "/{procedure_id:uuid}",
        operation_id="getProcedure",
        opt=ANY_ROLE,
        summary="One procedure revision",
        responses=error_responses(401, 403, 404),
    )
    async def get_procedure(
        self, procedure_id: FromPath[UUID], jobs: NamedDependency[JobService]
    ) -> s.ProcedureRead:
        return procedure_read(await jobs.catalog.procedure(procedure_id))

    @post(
        "/",
        operation_id="publishProcedure",
        opt=PROCEDURE_OWNERS,
        status_code=HTTP_201_CREATED,
        summary="Publish a procedure, or the next revision of one (past jobs keep theirs)",
        responses=error_responses(401, 403, 404, 413, 422),
    )
    async def publish(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[s.ProcedurePublish],
        jobs: NamedDependency[JobService],
    ) -> s.ProcedureRead:
        steps = [StepSpec(**msgspec.to_builtins(step)) for step in data.steps]
        procedure = await jobs.catalog.publish_procedure(
            request.user,
            code=data.code,
            job_type=data.job_type,
            name=data.name,
            steps=steps,
            item_id=data.item_id,
        )
        return procedure_read(procedure)


# --- jobs -------------------------------------------------------------------------------------------


def _new_job(data: s.JobCreate, source: str) -> NewJob:
    return NewJob(source=source, **{name: getattr(data, name) for name in data.__struct_fields__})


class JobController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]
    dependencies = DEPENDENCIES

    @get(
        "/",
        operation_id="listJobs",
        opt=ANY_ROLE,
        summary="Jobs I may see, newest scheduled first",
        responses=error_responses(400, 401, 403),
    )
    async def list_jobs(
        self,
        request: Request[CurrentUser, str, State],
        job_views: NamedDependency[JobViews],
        status: FromQuery[list[s.StatusName] | None] = None,
        team_id: FromQuery[UUID | None] = None,
        assignee_id: FromQuery[UUID | None] = None,
        site_id: FromQuery[UUID | None] = None,
        unit_id: FromQuery[UUID | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> list[s.JobRead]:
        return await job_views.list_jobs(
            request.user,
            status=status or (),
            team_id=team_id,
            assignee_id=assignee_id,
            site_id=site_id,
            unit_id=unit_id,
            limit=limit,
            offset=offset,
        )

    @post(
        "/",
        operation_id="createJob",
        opt=INTAKE,
        status_code=HTTP_201_CREATED,
        summary="Create a job (dispatch); assigned when it names an assignee",
        responses={**error_responses(401, 403, 404, 409, 413, 422)},
    )
    async def create_job(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[s.JobCreate],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> Response[s.CreatedJob]:
        made = await jobs.create_job(request.user, _new_job(data, "dispatch"))
        body = s.CreatedJob(
            job=await job_views.read(made.record),
            created=made.created,
            warnings=await _dispatch_warnings(jobs, made.record),
        )
        return Response(body, status_code=HTTP_201_CREATED if made.created else HTTP_200_OK)

    @get(
        "/mine",
        operation_id="myJobs",
        opt=ANY_ROLE,
        summary="My open jobs due by the end of the next `days` days (today's first, overdue included)",
        responses=error_responses(400, 401, 403, 422),
    )
    async def my_jobs(
        self,
        request: Request[CurrentUser, str, State],
        job_views: NamedDependency[JobViews],
        tz: FromQuery[str] = "UTC",
        days: Days = 7,
    ) -> list[s.JobRead]:
        return await job_views.my_jobs(request.user, tz=tz, days=days)

    @get(
        "/board",
        operation_id="teamBoard",
        opt=STAFF,
        summary="The team board: jobs by status",
        responses=error_responses(401, 403),
    )
    async def board(
        self,
        request: Request[CurrentUser, str, State],
        job_views: NamedDependency[JobViews],
        team_id: FromQuery[UUID | None] = None,
    ) -> s.Board:
        return await job_views.board(request.user, team_id=team_id)

    @get(
        "/approvals",
        operation_id="approvalQueue",
        opt=STAFF,
        summary="Jobs awaiting approval in my teams, oldest first, each with its evidence",
        responses=error_responses(401, 403),
    )
    async def approval_queue(
        self,
        request: Request[CurrentUser, str, State],
        job_views: NamedDependency[JobViews],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        offset: Offset = 0,
    ) -> s.QueuePage:
        return await job_views.approval_queue(request.user, limit=limit, offset=offset)

    @get(
        "/{job_id:uuid}",
        operation_id="getJob",
        opt=ANY_ROLE,
        summary="One job",
        responses=error_responses(401, 403, 404),
    )
    async def get_job(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.JobRead:
        return await job_views.read(await jobs.visible_job(job_id, request.user))

    @get(
        "/{job_id:uuid}/record",
        operation_id="getJobRecord",
        opt=ANY_ROLE,
        summary="The job's work record: steps, logs, photos, parts, sign-off with its hash check, approvals",
        responses=error_responses(401, 403, 404),
    )
    async def record(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.Evidence:
        return (await job_views.evidence([await jobs.visible_job(job_id, request.user)]))[0]

    @get(
        "/{job_id:uuid}/history",
        operation_id="getJobHistory",
        opt=ANY_ROLE,
        summary="Every change: who, when, which field, old and new value",
        responses=error_responses(401, 403, 404),
    )
    async def history(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        job_views: NamedDependency[JobViews],
    ) -> list[s.HistoryRead]:
        return await job_views.history(request.user, job_id)

    @patch(
        "/{job_id:uuid}",
        operation_id="updateJob",
        opt=ANY_ROLE,
        summary="Edit a job: supervisors its plan, the assignee their findings and notes",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def update_job(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.JobUpdate],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.JobRead:
        changes = _changes(data, skip=("base_version",))
        job = await jobs.update(request.user, job_id, changes, base_version=data.base_version)
        return await job_views.read(job)

    @post(
        "/{job_id:uuid}/assign",
        operation_id="assignJob",
        opt=DISPATCH,
        status_code=HTTP_200_OK,
        summary="Assign or reassign the job to a technician of my teams",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def assign(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.Assign],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.AssignedJob:
        job = await jobs.assign(
            request.user,
            job_id,
            data.assignee_id,
            scheduled_start=data.scheduled_start,
            scheduled_end=data.scheduled_end,
            note=data.note,
        )
        read = await job_views.read(job)
        return s.AssignedJob(**msgspec.structs.asdict(read), warnings=await _dispatch_warnings(jobs, job))

    @post(
        "/{job_id:uuid}/transition",
        operation_id="transitionJob",
        opt=ANY_ROLE,
        status_code=HTTP_200_OK,
        summary="Move the job along its status machine (SYNC.md): checked against its current status",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def transition(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.Transition],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.JobRead:
        job = await jobs.transition(
            request.user,
            job_id,
            data.to,
            reason=data.reason,
            geo=_geo(data.geo),
            client_time=data.client_time,
        )
        return await job_views.read(job)

    @post(
        "/{job_id:uuid}/linked",
        operation_id="createLinkedJob",
        opt=INTAKE,
        status_code=HTTP_201_CREATED,
        summary="A rework or callback job linked to this one",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def linked(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.LinkedJobCreate],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> Response[s.CreatedJob]:
        made = await jobs.create_linked(
            request.user,
            job_id,
            data.type,
            description=data.description,
            assignee_id=data.assignee_id,
            scheduled_start=data.scheduled_start,
            scheduled_end=data.scheduled_end,
            job_id=data.id,
        )
        body = s.CreatedJob(
            job=await job_views.read(made.record),
            created=made.created,
            warnings=await _dispatch_warnings(jobs, made.record),
        )
        return Response(body, status_code=HTTP_201_CREATED if made.created else HTTP_200_OK)

    # --- the work record ----------------------------------------------------------------------------

    @put(
        "/{job_id:uuid}/steps/{step_id:str}",
        operation_id="recordStep",
        opt=FIELD,
        summary="Complete (or redo) a checklist step",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def record_step(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        step_id: FromPath[str],
        data: JSONBody[s.StepRecord],
        jobs: NamedDependency[JobService],
    ) -> dict:
        row = await jobs.record_step(
            request.user,
            job_id,
            step_id[:40],
            data.result,
            value=data.value,
            note=data.note,
            blobs=data.blobs,
            client_time=data.client_time,
        )
        return {
            "id": str(row.id),
            "step_id": row.step_id,
            "result": row.result,
            "value": row.value,
            "in_range": row.in_range,
            "blobs": row.blobs,
            "version": row.version,
        }

    @post(
        "/{job_id:uuid}/logs",
        operation_id="addJobLog",
        opt=FIELD,
        status_code=HTTP_201_CREATED,
        summary="Append a note, time spent or a reading (the same log_id again is a no-op)",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def add_log(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.LogCreate],
        jobs: NamedDependency[JobService],
    ) -> Response[s.LogRead]:
        made = await jobs.add_log(
            request.user,
            data.log_id,
            job_id,
            data.kind,
            text=data.text,
            minutes=data.minutes,
            value=data.value,
            client_time=data.client_time,
        )
        g = made.record
        body = s.LogRead(
            id=g.id,
            version=g.version,
            job_id=g.job_id,
            kind=g.kind,
            text=g.text,
            minutes=g.minutes,
            value=g.value,
            author_id=g.author_id,
            client_time=g.client_time,
            created_at=g.created_at,
        )
        return Response(body, status_code=HTTP_201_CREATED if made.created else HTTP_200_OK)

    @post(
        "/{job_id:uuid}/attachments",
        operation_id="attachToJob",
        opt=FIELD,
        status_code=HTTP_201_CREATED,
        summary="Attach an uploaded photo (the same attachment_id again is a no-op)",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def attach(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.AttachmentCreate],
        jobs: NamedDependency[JobService],
    ) -> Response[dict]:
        made = await jobs.attach(
            request.user,
            data.attachment_id,
            job_id,
            data.blob,
            step_id=data.step_id,
            caption=data.caption,
            client_time=data.client_time,
        )
        a = made.record
        body = {
            "id": str(a.id),
            "job_id": str(a.job_id),
            "blob": a.blob,
            "url": blob_url(a.blob),
            "thumbnail_url": blob_url(a.blob, "thumbnail"),
            "step_id": a.step_id,
            "caption": a.caption,
        }
        return Response(body, status_code=HTTP_201_CREATED if made.created else HTTP_200_OK)

    @post(
        "/{job_id:uuid}/parts",
        operation_id="usePart",
        opt=FIELD,
        status_code=HTTP_201_CREATED,
        summary="Record a part used: it leaves my stock through the custody ledger",
        responses={**error_responses(400, 401, 403, 404, 409, 413, 422), **REPLAY},
    )
    async def use_part(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.PartUse],
        jobs: NamedDependency[JobService],
    ) -> Response:
        result = await jobs.use_part(
            request.user,
            job_id,
            data.move_id,
            data.item_id,
            data.qty,
            size=data.size,
            asset_id=data.asset_id,
            from_location_id=data.from_location_id,
            recorded_at=data.recorded_at,
            args={"operation": "job.part", **msgspec.to_builtins(data)},
        )
        return _answer(result)

    @post(
        "/{job_id:uuid}/swap",
        operation_id="swapSpareOnJob",
        opt=FIELD,
        status_code=HTTP_201_CREATED,
        summary="Replace the unit's faulty machine with a spare (the faulty one goes to repair)",
        responses={**error_responses(400, 401, 403, 404, 409, 413, 422), **REPLAY},
    )
    async def swap(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.SpareSwap],
        jobs: NamedDependency[JobService],
    ) -> Response:
        result = await jobs.swap_spare(
            request.user,
            job_id,
            data.move_id,
            data.unit_id,
            data.spare_asset_id,
            data.removed_serial,
            recorded_at=data.recorded_at,
            args={"operation": "spare.swap", **msgspec.to_builtins(data)},
        )
        return _answer(result)

    # --- sign-off and approval ------------------------------------------------------------------------

    @post(
        "/{job_id:uuid}/signoff",
        operation_id="signOffJob",
        opt=FIELD,
        status_code=HTTP_201_CREATED,
        summary="The customer's sign-off: once per job; refusing it sends the job to `disputed`",
        responses=error_responses(401, 403, 404, 409, 413, 415, 422),
    )
    async def signoff(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.SignoffCreate],
        jobs: NamedDependency[JobService],
        blobs: NamedDependency[BlobService],
    ) -> Response[s.SignoffRead]:
        from backend.jobs.views import signoff_read

        made = await jobs.signoff(
            request.user,
            data.signoff_id,
            job_id,
            signer_name=data.signer_name,
            signature_blob=data.signature_blob,
            accepted=data.accepted,
            rating=data.rating,
            rating_technical=data.rating_technical,
            rating_service=data.rating_service,
            comment=data.comment,
            signed_at=data.signed_at,
            geo=_geo(data.geo),
            check_signature=blobs.check_signature_blob,
            client_hash=data.client_hash,
            args={"operation": "signoff", "job_id": str(job_id), **msgspec.to_builtins(data)},
        )
        return Response(
            signoff_read(made.record), status_code=HTTP_201_CREATED if made.created else HTTP_200_OK
        )

    @get(
        "/{job_id:uuid}/signoff/verify",
        operation_id="verifySignoff",
        opt=ANY_ROLE,
        summary="Recompute the sign-off hash: has anything changed since the customer signed?",
        responses=error_responses(401, 403, 404),
    )
    async def verify(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.VerificationRead:
        from backend.jobs.views import verification_read

        checked = await jobs.verify(request.user, job_id)
        names = await job_views.user_names(h.actor_id for h in checked.amendments)
        return verification_read(checked, names)

    @post(
        "/{job_id:uuid}/decision",
        operation_id="decideJob",
        opt=DISPATCH,
        status_code=HTTP_201_CREATED,
        summary="Approve the job, or return it with a reason",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def decide(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        data: JSONBody[s.Decision],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> s.ApprovalRead:
        a = await jobs.decide(request.user, job_id, data.decision, data.reason)
        return s.ApprovalRead(
            id=a.id,
            version=a.version,
            job_id=a.job_id,
            decision=a.decision,
            reason=a.reason,
            decided_by=a.decided_by,
            decided_by_name=request.user.display_name,
            decided_at=a.decided_at,
            turnaround_seconds=a.turnaround_seconds,
        )

    @get(
        "/{job_id:uuid}/report",
        operation_id="serviceReport",
        opt=ANY_ROLE,
        media_type="text/html",
        summary="The printable service report (HTML, images inline)",
        responses=error_responses(401, 403, 404),
    )
    async def report(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
        blobs: NamedDependency[BlobService],
    ) -> Response[str]:
        evidence = (await job_views.evidence([await jobs.visible_job(job_id, request.user)]))[0]
        html = await render_report(evidence, blobs, lang=request.query_params.get("lang", "en"))
        return Response(html, media_type="text/html; charset=utf-8")

    @get(
        "/{job_id:uuid}/report.pdf",
        operation_id="serviceReportPdf",
        opt=ANY_ROLE,
        media_type="application/pdf",
        summary="The service report as a PDF (A4; English or zh-CN by `lang`)",
        responses=error_responses(401, 403, 404),
    )
    async def report_pdf(
        self,
        request: Request[CurrentUser, str, State],
        job_id: FromPath[UUID],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
        blobs: NamedDependency[BlobService],
    ) -> Response[bytes]:
        job = await jobs.visible_job(job_id, request.user)
        evidence = (await job_views.evidence([job]))[0]
        pdf = await render_report_pdf(evidence, blobs, lang=request.query_params.get("lang", "en"))
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{job.number}.pdf"'},
        )


class ServiceRequestController(Controller):
    """The repair-request line: a dispatcher or an integration reports a fault; a `new` job is created."""

    path = "/api/service-requests"
    tags = ["jobs"]
    dependencies = DEPENDENCIES

    @post(
        "/",
        operation_id="createServiceRequest",
        opt=INTAKE,
        status_code=HTTP_201_CREATED,
        summary="Take in a service request: a `new` job (a retried `external_ref` answers 200, same job)",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def create(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[s.JobCreate],
        jobs: NamedDependency[JobService],
        job_views: NamedDependency[JobViews],
    ) -> Response[s.CreatedJob]:
        made = await jobs.create_job(request.user, _new_job(data, "request"))
        body = s.CreatedJob(
            job=await job_views.read(made.record),
            created=made.created,
            warnings=await _dispatch_warnings(jobs, made.record),
        )
        return Response(body, status_code=HTTP_201_CREATED if made.created else HTTP_200_OK)


# --- blobs ------------------------------------------------------------------------------------------


def _blob_read(b, created: bool) -> s.BlobRead:
    return s.BlobRead(
        sha256=b.sha256,
        content_type=b.content_type,
        size_bytes=b.size_bytes,
        width=b.width,
        height=b.height,
        captured_at=b.captured_at,
        gps_lat=b.gps_lat,
        gps_lon=b.gps_lon,
        url=blob_url(b.sha256),
        thumbnail_url=blob_url(b.sha256, "thumbnail"),
        created=created,
    )


class SyncBlobController(Controller):
    """Uploading photos and signatures (docs/SYNC.md, Blobs): the one upload path, for the phones' sync
    and for REST clients alike. Reading them back is ``/api/blobs/{sha256}/{variant}``."""

    path = "/api/sync/v1/blobs"
    tags = ["sync"]
    dependencies = DEPENDENCIES

    @put(
        "/{sha256:str}",
        operation_id="syncUploadBlob",
        opt=ANY_ROLE,
        status_code=HTTP_201_CREATED,
        request_max_body_size=BLOB_BODY_LIMIT,
        summary="Upload a photo or signature before the mutations that name it (201 stored, 200 there)",
        responses=error_responses(400, 401, 403, 413, 415, 422),
    )
    async def upload(
        self,
        request: Request[CurrentUser, str, State],
        sha256: FromPath[str],
        blobs: NamedDependency[BlobService],
    ) -> Response[s.BlobRead]:
        BlobService.check_name(sha256)
        data = await request.body()
        stored = await blobs.upload(request.user, sha256, data, request.headers.get("content-type"))
        # Display size and thumbnail are made after the response: the upload returns once the
        # original is stored and validated.
        background = BackgroundTask(render_in_background, blobs.store, sha256) if stored.created else None
        return Response(
            _blob_read(stored.blob, stored.created),
            status_code=HTTP_201_CREATED if stored.created else HTTP_200_OK,
            background=background,
        )

    @head(
        "/{sha256:str}",
        operation_id="syncBlobExists",
        opt=ANY_ROLE,
        summary="200 if stored, 404 if not",
        status_code=HTTP_200_OK,
        responses=error_responses(400, 401, 403, 404),
    )
    async def exists(self, sha256: FromPath[str], blobs: NamedDependency[BlobService]) -> Response[None]:
        BlobService.check_name(sha256)
        if await blobs.get(sha256) is None:
            raise NotFound("no such blob", field="sha256")
        return Response(None, status_code=HTTP_200_OK)


class BlobController(Controller):
    path = "/api/blobs"
    tags = ["media"]
    dependencies = DEPENDENCIES

    @get(
        "/{sha256:str}/{variant:str}",
        operation_id="getBlob",
        opt=ANY_ROLE,
        summary="The image (display size or thumbnail, WebP, metadata stripped) if I may see a job using it",
        responses=error_responses(400, 401, 403, 404),
        media_type="image/webp",
    )
    async def get_variant(
        self,
        request: Request[CurrentUser, str, State],
        sha256: FromPath[str],
        variant: FromPath[str],
        blobs: NamedDependency[BlobService],
        jobs: NamedDependency[JobService],
    ) -> File:
        path = await blobs.visible_variant(request.user, sha256, variant, jobs)
        return File(
            path=path,
            media_type="image/webp",
            content_disposition_type="inline",
            headers={"Cache-Control": "private, max-age=31536000, immutable"},
        )


JOB_ROUTES = [
    CustomerController,
    ProcedureController,
    JobController,
    ServiceRequestController,
    BlobController,
    SyncBlobController,
]
