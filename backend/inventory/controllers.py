"""HTTP for the catalog, stock and custody operations, views, exceptions and the spare policy: thin,
the rules live in ``services`` (operations) and ``views`` (catalog and reads)."""

from __future__ import annotations

import csv
import io
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, MANAGER, STAFF, roles
from backend.auth.models import Role
from backend.auth.services import CurrentUser
from backend.db import utcnow
from backend.errors import error_responses
from backend.inventory import schemas as s
from backend.inventory.services import (
    CountLine,
    InventoryService,
    NewAsset,
    OperationContext,
    OperationResult,
    Stock,
)
from backend.inventory.views import InventoryViews, location_read
from backend.sync.exceptions import ExceptionFilter, ExceptionService
from backend.sync.models import ExceptionOutcome, SyncException

FIELD_ROLES = roles(Role.technician, Role.supervisor, Role.manager)
LEAD_ROLES = roles(Role.supervisor, Role.manager)
# 201 is the operation applied; a replay of its move_id answers 200 with the first result.
REPLAY = {
    200: ResponseSpec(
        data_container=s.OperationResultRead,
        description="A replay of this move_id: the first result, `duplicate: true`",
    )
}
OP_ERRORS = {**error_responses(400, 401, 403, 409, 413, 422), **REPLAY}

Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000)]


async def provide_inventory(db_session: NamedDependency[AsyncSession]) -> InventoryService:
    return InventoryService(db_session)


async def provide_views(db_session: NamedDependency[AsyncSession]) -> InventoryViews:
    return InventoryViews(db_session)


def _context(request: Request[CurrentUser, str, State], data: s.Operation, job_id: UUID | None = None):
    return OperationContext(
        actor=request.user,
        move_id=data.move_id,
        recorded_at=data.recorded_at,
        job_id=job_id,
        reason=data.reason,
        args={"operation": request.url.path.rsplit("/", 1)[-1], **msgspec.to_builtins(data)},
    )


def _answer(result: OperationResult) -> Response[s.OperationResultRead]:
    body = s.OperationResultRead(
        move_id=result.move_id,
        operation=str(result.operation),
        duplicate=result.duplicate,
        movement_ids=result.movement_ids,
        exception_ids=result.exception_ids,
        asset_ids=result.asset_ids,
        handover_id=result.handover_id,
    )
    return Response(body, status_code=HTTP_200_OK if result.duplicate else HTTP_201_CREATED)


async def _check_job(request: Request[CurrentUser, str, State], job_id: UUID | None, inventory) -> None:
    """Stock moved here with a ``job_id`` joins that job's work record: the jobs domain checks the caller
    may add to it (the jobs domain imports this module, so it is imported when needed)."""
    if job_id is None:
        return
    from backend.jobs.services import JobService

    await JobService(inventory.session, request.app.state.settings.secret_key).check_stock_for_job(
        request.user, job_id
    )


def _stock(data) -> Stock:
    return Stock(asset_id=data.asset_id, item_id=data.item_id, qty=data.qty, size=data.size)


