"""Properties of the inventory ledger under random sequences of operations, on SQLite and PostgreSQL.

Each example makes its own small catalog and locations (names unique to the example, so examples share
the test's database without touching each other's balances), stocks them, then runs a generated
sequence of receives, checkouts (to a person or a van), uniform issues, returns (ok, damaged, lost),
hand-overs with their accept/decline, consumption, counts, installs, spare swaps and repair trips.
Operations name what they act on by index into what exists at that moment, so any sequence is valid to
generate; some of them are refused by the services, which must then write nothing.

Properties checked:

(a) after every sequence ``balance_drift()`` is empty: every balance is the sum of its ledger;
(b) replaying an applied operation with its ``move_id`` changes nothing (balances, assets, hand-overs,
    shortages, every table's row count, the change feed) and answers ``duplicate=True`` with the same
    movement, exception, asset and hand-over ids; a refused operation writes nothing either;
(c) each serialized asset is in exactly one place: its movements form an unbroken chain from its
    receipt (each leaves where the previous one arrived), its ``location_id`` is where the last one
    arrived, and per location the number of assets of a serialized item equals that balance;
(d) a balance below zero always has a ``stock_discrepancy`` exception for that location and item;
(e) ``rebuild_balances()`` restores a balance corrupted through the ORM (changed or deleted).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from backend.auth.models import User
from backend.db import create_engine, create_session_factory
from backend.errors import DomainError
from backend.inventory.models import (
    Asset,
    AssetStatus,
    Balance,
    Condition,
    Handover,
    HandoverStatus,
    Movement,
    Operation,
)
from backend.inventory.services import CountLine, InventoryService, NewAsset, OperationResult, Stock
from backend.sync.models import ExceptionKind, SyncException
from tests.inventory_helpers import (
    UNIFORM_SIZES,
    Catalog,
    ctx,
    load_actors,
    make_catalog,
    pack_kit,
    run,
    snapshot,
)

MAX_EXAMPLES = int(os.environ.get("FIELDQ_LEDGER_EXAMPLES", "40"))
TECHS = ("tech1", "tech2", "tech5")  # tech1 and tech5 drive vans; tech2 has none
VAN_DRIVERS = ("tech1", "tech5")

# --- the operations a sequence is made of --------------------------------------------------------------
# ``pick`` fields are indexes (modulo the count) into what exists when the step runs.


@dataclass(frozen=True)
class Receive:
    what: str  # part | uniform | tool | spare
    qty: int
    size: int
    depot_b: bool


@dataclass(frozen=True)
class Checkout:
    tech: int
    what: str  # part | uniform | asset
    pick: int
    qty: int
    source: str  # depot | depot_b | own_van | own_person
    to_vehicle: bool


@dataclass(frozen=True)
class IssueUniform:
    tech: int  # of tech1, tech2: supervisor1's team
    size: int
    qty: int


@dataclass(frozen=True)
class Return:
    tech: int
    what: str  # part | uniform | asset
    pick: int
    qty: int
    from_van: bool
    to: str  # depot | depot_b | repair
    condition: str


@dataclass(frozen=True)
class Transfer:
    giver: int
    receiver: int
    what: str  # part | asset
    pick: int
    qty: int
    from_van: bool
    then: bool | None  # the receiver accepts (True) or declines (False) at once, or later (None)


@dataclass(frozen=True)
class Decide:
    pick: int
    accept: bool
    to_vehicle: bool


@dataclass(frozen=True)
class Consume:
    tech: int
    qty: int
    from_van: bool


@dataclass(frozen=True)
class Count:
    where: str  # depot | own_person | own_van
    tech: int
    what: str  # part | uniform
    size: int
    counted: int


@dataclass(frozen=True)
class Install:
    pick: int
    site_b: bool


@dataclass(frozen=True)
class Swap:
    tech: int
    installed: int
    spare: int
    serial_matches: bool


@dataclass(frozen=True)
class SendToRepair:
    pick: int


@dataclass(frozen=True)
class ReceiveFromRepair:
    pick: int
    depot_b: bool
    repaired: bool


picks = st.integers(0, 30)
techs = st.integers(0, len(TECHS) - 1)
quantities = st.integers(1, 8)
receives = st.builds(
    Receive, st.sampled_from(["part", "uniform", "tool", "spare"]), quantities, picks, st.booleans()
)
checkouts = st.builds(
    Checkout,
    techs,
    st.sampled_from(["part", "uniform", "asset", "asset"]),
    picks,
    quantities,
    st.sampled_from(["depot", "depot", "depot_b", "own_van", "own_person"]),
    st.booleans(),
)
returns = st.builds(
    Return,
    techs,
    st.sampled_from(["part", "uniform", "asset", "asset"]),
    picks,
    quantities,
    st.booleans(),
    st.sampled_from(["depot", "depot", "depot_b", "repair"]),
    st.sampled_from([Condition.ok, Condition.ok, Condition.damaged, Condition.lost]),
)
transfers = st.builds(
    Transfer,
    techs,
    st.integers(1, 2),
    st.sampled_from(["part", "asset"]),
    picks,
    quantities,
    st.booleans(),
    st.sampled_from([None, True, False]),
)
decisions = st.builds(Decide, picks, st.booleans(), st.booleans())
# Custody moves (checkouts, returns, hand-overs) are drawn more often than the rest.
steps = st.one_of(
    receives,
    checkouts,
    checkouts,
    checkouts,
    st.builds(IssueUniform, st.integers(0, 1), picks, st.integers(1, 3)),
    returns,
    returns,
    transfers,
    transfers,
    decisions,
    decisions,
    st.builds(Consume, techs, quantities, st.booleans()),
    st.builds(
        Count,
        st.sampled_from(["depot", "own_person", "own_van"]),
        techs,
        st.sampled_from(["part", "uniform"]),
        picks,
        st.integers(0, 12),
    ),
    st.builds(Install, picks, st.booleans()),
    st.builds(Swap, techs, picks, picks, st.booleans()),
    st.builds(SendToRepair, picks),
    st.builds(ReceiveFromRepair, picks, st.booleans(), st.booleans()),
)


# --- the world the examples share ----------------------------------------------------------------------


@dataclass
class World:
    runner: asyncio.Runner
    factory: Any
    actors: dict[str, Any]
    vans: dict[str, UUID]  # technician → the load space of their van

    def go(self, coroutine: Awaitable[Any]) -> Any:
        return self.runner.run(coroutine)


@pytest.fixture
def world(settings, seeded) -> Iterator[World]:
    """One event loop, engine and pair of vans for all of a test's examples."""
    runner = asyncio.Runner()
    engine = create_engine(settings)
    factory = create_session_factory(engine)

    async def setup() -> World:
        actors = await load_actors(factory)
        fleet = await make_catalog(factory, suffix="fleet")
        manager = actors["manager"]
        received = await run(
            factory,
            lambda s: s.receive(
                ctx(manager),
                to_location_id=fleet.depot,
                item_id=fleet.van,
                assets=[NewAsset(f"VAN-{d}") for d in VAN_DRIVERS],
            ),
        )
        vans = {}
        for driver, van in zip(VAN_DRIVERS, received.asset_ids, strict=True):
            await run(
                factory,
                lambda s, van=van, driver=driver: s.assign_vehicle(
                    ctx(manager), vehicle_asset_id=van, user_id=actors[driver].id
                ),
            )
            vans[driver] = await run(factory, lambda s, driver=driver: s.vehicle_location(actors[driver].id))
        return World(runner, factory, actors, {d: v.id for d, v in vans.items()})

    try:
        yield runner.run(setup())
    finally:
        runner.run(engine.dispose())
        runner.close()


