"""The catalog (items, kits, locations) and the views people need: my custody, a team's custody, a
depot's stock, an asset's history, what is overdue or due. Reads are scoped here: a technician sees
the catalog, the depots and their own custody; a supervisor their teams'; quality and managers all."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import msgspec
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, User
from backend.auth.services import CurrentUser, UserService
from backend.db import utcnow
from backend.errors import Conflict, InvalidInput, NotFound
from backend.inventory.models import (
    CUSTODY_KINDS,
    QUANTITY_KINDS,
    SERIAL_KINDS,
    Asset,
    AssetService,
    Balance,
    Handover,
    HandoverStatus,
    Item,
    ItemKind,
    KitComponent,
    Location,
    LocationKind,
    Movement,
    SparePolicy,
    SpareShortage,
    Tracking,
)
from backend.inventory.schemas import (
    AssetHistory,
    AssetRead,
    BalanceRead,
    Custody,
    HandoverRead,
    ItemCreate,
    ItemRead,
    ItemUpdate,
    KitLine,
    LocationCreate,
    LocationRead,
    LocationStock,
    MovementRead,
    ServiceRecordRead,
    SparePolicyRead,
    SpareShortageRead,
)
from backend.inventory.services import NOT_SERVICED_STATUSES, is_overdue, overdue_filter
from backend.sync.feed import touch

MAX_LIST = 500


def location_read(location: Location) -> LocationRead:
    return LocationRead(
        id=location.id,
        kind=location.kind,
        name=location.name,
        code=location.code,
        region=location.region,
        address=location.address,
        user_id=location.user_id,
        is_active=location.is_active,
        version=location.version,
        updated_at=location.updated_at,
    )


def asset_read(asset: Asset, item: Item, now: datetime) -> AssetRead:
    return AssetRead(
        id=asset.id,
        item_id=asset.item_id,
        sku=item.sku,
        item_name=item.name,
        kind=item.kind,
        serial=asset.serial,
        status=asset.status,
        condition=asset.condition,
        location_id=asset.location_id,
        holder_id=asset.holder_id,
        region=asset.region,
        parent_asset_id=asset.parent_asset_id,
        vehicle_location_id=asset.vehicle_location_id,
        due_at=asset.due_at,
        due_kind=item.service_kind if asset.due_at else None,
        last_serviced_at=asset.last_serviced_at,
        return_due_at=asset.return_due_at,
        installed_at=asset.installed_at,
        overdue=is_overdue(asset, now),
        version=asset.version,
        updated_at=asset.updated_at,
    )


def balance_read(balance: Balance, item: Item) -> BalanceRead:
    return BalanceRead(
        id=balance.id,
        location_id=balance.location_id,
        item_id=balance.item_id,
        sku=item.sku,
        item_name=item.name,
        kind=item.kind,
        unit=item.unit,
        size=balance.size,
        qty=balance.qty,
        version=balance.version,
    )


def movement_read(m: Movement) -> MovementRead:
    return MovementRead(
        id=m.id,
        move_id=m.move_id,
        line=m.line,
        operation=m.operation,
        from_location_id=m.from_location_id,
        to_location_id=m.to_location_id,
        item_id=m.item_id,
        asset_id=m.asset_id,
        size=m.size,
        qty=m.qty,
        condition=m.condition,
        job_id=m.job_id,
        actor_id=m.actor_id,
        custodian_id=m.custodian_id,
        reason=m.reason,
        recorded_at=m.recorded_at,
        received_at=m.received_at,
    )


def handover_read(h: Handover) -> HandoverRead:
    return HandoverRead(
        id=h.id,
        move_id=h.move_id,
        from_user_id=h.from_user_id,
        to_user_id=h.to_user_id,
        from_location_id=h.from_location_id,
        item_id=h.item_id,
        asset_id=h.asset_id,
        size=h.size,
        qty=h.qty,
        status=h.status,
        note=h.note,
        recorded_at=h.recorded_at,
        decided_at=h.decided_at,
    )


class InventoryViews:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- catalog -----------------------------------------------------------------------------------

    async def _item_reads(self, items: list[Item]) -> list[ItemRead]:
        contents: dict[UUID, list[KitLine]] = {}
        kit_ids = [i.id for i in items if i.kind == ItemKind.toolbox]
        if kit_ids:
            for line in await self.session.scalars(
                select(KitComponent).where(KitComponent.kit_item_id.in_(kit_ids))
            ):
                contents.setdefault(line.kit_item_id, []).append(
                    KitLine(item_id=line.component_item_id, qty=line.qty)
                )
        return [
            ItemRead(
                id=i.id,
                sku=i.sku,
                name=i.name,
                kind=i.kind,
                tracking=i.tracking,
                unit=i.unit,
                sizes=list(i.sizes or []),
                service_kind=i.service_kind,
                service_interval_days=i.service_interval_days,
                loan_days=i.loan_days,
                contents=contents.get(i.id, []),
                is_active=i.is_active,
                version=i.version,
                updated_at=i.updated_at,
            )
            for i in items
        ]

    async def list_items(self, *, kind: str | None = None) -> list[ItemRead]:
        statement = select(Item).order_by(Item.sku)
        if kind:
            statement = statement.where(Item.kind == kind)
        return await self._item_reads(list(await self.session.scalars(statement)))

    async def get_item(self, item_id: UUID) -> ItemRead:
        item = await self.session.get(Item, item_id)
        if item is None:
            raise NotFound("no such item", field="item_id")
        return (await self._item_reads([item]))[0]

    @staticmethod
    def _check_item_rules(
        kind: str, tracking: str, sizes: list[str], service_kind, interval, contents
    ) -> None:
        if kind in SERIAL_KINDS and tracking != Tracking.serial:
            raise InvalidInput(f"a {kind} is tracked by serial number", field="tracking")
        if kind in QUANTITY_KINDS and tracking != Tracking.quantity:
            raise InvalidInput(f"a {kind} is counted", field="tracking")
        if sizes and kind != ItemKind.uniform:
            raise InvalidInput("only uniforms have sizes", field="sizes")
        if len(set(sizes)) != len(sizes) or any(not s.strip() for s in sizes):
            raise InvalidInput("sizes must be unique and not blank", field="sizes")
        if (service_kind is None) != (interval is None):
            raise InvalidInput(
                "give service_kind and service_interval_days together", field="service_interval_days"
            )
        if contents and kind != ItemKind.toolbox:
            raise InvalidInput("only toolboxes have contents", field="contents")

    async def _set_contents(self, kit: Item, lines: list[KitLine]) -> None:
        seen = set()
        for index, line in enumerate(lines):
            component = await self.session.get(Item, line.item_id)
            if component is None:
                raise InvalidInput("no such item", field=f"contents[{index}].item_id", code="UNKNOWN_ITEM")
            if component.id == kit.id or component.kind in (ItemKind.toolbox, ItemKind.vehicle):
                raise InvalidInput(
                    "a toolbox holds tools, parts and consumables", field=f"contents[{index}].item_id"
                )
            if component.id in seen:
                raise InvalidInput("an item is listed twice", field=f"contents[{index}].item_id")
            seen.add(component.id)
        await self.session.execute(delete(KitComponent).where(KitComponent.kit_item_id == kit.id))
        for line in lines:
            self.session.add(KitComponent(kit_item_id=kit.id, component_item_id=line.item_id, qty=line.qty))

    async def create_item(self, data: ItemCreate) -> ItemRead:
        tracking = data.tracking or (Tracking.serial if data.kind in SERIAL_KINDS else Tracking.quantity)
        sizes = [s.strip() for s in data.sizes]
        self._check_item_rules(
            data.kind, tracking, sizes, data.service_kind, data.service_interval_days, data.contents
        )
        if await self.session.scalar(select(Item.id).where(Item.sku == data.sku)):
            raise Conflict(f"the SKU {data.sku!r} is taken", field="sku", code="SKU_TAKEN")
        item = Item(
            sku=data.sku,
            name=data.name.strip(),
            kind=data.kind,
            tracking=tracking,
            unit=data.unit,
            sizes=sizes,
            service_kind=data.service_kind,
            service_interval_days=data.service_interval_days,
            loan_days=data.loan_days,
        )
        self.session.add(item)
        await self.session.flush()
        await self._set_contents(item, data.contents)
        await self.session.flush()
        return (await self._item_reads([item]))[0]

    async def update_item(self, item_id: UUID, data: ItemUpdate) -> ItemRead:
        item = await self.session.get(Item, item_id)
        if item is None:
            raise NotFound("no such item", field="item_id")
        values = {f: getattr(data, f) for f in data.__struct_fields__}
        changes = {k: v for k, v in values.items() if v is not msgspec.UNSET}
        sizes = [s.strip() for s in changes.get("sizes", item.sizes or [])]
        service_kind = changes.get("service_kind", item.service_kind)
        interval = changes.get("service_interval_days", item.service_interval_days)
        contents = changes.get("contents")
        self._check_item_rules(item.kind, item.tracking, sizes, service_kind, interval, contents or [])
        if "sizes" in changes:
            removed = set(item.sizes or []) - set(sizes)
            if removed and await self.session.scalar(
                select(Balance.id).where(
                    Balance.item_id == item.id, Balance.size.in_(removed), Balance.qty != 0
                )
            ):
                raise Conflict("sizes still in stock cannot be removed", field="sizes", code="SIZE_IN_USE")
            item.sizes = sizes
        for name in ("name", "unit", "service_kind", "service_interval_days", "loan_days", "is_active"):
            if name in changes:
                setattr(item, name, changes[name].strip() if name == "name" else changes[name])
        if contents is not None:
            await self._set_contents(item, contents)
            touch(item)
        await self.session.flush()
        return (await self._item_reads([item]))[0]

    async def create_location(self, data: LocationCreate) -> Location:
        if data.code and await self.session.scalar(select(Location.id).where(Location.code == data.code)):
            raise Conflict(f"the code {data.code!r} is taken", field="code", code="CODE_TAKEN")
        location = Location(
            kind=data.kind,
            name=data.name.strip(),
            code=data.code,
            region=data.region.strip(),
            address=data.address.strip(),
        )
        self.session.add(location)
        await self.session.flush()
        return location

    # --- scope -------------------------------------------------------------------------------------

    async def visible_user_ids(self, current: CurrentUser) -> set[UUID] | None:
        """Whose custody ``current`` may see (the users' own visibility rule): None means everyone."""
        scope = await UserService(self.session).visible_user_ids_filter(current)
        if scope is None:
            return None
        return set(await self.session.scalars(select(User.id).where(scope)))

    @staticmethod
    def _kinds_hidden_from(current: CurrentUser) -> tuple[str, ...]:
        # A technician sees customer sites through their jobs (the jobs domain), not as stock; what
        # everyone consumed or lost is not theirs to browse.
        return (LocationKind.site, LocationKind.written_off) if current.role == Role.technician else ()

    async def _check_location_visible(self, current: CurrentUser, location: Location) -> None:
        if location.kind in CUSTODY_KINDS and location.user_id is not None:
            visible = await self.visible_user_ids(current)
            if visible is not None and location.user_id not in visible:
                raise NotFound("no such location", field="location_id")
        elif location.kind in self._kinds_hidden_from(current):
            raise NotFound("no such location", field="location_id")

    async def list_locations(
        self, current: CurrentUser, *, kind: str | None = None, limit: int = MAX_LIST, offset: int = 0
    ) -> list[LocationRead]:
        statement = select(Location).order_by(Location.kind, Location.name, Location.id)
        if kind:
            statement = statement.where(Location.kind == kind)
        visible = await self.visible_user_ids(current)
        if visible is not None:
            statement = statement.where(
                or_(
                    Location.kind.not_in([*CUSTODY_KINDS, *self._kinds_hidden_from(current)]),
                    Location.user_id.in_(visible),
                    (Location.kind == LocationKind.vehicle)
                    & Location.user_id.is_(None)
                    & (current.role != Role.technician),
                )
            )
        rows = await self.session.scalars(statement.limit(limit).offset(offset))
        return [location_read(loc) for loc in rows]

    # --- stock and custody -------------------------------------------------------------------------

    async def _items(self, ids: set[UUID]) -> dict[UUID, Item]:
        if not ids:
            return {}
        return {i.id: i for i in await self.session.scalars(select(Item).where(Item.id.in_(ids)))}

    async def _assets_read(self, assets: list[Asset]) -> list[AssetRead]:
        items = await self._items({a.item_id for a in assets})
        now = utcnow()
        return [asset_read(a, items[a.item_id], now) for a in assets]

    async def _balances_read(self, location_ids: list[UUID]) -> list[BalanceRead]:
        if not location_ids:
            return []
        balances = list(
            await self.session.scalars(
                select(Balance).where(Balance.location_id.in_(location_ids), Balance.qty != 0)
            )
        )
        items = await self._items({b.item_id for b in balances})
        reads = [
            balance_read(b, items[b.item_id]) for b in balances if items[b.item_id].tracking == "quantity"
        ]
        return sorted(reads, key=lambda b: (b.sku, b.size))

    async def location_stock(self, current: CurrentUser, location_id: UUID) -> LocationStock:
        location = await self.session.get(Location, location_id)
        if location is None:
            raise NotFound("no such location", field="location_id")
        await self._check_location_visible(current, location)
        assets = list(
            await self.session.scalars(
                select(Asset)
                .where(Asset.location_id == location.id)
                .order_by(Asset.item_id, Asset.serial)
                .limit(5000)
            )
        )
        return LocationStock(
            location=location_read(location),
            stock=await self._balances_read([location.id]),
            assets=await self._assets_read(assets),
        )

    async def custody(self, current: CurrentUser, user_id: UUID) -> Custody:
        visible = await self.visible_user_ids(current)
        user = await self.session.get(User, user_id)
        if user is None or (visible is not None and user_id not in visible):
            raise NotFound("no such user", field="user_id")
        return await self._custody(user)

    async def _custody(self, user: User) -> Custody:
        person = await self.session.scalar(
            select(Location).where(Location.kind == LocationKind.person, Location.user_id == user.id)
        )
        vehicle_location = await self.session.scalar(
            select(Location).where(Location.kind == LocationKind.vehicle, Location.user_id == user.id)
        )
        vehicle = None
        if vehicle_location is not None:
            van = await self.session.scalar(
                select(Asset).where(Asset.vehicle_location_id == vehicle_location.id)
            )
            if van is not None:
                vehicle = (await self._assets_read([van]))[0]
        assets = list(
            await self.session.scalars(
                select(Asset)
                .where(Asset.holder_id == user.id, Asset.vehicle_location_id.is_(None))
                .order_by(Asset.item_id, Asset.serial)
            )
        )
        handovers = list(
            await self.session.scalars(
                select(Handover).where(
                    Handover.status == HandoverStatus.pending,
                    or_(Handover.from_user_id == user.id, Handover.to_user_id == user.id),
                )
            )
        )
        asset_reads = await self._assets_read(assets)
        return Custody(
            user_id=user.id,
            display_name=user.display_name,
            person_location_id=person.id if person else None,
            vehicle=vehicle,
            vehicle_location_id=vehicle_location.id if vehicle_location else None,
            assets=asset_reads,
            stock=await self._balances_read([loc.id for loc in (person, vehicle_location) if loc]),
            handovers_in=[handover_read(h) for h in handovers if h.to_user_id == user.id],
            handovers_out=[handover_read(h) for h in handovers if h.from_user_id == user.id],
            overdue_count=sum(1 for a in asset_reads if a.overdue) + int(bool(vehicle and vehicle.overdue)),
        )

    async def team_custody(self, current: CurrentUser, team_id: UUID) -> list[Custody]:
        visible = await self.visible_user_ids(current)
        members = list(
            await self.session.scalars(
                select(User)
                .where(User.team_id == team_id, User.role == Role.technician, User.is_active)
                .order_by(User.username)
            )
        )
        if visible is not None:
            members = [m for m in members if m.id in visible]
            if not members and current.role != Role.manager:
                raise NotFound("no such team", field="team_id")
        return [await self._custody(member) for member in members]

    async def get_asset(self, current: CurrentUser, asset_id: UUID) -> Asset:
        return await self._asset_in_scope(current, asset_id, await self.visible_user_ids(current))

    async def _asset_in_scope(self, current: CurrentUser, asset_id: UUID, visible: set[UUID] | None) -> Asset:
        asset = await self.session.get(Asset, asset_id)
        if asset is None:
            raise NotFound("no such asset", field="asset_id")
        if visible is not None:
            location = await self.session.get(Location, asset.location_id)
            public = location.kind not in (*CUSTODY_KINDS, *self._kinds_hidden_from(current))
            if not (public or asset.holder_id in visible or location.user_id in visible):
                raise NotFound("no such asset", field="asset_id")
        return asset

    async def asset_history(self, current: CurrentUser, asset_id: UUID) -> AssetHistory:
        visible = await self.visible_user_ids(current)
        asset = await self._asset_in_scope(current, asset_id, visible)
        item = await self.session.get(Item, asset.item_id)
        statement = select(Movement).where(Movement.asset_id == asset.id)
        if visible is not None:
            # Custody by people outside one's scope, and the jobs the asset went to then, are not shown.
            statement = statement.where(
                or_(Movement.custodian_id.is_(None), Movement.custodian_id.in_(visible))
            )
        movements = await self.session.scalars(statement.order_by(Movement.received_at, Movement.line))
        services = await self.session.scalars(
            select(AssetService).where(AssetService.asset_id == asset.id).order_by(AssetService.performed_at)
        )
        return AssetHistory(
            asset=asset_read(asset, item, utcnow()),
            movements=[movement_read(m) for m in movements],
            services=[
                ServiceRecordRead(
                    id=s.id,
                    kind=s.kind,
                    performed_at=s.performed_at,
                    actor_id=s.actor_id,
                    note=s.note,
                    next_due_at=s.next_due_at,
                )
                for s in services
            ],
        )

    async def list_assets(
        self,
        current: CurrentUser,
        *,
        item_id: UUID | None = None,
        location_id: UUID | None = None,
        status: str | None = None,
        serial: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AssetRead]:
        statement = select(Asset).order_by(Asset.item_id, Asset.serial, Asset.id)
        if item_id:
            statement = statement.where(Asset.item_id == item_id)
        if location_id:
            statement = statement.where(Asset.location_id == location_id)
        if status:
            statement = statement.where(Asset.status == status)
        if serial:
            statement = statement.where(Asset.serial == serial)
        statement = await self._scope_assets(current, statement)
        return await self._assets_read(
            list(await self.session.scalars(statement.limit(limit).offset(offset)))
        )

    async def _scope_assets(self, current: CurrentUser, statement):
        visible = await self.visible_user_ids(current)
        if visible is None:
            return statement
        hidden = [*CUSTODY_KINDS, *self._kinds_hidden_from(current)]
        public_locations = select(Location.id).where(Location.kind.not_in(hidden))
        return statement.where(or_(Asset.holder_id.in_(visible), Asset.location_id.in_(public_locations)))

    async def overdue(self, current: CurrentUser, *, limit: int = MAX_LIST) -> list[AssetRead]:
        """Assets past their return date or their calibration/inspection/maintenance, within scope."""
        statement = select(Asset).where(overdue_filter(utcnow())).order_by(Asset.due_at, Asset.return_due_at)
        statement = await self._scope_assets(current, statement)
        return await self._assets_read(list(await self.session.scalars(statement.limit(limit))))

    async def due(
        self, current: CurrentUser, *, within_days: int, kind: str | None = None, limit: int = MAX_LIST
    ) -> list[AssetRead]:
        """Assets whose service falls due within ``within_days`` (spare maintenance, tool calibration)."""
        horizon = utcnow() + timedelta(days=within_days)
        statement = (
            select(Asset)
            .where(
                Asset.due_at.is_not(None),
                Asset.due_at <= horizon,
                Asset.status.not_in(NOT_SERVICED_STATUSES),
            )
            .order_by(Asset.due_at)
        )
        if kind:
            statement = statement.where(Asset.item_id.in_(select(Item.id).where(Item.kind == kind)))
        statement = await self._scope_assets(current, statement)
        return await self._assets_read(list(await self.session.scalars(statement.limit(limit))))

    # --- spares ------------------------------------------------------------------------------------

    async def spare_policies(self) -> list[SparePolicyRead]:
        rows = await self.session.scalars(select(SparePolicy).order_by(SparePolicy.region))
        return [
            SparePolicyRead(item_id=p.item_id, region=p.region, ratio=p.ratio, minimum=p.minimum)
            for p in rows
        ]

    async def shortages(self, *, open_only: bool = True) -> list[SpareShortageRead]:
        statement = select(SpareShortage).order_by(SpareShortage.opened_at.desc())
        if open_only:
            statement = statement.where(SpareShortage.closed_at.is_(None))
        return [
            SpareShortageRead(
                item_id=s.item_id,
                region=s.region,
                shortage=s.shortage,
                required=s.required,
                serviceable=s.serviceable,
                opened_at=s.opened_at,
                closed_at=s.closed_at,
            )
            for s in await self.session.scalars(statement)
        ]

    async def handovers(self, current: CurrentUser, *, status: str | None = "pending") -> list[HandoverRead]:
        statement = select(Handover).order_by(Handover.recorded_at.desc())
        if status:
            statement = statement.where(Handover.status == status)
        visible = await self.visible_user_ids(current)
        if visible is not None:
            statement = statement.where(
                or_(Handover.from_user_id.in_(visible), Handover.to_user_id.in_(visible))
            )
        return [handover_read(h) for h in await self.session.scalars(statement.limit(MAX_LIST))]
