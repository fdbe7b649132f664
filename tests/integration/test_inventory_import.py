"""CSV imports (`fieldq import catalog | assets | installed-base`) and the demo inventory they share a
loader with, on SQLite and PostgreSQL: a good import writes every row with its opening movement and
balances equal to the ledger; a file with any problem reports every row at fault and writes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backend.auth.models import User
from backend.cli import main
from backend.db import create_engine, create_session_factory
from backend.demo import REGIONS, TECHNICIANS, TOOLBOX_TOOLS
from backend.inventory.imports import (
    ASSETS_SPEC,
    INSTALLED_BASE_SPEC,
    ImportFailed,
    import_installed_base,
    read_csv,
)
from backend.inventory.models import (
    Asset,
    AssetStatus,
    Balance,
    InventoryOperation,
    Item,
    ItemKind,
    KitComponent,
    Location,
    LocationKind,
    Movement,
    Operation,
    SpareShortage,
)
from backend.inventory.services import InventoryService, overdue_filter
from backend.settings import Settings, get_settings
from backend.sync.models import SyncChange, SyncException

CATALOG = """\
sku,name,kind,tracking,unit,sizes,service_kind,service_interval_days,loan_days,kit_contents
IMP-BOX,Technician toolbox,toolbox,,,,,,,IMP-TW:1|IMP-MM:1|IMP-SCR:2
IMP-TW,Torque wrench,tool,,,,calibration,180,14,
IMP-MM,Multimeter,tool,serial,,,calibration,365,,
IMP-SCR,Screwdriver set,tool,,,,,,,
IMP-JKT,Work jacket,uniform,,,S|M|L|XL|XXL,,,,
IMP-PAPER,Thermal printer paper,consumable,,roll,,,,,
IMP-ATM-A,NCR SelfServ 22e,spare_unit,,,,maintenance,180,,
IMP-ATM-B,GRG H68N,spare_unit,,,,maintenance,180,,
IMP-VAN,Service van,vehicle,,,,inspection,365,,
"""

ASSETS = """\
sku,serial,location_code,due_at
IMP-TW,TW-0001,DEP-SH,2020-01-01
IMP-TW,TW-0002,DEP-SH,
IMP-MM,MM-0001,DEP-SH,2031-05-06T08:30:00+08:00
IMP-ATM-A,A-SP-1,DEP-SH-E,
IMP-ATM-A,A-SP-2,DEP-SH-E,
IMP-VAN,沪A-IMP01,DEP-SH-E,
"""

INSTALLED_UNITS = 250


def installed_base_csv(units: int = INSTALLED_UNITS, prefix: str = "IB") -> str:
    """Units of two models at bank branches (up to 5 a site) in two regions."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sku", "serial", "site_code", "site_name", "region", "address", "installed_at"])
    for n in range(units):
        site = n // 5
        region = "Shanghai East" if site % 2 == 0 else "Shanghai West"
        writer.writerow(
            [
                "IMP-ATM-A" if n % 3 else "IMP-ATM-B",
                f"{prefix}-{n:05d}",
                f"{prefix}-SITE-{site:04d}",
                f"工商银行 ICBC branch {site}",
                region,
                f"上海市张杨路 {site} 号",
                f"2023-0{1 + n % 9}-15",
            ]
        )
    return out.getvalue()