# --- one example ---------------------------------------------------------------------------------------


@dataclass
class Example:
    world: World
    cat: Catalog
    persons: dict[str, UUID] = field(default_factory=dict)
    movement_ids: list[UUID] = field(default_factory=list)  # every applied line, in the order applied
    serials: int = 0
    tally: Counter = field(default_factory=Counter)

    def actor(self, username: str):
        return self.world.actors[username]

    async def assets(self, *statuses: str) -> list[Asset]:
        async with self.world.factory() as session:
            statement = select(Asset).where(Asset.item_id.in_([self.cat.tool, self.cat.box, self.cat.spare]))
            if statuses:
                statement = statement.where(Asset.status.in_(statuses))
            return list(await session.scalars(statement.order_by(Asset.serial)))

    async def spares(self, *, installed: bool) -> list[Asset]:
        rows = await self.assets()
        return [
            a
            for a in rows
            if a.item_id == self.cat.spare and (a.status == AssetStatus.installed) == installed
        ]

    async def pending(self) -> list[Handover]:
        async with self.world.factory() as session:
            rows = await session.scalars(
                select(Handover)
                .where(Handover.item_id.in_(self.cat.item_ids), Handover.status == HandoverStatus.pending)
                .order_by(Handover.recorded_at, Handover.id)
            )
            return list(rows)

    async def snapshot(self) -> dict[str, Any]:
        async with self.world.factory() as session:
            return await snapshot(session, self.cat.item_ids)

    def quantity(self, what: str, qty: int, size_pick: int) -> Stock:
        if what == "uniform":
            return Stock(
                item_id=self.cat.uniform, qty=qty, size=UNIFORM_SIZES[size_pick % len(UNIFORM_SIZES)]
            )
        return Stock(item_id=self.cat.part, qty=qty)

    async def apply(
        self, label: str, call: Callable[[InventoryService], Awaitable[OperationResult]]
    ) -> OperationResult | None:
        """Run an operation, check that replaying it changes nothing (b), and remember its lines."""
        before = await self.snapshot()
        try:
            result = await run(self.world.factory, call)
        except DomainError as error:
            self.tally[f"refused {label} {error.code}"] += 1
            assert await self.snapshot() == before, f"a refused {label} wrote something"
            return None
        self.tally[label] += 1
        assert result.duplicate is False
        self.movement_ids.extend(result.movement_ids)
        applied = await self.snapshot()
        again = await run(self.world.factory, call)
        assert again.duplicate is True
        assert (again.move_id, again.operation) == (result.move_id, result.operation)
        assert again.movement_ids == result.movement_ids
        assert again.exception_ids == result.exception_ids
        assert again.asset_ids == result.asset_ids
        assert again.handover_id == result.handover_id
        assert await self.snapshot() == applied, f"replaying {label} changed something"
        return result

    async def step(self, step: Any) -> None:
        cat, manager = self.cat, self.actor("manager")
        if isinstance(step, Receive):
            depot = cat.depot_b if step.depot_b else cat.depot
            if step.what in ("tool", "spare"):
                serials = []
                for _ in range(1 + step.qty % 2):
                    self.serials += 1
                    serials.append(f"R{self.serials}")
                item = cat.tool if step.what == "tool" else cat.spare
                context = ctx(manager)
                await self.apply(
                    "receive assets",
                    lambda s: s.receive(
                        context, to_location_id=depot, item_id=item, assets=[NewAsset(n) for n in serials]
                    ),
                )
            else:
                stock, context = self.quantity(step.what, step.qty * 3, step.size), ctx(manager)
                await self.apply(
                    "receive",
                    lambda s: s.receive(
                        context, to_location_id=depot, item_id=stock.item_id, qty=stock.qty, size=stock.size
                    ),
                )
        elif isinstance(step, Checkout):
            tech = TECHS[step.tech]
            source = {
                "depot": cat.depot,
                "depot_b": cat.depot_b,
                "own_van": self.world.vans.get(tech),
                "own_person": self.persons[tech],
            }[step.source]
            if source is None:
                return
            if step.what == "asset":
                assets = await self.assets()
                stock = Stock(asset_id=assets[step.pick % len(assets)].id)
            else:
                stock = self.quantity(step.what, step.qty, step.pick)
            context = ctx(self.actor(tech))
            await self.apply(
                "checkout",
                lambda s: s.checkout(context, stock, from_location_id=source, to_vehicle=step.to_vehicle),
            )
        elif isinstance(step, IssueUniform):
            tech = TECHS[step.tech]
            size = UNIFORM_SIZES[step.size % len(UNIFORM_SIZES)]
            context = ctx(self.actor("supervisor1"))
            await self.apply(
                "issue uniform",
                lambda s: s.issue_uniform(
                    context,
                    user_id=self.actor(tech).id,
                    item_id=cat.uniform,
                    size=size,
                    qty=step.qty,
                    from_location_id=cat.depot,
                ),
            )
        elif isinstance(step, Return):
            tech = TECHS[step.tech]
            to = {"depot": cat.depot, "depot_b": cat.depot_b, "repair": cat.repair}[step.to]
            source = None
            if step.what == "asset":
                assets = await self.assets()
                stock = Stock(asset_id=assets[step.pick % len(assets)].id)
            else:
                stock = self.quantity(step.what, step.qty, step.pick)
                source = self.world.vans.get(tech) if step.from_van else None
            context = ctx(self.actor(tech))
            await self.apply(
                f"return {step.condition}",
                lambda s: s.return_(
                    context, stock, to_location_id=to, condition=step.condition, from_location_id=source
                ),
            )
        elif isinstance(step, Transfer):
            giver = TECHS[step.giver]
            receiver = TECHS[(step.giver + step.receiver) % len(TECHS)]
            source = None
            if step.what == "asset":
                assets = await self.assets()
                stock = Stock(asset_id=assets[step.pick % len(assets)].id)
            else:
                stock = Stock(item_id=cat.part, qty=step.qty)
                source = self.world.vans.get(giver) if step.from_van else None
            context = ctx(self.actor(giver))
            result = await self.apply(
                "transfer",
                lambda s: s.transfer(
                    context, stock, to_user_id=self.actor(receiver).id, from_location_id=source
                ),
            )
            if result is not None and step.then is not None:
                answer = ctx(self.actor(receiver))
                await self.apply(
                    "accept" if step.then else "decline",
                    lambda s: s.decide_handover(answer, result.handover_id, accept=step.then),
                )
        elif isinstance(step, Decide):
            pending = await self.pending()
            if not pending:
                return
            handover = pending[step.pick % len(pending)]
            receiver = next(a for a in self.world.actors.values() if a.id == handover.to_user_id)
            context = ctx(receiver)
            await self.apply(
                "accept" if step.accept else "decline",
                lambda s: s.decide_handover(
                    context, handover.id, accept=step.accept, to_vehicle=step.to_vehicle
                ),
            )
        elif isinstance(step, Consume):
            tech = TECHS[step.tech]
            source = self.world.vans.get(tech) if step.from_van else self.persons[tech]
            context = ctx(self.actor(tech), job=True)
            await self.apply(
                "consume",
                lambda s: s.consume(context, item_id=cat.part, qty=step.qty, from_location_id=source),
            )
        elif isinstance(step, Count):
            tech = TECHS[step.tech]
            where, actor = {
                "depot": (cat.depot, manager),
                "own_person": (self.persons[tech], self.actor(tech)),
                "own_van": (self.world.vans.get(tech), self.actor(tech)),
            }[step.where]
            if where is None:
                return
            stock = self.quantity(step.what, 1, step.size)
            context = ctx(actor, reason="stock-take")
            await self.apply(
                "count",
                lambda s: s.count(
                    context, location_id=where, lines=[CountLine(stock.item_id, step.counted, stock.size)]
                ),
            )
        elif isinstance(step, Install):
            spares = await self.spares(installed=False)
            if not spares:
                return
            unit, site = spares[step.pick % len(spares)], (cat.site_b if step.site_b else cat.site)
            context = ctx(manager)
            await self.apply("install", lambda s: s.install(context, asset_id=unit.id, site_location_id=site))
        elif isinstance(step, Swap):
            installed, spares = await self.spares(installed=True), await self.spares(installed=False)
            if not installed or not spares:
                return
            old, new = installed[step.installed % len(installed)], spares[step.spare % len(spares)]
            context = ctx(self.actor(TECHS[step.tech]), job=True)
            await self.apply(
                "swap",
                lambda s: s.swap_spare(
                    context,
                    installed_asset_id=old.id,
                    spare_asset_id=new.id,
                    removed_serial=old.serial if step.serial_matches else "UNKNOWN-1",
                    repair_location_id=cat.repair,
                ),
            )
        elif isinstance(step, SendToRepair):
            assets = await self.assets()
            unit = assets[step.pick % len(assets)]
            context = ctx(manager)
            await self.apply(
                "send to repair",
                lambda s: s.send_to_repair(context, asset_id=unit.id, to_location_id=cat.repair),
            )
        elif isinstance(step, ReceiveFromRepair):
            in_repair = await self.assets(AssetStatus.in_repair)
            if not in_repair:
                return
            unit = in_repair[step.pick % len(in_repair)]
            context = ctx(manager)
            await self.apply(
                "receive from repair",
                lambda s: s.receive_from_repair(
                    context,
                    asset_id=unit.id,
                    to_location_id=cat.depot_b if step.depot_b else cat.depot,
                    repaired=step.repaired,
                ),
            )
        else:  # pragma: no cover
            raise AssertionError(step)


