"""Customers, their sites and the units installed there, and the standard procedures per job type.

A site is created together with its inventory location (kind ``site``), so what inventory installs at
that location is the site's installed base; a unit names one asset installed there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.services import CurrentUser
from backend.db import begin_write
from backend.errors import Conflict, InvalidInput, NotFound
from backend.inventory.models import Asset, AssetStatus, Item, Location, LocationKind
from backend.jobs.models import Customer, Job, JobHistory, JobType, Procedure, Site, StepRequirement, Unit
from backend.sync.feed import insert_synced_rows


@dataclass
class StepSpec:
    """One step of a standard procedure, as a manager writes it."""

    id: str
    title: str
    instructions: str = ""
    requires: list[str] = field(default_factory=list)
    reading_unit: str = ""
    reading_min: float | None = None
    reading_max: float | None = None
    key_moment: bool = False
    monitoring_point: bool = False
    mandatory: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "instructions": self.instructions,
            "requires": list(self.requires),
            "reading_unit": self.reading_unit,
            "reading_min": self.reading_min,
            "reading_max": self.reading_max,
            "key_moment": self.key_moment,
            "monitoring_point": self.monitoring_point,
            "mandatory": self.mandatory,
        }


def check_steps(steps: Sequence[StepSpec]) -> list[dict[str, Any]]:
    if not steps:
        raise InvalidInput("a procedure needs at least one step", field="steps")
    seen: set[str] = set()
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if step.id in seen:
            raise InvalidInput(f"step id {step.id!r} is used twice", field=f"{where}.id")
        seen.add(step.id)
        requirements = set(step.requires)
        if len(requirements) != len(step.requires):
            raise InvalidInput("a requirement is listed twice", field=f"{where}.requires")
        unknown = requirements - set(StepRequirement)
        if unknown:
            raise InvalidInput(f"unknown requirement {sorted(unknown)[0]!r}", field=f"{where}.requires")
        is_reading = StepRequirement.reading in requirements
        if is_reading and not step.reading_unit:
            raise InvalidInput("a reading needs its unit (V, mm, °C…)", field=f"{where}.reading_unit")
        if not is_reading and (
            step.reading_min is not None or step.reading_max is not None or step.reading_unit
        ):
            raise InvalidInput("only a reading step has a unit and a range", field=f"{where}.reading_unit")
        if (
            step.reading_min is not None
            and step.reading_max is not None
            and step.reading_min > step.reading_max
        ):
            raise InvalidInput("the reading's minimum is above its maximum", field=f"{where}.reading_min")
    return [step.as_dict() for step in steps]


class CatalogService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _get(self, model: type, record_id: UUID, field_name: str):
        row = await self.session.get(model, record_id)
        if row is None:
            raise NotFound(f"no such {model.__tablename__}", field=field_name)
        return row

    # --- customers ----------------------------------------------------------------------------------

    async def customer(self, customer_id: UUID, field_name: str = "customer_id") -> Customer:
        return await self._get(Customer, customer_id, field_name)

    async def create_customer(
        self, *, name: str, code: str | None, contacts: list[dict[str, str]]
    ) -> Customer:
        if code and await self.session.scalar(select(Customer.id).where(Customer.code == code)):
            raise Conflict(f"the customer code {code!r} is taken", field="code", code="CODE_TAKEN")
        customer = Customer(name=name.strip(), code=code, contacts=contacts)
        self.session.add(customer)
        await self.session.flush()
        return customer

    async def update_customer(self, customer_id: UUID, changes: dict[str, Any]) -> Customer:
        customer = await self.customer(customer_id)
        for name, value in changes.items():
            setattr(customer, name, value.strip() if isinstance(value, str) else value)
        await self.session.flush()
        return customer

    async def list_customers(self, *, search: str = "", limit: int = 100, offset: int = 0) -> list[Customer]:
        statement = select(Customer).order_by(Customer.name, Customer.id).limit(limit).offset(offset)
        if search:
            statement = statement.where(func.lower(Customer.name).contains(search.lower()))
        return list(await self.session.scalars(statement))

    # --- sites --------------------------------------------------------------------------------------

    async def site(self, site_id: UUID, field_name: str = "site_id") -> Site:
        return await self._get(Site, site_id, field_name)

    async def create_site(
        self,
        *,
        customer_id: UUID,
        name: str,
        code: str | None,
        address: str,
        lat: float | None,
        lon: float | None,
        region: str,
        access_notes: str = "",
    ) -> Site:
        await begin_write(self.session)
        await self.customer(customer_id)
        if (lat is None) != (lon is None):
            raise InvalidInput("give both lat and lon, or neither", field="lat" if lat is None else "lon")
        if code and await self.session.scalar(select(Site.id).where(Site.code == code)):
            raise Conflict(f"the site code {code!r} is taken", field="code", code="CODE_TAKEN")
        if code and await self.session.scalar(select(Location.id).where(Location.code == code)):
            raise Conflict(f"the location code {code!r} is taken", field="code", code="CODE_TAKEN")
        location = Location(
            kind=LocationKind.site, name=name.strip(), code=code, region=region, address=address
        )
        self.session.add(location)
        await self.session.flush()
        site = Site(
            customer_id=customer_id,
            name=name.strip(),
            code=code,
            address=address,
            lat=lat,
            lon=lon,
            region=region,
            access_notes=access_notes,
            location_id=location.id,
        )
        self.session.add(site)
        await self.session.flush()
        return site

    async def update_site(
        self, site_id: UUID, changes: dict[str, Any], actor: CurrentUser | None = None
    ) -> Site:
        """Change a site. Giving it another customer (an imported site whose customer was not recorded)
        moves its jobs to that customer too, each change in the job's history."""
        site = await self.site(site_id)
        new_customer = changes.get("customer_id")
        if new_customer is not None and new_customer != site.customer_id:
            await self.customer(new_customer)
            jobs = await self.session.scalars(
                select(Job).where(Job.site_id == site.id, Job.customer_id != new_customer)
            )
            for job in jobs:
                self.session.add(
                    JobHistory(
                        job_id=job.id,
                        actor_id=actor.id if actor else None,
                        field="customer_id",
                        old_value=str(job.customer_id),
                        new_value=str(new_customer),
                        note=f"site {site.name} belongs to another customer",
                    )
                )
                job.customer_id = new_customer
        merged_lat = changes.get("lat", site.lat)
        merged_lon = changes.get("lon", site.lon)
        if (merged_lat is None) != (merged_lon is None):
            raise InvalidInput("give both lat and lon, or neither", field="lat")
        for name, value in changes.items():
            setattr(site, name, value.strip() if isinstance(value, str) else value)
        location = await self.session.get(Location, site.location_id)
        if location is not None:
            # The site and its inventory location carry the same name, address and region.
            for name in ("name", "address", "region"):
                if name in changes and getattr(location, name) != getattr(site, name):
                    setattr(location, name, getattr(site, name))
        await self.session.flush()
        return site

    async def list_sites(
        self, *, customer_id: UUID | None = None, search: str = "", limit: int = 100, offset: int = 0
    ) -> list[Site]:
        statement = select(Site).order_by(Site.name, Site.id).limit(limit).offset(offset)
        if customer_id is not None:
            statement = statement.where(Site.customer_id == customer_id)
        if search:
            needle = search.lower()
            statement = statement.where(
                func.lower(Site.name).contains(needle) | func.lower(Site.address).contains(needle)
            )
        return list(await self.session.scalars(statement))

    # --- units: the installed base ------------------------------------------------------------------

    async def unit(self, unit_id: UUID, field_name: str = "unit_id") -> Unit:
        return await self._get(Unit, unit_id, field_name)

    async def register_unit(self, *, site_id: UUID, asset_id: UUID, position: str = "") -> Unit:
        """Name an asset that inventory has installed at the site's location as a unit of the site."""
        site = await self.site(site_id)
        asset = await self.session.get(Asset, asset_id)
        if asset is None:
            raise NotFound("no such asset", field="asset_id")
        if asset.location_id != site.location_id or asset.status != AssetStatus.installed:
            raise InvalidInput(
                f"asset {asset.serial} is not installed at {site.name}; install it there first",
                field="asset_id",
                code="NOT_INSTALLED_HERE",
            )
        if await self.session.scalar(select(Unit.id).where(Unit.asset_id == asset_id)):
            raise Conflict(f"asset {asset.serial} is already a unit", field="asset_id", code="ALREADY_A_UNIT")
        item = await self.session.get(Item, asset.item_id)
        unit = Unit(
            site_id=site.id,
            asset_id=asset.id,
            model=item.name if item else "",
            serial=asset.serial,
            position=position,
        )
        self.session.add(unit)
        await self.session.flush()
        return unit

    async def units_of_site(self, site_id: UUID) -> list[Unit]:
        await self.site(site_id)
        return list(
            await self.session.scalars(select(Unit).where(Unit.site_id == site_id).order_by(Unit.serial))
        )

    async def follow_swap(self, unit: Unit, new_asset_id: UUID) -> None:
        """After a spare swap the unit's position holds the spare: the unit follows the asset."""
        asset = await self.session.get(Asset, new_asset_id)
        item = await self.session.get(Item, asset.item_id) if asset else None
        if asset is None or item is None:
            raise NotFound("no such asset", field="spare_asset_id")
        unit.asset_id = asset.id
        unit.serial = asset.serial
        unit.model = item.name

    async def follow_swap_of_asset(self, removed_asset_id: UUID, spare_asset_id: UUID) -> None:
        """A swap recorded through inventory directly: the unit that named the removed machine now names
        the spare (nothing to do when the removed machine was not a registered unit)."""
        unit = await self.session.scalar(select(Unit).where(Unit.asset_id == removed_asset_id))
        if unit is not None:
            await self.follow_swap(unit, spare_asset_id)
            await self.session.flush()

    # --- procedures ---------------------------------------------------------------------------------

    async def procedure(self, procedure_id: UUID, field_name: str = "procedure_id") -> Procedure:
        return await self._get(Procedure, procedure_id, field_name)

    async def publish_procedure(
        self,
        actor: CurrentUser,
        *,
        code: str,
        job_type: str,
        name: str,
        steps: Sequence[StepSpec],
        item_id: UUID | None = None,
    ) -> Procedure:
        """Publish a procedure, or a new revision of it: earlier revisions stay as they were for the jobs
        that were given them, and are no longer offered to new jobs."""
        if job_type not in set(JobType):
            raise InvalidInput(f"unknown job type {job_type!r}", field="job_type")
        checked = check_steps(steps)
        if item_id is not None and await self.session.get(Item, item_id) is None:
            raise NotFound("no such item", field="item_id")
        await begin_write(self.session)
        current = list(
            await self.session.scalars(
                select(Procedure)
                .where(Procedure.code == code)
                .order_by(Procedure.revision.desc())
                .with_for_update()
            )
        )
        if current and current[0].job_type != job_type:
            raise InvalidInput(
                f"procedure {code} is for {current[0].job_type} jobs; publish another code for {job_type}",
                field="job_type",
            )
        for earlier in current:
            if earlier.is_current:
                earlier.is_current = False
        procedure = Procedure(
            code=code,
            revision=(current[0].revision + 1) if current else 1,
            job_type=job_type,
            name=name.strip(),
            item_id=item_id,
            steps=checked,
            is_current=True,
            published_by_id=actor.id,
        )
        self.session.add(procedure)
        await self.session.flush()
        return procedure

    async def list_procedures(
        self, *, job_type: str | None = None, include_retired: bool = False
    ) -> list[Procedure]:
        statement = select(Procedure).order_by(Procedure.code, Procedure.revision.desc())
        if job_type:
            statement = statement.where(Procedure.job_type == job_type)
        if not include_retired:
            statement = statement.where(Procedure.is_current.is_(True))
        return list(await self.session.scalars(statement))

    async def current_procedure(self, job_type: str, item_id: UUID | None) -> Procedure | None:
        """The procedure a new job of this type gets: the one for the unit's model, else the general one."""
        rows = list(
            await self.session.scalars(
                select(Procedure).where(Procedure.job_type == job_type, Procedure.is_current.is_(True))
            )
        )
        for procedure in rows:
            if item_id is not None and procedure.item_id == item_id:
                return procedure
        general = [p for p in rows if p.item_id is None]
        return min(general, key=lambda p: p.code) if general else None