class CatalogController(Controller):
    path = "/api/inventory"
    tags = ["inventory"]
    dependencies = {"views": Provide(provide_views)}

    @get(
        "/items",
        operation_id="listItems",
        opt=ANY_ROLE,
        summary="The catalog",
        responses=error_responses(401, 403),
    )
    async def list_items(
        self, views: NamedDependency[InventoryViews], kind: FromQuery[s.ItemKindName | None] = None
    ) -> list[s.ItemRead]:
        return await views.list_items(kind=kind)

    @post(
        "/items",
        operation_id="createItem",
        opt=MANAGER,
        status_code=HTTP_201_CREATED,
        summary="Add an item to the catalog (a toolbox lists its contents)",
        responses=error_responses(401, 403, 409, 413, 422),
    )
    async def create_item(
        self, data: JSONBody[s.ItemCreate], views: NamedDependency[InventoryViews]
    ) -> s.ItemRead:
        return await views.create_item(data)

    @get(
        "/items/{item_id:uuid}",
        operation_id="getItem",
        opt=ANY_ROLE,
        summary="One catalog item",
        responses=error_responses(401, 403, 404),
    )
    async def get_item(self, item_id: FromPath[UUID], views: NamedDependency[InventoryViews]) -> s.ItemRead:
        return await views.get_item(item_id)

    @put(
        "/items/{item_id:uuid}",
        operation_id="updateItem",
        opt=MANAGER,
        summary="Change a catalog item (fields left out stay as they are)",
        responses=error_responses(401, 403, 404, 409, 413, 422),
    )
    async def update_item(
        self, item_id: FromPath[UUID], data: JSONBody[s.ItemUpdate], views: NamedDependency[InventoryViews]
    ) -> s.ItemRead:
        return await views.update_item(item_id, data)

    @get(
        "/locations",
        operation_id="listLocations",
        opt=ANY_ROLE,
        summary="Locations I may see (technicians: depots, repair and their own custody)",
        responses=error_responses(401, 403),
    )
    async def list_locations(
        self,
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
        kind: FromQuery[s.LocationKindName | None] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[s.LocationRead]:
        return await views.list_locations(request.user, kind=kind, limit=limit, offset=offset)

    @post(
        "/locations",
        operation_id="createLocation",
        opt=MANAGER,
        status_code=HTTP_201_CREATED,
        summary="Add a depot, customer site, repair workshop or write-off location",
        description="Person locations are made for each technician; a van's location comes with the van.",
        responses=error_responses(401, 403, 409, 413, 422),
    )
    async def create_location(
        self, data: JSONBody[s.LocationCreate], views: NamedDependency[InventoryViews]
    ) -> s.LocationRead:
        return location_read(await views.create_location(data))

    @get(
        "/locations/{location_id:uuid}/stock",
        operation_id="getLocationStock",
        opt=ANY_ROLE,
        summary="What a location holds: counted stock by item and size, and serialized assets",
        responses=error_responses(401, 403, 404),
    )
    async def location_stock(
        self,
        location_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
    ) -> s.LocationStock:
        return await views.location_stock(request.user, location_id)

    @get(
        "/assets",
        operation_id="listAssets",
        opt=ANY_ROLE,
        summary="Serialized assets I may see",
        responses=error_responses(401, 403),
    )
    async def list_assets(
        self,
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
        item_id: FromQuery[UUID | None] = None,
        location_id: FromQuery[UUID | None] = None,
        status: FromQuery[s.AssetStatusName | None] = None,
        serial: Annotated[str | None, QueryParameter(max_length=80)] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[s.AssetRead]:
        return await views.list_assets(
            request.user,
            item_id=item_id,
            location_id=location_id,
            status=status,
            serial=serial,
            limit=limit,
            offset=offset,
        )

    @get(
        "/assets/{asset_id:uuid}/history",
        operation_id="getAssetHistory",
        opt=ANY_ROLE,
        summary="An asset's every movement and service",
        responses=error_responses(401, 403, 404),
    )
    async def asset_history(
        self,
        asset_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
    ) -> s.AssetHistory:
        return await views.asset_history(request.user, asset_id)

    @post(
        "/assets/{asset_id:uuid}/services",
        operation_id="recordAssetService",
        opt=FIELD_ROLES,
        status_code=HTTP_201_CREATED,
        summary="Record a calibration, inspection or maintenance; the next falls due an interval later",
        responses=error_responses(401, 403, 404, 413, 422),
    )
    async def record_service(
        self,
        asset_id: FromPath[UUID],
        data: JSONBody[s.ServiceRequest],
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
        db_session: NamedDependency[AsyncSession],
    ) -> s.AssetHistory:
        await views.get_asset(request.user, asset_id)
        await InventoryService(db_session).record_service(
            request.user, asset_id, kind=data.kind, performed_at=data.performed_at or utcnow(), note=data.note
        )
        return await views.asset_history(request.user, asset_id)

    @get(
        "/custody/me",
        operation_id="getMyCustody",
        opt=ANY_ROLE,
        summary="What I hold: tools, toolbox, uniforms, stock, my van, hand-overs waiting, due dates",
        responses=error_responses(401, 403),
    )
    async def my_custody(
        self, request: Request[CurrentUser, str, State], views: NamedDependency[InventoryViews]
    ) -> s.Custody:
        return await views.custody(request.user, request.user.id)

    @get(
        "/custody/users/{user_id:uuid}",
        operation_id="getUserCustody",
        opt=ANY_ROLE,
        summary="What a technician holds (supervisors: their teams)",
        responses=error_responses(401, 403, 404),
    )
    async def user_custody(
        self,
        user_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
    ) -> s.Custody:
        return await views.custody(request.user, user_id)

    @get(
        "/custody/teams/{team_id:uuid}",
        operation_id="getTeamCustody",
        opt=STAFF,
        summary="What each technician of a team holds",
        responses=error_responses(401, 403, 404),
    )
    async def team_custody(
        self,
        team_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
    ) -> list[s.Custody]:
        return await views.team_custody(request.user, team_id)

    @get(
        "/overdue",
        operation_id="listOverdue",
        opt=ANY_ROLE,
        summary="Overdue returns and overdue calibrations, inspections and maintenance",
        responses=error_responses(401, 403),
    )
    async def overdue(
        self, request: Request[CurrentUser, str, State], views: NamedDependency[InventoryViews]
    ) -> list[s.AssetRead]:
        return await views.overdue(request.user)

    @get(
        "/due",
        operation_id="listDue",
        opt=ANY_ROLE,
        summary="Assets whose service falls due soon (spare maintenance, tool calibration)",
        responses=error_responses(401, 403),
    )
    async def due(
        self,
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
        within_days: Annotated[int, QueryParameter(ge=0, le=3650)] = 30,
        kind: FromQuery[s.ItemKindName | None] = None,
    ) -> list[s.AssetRead]:
        return await views.due(request.user, within_days=within_days, kind=kind)

    @get(
        "/handovers",
        operation_id="listHandovers",
        opt=ANY_ROLE,
        summary="Hand-overs between technicians (default: those waiting for acceptance)",
        responses=error_responses(401, 403),
    )
    async def handovers(
        self,
        request: Request[CurrentUser, str, State],
        views: NamedDependency[InventoryViews],
        status: FromQuery[s.HandoverStatusName | None] = "pending",
    ) -> list[s.HandoverRead]:
        return await views.handovers(request.user, status=status)


class OperationsController(Controller):
    """Every stock or custody change. Each names a client ``move_id``: ``201`` when applied, ``200``
    with ``duplicate: true`` and the first result when that ``move_id`` was seen before."""

    path = "/api/inventory/ops"
    tags = ["inventory"]
    dependencies = {"inventory": Provide(provide_inventory)}

    @post(
        "/receive",
        operation_id="receiveStock",
        opt=MANAGER,
        summary="Receive stock or new assets into a depot",
        responses=OP_ERRORS,
    )
    async def receive(
        self,
        data: JSONBody[s.ReceiveRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.receive(
                _context(request, data),
                to_location_id=data.to_location_id,
                item_id=data.item_id,
                qty=data.qty,
                size=data.size,
                assets=[NewAsset(a.serial, a.due_at) for a in data.assets],
            )
        )

    @post(
        "/checkout",
        operation_id="checkoutStock",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="A technician takes an asset or a quantity into custody",
        description="Never refused for what the store believes: a contradiction raises an exception.",
    )
    async def checkout(
        self,
        data: JSONBody[s.CheckoutRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.checkout(
                _context(request, data, data.job_id),
                _stock(data),
                from_location_id=data.from_location_id,
                user_id=data.user_id,
                to_vehicle=data.to_vehicle,
            )
        )

    @post(
        "/issue-uniform",
        operation_id="issueUniform",
        opt=LEAD_ROLES,
        responses=OP_ERRORS,
        summary="Issue uniforms of a size to a technician",
    )
    async def issue_uniform(
        self,
        data: JSONBody[s.IssueUniformRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.issue_uniform(
                _context(request, data),
                user_id=data.user_id,
                item_id=data.item_id,
                size=data.size,
                qty=data.qty,
                from_location_id=data.from_location_id,
            )
        )

    @post(
        "/return",
        operation_id="returnStock",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="Return custody with its condition (damaged and lost raise an exception)",
    )
    async def return_(
        self,
        data: JSONBody[s.ReturnRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.return_(
                _context(request, data),
                _stock(data),
                to_location_id=data.to_location_id,
                condition=data.condition,
                user_id=data.user_id,
                from_location_id=data.from_location_id,
                note=data.note,
                blobs=data.blobs,
            )
        )

    @post(
        "/transfer",
        operation_id="transferCustody",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="Hand over to another technician; custody passes when they accept",
    )
    async def transfer(
        self,
        data: JSONBody[s.TransferRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.transfer(
                _context(request, data),
                _stock(data),
                to_user_id=data.to_user_id,
                user_id=data.user_id,
                from_location_id=data.from_location_id,
            )
        )

    @post(
        "/handovers/{handover_id:uuid}/accept",
        operation_id="acceptHandover",
        opt=FIELD_ROLES,
        responses=REPLAY | error_responses(401, 403, 404, 409, 413, 422),
        summary="Accept a hand-over (custody passes)",
    )
    async def accept(
        self,
        handover_id: FromPath[UUID],
        data: JSONBody[s.HandoverDecision],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.decide_handover(
                _context(request, data), handover_id, accept=True, to_vehicle=data.to_vehicle
            )
        )

    @post(
        "/handovers/{handover_id:uuid}/decline",
        operation_id="declineHandover",
        opt=FIELD_ROLES,
        responses=REPLAY | error_responses(401, 403, 404, 409, 413, 422),
        summary="Decline a hand-over (it stays with the giver; a custody conflict is raised)",
    )
    async def decline(
        self,
        handover_id: FromPath[UUID],
        data: JSONBody[s.HandoverDecision],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(await inventory.decide_handover(_context(request, data), handover_id, accept=False))

    @post(
        "/consume",
        operation_id="consumeStock",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="Parts used on a job (from the technician's van, else their person)",
    )
    async def consume(
        self,
        data: JSONBody[s.ConsumeRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        await _check_job(request, data.job_id, inventory)
        return _answer(
            await inventory.consume(
                _context(request, data, data.job_id),
                item_id=data.item_id,
                qty=data.qty,
                size=data.size,
                asset_id=data.asset_id,
                from_location_id=data.from_location_id,
                user_id=data.user_id,
            )
        )

    @post(
        "/swap",
        operation_id="swapSpare",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="A spare unit replaces a faulty installed unit, which goes to repair",
    )
    async def swap(
        self,
        data: JSONBody[s.SwapRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        await _check_job(request, data.job_id, inventory)
        result = await inventory.swap_spare(
            _context(request, data, data.job_id),
            installed_asset_id=data.installed_asset_id,
            spare_asset_id=data.spare_asset_id,
            removed_serial=data.removed_serial,
            repair_location_id=data.repair_location_id,
            user_id=data.user_id,
        )
        if not result.duplicate:
            from backend.jobs.catalog import CatalogService

            await CatalogService(inventory.session).follow_swap_of_asset(
                data.installed_asset_id, data.spare_asset_id
            )
        return _answer(result)

    @post(
        "/install",
        operation_id="installUnit",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="Install a unit at a customer site (it joins the installed base)",
    )
    async def install(
        self,
        data: JSONBody[s.InstallRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.install(
                _context(request, data, data.job_id),
                asset_id=data.asset_id,
                site_location_id=data.site_location_id,
            )
        )

    @post(
        "/repair-send",
        operation_id="sendToRepair",
        opt=LEAD_ROLES,
        responses=OP_ERRORS,
        summary="Send an asset to a repair workshop or vendor",
    )
    async def repair_send(
        self,
        data: JSONBody[s.RepairSendRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.send_to_repair(
                _context(request, data), asset_id=data.asset_id, to_location_id=data.to_location_id
            )
        )

    @post(
        "/repair-receive",
        operation_id="receiveFromRepair",
        opt=LEAD_ROLES,
        responses=OP_ERRORS,
        summary="An asset comes back from repair: into a depot, or scrapped",
    )
    async def repair_receive(
        self,
        data: JSONBody[s.RepairReceiveRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.receive_from_repair(
                _context(request, data),
                asset_id=data.asset_id,
                to_location_id=data.to_location_id,
                repaired=data.repaired,
            )
        )

    @post(
        "/count",
        operation_id="countStock",
        opt=FIELD_ROLES,
        responses=OP_ERRORS,
        summary="A stock count: differences become adjusting movements with the reason",
    )
    async def count(
        self,
        data: JSONBody[s.CountRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.count(
                _context(request, data),
                location_id=data.location_id,
                lines=[
                    CountLine(item_id=line.item_id, counted=line.counted, size=line.size)
                    for line in data.lines
                ],
            )
        )

    @post(
        "/vehicles/{vehicle_asset_id:uuid}/assign",
        operation_id="assignVehicle",
        opt=LEAD_ROLES,
        responses=REPLAY | error_responses(401, 403, 409, 413, 422),
        summary="Give a van (and its load) to a technician",
    )
    async def assign_vehicle(
        self,
        vehicle_asset_id: FromPath[UUID],
        data: JSONBody[s.VehicleAssignRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.assign_vehicle(
                _context(request, data), vehicle_asset_id=vehicle_asset_id, user_id=data.user_id
            )
        )

    @post(
        "/vehicles/{vehicle_asset_id:uuid}/unassign",
        operation_id="unassignVehicle",
        opt=LEAD_ROLES,
        responses=REPLAY | error_responses(401, 403, 409, 413, 422),
        summary="Park a van at a depot",
    )
    async def unassign_vehicle(
        self,
        vehicle_asset_id: FromPath[UUID],
        data: JSONBody[s.VehicleUnassignRequest],
        request: Request[CurrentUser, str, State],
        inventory: NamedDependency[InventoryService],
    ) -> Response[s.OperationResultRead]:
        return _answer(
            await inventory.unassign_vehicle(
                _context(request, data), vehicle_asset_id=vehicle_asset_id, to_location_id=data.to_location_id
            )
        )


def exception_read(e: SyncException) -> s.ExceptionRead:
    return s.ExceptionRead(
        id=e.id,
        kind=e.kind,
        status=e.status,
        message=e.message,
        mutation=e.mutation,
        user_id=e.user_id,
        team_id=e.team_id,
        raised_by_id=e.raised_by_id,
        move_id=e.move_id,
        item_id=e.item_id,
        asset_id=e.asset_id,
        location_id=e.location_id,
        job_id=e.job_id,
        other_user_id=e.other_user_id,
        qty=e.qty,
        note=e.note,
        blobs=list(e.blobs or []),
        outcome=e.outcome,
        resolution=e.resolution,
        resolved_by_id=e.resolved_by_id,
        resolved_at=e.resolved_at,
        created_at=e.created_at,
        version=e.version,
    )


async def provide_exceptions(db_session: NamedDependency[AsyncSession]) -> ExceptionService:
    return ExceptionService(db_session)


class ExceptionController(Controller):
    path = "/api/exceptions"
    tags = ["exceptions"]
    dependencies = {"exceptions": Provide(provide_exceptions)}

    @get(
        "/",
        operation_id="listExceptions",
        opt=ANY_ROLE,
        responses=error_responses(401, 403),
        summary="Exceptions to look at (supervisors: their teams; technicians: their own)",
    )
    async def list_exceptions(
        self,
        request: Request[CurrentUser, str, State],
        exceptions: NamedDependency[ExceptionService],
        status: FromQuery[s.ExceptionStatusName | None] = "open",
        kind: FromQuery[s.ExceptionKindName | None] = None,
        user_id: FromQuery[UUID | None] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> s.ExceptionPage:
        rows, total = await exceptions.list(
            request.user,
            ExceptionFilter(status=status, kind=kind, user_id=user_id, limit=limit, offset=offset),
        )
        return s.ExceptionPage(total=total, items=[exception_read(e) for e in rows])

    @get(
        "/{exception_id:uuid}",
        operation_id="getException",
        opt=ANY_ROLE,
        responses=error_responses(401, 403, 404),
        summary="One exception, with the operation as it arrived",
    )
    async def get_exception(
        self,
        exception_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        exceptions: NamedDependency[ExceptionService],
    ) -> s.ExceptionRead:
        return exception_read(await exceptions.get(request.user, exception_id))

    @post(
        "/{exception_id:uuid}/resolve",
        operation_id="resolveException",
        opt=STAFF,
        status_code=HTTP_200_OK,
        responses=error_responses(401, 403, 404, 409, 413, 422),
        summary="Resolve an exception: how, and why (who and when are recorded)",
    )
    async def resolve(
        self,
        exception_id: FromPath[UUID],
        data: JSONBody[s.ResolveRequest],
        request: Request[CurrentUser, str, State],
        exceptions: NamedDependency[ExceptionService],
    ) -> s.ExceptionRead:
        return exception_read(
            await exceptions.resolve(
                request.user,
                exception_id,
                outcome=ExceptionOutcome(data.outcome),
                resolution=data.resolution.strip(),
            )
        )


REPORT_COLUMNS = [
    "sku",
    "model",
    "region",
    "installed",
    "ratio",
    "minimum",
    "required",
    "serviceable",
    "in_repair",
    "in_transit",
    "shortage",
]


class SpareController(Controller):
    path = "/api/spares"
    tags = ["spares"]
    dependencies = {"inventory": Provide(provide_inventory), "views": Provide(provide_views)}

    @get(
        "/report",
        operation_id="getSpareReport",
        opt=STAFF,
        responses=error_responses(401, 403),
        summary="Spares needed from the installed base, per model and region, with the shortage",
    )
    async def report(
        self,
        inventory: NamedDependency[InventoryService],
        region: Annotated[str | None, QueryParameter(max_length=80)] = None,
    ) -> list[s.SpareReportLine]:
        return [s.SpareReportLine(**row.__dict__) for row in await inventory.spare_report(region=region)]

    @get(
        "/report.csv",
        operation_id="exportSpareReport",
        opt=STAFF,
        media_type="text/csv",
        responses=error_responses(401, 403),
        summary="The spare report as CSV",
    )
    async def report_csv(
        self,
        inventory: NamedDependency[InventoryService],
        region: Annotated[str | None, QueryParameter(max_length=80)] = None,
    ) -> Response[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(REPORT_COLUMNS)
        for row in await inventory.spare_report(region=region):
            writer.writerow([_csv_safe(getattr(row, c)) for c in REPORT_COLUMNS])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="spare-report.csv"'},
        )

    @get(
        "/policies",
        operation_id="listSparePolicies",
        opt=STAFF,
        responses=error_responses(401, 403),
        summary="Spare ratios and minimums set per model and region (default ratio 0.01)",
    )
    async def policies(self, views: NamedDependency[InventoryViews]) -> list[s.SparePolicyRead]:
        return await views.spare_policies()

    @put(
        "/policies",
        operation_id="setSparePolicy",
        opt=MANAGER,
        responses=error_responses(401, 403, 413, 422),
        summary="Set the ratio and minimum for a model in a region",
    )
    async def set_policy(
        self, data: JSONBody[s.SparePolicyWrite], inventory: NamedDependency[InventoryService]
    ) -> s.SparePolicyRead:
        policy = await inventory.set_spare_policy(
            data.item_id, data.region.strip(), ratio=data.ratio, minimum=data.minimum
        )
        return s.SparePolicyRead(
            item_id=policy.item_id, region=policy.region, ratio=policy.ratio, minimum=policy.minimum
        )

    @get(
        "/shortages",
        operation_id="listSpareShortages",
        opt=STAFF,
        responses=error_responses(401, 403),
        summary="Shortages of spares: open ones, or all with when they opened and cleared",
    )
    async def shortages(
        self, views: NamedDependency[InventoryViews], open_only: FromQuery[bool] = True
    ) -> list[s.SpareShortageRead]:
        return await views.shortages(open_only=open_only)


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ is a formula to a spreadsheet: neutralise text that does.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


ROUTE_HANDLERS = [CatalogController, OperationsController, ExceptionController, SpareController]