async def start_example(world: World) -> Example:
    """A fresh catalog, stocked: parts and uniforms, tools, a packed toolbox, spares and an installed base,
    and some of it already in the technicians' custody."""
    example = Example(world, await make_catalog(world.factory))
    cat, manager = example.cat, world.actors["manager"]

    async def person(username: str) -> UUID:
        async def work(svc: InventoryService) -> UUID:
            return (await svc.person_location(await svc.session.get(User, world.actors[username].id))).id

        return await run(world.factory, work)

    example.persons = {t: await person(t) for t in TECHS}

    async def receive(item_id: UUID, *, qty: int = 0, size: str = "", serials: list[str] | None = None):
        result = await run(
            world.factory,
            lambda s: s.receive(
                ctx(manager),
                to_location_id=cat.depot,
                item_id=item_id,
                qty=qty or None,
                size=size,
                assets=[NewAsset(n) for n in serials or []],
            ),
        )
        example.movement_ids.extend(result.movement_ids)
        return result.asset_ids

    await receive(cat.part, qty=12)
    await receive(cat.uniform, qty=4, size="M")
    await receive(cat.uniform, qty=2, size="L")
    tools = await receive(cat.tool, serials=["TW-1", "TW-2"])
    [box] = await receive(cat.box, serials=["BOX-1"])
    kit = await receive(cat.tool, serials=["KT-1", "KT-2"])
    await pack_kit(world.factory, box, kit)
    spares = await receive(cat.spare, serials=["ATM-1", "ATM-2", "ATM-3", "ATM-4"])
    for unit in spares[:2]:
        result = await run(
            world.factory,
            lambda s, unit=unit: s.install(ctx(manager), asset_id=unit, site_location_id=cat.site),
        )
        example.movement_ids.extend(result.movement_ids)
    # Some custody to start from: parts in a van and on a person, a tool, the toolbox and a spare.
    for username, stock, to_vehicle in [
        ("tech1", Stock(item_id=cat.part, qty=4), True),
        ("tech2", Stock(item_id=cat.part, qty=3), False),
        ("tech2", Stock(asset_id=tools[0]), False),
        ("tech5", Stock(asset_id=box), True),
        ("tech1", Stock(asset_id=spares[2]), False),
    ]:
        result = await run(
            world.factory,
            lambda s, username=username, stock=stock, to_vehicle=to_vehicle: s.checkout(
                ctx(world.actors[username]), stock, from_location_id=cat.depot, to_vehicle=to_vehicle
            ),
        )
        example.movement_ids.extend(result.movement_ids)
    return example