# --- the installed base, linked in bulk ---------------------------------------------------------------

LINK_CHUNK = 2000
UNRECORDED_CUSTOMER_CODE = "UNRECORDED"
UNRECORDED_CUSTOMER_NAME = "客户未登记 Customer not recorded"
POSITIONS = ("lobby", "ATM room", "drive-through", "wall", "vestibule", "mall kiosk")


@dataclass
class LinkedBase:
    sites: int = 0
    units: int = 0


async def customer_by_code(session: AsyncSession, code: str, name: str = "") -> UUID:
    """The customer with ``code``, created (named ``name`` or the code) when it does not exist yet."""
    existing = await session.scalar(select(Customer.id).where(Customer.code == code))
    if existing is not None:
        return existing
    customer = Customer(code=code, name=name or code, contacts=[])
    session.add(customer)
    await session.flush()
    return customer.id


async def link_installed_base(
    session: AsyncSession,
    *,
    customer_for: Callable[[Location], UUID],
    site_details: Callable[[Location], dict[str, Any]] = lambda _location: {},
    position_for: Callable[[int], str] = lambda index: POSITIONS[index % len(POSITIONS)],
) -> LinkedBase:
    """A ``site`` for every inventory site location that has none, and a ``unit`` for every asset
    installed at a site that is not a unit yet: a few multi-row statements for a whole installed base
    (imports, the demo), each row with its change-feed entry. ``site_details`` may add lat, lon,
    access notes; ``position_for`` names the n-th unit of a site."""
    linked = LinkedBase()
    locations = list(
        await session.scalars(
            select(Location)
            .outerjoin(Site, Site.location_id == Location.id)
            .where(Location.kind == LocationKind.site, Site.id.is_(None))
            .order_by(Location.code, Location.id)
        )
    )
    site_rows = [
        {
            "id": uuid4(),
            "customer_id": customer_for(location),
            "name": location.name,
            "code": location.code,
            "address": location.address,
            "lat": None,
            "lon": None,
            "region": location.region,
            "access_notes": "",
            "location_id": location.id,
            **site_details(location),
        }
        for location in locations
    ]
    for first in range(0, len(site_rows), LINK_CHUNK):
        await insert_synced_rows(session, Site, site_rows[first : first + LINK_CHUNK])
    linked.sites = len(site_rows)
    site_by_location = dict((await session.execute(select(Site.location_id, Site.id))).all())
    taken = dict((await session.execute(select(Unit.site_id, func.count()).group_by(Unit.site_id))).all())
    assets = await session.execute(
        select(Asset.id, Asset.location_id, Asset.serial, Item.name)
        .join(Item, Item.id == Asset.item_id)
        .join(Location, Location.id == Asset.location_id)
        .outerjoin(Unit, Unit.asset_id == Asset.id)
        .where(Location.kind == LocationKind.site, Asset.status == AssetStatus.installed, Unit.id.is_(None))
        .order_by(Location.code, Asset.serial)
    )
    unit_rows = []
    for asset_id, location_id, serial, model in assets:
        site_id = site_by_location.get(location_id)
        if site_id is None:
            continue
        index = taken.get(site_id, 0)
        taken[site_id] = index + 1
        unit_rows.append(
            {
                "id": uuid4(),
                "site_id": site_id,
                "asset_id": asset_id,
                "model": model,
                "serial": serial,
                "position": position_for(index),
                "is_active": True,
            }
        )
    for first in range(0, len(unit_rows), LINK_CHUNK):
        await insert_synced_rows(session, Unit, unit_rows[first : first + LINK_CHUNK])
    linked.units = len(unit_rows)
    return linked
