"""Inventory operations one by one, at the service layer, on SQLite and PostgreSQL: what each writes
(movements, balances, assets, exceptions, shortages and events), and what each refuses before anything
is written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from backend.auth.models import User
from backend.auth.services import CurrentUser
from backend.db import create_engine, create_session_factory
from backend.errors import Conflict, DomainError, Forbidden, InvalidInput
from backend.events import SpareShortageAppeared, listen
from backend.inventory.models import (
    Asset,
    AssetService,
    AssetStatus,
    Condition,
    Handover,
    HandoverStatus,
    Location,
    LocationKind,
    Movement,
    Operation,
    SpareShortage,
)
from backend.inventory.services import (
    WRITTEN_OFF_CODE,
    CountLine,
    InventoryService,
    NewAsset,
    OperationResult,
    Stock,
)
from backend.sync.models import ExceptionKind, ExceptionStatus, SyncException
from tests.inventory_helpers import (
    SPARE_MAINTENANCE_DAYS,
    TOOL_CALIBRATION_DAYS,
    Catalog,
    balance_of,
    ctx,
    exceptions_of,
    load_actors,
    make_catalog,
    movements_of,
    pack_kit,
    run,
    snapshot,
)

T0 = datetime(2025, 3, 3, 8, 30, tzinfo=UTC)

# Every SpareShortageAppeared delivered in this process (listeners run after the commit).
_shortage_events: list[SpareShortageAppeared] = []
listen(SpareShortageAppeared, _shortage_events.append)


@dataclass
class Env:
    factory: Any
    actors: dict[str, CurrentUser]
    cat: Catalog

    def a(self, username: str) -> CurrentUser:
        return self.actors[username]

    async def op(self, work: Callable[[InventoryService], Awaitable[Any]]) -> Any:
        return await run(self.factory, work)

    async def read(self, work: Callable[[Any], Awaitable[Any]]) -> Any:
        async with self.factory() as session:
            return await work(session)

    async def get(self, model: type, key: Any) -> Any:
        async with self.factory() as session:
            return await session.get(model, key)

    async def person(self, username: str) -> UUID:
        """The person location of a user (made on first use, as the operations do)."""

        async def work(svc: InventoryService) -> UUID:
            return (await svc.person_location(await svc.session.get(User, self.a(username).id))).id

        return await self.op(work)

    async def receive_qty(self, item_id: UUID, qty: int, size: str = "", depot: UUID | None = None) -> None:
        await self.op(
            lambda s: s.receive(
                ctx(self.a("manager")),
                to_location_id=depot or self.cat.depot,
                item_id=item_id,
                qty=qty,
                size=size,
            )
        )

    async def receive_assets(
        self, item_id: UUID, serials: list[str], depot: UUID | None = None
    ) -> list[UUID]:
        result = await self.op(
            lambda s: s.receive(
                ctx(self.a("manager"), recorded_at=T0),
                to_location_id=depot or self.cat.depot,
                item_id=item_id,
                assets=[NewAsset(serial) for serial in serials],
            )
        )
        return result.asset_ids

    async def checkout(
        self,
        username: str,
        stock: Stock,
        source: UUID | None = None,
        recorded_at: datetime | None = None,
        **kw: Any,
    ) -> Any:
        return await self.op(
            lambda s: s.checkout(
                ctx(self.a(username), recorded_at=recorded_at),
                stock,
                from_location_id=source or self.cat.depot,
                **kw,
            )
        )

    async def new_van(self, serial: str, username: str | None = None) -> tuple[UUID, UUID]:
        """A van received into the depot (and assigned to ``username``): (van asset, its load space)."""
        [van] = await self.receive_assets(self.cat.van, [serial])
        if username:
            await self.op(
                lambda s: s.assign_vehicle(
                    ctx(self.a("manager")), vehicle_asset_id=van, user_id=self.a(username).id
                )
            )
        return van, (await self.get(Asset, van)).vehicle_location_id


@pytest.fixture
async def env(settings, seeded) -> Env:
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    try:
        yield Env(factory, await load_actors(factory), await make_catalog(factory))
    finally:
        await engine.dispose()


async def _exceptions(env: Env, result: OperationResult) -> list[SyncException]:
    return await env.read(lambda s: exceptions_of(s, result.exception_ids))


async def _movements(env: Env, result: OperationResult) -> list[Movement]:
    return await env.read(lambda s: movements_of(s, result.movement_ids))


async def _balance(env: Env, location_id: UUID, item_id: UUID, size: str = "") -> int:
    return await env.read(lambda s: balance_of(s, location_id, item_id, size))


# --- checkout ------------------------------------------------------------------------------------------


async def test_checkout_moves_an_asset_into_custody_with_a_loan_due_date(env: Env):
    cat = env.cat
    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    result = await env.checkout("tech1", Stock(asset_id=tool), recorded_at=T0)
    tech1 = await env.person("tech1")

    asset = await env.get(Asset, tool)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech1,
        env.a("tech1").id,
        AssetStatus.in_custody,
    )
    assert asset.return_due_at == T0 + timedelta(days=7)
    [line] = await _movements(env, result)
    assert (line.operation, line.from_location_id, line.to_location_id, line.asset_id, line.qty) == (
        Operation.checkout,
        cat.depot,
        tech1,
        tool,
        1,
    )
    assert line.custodian_id == env.a("tech1").id and line.actor_id == env.a("tech1").id
    assert result.exception_ids == [] and result.duplicate is False
    assert await _balance(env, cat.depot, cat.tool) == 0
    assert await _balance(env, tech1, cat.tool) == 1


async def test_checkout_of_an_asset_the_store_gives_to_another_moves_it_and_raises_custody_conflict(env: Env):
    cat = env.cat
    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    await env.checkout("tech1", Stock(asset_id=tool))
    tech1, tech2 = await env.person("tech1"), await env.person("tech2")

    # tech2 says they took it from the depot; the store has it with tech1. The fact is recorded.
    result = await env.checkout("tech2", Stock(asset_id=tool), source=cat.depot)

    asset = await env.get(Asset, tool)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech2,
        env.a("tech2").id,
        AssetStatus.in_custody,
    )
    [line] = await _movements(env, result)
    assert (line.from_location_id, line.to_location_id) == (tech1, tech2)  # from where the store had it
    [conflict] = await _exceptions(env, result)
    assert conflict.kind == ExceptionKind.custody_conflict
    assert conflict.status == ExceptionStatus.open
    assert conflict.user_id == env.a("tech2").id
    assert conflict.other_user_id == env.a("tech1").id
    assert conflict.team_id == env.a("tech2").team_id
    assert (conflict.asset_id, conflict.item_id, conflict.location_id) == (tool, cat.tool, tech1)
    assert conflict.move_id == result.move_id
    assert env.a("tech1").display_name in conflict.message
    assert await _balance(env, tech1, cat.tool) == 0
    assert await _balance(env, tech2, cat.tool) == 1
    assert await _balance(env, cat.depot, cat.tool) == 0


async def test_checkout_of_a_quantity_below_zero_moves_it_and_raises_stock_discrepancy_with_the_shortfall(
    env: Env,
):
    cat = env.cat
    await env.receive_qty(cat.part, 5)
    tech1, tech2 = await env.person("tech1"), await env.person("tech2")

    first = await env.checkout("tech1", Stock(item_id=cat.part, qty=8))
    assert await _balance(env, cat.depot, cat.part) == -3
    assert await _balance(env, tech1, cat.part) == 8
    [discrepancy] = await _exceptions(env, first)
    assert discrepancy.kind == ExceptionKind.stock_discrepancy
    assert (discrepancy.location_id, discrepancy.item_id, discrepancy.qty) == (cat.depot, cat.part, 3)
    assert discrepancy.user_id == env.a("tech1").id

    # Already below zero: only what left this time is the shortfall.
    second = await env.checkout("tech2", Stock(item_id=cat.part, qty=2))
    [discrepancy] = await _exceptions(env, second)
    assert (discrepancy.location_id, discrepancy.qty) == (cat.depot, 2)
    assert await _balance(env, cat.depot, cat.part) == -5
    assert await _balance(env, tech2, cat.part) == 2

    # Consuming more than one holds is the same kind of fact.
    consumed = await env.op(
        lambda s: s.consume(ctx(env.a("tech1"), job=True), item_id=cat.part, qty=10, from_location_id=tech1)
    )
    [discrepancy] = await _exceptions(env, consumed)
    assert (discrepancy.kind, discrepancy.location_id, discrepancy.qty) == (
        ExceptionKind.stock_discrepancy,
        tech1,
        2,
    )
    assert await _balance(env, tech1, cat.part) == -2
    [line] = await _movements(env, consumed)
    assert line.operation == Operation.consume and line.qty == 10 and line.job_id is not None
    sink = await env.get(Location, line.to_location_id)
    assert sink.kind == LocationKind.written_off and sink.code == "CONSUMED"


async def test_checkout_to_zero_raises_nothing(env: Env):
    await env.receive_qty(env.cat.part, 5)
    result = await env.checkout("tech1", Stock(item_id=env.cat.part, qty=5))
    assert result.exception_ids == []
    assert await _balance(env, env.cat.depot, env.cat.part) == 0


async def test_uniforms_are_issued_by_size(env: Env):
    cat = env.cat
    await env.receive_qty(cat.uniform, 4, size="M")
    await env.receive_qty(cat.uniform, 2, size="L")
    result = await env.op(
        lambda s: s.issue_uniform(
            ctx(env.a("supervisor1")),
            user_id=env.a("tech1").id,
            item_id=cat.uniform,
            size="M",
            qty=2,
            from_location_id=cat.depot,
        )
    )
    tech1 = await env.person("tech1")
    [line] = await _movements(env, result)
    assert (line.operation, line.size, line.qty, line.custodian_id) == (
        Operation.uniform_issue,
        "M",
        2,
        env.a("tech1").id,
    )
    assert await _balance(env, cat.depot, cat.uniform, "M") == 2
    assert await _balance(env, cat.depot, cat.uniform, "L") == 2
    assert await _balance(env, tech1, cat.uniform, "M") == 2


async def test_toolbox_checkout_moves_its_tools_as_kit_content(env: Env):
    cat = env.cat
    [box] = await env.receive_assets(cat.box, ["BOX-1"])
    tools = await env.receive_assets(cat.tool, ["TW-1", "TW-2"])
    [loose] = await env.receive_assets(cat.tool, ["TW-3"])
    await pack_kit(env.factory, box, tools)

    result = await env.checkout("tech1", Stock(asset_id=box))
    tech1 = await env.person("tech1")

    lines = await _movements(env, result)
    assert [(m.line, m.operation) for m in lines] == [
        (0, Operation.checkout),
        (1, Operation.kit_content),
        (2, Operation.kit_content),
    ]
    assert lines[0].asset_id == box and {m.asset_id for m in lines[1:]} == set(tools)
    assert all((m.from_location_id, m.to_location_id) == (cat.depot, tech1) for m in lines)
    for asset_id in [box, *tools]:
        asset = await env.get(Asset, asset_id)
        assert (asset.location_id, asset.holder_id, asset.status) == (
            tech1,
            env.a("tech1").id,
            AssetStatus.in_custody,
        )
    assert (await env.get(Asset, loose)).location_id == cat.depot
    assert await _balance(env, tech1, cat.tool) == 2
    assert await _balance(env, tech1, cat.box) == 1
    assert await _balance(env, cat.depot, cat.tool) == 1

    # And back together, by returning the box.
    back = await env.op(
        lambda s: s.return_(
            ctx(env.a("tech1")), Stock(asset_id=box), to_location_id=cat.depot, condition=Condition.ok
        )
    )
    assert [m.operation for m in await _movements(env, back)] == [
        Operation.return_,
        Operation.kit_content,
        Operation.kit_content,
    ]
    assert await _balance(env, cat.depot, cat.tool) == 3
    assert await _balance(env, tech1, cat.tool) == 0


# --- returns -------------------------------------------------------------------------------------------


async def test_damaged_and_lost_asset_returns_raise_exceptions_and_lost_is_written_off(env: Env):
    cat = env.cat
    damaged_id, lost_id = await env.receive_assets(cat.tool, ["TW-1", "TW-2"])
    await env.checkout("tech1", Stock(asset_id=damaged_id), recorded_at=T0)
    await env.checkout("tech1", Stock(asset_id=lost_id))
    tech1 = await env.person("tech1")

    damaged = await env.op(
        lambda s: s.return_(
            ctx(env.a("tech1")),
            Stock(asset_id=damaged_id),
            to_location_id=cat.depot,
            condition=Condition.damaged,
        )
    )
    asset = await env.get(Asset, damaged_id)
    assert (asset.location_id, asset.status, asset.condition, asset.holder_id, asset.return_due_at) == (
        cat.depot,
        AssetStatus.in_stock,
        Condition.damaged,
        None,
        None,
    )
    [line] = await _movements(env, damaged)
    assert (line.from_location_id, line.to_location_id, line.condition) == (
        tech1,
        cat.depot,
        Condition.damaged,
    )
    [exception] = await _exceptions(env, damaged)
    assert (exception.kind, exception.user_id, exception.asset_id, exception.location_id, exception.qty) == (
        ExceptionKind.damaged,
        env.a("tech1").id,
        damaged_id,
        cat.depot,
        1,
    )

    lost = await env.op(
        lambda s: s.return_(
            ctx(env.a("tech1")), Stock(asset_id=lost_id), to_location_id=cat.depot, condition=Condition.lost
        )
    )
    written_off = await env.read(
        lambda s: s.scalar(select(Location).where(Location.code == WRITTEN_OFF_CODE))
    )
    assert written_off.kind == LocationKind.written_off
    asset = await env.get(Asset, lost_id)
    assert (asset.location_id, asset.status, asset.condition, asset.holder_id) == (
        written_off.id,
        AssetStatus.written_off,
        Condition.lost,
        None,
    )
    [exception] = await _exceptions(env, lost)
    assert (exception.kind, exception.asset_id, exception.location_id) == (
        ExceptionKind.lost,
        lost_id,
        written_off.id,
    )
    assert await _balance(env, written_off.id, cat.tool) == 1
    assert await _balance(env, cat.depot, cat.tool) == 1
    assert await _balance(env, tech1, cat.tool) == 0


async def test_quantity_returns_ok_damaged_lost(env: Env):
    cat = env.cat
    await env.receive_qty(cat.part, 4)
    await env.checkout("tech1", Stock(item_id=cat.part, qty=4))
    tech1 = await env.person("tech1")

    def give_back(qty: int, condition: Condition):
        return env.op(
            lambda s: s.return_(
                ctx(env.a("tech1")),
                Stock(item_id=cat.part, qty=qty),
                to_location_id=cat.depot,
                condition=condition,
            )
        )

    ok = await give_back(1, Condition.ok)
    assert ok.exception_ids == []
    damaged = await give_back(1, Condition.damaged)
    [exception] = await _exceptions(env, damaged)
    assert (exception.kind, exception.qty, exception.location_id, exception.asset_id) == (
        ExceptionKind.damaged,
        1,
        cat.depot,
        None,
    )
    lost = await give_back(2, Condition.lost)
    [line] = await _movements(env, lost)
    written_off = await env.get(Location, line.to_location_id)
    assert written_off.code == WRITTEN_OFF_CODE
    [exception] = await _exceptions(env, lost)
    assert (exception.kind, exception.qty, exception.location_id) == (ExceptionKind.lost, 2, written_off.id)
    assert await _balance(env, tech1, cat.part) == 0
    assert await _balance(env, cat.depot, cat.part) == 2
    assert await _balance(env, written_off.id, cat.part) == 2


# --- hand-overs ----------------------------------------------------------------------------------------


async def test_handover_is_pending_until_accepted_then_custody_moves(env: Env):
    cat = env.cat
    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    await env.checkout("tech1", Stock(asset_id=tool))
    tech1, tech2 = await env.person("tech1"), await env.person("tech2")

    transfer = await env.op(
        lambda s: s.transfer(
            ctx(env.a("tech1"), reason="for the night shift"),
            Stock(asset_id=tool),
            to_user_id=env.a("tech2").id,
        )
    )
    assert transfer.movement_ids == [] and transfer.exception_ids == []
    handover = await env.get(Handover, transfer.handover_id)
    assert (handover.status, handover.from_user_id, handover.to_user_id, handover.from_location_id) == (
        HandoverStatus.pending,
        env.a("tech1").id,
        env.a("tech2").id,
        tech1,
    )
    asset = await env.get(Asset, tool)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech1,
        env.a("tech1").id,
        AssetStatus.in_transit,
    )

    accepted = await env.op(
        lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=True)
    )
    handover = await env.get(Handover, transfer.handover_id)
    assert (handover.status, handover.decided_by_id) == (HandoverStatus.accepted, env.a("tech2").id)
    asset = await env.get(Asset, tool)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech2,
        env.a("tech2").id,
        AssetStatus.in_custody,
    )
    [line] = await _movements(env, accepted)
    assert (line.operation, line.from_location_id, line.to_location_id) == (Operation.transfer, tech1, tech2)
    assert accepted.exception_ids == []

    with pytest.raises(Conflict) as refused:
        await env.op(lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=False))
    assert refused.value.code == "HANDOVER_DECIDED"


async def test_declined_handover_raises_custody_conflict_and_leaves_it_with_the_giver(env: Env):
    cat = env.cat
    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    await env.checkout("tech1", Stock(asset_id=tool))
    tech1 = await env.person("tech1")
    transfer = await env.op(
        lambda s: s.transfer(ctx(env.a("tech1")), Stock(asset_id=tool), to_user_id=env.a("tech2").id)
    )
    declined = await env.op(
        lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=False)
    )
    assert declined.movement_ids == []
    asset = await env.get(Asset, tool)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech1,
        env.a("tech1").id,
        AssetStatus.in_custody,
    )
    assert (await env.get(Handover, transfer.handover_id)).status == HandoverStatus.declined
    [conflict] = await _exceptions(env, declined)
    assert (
        conflict.kind,
        conflict.user_id,
        conflict.other_user_id,
        conflict.asset_id,
        conflict.location_id,
    ) == (
        ExceptionKind.custody_conflict,
        env.a("tech1").id,
        env.a("tech2").id,
        tool,
        tech1,
    )
    assert await _balance(env, tech1, cat.tool) == 1


async def test_quantity_handover_moves_balances_on_accept_only(env: Env):
    cat = env.cat
    await env.receive_qty(cat.part, 6)
    await env.checkout("tech1", Stock(item_id=cat.part, qty=6))
    tech1, tech2 = await env.person("tech1"), await env.person("tech2")
    transfer = await env.op(
        lambda s: s.transfer(
            ctx(env.a("tech1")), Stock(item_id=cat.part, qty=4), to_user_id=env.a("tech2").id
        )
    )
    assert await _balance(env, tech1, cat.part) == 6
    await env.op(lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=True))
    assert await _balance(env, tech1, cat.part) == 2
    assert await _balance(env, tech2, cat.part) == 4

    transfer = await env.op(
        lambda s: s.transfer(
            ctx(env.a("tech1")), Stock(item_id=cat.part, qty=2), to_user_id=env.a("tech2").id
        )
    )
    declined = await env.op(
        lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=False)
    )
    [conflict] = await _exceptions(env, declined)
    assert (conflict.kind, conflict.qty, conflict.item_id) == (ExceptionKind.custody_conflict, 2, cat.part)
    assert await _balance(env, tech1, cat.part) == 2
    assert await _balance(env, tech2, cat.part) == 4


# --- swaps, repair and the spare pool ------------------------------------------------------------------


async def _install_base(env: Env, serials: list[str], site: UUID) -> list[UUID]:
    units = await env.receive_assets(env.cat.spare, serials)
    for unit in units:
        await env.op(
            lambda s, unit=unit: s.install(ctx(env.a("manager")), asset_id=unit, site_location_id=site)
        )
    return units


async def test_swap_installs_the_spare_with_the_sites_region_and_sends_the_faulty_unit_to_repair(env: Env):
    cat = env.cat
    [installed] = await _install_base(env, ["ATM-1"], cat.site)
    # The spare comes from the other region's depot.
    [spare] = await env.receive_assets(cat.spare, ["ATM-S1"], depot=cat.depot_b)
    assert (await env.get(Asset, spare)).region == cat.other_region
    await env.checkout("tech1", Stock(asset_id=spare), source=cat.depot_b)
    tech1 = await env.person("tech1")

    result = await env.op(
        lambda s: s.swap_spare(
            ctx(env.a("tech1"), job=True, recorded_at=T0),
            installed_asset_id=installed,
            spare_asset_id=spare,
            removed_serial="ATM-1",
            repair_location_id=cat.repair,
        )
    )
    assert result.exception_ids == []
    assert result.asset_ids == [spare, installed]
    new_unit = await env.get(Asset, spare)
    assert (
        new_unit.location_id,
        new_unit.status,
        new_unit.region,
        new_unit.holder_id,
        new_unit.condition,
    ) == (
        cat.site,
        AssetStatus.installed,
        cat.region,
        None,
        Condition.ok,
    )
    assert new_unit.installed_at == T0
    faulty = await env.get(Asset, installed)
    assert (faulty.location_id, faulty.status, faulty.condition, faulty.installed_at, faulty.region) == (
        cat.repair,
        AssetStatus.in_repair,
        Condition.faulty,
        None,
        cat.region,
    )
    lines = await _movements(env, result)
    assert [(m.operation, m.asset_id, m.from_location_id, m.to_location_id) for m in lines] == [
        (Operation.swap_install, spare, tech1, cat.site),
        (Operation.swap_remove, installed, cat.site, cat.repair),
    ]
    assert all(m.job_id is not None for m in lines)
    assert await _balance(env, cat.site, cat.spare) == 1
    assert await _balance(env, cat.repair, cat.spare) == 1
    assert await _balance(env, tech1, cat.spare) == 0

    # Back from repair into the depot: serviceable again, maintained now.
    back = await env.op(
        lambda s: s.receive_from_repair(
            ctx(env.a("manager"), recorded_at=T0), asset_id=installed, to_location_id=cat.depot, repaired=True
        )
    )
    assert len(back.movement_ids) == 1
    unit = await env.get(Asset, installed)
    assert (unit.location_id, unit.status, unit.condition, unit.region) == (
        cat.depot,
        AssetStatus.in_stock,
        Condition.ok,
        cat.region,
    )
    assert (unit.last_serviced_at, unit.due_at) == (T0, T0 + timedelta(days=SPARE_MAINTENANCE_DAYS))


async def test_swap_with_a_different_removed_serial_raises_custody_conflict(env: Env):
    cat = env.cat
    [installed] = await _install_base(env, ["ATM-1"], cat.site)
    [spare] = await env.receive_assets(cat.spare, ["ATM-S1"])
    await env.checkout("tech1", Stock(asset_id=spare))
    result = await env.op(
        lambda s: s.swap_spare(
            ctx(env.a("tech1"), job=True),
            installed_asset_id=installed,
            spare_asset_id=spare,
            removed_serial="ATM-999",
            repair_location_id=cat.repair,
        )
    )
    [conflict] = await _exceptions(env, result)
    assert (conflict.kind, conflict.asset_id, conflict.location_id, conflict.user_id) == (
        ExceptionKind.custody_conflict,
        installed,
        cat.site,
        env.a("tech1").id,
    )
    assert "ATM-999" in conflict.message
    assert (await env.get(Asset, installed)).status == AssetStatus.in_repair


async def test_swap_changes_the_spare_report_and_opens_a_shortage_announced_after_commit(env: Env):
    cat = env.cat
    pool = await env.receive_assets(cat.spare, ["ATM-S1", "ATM-S2"])
    await _install_base(env, ["ATM-1", "ATM-2"], cat.site)
    installed = (await _units_at(env, cat.site))[0]
    await env.op(lambda s: s.set_spare_policy(cat.spare, cat.region, ratio=0.01, minimum=2))
    await env.checkout("tech1", Stock(asset_id=pool[0]))

    [before] = await env.op(lambda s: s.spare_report(item_id=cat.spare, region=cat.region))
    assert (before.installed, before.required, before.serviceable, before.in_repair, before.shortage) == (
        2,
        2,
        2,
        0,
        0,
    )
    assert not [e for e in _shortage_events if e.item_id == cat.spare]  # the pool has been whole so far

    async with env.factory() as session:
        async with session.begin():
            await InventoryService(session).swap_spare(
                ctx(env.a("tech1"), job=True),
                installed_asset_id=installed,
                spare_asset_id=pool[0],
                removed_serial="",
                repair_location_id=cat.repair,
            )
            await session.flush()
            # Recorded with the change, not yet delivered: the transaction has not committed.
            assert not [e for e in _shortage_events if e.item_id == cat.spare]
        delivered = [e for e in _shortage_events if e.item_id == cat.spare]
    assert delivered == [SpareShortageAppeared(cat.spare, f"ATM-{cat.suffix}", cat.region, 2, 1, 1)]

    [after] = await env.op(lambda s: s.spare_report(item_id=cat.spare, region=cat.region))
    assert (after.installed, after.required, after.serviceable, after.in_repair, after.shortage) == (
        2,
        2,
        1,
        1,
        1,
    )
    shortages = await env.read(
        lambda s: s.scalars(select(SpareShortage).where(SpareShortage.item_id == cat.spare))
    )
    [shortage] = list(shortages)
    assert (
        shortage.region,
        shortage.shortage,
        shortage.required,
        shortage.serviceable,
        shortage.closed_at,
    ) == (
        cat.region,
        1,
        2,
        1,
        None,
    )

    # The faulty unit comes back repaired: the pool is whole, the shortage closes, no new event.
    faulty = installed
    await env.op(
        lambda s: s.receive_from_repair(
            ctx(env.a("manager")), asset_id=faulty, to_location_id=cat.depot, repaired=True
        )
    )
    [healed] = await env.op(lambda s: s.spare_report(item_id=cat.spare, region=cat.region))
    assert (healed.serviceable, healed.in_repair, healed.shortage) == (2, 0, 0)
    closed = await env.get(SpareShortage, shortage.id)
    assert closed.closed_at is not None
    assert len([e for e in _shortage_events if e.item_id == cat.spare]) == 1


async def _units_at(env: Env, location_id: UUID) -> list[UUID]:
    rows = await env.read(
        lambda s: s.scalars(select(Asset.id).where(Asset.location_id == location_id).order_by(Asset.serial))
    )
    return list(rows)


async def test_unrepaired_unit_is_written_off(env: Env):
    cat = env.cat
    [unit] = await env.receive_assets(cat.spare, ["ATM-S1"])
    await env.op(
        lambda s: s.send_to_repair(ctx(env.a("supervisor1")), asset_id=unit, to_location_id=cat.repair)
    )
    assert (await env.get(Asset, unit)).status == AssetStatus.in_repair
    await env.op(
        lambda s: s.receive_from_repair(
            ctx(env.a("manager")), asset_id=unit, to_location_id=cat.depot, repaired=False
        )
    )
    asset = await env.get(Asset, unit)
    written_off = await env.get(Location, asset.location_id)
    assert (asset.status, asset.condition, written_off.code) == (
        AssetStatus.written_off,
        Condition.faulty,
        WRITTEN_OFF_CODE,
    )


# --- counts --------------------------------------------------------------------------------------------


async def test_count_writes_adjusting_movements_with_its_reason(env: Env):
    cat = env.cat
    await env.receive_qty(cat.part, 10)
    await env.receive_qty(cat.uniform, 3, size="S")
    await env.checkout("tech1", Stock(item_id=cat.part, qty=3))
    tech1 = await env.person("tech1")

    result = await env.op(
        lambda s: s.count(
            ctx(env.a("manager"), reason="quarterly stock-take"),
            location_id=cat.depot,
            lines=[
                CountLine(cat.part, 5),  # 7 → 5
                CountLine(cat.uniform, 4, size="S"),  # 3 → 4
                CountLine(cat.uniform, 0, size="M"),  # 0 → 0: nothing to write
            ],
        )
    )
    lines = await _movements(env, result)
    # Lines are written in lock order (item, size), not the order they were counted in.
    assert sorted(
        (
            (m.operation, m.from_location_id, m.to_location_id, m.item_id, m.size, m.qty, m.reason)
            for m in lines
        ),
        key=str,
    ) == sorted(
        [
            (Operation.count_adjust, cat.depot, None, cat.part, "", 2, "quarterly stock-take"),
            (Operation.count_adjust, None, cat.depot, cat.uniform, "S", 1, "quarterly stock-take"),
        ],
        key=str,
    )
    assert result.exception_ids == []
    assert await _balance(env, cat.depot, cat.part) == 5
    assert await _balance(env, cat.depot, cat.uniform, "S") == 4

    # A technician counts their own custody: more than recorded is simply adjusted...
    own = await env.op(
        lambda s: s.count(
            ctx(env.a("tech1"), reason="found two in the van"),
            location_id=tech1,
            lines=[CountLine(cat.part, 5)],
        )
    )
    [line] = await _movements(env, own)
    assert (line.to_location_id, line.qty, line.custodian_id) == (tech1, 2, env.a("tech1").id)
    assert await _balance(env, tech1, cat.part) == 5
    assert own.exception_ids == []
    # ...but less than recorded in someone's custody is a loss their supervisor gets to see.
    short = await env.op(
        lambda s: s.count(
            ctx(env.a("tech1"), reason="van stock-take"),
            location_id=tech1,
            lines=[CountLine(cat.part, 1)],
        )
    )
    [exception_id] = short.exception_ids
    async with env.factory() as session:
        exception = await session.get(SyncException, exception_id)
        assert (exception.kind, exception.qty, exception.user_id) == (
            "stock_discrepancy",
            4,
            env.a("tech1").id,
        )
    async with env.factory() as session:
        assert await InventoryService(session).balance_drift() == []


async def test_a_count_needs_a_reason(env: Env):
    await env.receive_qty(env.cat.part, 10)
    before = await env.read(snapshot)
    with pytest.raises(InvalidInput) as refused:
        await env.op(
            lambda s: s.count(
                ctx(env.a("manager"), reason="   "),
                location_id=env.cat.depot,
                lines=[CountLine(env.cat.part, 1)],
            )
        )
    assert refused.value.field == "reason"
    assert await env.read(snapshot) == before


# --- vehicles and services -----------------------------------------------------------------------------


async def test_assign_vehicle_moves_the_van_to_the_technician_and_its_contents_with_it(env: Env):
    cat = env.cat
    van, load = await env.new_van("VAN-1", "tech1")
    load_location = await env.get(Location, load)
    assert (load_location.kind, load_location.user_id, load_location.region) == (
        LocationKind.vehicle,
        env.a("tech1").id,
        cat.region,
    )
    tech1, tech2 = await env.person("tech1"), await env.person("tech2")
    asset = await env.get(Asset, van)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech1,
        env.a("tech1").id,
        AssetStatus.in_custody,
    )

    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    await env.checkout("tech1", Stock(asset_id=tool), to_vehicle=True)
    await env.receive_qty(cat.part, 5)
    await env.checkout("tech1", Stock(item_id=cat.part, qty=5), to_vehicle=True)
    assert (await env.get(Asset, tool)).location_id == load

    unassign = await env.op(
        lambda s: s.unassign_vehicle(ctx(env.a("manager")), vehicle_asset_id=van, to_location_id=cat.depot)
    )
    [line] = await _movements(env, unassign)
    assert (line.operation, line.from_location_id, line.to_location_id) == (
        Operation.vehicle_unassign,
        tech1,
        cat.depot,
    )
    tool_row = await env.get(Asset, tool)
    assert (tool_row.location_id, tool_row.holder_id, tool_row.status) == (load, None, AssetStatus.in_stock)
    assert (await env.get(Location, load)).user_id is None

    assign = await env.op(
        lambda s: s.assign_vehicle(ctx(env.a("supervisor1")), vehicle_asset_id=van, user_id=env.a("tech2").id)
    )
    [line] = await _movements(env, assign)
    assert (line.operation, line.from_location_id, line.to_location_id, line.asset_id) == (
        Operation.vehicle_assign,
        cat.depot,
        tech2,
        van,
    )
    asset = await env.get(Asset, van)
    assert (asset.location_id, asset.holder_id, asset.status) == (
        tech2,
        env.a("tech2").id,
        AssetStatus.in_custody,
    )
    assert (await env.get(Location, load)).user_id == env.a("tech2").id
    tool_row = await env.get(Asset, tool)
    assert (tool_row.location_id, tool_row.holder_id, tool_row.status) == (
        load,
        env.a("tech2").id,
        AssetStatus.in_custody,
    )
    # The van's load did not move in the ledger: its contents stayed where they were.
    assert await _balance(env, load, cat.part) == 5
    assert await _balance(env, load, cat.tool) == 1
    assert await env.op(lambda s: s.vehicle_location(env.a("tech2").id)) is not None
    assert await env.op(lambda s: s.vehicle_location(env.a("tech1").id)) is None


async def test_a_second_vehicle_is_refused(env: Env):
    await env.new_van("VAN-1", "tech1")
    van2, _load = await env.new_van("VAN-2")
    with pytest.raises(Conflict) as refused:
        await env.op(
            lambda s: s.assign_vehicle(
                ctx(env.a("manager")), vehicle_asset_id=van2, user_id=env.a("tech1").id
            )
        )
    assert refused.value.code == "VEHICLE_ALREADY_ASSIGNED"


async def test_record_service_moves_due_at_by_the_items_interval(env: Env):
    cat = env.cat
    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    assert (await env.get(Asset, tool)).due_at == T0 + timedelta(days=TOOL_CALIBRATION_DAYS)
    await env.checkout("tech1", Stock(asset_id=tool))
    performed = T0 + timedelta(days=100)

    service = await env.op(
        lambda s: s.record_service(
            env.a("tech1"), tool, kind="calibration", performed_at=performed, note="ok"
        )
    )
    assert service.next_due_at == performed + timedelta(days=TOOL_CALIBRATION_DAYS)
    asset = await env.get(Asset, tool)
    assert (asset.last_serviced_at, asset.due_at) == (
        performed,
        performed + timedelta(days=TOOL_CALIBRATION_DAYS),
    )
    row = await env.get(AssetService, service.id)
    assert (row.asset_id, row.kind, row.actor_id) == (tool, "calibration", env.a("tech1").id)

    for username in ("quality", "tech2"):  # quality records nothing; tech2 does not hold it
        with pytest.raises(Forbidden):
            await env.op(
                lambda s, u=username: s.record_service(
                    env.a(u), tool, kind="calibration", performed_at=performed
                )
            )


# --- idempotency ---------------------------------------------------------------------------------------


async def test_a_replayed_move_id_returns_the_stored_result_and_writes_nothing(env: Env):
    cat = env.cat
    await env.receive_qty(cat.part, 2)
    context = ctx(env.a("tech1"))
    first = await env.op(
        lambda s: s.checkout(context, Stock(item_id=cat.part, qty=3), from_location_id=cat.depot)
    )
    before = await env.read(snapshot)
    again = await env.op(
        lambda s: s.checkout(context, Stock(item_id=cat.part, qty=3), from_location_id=cat.depot)
    )
    assert await env.read(snapshot) == before
    assert again.duplicate is True and first.duplicate is False
    assert (again.movement_ids, again.exception_ids) == (first.movement_ids, first.exception_ids)
    assert len(first.exception_ids) == 1


async def test_a_refused_operation_does_not_use_up_its_move_id(env: Env):
    cat = env.cat
    await env.receive_qty(cat.uniform, 2, size="M")
    context = ctx(env.a("tech1"))
    with pytest.raises(InvalidInput):
        await env.op(
            lambda s: s.checkout(
                context, Stock(item_id=cat.uniform, qty=1, size="XL"), from_location_id=cat.depot
            )
        )
    result = await env.op(
        lambda s: s.checkout(context, Stock(item_id=cat.uniform, qty=1, size="M"), from_location_id=cat.depot)
    )
    assert result.duplicate is False and len(result.movement_ids) == 1


# --- refusals, before anything is written --------------------------------------------------------------


@dataclass
class Refusal:
    actor: str
    call: Callable[[Env, InventoryService, CurrentUser, dict[str, UUID]], Awaitable[Any]]
    error: type[DomainError]
    code: str | None
    field: str | None


def _checkout(stock: Callable[[Env, dict], Stock], source: str = "depot", **kw: Any):
    def call(env: Env, svc: InventoryService, actor: CurrentUser, ids: dict[str, UUID]):
        return svc.checkout(ctx(actor), stock(env, ids), from_location_id=ids[source], **kw)

    return call


def _user(name: str) -> Callable[[Env], UUID]:
    return lambda env: env.a(name).id


REFUSALS: dict[str, Refusal] = {
    "unknown item": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=uuid4(), qty=1)),
        InvalidInput,
        "UNKNOWN_ITEM",
        "item_id",
    ),
    "unknown asset": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(asset_id=uuid4())),
        InvalidInput,
        "UNKNOWN_ASSET",
        "asset_id",
    ),
    "unknown location": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.checkout(
            ctx(actor), Stock(item_id=env.cat.part, qty=1), from_location_id=uuid4()
        ),
        InvalidInput,
        "UNKNOWN_LOCATION",
        "from_location_id",
    ),
    "unknown receive location": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.receive(
            ctx(actor), to_location_id=uuid4(), item_id=env.cat.part, qty=1
        ),
        InvalidInput,
        "UNKNOWN_LOCATION",
        "to_location_id",
    ),
    "zero qty": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=0)),
        InvalidInput,
        "INVALID_QTY",
        "qty",
    ),
    "negative qty": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=-3)),
        InvalidInput,
        "INVALID_QTY",
        "qty",
    ),
    "zero qty received": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.receive(
            ctx(actor), to_location_id=ids["depot"], item_id=env.cat.part, qty=0
        ),
        InvalidInput,
        "INVALID_QTY",
        "qty",
    ),
    "negative qty consumed": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.consume(ctx(actor, job=True), item_id=env.cat.part, qty=-1),
        InvalidInput,
        "INVALID_QTY",
        "qty",
    ),
    "size not in the item's sizes": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.uniform, qty=1, size="XXL")),
        InvalidInput,
        "INVALID_SIZE",
        "size",
    ),
    "uniform without a size": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.uniform, qty=1)),
        InvalidInput,
        "INVALID_SIZE",
        "size",
    ),
    "size on an item without sizes": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=1, size="M")),
        InvalidInput,
        "INVALID_SIZE",
        "size",
    ),
    "size on a received item without sizes": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.receive(
            ctx(actor), to_location_id=ids["depot"], item_id=env.cat.part, qty=1, size="L"
        ),
        InvalidInput,
        "INVALID_SIZE",
        "size",
    ),
    "serial item without asset_id": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.tool, qty=1)),
        InvalidInput,
        "SERIAL_REQUIRED",
        "asset_id",
    ),
    "serial item counted by quantity": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.count(
            ctx(actor, reason="stock-take"), location_id=ids["depot"], lines=[CountLine(env.cat.tool, 1)]
        ),
        InvalidInput,
        "SERIAL_REQUIRED",
        "lines[0].item_id",
    ),
    "checkout from a site": Refusal(
        "tech1",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=1), source="site"),
        InvalidInput,
        "WRONG_LOCATION_KIND",
        "from_location_id",
    ),
    "return to a person": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.return_(
            ctx(actor), Stock(item_id=env.cat.part, qty=1), to_location_id=ids["tech2_person"], condition="ok"
        ),
        InvalidInput,
        "WRONG_LOCATION_KIND",
        "to_location_id",
    ),
    "receive into a vehicle": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.receive(
            ctx(actor), to_location_id=ids["van"], item_id=env.cat.part, qty=1
        ),
        InvalidInput,
        "WRONG_LOCATION_KIND",
        "to_location_id",
    ),
    "send to repair to a depot": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.send_to_repair(
            ctx(actor), asset_id=ids["tool"], to_location_id=ids["depot"]
        ),
        InvalidInput,
        "WRONG_LOCATION_KIND",
        "to_location_id",
    ),
    "install at a depot": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.install(
            ctx(actor), asset_id=ids["spare"], site_location_id=ids["depot"]
        ),
        InvalidInput,
        "WRONG_LOCATION_KIND",
        "site_location_id",
    ),
    "consume without a job": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.consume(ctx(actor), item_id=env.cat.part, qty=1),
        InvalidInput,
        "INVALID_INPUT",
        "job_id",
    ),
    "issue a tool as a uniform": Refusal(
        "supervisor1",
        lambda env, svc, actor, ids: svc.issue_uniform(
            ctx(actor),
            user_id=env.a("tech1").id,
            item_id=env.cat.part,
            size="",
            qty=1,
            from_location_id=ids["depot"],
        ),
        InvalidInput,
        "NOT_A_UNIFORM",
        "item_id",
    ),
    "checkout into a van one does not have": Refusal(
        "tech2",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=1), to_vehicle=True),
        InvalidInput,
        "NO_VEHICLE",
        "to_vehicle",
    ),
    "technician checks out into another technician's custody": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.checkout(
            ctx(actor),
            Stock(item_id=env.cat.part, qty=1),
            from_location_id=ids["depot"],
            user_id=env.a("tech2").id,
        ),
        Forbidden,
        "FORBIDDEN",
        "user_id",
    ),
    "technician takes from another technician's van": Refusal(
        "tech2",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=1), source="van"),
        Forbidden,
        "FORBIDDEN",
        "from_location_id",
    ),
    "technician takes from another technician's person": Refusal(
        "tech2",
        _checkout(lambda env, ids: Stock(item_id=env.cat.part, qty=1), source="tech1_person"),
        Forbidden,
        "FORBIDDEN",
        "from_location_id",
    ),
    "technician returns from another technician's van": Refusal(
        "tech2",
        lambda env, svc, actor, ids: svc.return_(
            ctx(actor),
            Stock(item_id=env.cat.part, qty=1),
            to_location_id=ids["depot"],
            condition="ok",
            from_location_id=ids["van"],
        ),
        Forbidden,
        "FORBIDDEN",
        "from_location_id",
    ),
    "supervisor acts for another team's technician": Refusal(
        "supervisor1",
        lambda env, svc, actor, ids: svc.checkout(
            ctx(actor),
            Stock(item_id=env.cat.part, qty=1),
            from_location_id=ids["depot"],
            user_id=env.a("tech5").id,
        ),
        Forbidden,
        "FORBIDDEN",
        "user_id",
    ),
    "supervisor issues uniforms to another team": Refusal(
        "supervisor2",
        lambda env, svc, actor, ids: svc.issue_uniform(
            ctx(actor),
            user_id=env.a("tech1").id,
            item_id=env.cat.uniform,
            size="M",
            qty=1,
            from_location_id=ids["depot"],
        ),
        Forbidden,
        "FORBIDDEN",
        "user_id",
    ),
    "supervisor counts a depot": Refusal(
        "supervisor1",
        lambda env, svc, actor, ids: svc.count(
            ctx(actor, reason="stock-take"), location_id=ids["depot"], lines=[CountLine(env.cat.part, 1)]
        ),
        Forbidden,
        "FORBIDDEN",
        "location_id",
    ),
    "quality adjusts stock": Refusal(
        "quality",
        lambda env, svc, actor, ids: svc.count(
            ctx(actor, reason="stock-take"), location_id=ids["depot"], lines=[CountLine(env.cat.part, 1)]
        ),
        Forbidden,
        "FORBIDDEN",
        None,
    ),
    "quality installs": Refusal(
        "quality",
        lambda env, svc, actor, ids: svc.install(
            ctx(actor), asset_id=ids["spare"], site_location_id=ids["site"]
        ),
        Forbidden,
        "FORBIDDEN",
        None,
    ),
    "technician receives into a depot": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.receive(
            ctx(actor), to_location_id=ids["depot"], item_id=env.cat.part, qty=1
        ),
        Forbidden,
        "FORBIDDEN",
        None,
    ),
    "technician sends to repair": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.send_to_repair(
            ctx(actor), asset_id=ids["tool"], to_location_id=ids["repair"]
        ),
        Forbidden,
        "FORBIDDEN",
        None,
    ),
    "receive an existing serial": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.receive(
            ctx(actor), to_location_id=ids["depot"], item_id=env.cat.tool, assets=[NewAsset("TW-1")]
        ),
        Conflict,
        "SERIAL_TAKEN",
        "assets",
    ),
    "receive from repair what is not in repair": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.receive_from_repair(
            ctx(actor), asset_id=ids["tool"], to_location_id=ids["depot"], repaired=True
        ),
        InvalidInput,
        "WRONG_STATUS",
        "asset_id",
    ),
    "swap with a unit that is not installed": Refusal(
        "tech1",
        lambda env, svc, actor, ids: svc.swap_spare(
            ctx(actor, job=True),
            installed_asset_id=ids["tool"],
            spare_asset_id=ids["spare"],
            removed_serial="",
        ),
        InvalidInput,
        "NOT_INSTALLED",
        "installed_asset_id",
    ),
    "check out a van": Refusal(
        "manager",
        lambda env, svc, actor, ids: svc.checkout(
            ctx(actor),
            Stock(asset_id=ids["van_asset"]),
            from_location_id=ids["depot"],
            user_id=env.a("tech2").id,
        ),
        InvalidInput,
        "USE_VEHICLE_ASSIGN",
        "asset_id",
    ),
}


@pytest.fixture
async def refusal_ids(env: Env) -> dict[str, UUID]:
    cat = env.cat
    await env.receive_qty(cat.part, 10)
    await env.receive_qty(cat.uniform, 5, size="M")
    [tool] = await env.receive_assets(cat.tool, ["TW-1"])
    [spare] = await env.receive_assets(cat.spare, ["ATM-S1"])
    van_asset, van = await env.new_van("VAN-1", "tech1")
    await env.checkout("tech1", Stock(item_id=cat.part, qty=3), to_vehicle=True)
    await env.checkout("tech1", Stock(item_id=cat.part, qty=3))
    return {
        "depot": cat.depot,
        "repair": cat.repair,
        "site": cat.site,
        "van": van,
        "van_asset": van_asset,
        "tool": tool,
        "spare": spare,
        "tech1_person": await env.person("tech1"),
        "tech2_person": await env.person("tech2"),
    }


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
async def test_refusals_write_nothing(env: Env, refusal_ids: dict[str, UUID], case: str):
    refusal = REFUSALS[case]
    actor = env.a(refusal.actor)
    before = await env.read(snapshot)
    with pytest.raises(DomainError) as refused:
        await env.op(lambda s: refusal.call(env, s, actor, refusal_ids))
    error = refused.value
    assert type(error) is refusal.error, error
    if refusal.code is not None:
        assert error.code == refusal.code, error.message
    assert error.field == refusal.field, error.message
    assert await env.read(snapshot) == before


# --- bugs found while writing these tests --------------------------------------------------------------


@pytest.mark.parametrize("moved_by", ["send_to_repair", "swap_spare"])
async def test_bug_a_stale_handover_does_not_move_an_asset_that_moved_since(env: Env, moved_by: str):
    cat = env.cat
    [installed] = await _install_base(env, ["ATM-1"], cat.site)
    [unit] = await env.receive_assets(cat.spare, ["ATM-S1"])
    await env.checkout("tech1", Stock(asset_id=unit))
    transfer = await env.op(
        lambda s: s.transfer(ctx(env.a("tech1")), Stock(asset_id=unit), to_user_id=env.a("tech2").id)
    )
    if moved_by == "send_to_repair":
        await env.op(
            lambda s: s.send_to_repair(ctx(env.a("manager")), asset_id=unit, to_location_id=cat.repair)
        )
        expected = (cat.repair, AssetStatus.in_repair)
    else:  # the giver installs the spare they were handing over
        await env.op(
            lambda s: s.swap_spare(
                ctx(env.a("tech1"), job=True),
                installed_asset_id=installed,
                spare_asset_id=unit,
                removed_serial="ATM-1",
                repair_location_id=cat.repair,
            )
        )
        expected = (cat.site, AssetStatus.installed)
    moved = await env.get(Asset, unit)
    assert (moved.location_id, moved.status) == expected

    # The receiver accepts the hand-over they were offered before the unit moved.
    try:
        await env.op(lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=True))
    except DomainError:
        pass  # refusing a stale hand-over is one acceptable fix
    after = await env.get(Asset, unit)
    assert (after.location_id, after.status) == expected


async def test_bug_handing_over_a_spare_keeps_the_shortage_record_in_step_with_the_report(env: Env):
    cat = env.cat
    await env.op(lambda s: s.set_spare_policy(cat.spare, cat.region, ratio=0.01, minimum=1))
    [unit] = await env.receive_assets(cat.spare, ["ATM-S1"])
    await env.checkout("tech1", Stock(asset_id=unit))
    await env.op(
        lambda s: s.transfer(ctx(env.a("tech1")), Stock(asset_id=unit), to_user_id=env.a("tech2").id)
    )

    [row] = await env.op(lambda s: s.spare_report(item_id=cat.spare, region=cat.region))
    open_rows = await env.read(
        lambda s: s.scalars(
            select(SpareShortage).where(SpareShortage.item_id == cat.spare, SpareShortage.closed_at.is_(None))
        )
    )
    assert (row.shortage > 0) == bool(list(open_rows)), row


@pytest.mark.parametrize("where", [AssetStatus.in_stock, AssetStatus.installed, AssetStatus.in_repair])
async def test_bug_a_declined_handover_leaves_the_asset_in_a_status_that_matches_its_place(
    env: Env, where: str
):
    cat = env.cat
    [unit] = await env.receive_assets(cat.spare, ["ATM-1"])
    if where == AssetStatus.installed:
        await env.op(lambda s: s.install(ctx(env.a("manager")), asset_id=unit, site_location_id=cat.site))
    elif where == AssetStatus.in_repair:
        await env.op(
            lambda s: s.send_to_repair(ctx(env.a("manager")), asset_id=unit, to_location_id=cat.repair)
        )
    [before] = await env.op(lambda s: s.spare_report(item_id=cat.spare, region=cat.region))

    # tech1 records handing the unit to tech2, who says they never got it.
    transfer = await env.op(
        lambda s: s.transfer(ctx(env.a("tech1")), Stock(asset_id=unit), to_user_id=env.a("tech2").id)
    )
    await env.op(lambda s: s.decide_handover(ctx(env.a("tech2")), transfer.handover_id, accept=False))

    asset = await env.get(Asset, unit)
    place = await env.get(Location, asset.location_id)
    expected_status = {
        LocationKind.depot: AssetStatus.in_stock,
        LocationKind.site: AssetStatus.installed,
        LocationKind.repair: AssetStatus.in_repair,
        LocationKind.person: AssetStatus.in_custody,
        LocationKind.vehicle: AssetStatus.in_custody,
    }[place.kind]
    assert (place.kind, asset.status) == (place.kind, expected_status)
    assert asset.holder_id == (
        place.user_id if place.kind in (LocationKind.person, LocationKind.vehicle) else None
    )
    if place.kind != LocationKind.person:  # it stayed where it was: the spare report did not change
        [after] = await env.op(lambda s: s.spare_report(item_id=cat.spare, region=cat.region))
        assert (after.installed, after.serviceable, after.in_repair) == (
            before.installed,
            before.serviceable,
            before.in_repair,
        )