# --- the properties checked at the end of every sequence -----------------------------------------------


async def check_ledger(example: Example) -> None:
    cat = example.cat
    async with example.world.factory() as session:
        service = InventoryService(session)
        # (a) every balance is the sum of its ledger
        assert await service.balance_drift() == []

        balances = {
            (b.location_id, b.item_id, b.size): b.qty
            for b in await session.scalars(select(Balance).where(Balance.item_id.in_(cat.item_ids)))
        }
        assets = list(await session.scalars(select(Asset).where(Asset.item_id.in_(cat.serial_item_ids))))
        lines = {
            m.id: m for m in await session.scalars(select(Movement).where(Movement.item_id.in_(cat.item_ids)))
        }
        # Every line of these items was written by an operation of this example, and none was lost.
        assert set(lines) == set(example.movement_ids)

        # (c) one place per asset: an unbroken chain of movements ending where the asset is
        trail: dict[UUID, list[Movement]] = {}
        for movement_id in example.movement_ids:
            line = lines[movement_id]
            if line.asset_id is not None:
                trail.setdefault(line.asset_id, []).append(line)
        for asset in assets:
            moves = trail[asset.id]
            assert moves[0].operation == Operation.receive and moves[0].from_location_id is None, asset.serial
            for previous, following in itertools.pairwise(moves):
                assert following.from_location_id == previous.to_location_id, (
                    asset.serial,
                    following.operation,
                )
            assert asset.location_id == moves[-1].to_location_id, asset.serial
            assert all(m.qty == 1 and m.size == "" for m in moves)
        per_place = Counter((a.location_id, a.item_id, "") for a in assets)
        for key in set(per_place) | {k for k in balances if k[1] in cat.serial_item_ids}:
            assert balances.get(key, 0) == per_place.get(key, 0), key

        # (d) below zero only with a stock discrepancy raised for that place and item
        flagged = set(
            await session.execute(
                select(SyncException.location_id, SyncException.item_id).where(
                    SyncException.kind == ExceptionKind.stock_discrepancy,
                    SyncException.item_id.in_(cat.item_ids),
                )
            )
        )
        for (location_id, item_id, size), qty in balances.items():
            if qty < 0:
                assert (location_id, item_id) in flagged, (location_id, item_id, size, qty)
        example.tally["negative balances"] += sum(1 for q in balances.values() if q < 0)