# --- plumbing ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(settings: Settings, seeded, monkeypatch, tmp_path: Path):
    """``fieldq`` on the test database (the demo company seeded); returns a runner of its commands."""
    monkeypatch.setenv("FIELDQ_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("FIELDQ_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FIELDQ_ENV", "dev")
    monkeypatch.delenv("FIELDQ_SECRET_KEY", raising=False)
    get_settings.cache_clear()

    def run(*args: str):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        get_settings.cache_clear()
        return result

    yield run
    get_settings.cache_clear()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def query(settings: Settings, work):
    async def go():
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


COUNTED = {
    "item": Item,
    "kit_component": KitComponent,
    "asset": Asset,
    "location": Location,
    "movement": Movement,
    "balance": Balance,
    "inventory_operation": InventoryOperation,
    "sync_change": SyncChange,
    "spare_shortage": SpareShortage,
}


async def _counts(session) -> dict[str, int]:
    return {
        name: int(await session.scalar(select(func.count()).select_from(model)))
        for name, model in COUNTED.items()
    }


def counts(settings: Settings) -> dict[str, int]:
    return query(settings, _counts)


def error_rows(output: str) -> set[int]:
    return {int(n) for n in re.findall(r"^row (\d+)", output, flags=re.MULTILINE)}


async def _drift(session):
    return await InventoryService(session).balance_drift()


def import_catalog_and_assets(cli, tmp_path: Path) -> None:
    catalog = cli("import", "catalog", write(tmp_path, "catalog.csv", CATALOG))
    assert catalog.exit_code == 0, catalog.output
    assert "Imported 9 items" in catalog.output and "(3 kit components)" in catalog.output
    assets = cli("import", "assets", write(tmp_path, "assets.csv", ASSETS))
    assert assets.exit_code == 0, assets.output
    assert "Imported 6 assets" in assets.output


# --- good imports --------------------------------------------------------------------------------------


def test_a_good_import_writes_every_row_with_its_opening_movement_and_exact_balances(cli, settings, tmp_path):
    before = counts(settings)
    import_catalog_and_assets(cli, tmp_path)
    result = cli("import", "installed-base", write(tmp_path, "installed.csv", installed_base_csv()))
    assert result.exit_code == 0, result.output
    assert f"Imported {INSTALLED_UNITS} installed units at 50 new sites" in result.output

    after = counts(settings)
    sites = INSTALLED_UNITS // 5
    assert after["item"] - before["item"] == 9
    assert after["kit_component"] - before["kit_component"] == 3
    assert after["asset"] - before["asset"] == 6 + INSTALLED_UNITS
    # the sites, and the van's load space
    assert after["location"] - before["location"] == sites + 1
    assert after["movement"] - before["movement"] == 6 + INSTALLED_UNITS
    assert after["inventory_operation"] - before["inventory_operation"] == 2

    async def check(session):
        assert await InventoryService(session).balance_drift() == []
        manager = await session.scalar(select(User).where(User.username == "manager"))
        operations = list(
            await session.scalars(
                select(InventoryOperation)
                .where(InventoryOperation.operation == Operation.opening)
                .order_by(InventoryOperation.received_at)
            )
        )
        assert [o.args["import"] for o in operations] == ["assets", "installed-base"]
        assert all(o.actor_id == manager.id for o in operations)
        installed_op = operations[1]
        assert installed_op.result["assets"] == INSTALLED_UNITS
        lines = list(
            await session.scalars(
                select(Movement).where(Movement.move_id == installed_op.move_id).order_by(Movement.line)
            )
        )
        assert [m.line for m in lines] == list(range(INSTALLED_UNITS))
        assert {(m.operation, m.from_location_id, m.qty, m.actor_id) for m in lines} == {
            (Operation.opening, None, 1, manager.id)
        }
        installed = list(
            await session.scalars(
                select(Asset)
                .join(Item, Item.id == Asset.item_id)
                .where(Item.sku.in_(["IMP-ATM-A", "IMP-ATM-B"]))
            )
        )
        by_serial = {a.serial: a for a in installed}
        assert {m.asset_id for m in lines} == {a.id for a in installed if a.status == AssetStatus.installed}
        unit = by_serial["IB-00001"]
        site = await session.get(Location, unit.location_id)
        assert (site.kind, site.code, site.region) == (LocationKind.site, "IB-SITE-0000", "Shanghai East")
        assert (unit.status, unit.region, unit.holder_id) == (AssetStatus.installed, "Shanghai East", None)
        assert unit.installed_at == datetime(2023, 2, 15, tzinfo=UTC)
        # Balances: one row per site and model, summing to the units installed.
        site_total = await session.scalar(
            select(func.sum(Balance.qty))
            .join(Location, Location.id == Balance.location_id)
            .where(Location.code.like("IB-SITE-%"))
        )
        assert site_total == INSTALLED_UNITS
        # Every new synced row has its feed entry.
        fed = await session.scalar(
            select(func.count())
            .select_from(SyncChange)
            .where(SyncChange.entity_id.in_([a.id for a in installed]))
        )
        assert fed == len(installed)

        # Depot assets: in stock with the depot's region; due dates from the file or the item's interval.
        depot_assets = {
            a.serial: a
            for a in await session.scalars(
                select(Asset).where(Asset.serial.in_(["TW-0001", "TW-0002", "MM-0001"]))
            )
        }
        assert depot_assets["TW-0001"].due_at == datetime(2020, 1, 1, tzinfo=UTC)
        assert depot_assets["MM-0001"].due_at == datetime(2031, 5, 6, 0, 30, tzinfo=UTC)
        due = depot_assets["TW-0002"].due_at
        assert abs(due - (datetime.now(UTC) + timedelta(days=180))) < timedelta(hours=1)
        assert by_serial["A-SP-1"].status == AssetStatus.in_stock
        assert by_serial["A-SP-1"].region == "Shanghai East"
        van = await session.scalar(select(Asset).where(Asset.serial == "沪A-IMP01"))
        load = await session.get(Location, van.vehicle_location_id)
        assert (load.kind, load.code, load.region) == (LocationKind.vehicle, "VAN-沪A-IMP01", "Shanghai East")
        box = await session.scalar(select(Item).where(Item.sku == "IMP-BOX"))
        contents = await session.execute(
            select(Item.sku, KitComponent.qty)
            .join(Item, Item.id == KitComponent.component_item_id)
            .where(KitComponent.kit_item_id == box.id)
        )
        assert dict(contents.all()) == {"IMP-TW": 1, "IMP-MM": 1, "IMP-SCR": 2}
        jacket = await session.scalar(select(Item).where(Item.sku == "IMP-JKT"))
        assert (jacket.tracking, jacket.sizes) == ("quantity", ["S", "M", "L", "XL", "XXL"])

        # Spare pools: model A has 2 spares in the East, model B none: a shortage opened for B only.
        report = {(r.sku, r.region): r for r in await InventoryService(session).spare_report()}
        a_east = report[("IMP-ATM-A", "Shanghai East")]
        assert (a_east.serviceable, a_east.shortage) == (2, 0)
        assert a_east.installed == sum(
            1
            for n in range(INSTALLED_UNITS)
            if n % 3 and (n // 5) % 2 == 0  # model A, even sites are in the East
        )
        open_shortages = {
            (await session.get(Item, s.item_id)).sku + "/" + s.region
            for s in await session.scalars(select(SpareShortage).where(SpareShortage.closed_at.is_(None)))
        }
        assert open_shortages == {
            "IMP-ATM-B/Shanghai East",
            "IMP-ATM-B/Shanghai West",
            "IMP-ATM-A/Shanghai West",
        }

    query(settings, check)


def test_a_second_import_at_known_sites_increases_their_balances(cli, settings, tmp_path):
    import_catalog_and_assets(cli, tmp_path)
    first = cli("import", "installed-base", write(tmp_path, "one.csv", installed_base_csv(20, "ONE")))
    assert first.exit_code == 0, first.output
    # The same sites (by code), named or not, with new serials: no new site, the same balance rows.
    second_csv = "sku,serial,site_code,installed_at\n" + "".join(
        f"IMP-ATM-A,TWO-{n},ONE-SITE-000{n % 4},2024-06-01\n" for n in range(10)
    )
    before = counts(settings)
    second = cli("import", "installed-base", write(tmp_path, "two.csv", second_csv))
    assert second.exit_code == 0, second.output
    after = counts(settings)
    assert after["location"] == before["location"]
    assert after["asset"] - before["asset"] == 10
    assert after["balance"] == before["balance"]  # increased in place: model A was at each of them

    async def check(session):
        assert await InventoryService(session).balance_drift() == []
        site = await session.scalar(select(Location).where(Location.code == "ONE-SITE-0001"))
        [balance] = await session.scalars(
            select(Balance)
            .join(Item, Item.id == Balance.item_id)
            .where(Balance.location_id == site.id, Item.sku == "IMP-ATM-A")
        )
        assert balance.version == 2  # changed through the session: a new version, in the feed
        feed = await session.scalar(
            select(func.count()).select_from(SyncChange).where(SyncChange.entity_id == balance.id)
        )
        assert feed == 2

    query(settings, check)


# --- bad files -----------------------------------------------------------------------------------------


def test_every_bad_row_is_reported_with_its_number_and_nothing_is_written(cli, settings, tmp_path):
    import_catalog_and_assets(cli, tmp_path)
    before = counts(settings)
    bad = """\
sku,serial,site_code,site_name,region,address,installed_at
IMP-ATM-A,OK-1,BAD-SITE-1,Bank of China Xujiahui,Shanghai South,,2023-01-01
NOPE,OK-2,BAD-SITE-1,,,,
IMP-TW,OK-3,BAD-SITE-1,,,,
IMP-ATM-A,OK-4,BAD-SITE-1,,,,2024-13-45
IMP-ATM-A,OK-1,BAD-SITE-1,,,,
IMP-ATM-B,OK-5,DEP-SH,,,,
IMP-ATM-B,OK-6,BAD-SITE-2,,,,

IMP-ATM-B,OK-7,BAD-SITE-1,,,,2022-02-02
IMP-ATM-A,A-SP-1,BAD-SITE-1,,,,
IMP-ATM-B,OK-8,BAD-SITE-1,,Shanghai East,,
IMP-ATM-B,,BAD-SITE-1,,,,
IMP-ATM-B,OK-9,BAD-SITE-1,,,,2099-01-01
"""
    result = cli("import", "installed-base", write(tmp_path, "bad.csv", bad))
    assert result.exit_code != 0
    # Row 2 and row 10 are good; row 9 is blank.
    assert error_rows(result.output) == {3, 4, 5, 6, 7, 8, 11, 12, 13, 14}
    output = result.output
    assert "row 3, sku: unknown sku NOPE" in output
    assert "row 4, sku: IMP-TW is a tool" in output
    assert "row 5, installed_at: '2024-13-45' is not a date" in output
    assert "row 6, serial: IMP-ATM-A OK-1 is repeated (first on row 2)" in output
    assert "row 7, site_code: DEP-SH is a depot, not a site" in output
    assert "row 8, site_name: is required for the new site BAD-SITE-2" in output
    assert "row 8, region: is required for the new site BAD-SITE-2" in output
    assert "row 11, serial: IMP-ATM-A A-SP-1 already exists" in output
    assert "row 12, region: site BAD-SITE-1 was given region 'Shanghai South' on row 2" in output
    assert "row 13, serial: is required" in output
    assert "row 14, installed_at: 2099-01-01 is in the future" in output
    assert "11 problems; nothing was imported" in output
    assert counts(settings) == before


def test_bad_asset_rows_are_reported(cli, settings, tmp_path):
    import_catalog_and_assets(cli, tmp_path)
    before = counts(settings)
    bad = """\
sku,serial,location_code,due_at
IMP-TW,NEW-1,NOWHERE,
IMP-TW,NEW-2,REP-SH,
IMP-PAPER,NEW-3,DEP-SH,
IMP-TW,NEW-4,DEP-SH,next week
IMP-TW,NEW-5,DEP-SH,,extra
IMP-MM,NEW-6,DEP-SH,2030-01-01
"""
    result = cli("import", "assets", write(tmp_path, "bad-assets.csv", bad))
    assert result.exit_code != 0
    assert error_rows(result.output) == {2, 3, 4, 5, 6}
    assert "row 2, location_code: unknown location NOWHERE" in result.output
    assert "row 3, location_code: REP-SH is a repair, not a depot" in result.output
    assert "row 4, sku: IMP-PAPER is a consumable counted by quantity" in result.output
    assert "row 6: has 5 cells; the header has 4 columns" in result.output
    assert counts(settings) == before


def test_catalog_rows_are_checked(cli, settings, tmp_path):
    import_catalog_and_assets(cli, tmp_path)
    before = counts(settings)
    bad = """\
sku,name,kind,tracking,sizes,service_kind,service_interval_days,loan_days,kit_contents
IMP-TW,Again,tool,,,,,,
NEW-1,Sized tool,tool,,S|M,,,,
NEW-2,Counted van,vehicle,quantity,,,,,
NEW-3,Box,toolbox,,,,,,GHOST:1|IMP-TW:x|IMP-BOX:1
NEW-4,Gloves,consumable,,,calibration,,,
NEW-5,Belt,part,,,,-3,1.5,
NEW-6,Wrench,tool,,,calibration,30,,IMP-TW:1
NEW-7,,gadget,,,,,,
NEW-7,Twice,part,,,,,,
"""
    result = cli("import", "catalog", write(tmp_path, "bad-catalog.csv", bad))
    assert result.exit_code != 0
    assert error_rows(result.output) == set(range(2, 11))
    output = result.output
    assert "row 2, sku: IMP-TW is already in the catalog" in output
    assert "row 3, sizes: serialized items have no sizes" in output
    assert "row 4, tracking: a vehicle is tracked by serial number" in output
    assert "row 5, kit_contents: unknown sku GHOST" in output
    assert "row 5, kit_contents: IMP-TW: 'x' is not a quantity" in output
    assert "row 5, kit_contents: IMP-BOX is a toolbox" in output
    assert "row 6, service_interval_days: is required with service_kind calibration" in output
    assert "row 7, service_interval_days: '-3' is not a whole number" in output
    assert "row 7, loan_days: '1.5' is not a whole number" in output
    assert "row 8, kit_contents: only a toolbox has kit contents, not a tool" in output
    assert "row 9, name: is required" in output
    assert "row 9, kind: 'gadget' is not one of" in output
    assert "row 10, sku: NEW-7 is repeated (first on row 9)" in output
    assert counts(settings) == before


def test_header_problems_are_reported_before_any_row(cli, settings, tmp_path):
    before = counts(settings)
    result = cli(
        "import",
        "installed-base",
        write(tmp_path, "header.csv", "sku,serial,site,colour,sku\nIMP-ATM-A,X-1,S-1,red,IMP-ATM-A\n"),
    )
    assert result.exit_code != 0
    assert "row 1, site: unknown column" in result.output
    assert "row 1, colour: unknown column" in result.output
    assert "row 1, sku: appears twice in the header" in result.output
    assert "row 1, site_code: missing column" in result.output
    assert error_rows(result.output) == {1}
    empty = cli("import", "assets", write(tmp_path, "empty.csv", ""))
    assert empty.exit_code != 0 and "the file is empty" in empty.output
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("sku,serial,location_code\nIMP-TW,Café,DEP-SH\n".encode("latin-1"))
    unreadable = cli("import", "assets", str(latin1))
    assert unreadable.exit_code != 0 and "not UTF-8" in unreadable.output
    assert counts(settings) == before


def test_read_csv_reports_header_and_shape_problems(tmp_path):
    with pytest.raises(ImportFailed) as missing:
        read_csv(io.StringIO("sku,serial\n"), ASSETS_SPEC)
    assert [str(e) for e in missing.value.errors] == ["row 1, location_code: missing column"]
    with pytest.raises(ImportFailed) as no_rows:
        read_csv(io.StringIO("sku,serial,location_code\n\n"), ASSETS_SPEC)
    assert [str(e) for e in no_rows.value.errors] == ["the file has a header but no rows"]
    # A byte-order mark (spreadsheets), header case and spaces, blank lines and trimmed cells are fine.
    read = read_csv(
        io.StringIO("\ufeffSKU , Serial,site_code\n\nA, 1 ,S\n\n\nB,2,S\nC\n"), INSTALLED_BASE_SPEC
    )
    assert [str(p) for p in read.problems] == ["row 7: has 1 cells; the header has 3 columns"]
    assert [(r.row, r.values) for r in read.rows] == [
        (3, {"sku": "A", "serial": "1", "site_code": "S"}),
        (6, {"sku": "B", "serial": "2", "site_code": "S"}),
    ]


def test_replaying_a_file_fails_on_its_duplicate_serials(cli, settings, tmp_path):
    import_catalog_and_assets(cli, tmp_path)
    path = write(tmp_path, "installed.csv", installed_base_csv(30))
    assert cli("import", "installed-base", path).exit_code == 0
    before = counts(settings)
    again = cli("import", "installed-base", path)
    assert again.exit_code != 0
    assert error_rows(again.output) == set(range(2, 32))
    assert "row 2, serial: IMP-ATM-B IB-00000 already exists" in again.output
    assert "30 problems; nothing was imported" in again.output
    assets_again = cli("import", "assets", write(tmp_path, "assets.csv", ASSETS))
    assert assets_again.exit_code != 0
    assert error_rows(assets_again.output) == set(range(2, 8))
    assert counts(settings) == before


def test_an_unknown_actor_is_refused(cli, settings, tmp_path):
    import_catalog_and_assets(cli, tmp_path)
    before = counts(settings)
    more = write(tmp_path, "more.csv", "sku,serial,location_code\nIMP-TW,TW-MORE,DEP-SH\n")
    result = cli("import", "assets", "--actor", "nobody", more)
    assert result.exit_code != 0
    assert "there is no active user 'nobody'" in result.output
    assert counts(settings) == before
    tech = cli("import", "assets", "--actor", "tech1", more)
    assert tech.exit_code == 0, tech.output


def test_the_import_functions_can_be_used_directly(settings, seeded, tmp_path):
    """The loader behind the CLI, called in a caller's transaction (as the demo does)."""

    async def run(session):
        async with session.begin():
            with pytest.raises(ImportFailed) as failed:
                await import_installed_base(session, io.StringIO(installed_base_csv(5)))
        return failed.value.errors

    errors = query(settings, run)
    assert {e.row for e in errors} == set(range(2, 7))
    assert all(e.column == "sku" and "unknown sku" in e.message for e in errors)


# --- the demo inventory --------------------------------------------------------------------------------


@pytest.mark.demo_inventory
def test_the_demo_inventory_is_a_real_ledger(settings, seeded):
    now = datetime.now(UTC)

    async def check(session):
        service = InventoryService(session)
        assert await service.balance_drift() == []
        report = await service.spare_report()
        assert sum(r.installed for r in report) == 60
        assert {r.region for r in report} == set(REGIONS)
        assert any(r.shortage > 0 for r in report)
        assert sum(1 for r in report if r.shortage == 0 and r.installed) >= 10
        assert any(r.in_repair for r in report)
        shortages = list(
            await session.scalars(select(SpareShortage).where(SpareShortage.closed_at.is_(None)))
        )
        assert {(s.region, s.shortage) for s in shortages} == {
            (r.region, r.shortage) for r in report if r.shortage
        }
        sites = list(await session.scalars(select(Location).where(Location.kind == LocationKind.site)))
        assert sites and all(s.region in REGIONS and s.address for s in sites)

        # A toolbox per technician, with its tools inside, in the technician's custody.
        boxes = list(
            await session.scalars(
                select(Asset).join(Item, Item.id == Asset.item_id).where(Item.kind == ItemKind.toolbox)
            )
        )
        assert len(boxes) == len(TECHNICIANS)
        assert len({b.holder_id for b in boxes}) == len(TECHNICIANS)
        for box in boxes:
            tools = list(await session.scalars(select(Asset).where(Asset.parent_asset_id == box.id)))
            assert len(tools) == len(TOOLBOX_TOOLS)
            assert {(t.location_id, t.holder_id, t.status) for t in tools} == {
                (box.location_id, box.holder_id, AssetStatus.in_custody)
            }

        overdue = list(await session.scalars(select(Asset).where(overdue_filter(now))))
        late_returns = [a for a in overdue if a.return_due_at and a.return_due_at < now]
        late_services = [a for a in overdue if a.due_at and a.due_at < now]
        assert len(late_returns) == 1 and len(late_services) >= 3

        vans = list(await session.scalars(select(Location).where(Location.kind == LocationKind.vehicle)))
        assert len(vans) == len(TECHNICIANS) // 2 and all(v.user_id for v in vans)
        van_stock = await session.scalar(
            select(func.sum(Balance.qty)).where(Balance.location_id.in_([v.id for v in vans]))
        )
        assert van_stock > 0
        uniforms = await session.execute(
            select(Balance.size, func.sum(Balance.qty))
            .join(Item, Item.id == Balance.item_id)
            .join(Location, Location.id == Balance.location_id)
            .where(Item.sku == "UNF-JACKET", Location.kind == LocationKind.person)
            .group_by(Balance.size)
        )
        assert sum(qty for _size, qty in uniforms) == len(TECHNICIANS)

        # Supervisors of teams 2 and 3 find facts from the field to look at; team 1 has none.
        exceptions = list(await session.scalars(select(SyncException)))
        assert sorted(e.kind for e in exceptions) == ["custody_conflict", "damaged", "stock_discrepancy"]
        team1 = await session.scalar(select(User.team_id).where(User.username == "tech1"))
        assert all(e.status == "open" and e.team_id not in (None, team1) for e in exceptions)

    query(settings, check)


def test_seed_takes_the_size_of_the_installed_base(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FIELDQ_DATABASE_URL", raising=False)
    monkeypatch.setenv("FIELDQ_ENV", "dev")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(main, ["migrate"], catch_exceptions=False).exit_code == 0
        seeded = runner.invoke(main, ["seed", "--demo", "--installed-units", "25"], catch_exceptions=False)
        assert seeded.exit_code == 0, seeded.output
        settings = get_settings()

        async def installed(session):
            return await session.scalar(
                select(func.count()).select_from(Asset).where(Asset.status == AssetStatus.installed)
            )

        assert query(settings, installed) == 25

        monkeypatch.setenv("FIELDQ_DATA_DIR", str(tmp_path / "people-only"))
        get_settings.cache_clear()
        assert runner.invoke(main, ["migrate"], catch_exceptions=False).exit_code == 0
        people = runner.invoke(main, ["seed", "--demo", "--no-inventory"], catch_exceptions=False)
        assert people.exit_code == 0, people.output
        assert "tech12" in people.output

        async def assets(session):
            return await session.scalar(select(func.count()).select_from(Asset))

        assert query(get_settings(), assets) == 0
    finally:
        get_settings.cache_clear()


# --- the installed base becomes customer sites and service units --------------------------------------


def test_an_installed_base_import_links_customer_sites_and_units(cli, settings, tmp_path):
    """Every imported unit can get jobs: its site location gets a jobs ``site`` of the customer the
    rows name (created when new) with its coordinates, and each installed asset a ``unit``; sites whose
    rows name no customer belong to the placeholder customer a manager corrects later."""
    from backend.jobs.catalog import UNRECORDED_CUSTOMER_CODE
    from backend.jobs.models import Customer, Site, Unit

    import_catalog_and_assets(cli, tmp_path)
    named = """\
sku,serial,site_code,site_name,region,address,installed_at,customer_code,customer_name,lat,lon
IMP-ATM-A,LNK-1,LNK-SITE-1,ICBC Lujiazui,Shanghai East,陆家嘴,2023-01-01,ICBC,中国工商银行,31.2397,121.4998
IMP-ATM-B,LNK-2,LNK-SITE-1,,,,,ICBC,,,
IMP-ATM-A,LNK-3,LNK-SITE-2,BOC Xujiahui,Shanghai West,,,,,,
"""
    result = cli("import", "installed-base", write(tmp_path, "linked.csv", named))
    assert result.exit_code == 0, result.output
    assert "2 customer sites and 3 service units linked for jobs" in result.output

    async def check(session):
        sites = {s.code: s for s in await session.scalars(select(Site).where(Site.code.like("LNK-%")))}
        customers = {c.id: c for c in await session.scalars(select(Customer))}
        assert customers[sites["LNK-SITE-1"].customer_id].code == "ICBC"
        assert customers[sites["LNK-SITE-1"].customer_id].name == "中国工商银行"
        assert (sites["LNK-SITE-1"].lat, sites["LNK-SITE-1"].lon) == (31.2397, 121.4998)
        assert customers[sites["LNK-SITE-2"].customer_id].code == UNRECORDED_CUSTOMER_CODE
        linked = select(Unit).where(Unit.serial.like("LNK-%")).order_by(Unit.serial)
        units = list(await session.scalars(linked))
        assert [(u.serial, u.site_id) for u in units] == [
            ("LNK-1", sites["LNK-SITE-1"].id),
            ("LNK-2", sites["LNK-SITE-1"].id),
            ("LNK-3", sites["LNK-SITE-2"].id),
        ]

    query(settings, check)

    bad = """\
sku,serial,site_code,site_name,region,address,installed_at,customer_code,customer_name,lat,lon
IMP-ATM-A,LNK-9,LNK-SITE-9,CCB Pudong,Shanghai East,,,CCB,,95,121
IMP-ATM-A,LNK-10,LNK-SITE-9,,,,,ABC,,31.2,
"""
    before = counts(settings)
    refused = cli("import", "installed-base", write(tmp_path, "bad-linked.csv", bad))
    assert refused.exit_code != 0
    assert "row 2, lat: 95 is outside -90…90" in refused.output
    assert "row 3, customer_code: site LNK-SITE-9 has customer_code 'CCB' on an earlier row" in refused.output
    assert "row 3, lon: give both lat and lon, or neither" in refused.output
    assert counts(settings) == before