async def corrupt_and_rebuild(example: Example, pick: int, shift: int) -> None:
    """(e) a balance changed (``shift``) or deleted (``shift == 0``) behind the ledger's back is restored
    by rebuild_balances()."""
    factory = example.world.factory
    async with factory() as session, session.begin():
        rows = list(
            await session.scalars(
                select(Balance)
                .where(Balance.item_id.in_(example.cat.item_ids))
                .order_by(Balance.location_id, Balance.item_id, Balance.size)
            )
        )
        if shift == 0:  # deleting a row of zero would change nothing the ledger can tell
            rows = [b for b in rows if b.qty != 0] or rows
            shift = 0 if rows[0].qty != 0 else 1
        balance = rows[pick % len(rows)]
        key, original = (balance.location_id, balance.item_id, balance.size), balance.qty
        if shift == 0:
            await session.delete(balance)
        else:
            balance.qty = original + shift
    async with factory() as session:
        drift = await InventoryService(session).balance_drift()
    assert drift == [(key, original + shift if shift else 0, original)]
    async with factory() as session, session.begin():
        assert await InventoryService(session).rebuild_balances() == 1
    async with factory() as session:
        assert await InventoryService(session).balance_drift() == []
        restored = await session.scalar(
            select(Balance.qty).where(
                Balance.location_id == key[0], Balance.item_id == key[1], Balance.size == key[2]
            )
        )
    assert restored == original


@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sequence=st.lists(steps, min_size=4, max_size=24),
    corrupt_pick=st.integers(0, 50),
    corrupt_shift=st.integers(-5, 5),
)
def test_ledger_properties_hold_for_any_sequence(world: World, sequence, corrupt_pick, corrupt_shift):
    async def example() -> Counter:
        ex = await start_example(world)
        for step in sequence:
            await ex.step(step)
        await check_ledger(ex)
        await corrupt_and_rebuild(ex, corrupt_pick, corrupt_shift)
        return ex.tally

    tally = world.go(example())
    note(f"applied: {dict(tally)}")
    TALLY.update(tally)


TALLY: Counter = Counter()  # what the examples did, for a look with FIELDQ_LEDGER_TALLY=1 and -s


@pytest.fixture(autouse=True, scope="module")
def _print_tally() -> Iterator[None]:
    yield
    if os.environ.get("FIELDQ_LEDGER_TALLY"):
        for label, times in sorted(TALLY.items()):
            print(f"{times:6d}  {label}")
