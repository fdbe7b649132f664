"""The demo company: depots, three teams, their supervisors and technicians, quality and a manager, and
their inventory: an installed base of ATMs at bank branches across the three team regions, spare pools
per model and region (short in some, healthy in others, some spares away for repair), a toolbox per
technician with its tools inside, depot tools on loan, uniforms issued by size, parts and consumables,
and a van for every two technicians with stock in it. Then its customers (the banks), a site per branch
and a unit per ATM, the standard procedures and jobs (``backend/jobs/demo_data.py``).

The small stuff goes through ``InventoryService`` so the ledger is the real one; the installed base is
written by the bulk loader the CSV import uses. Everything is made from a fixed random seed, so two
seeds of the same size are alike.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role, Team, User
from backend.auth.schemas import TeamCreate, UserCreate
from backend.auth.services import CurrentUser, TeamService, UserService
from backend.db import utcnow
from backend.events import settle_events
from backend.inventory.imports import CHUNK, NewLocation, OpeningAsset, write_opening_assets
from backend.inventory.models import (
    Asset,
    AssetStatus,
    Item,
    ItemKind,
    KitComponent,
    Location,
    LocationKind,
    ServiceKind,
    Tracking,
)
from backend.inventory.services import InventoryService, NewAsset, OperationContext, Stock
from backend.quality.feedback.services import seed_feedback_defaults
from backend.quality.loop.services import seed_loop_defaults
from backend.quality.people.demo import seed_people_demo
from backend.settings import Settings

DEMO_PASSWORD = "fieldq-demo"  # noqa: S105 - printed to the user on purpose; refused in prod
DEFAULT_INSTALLED_UNITS = 3000

TEAMS = [
    ("浦东维护一组 Pudong Team", "Shanghai East"),
    ("浦西维护二组 Puxi Team", "Shanghai West"),
    ("闵行维护三组 Minhang Team", "Shanghai South"),
]
REGIONS = [region for _team, region in TEAMS]
SUPERVISORS = ["陈建国 Chen Jianguo", "刘海燕 Liu Haiyan", "赵志强 Zhao Zhiqiang"]
TECHNICIANS = [
    "王伟 Wang Wei",
    "李强 Li Qiang",
    "张磊 Zhang Lei",
    "刘洋 Liu Yang",
    "杨帆 Yang Fan",
    "黄勇 Huang Yong",
    "周杰 Zhou Jie",
    "吴斌 Wu Bin",
    "徐明 Xu Ming",
    "孙浩 Sun Hao",
    "马超 Ma Chao",
    "朱鹏 Zhu Peng",
]

# code, name, region, address
DEPOTS = [
    ("DEP-SH", "上海中心仓 Shanghai Central Depot", "Shanghai", "上海市闵行区虹梅南路 1888 号"),
    (
        "DEP-SH-E",
        "浦东备件库 Pudong Spares Depot",
        "Shanghai East",
        "上海市浦东新区金科路 2889 号 (2889 Jinke Road, Pudong New Area)",
    ),
    (
        "DEP-SH-W",
        "普陀备件库 Putuo Spares Depot",
        "Shanghai West",
        "上海市普陀区真北路 958 号 (958 Zhenbei Road, Putuo District)",
    ),
    (
        "DEP-SH-S",
        "闵行备件库 Minhang Spares Depot",
        "Shanghai South",
        "上海市闵行区申富路 88 号 (88 Shenfu Road, Minhang District)",
    ),
]
REGIONAL_DEPOT = {"Shanghai East": "DEP-SH-E", "Shanghai West": "DEP-SH-W", "Shanghai South": "DEP-SH-S"}
CENTRAL_DEPOT, REPAIR = "DEP-SH", "REP-SH"

# sku, name, serial prefix, share of the installed base
ATM_MODELS = [
    ("NCR-SS22E", "NCR SelfServ 22e 穿墙式取款机", "NC22E", 30),
    ("DN-CS280", "Diebold Nixdorf CS 280 取款机", "DN280", 22),
    ("GRG-H68N", "广电运通 GRG H68N 存取款一体机", "GRH68", 24),
    ("HYO-MX8600", "Hyosung MX8600 存取款一体机", "HY860", 14),
    ("HIT-HT2845", "Hitachi-Omron HT-2845-SR 存取款一体机", "HT284", 10),
]
REGION_SHARES = {"Shanghai East": 38, "Shanghai West": 34, "Shanghai South": 28}
# Spare pools: serviceable spares above (or below) what the installed base requires, and spares away
# for repair. Every other pool holds one spare more than it needs.
SPARE_PLAN = {
    ("GRG-H68N", "Shanghai South"): (-2, 2),  # short: two of its spares are in the workshop
    ("HYO-MX8600", "Shanghai West"): (-1, 1),  # short by one
    ("NCR-SS22E", "Shanghai East"): (0, 1),  # exactly enough, one more in repair
    ("DN-CS280", "Shanghai West"): (2, 0),  # comfortable
}

# (cn, en, code)
BANKS = [
    ("中国工商银行", "ICBC", "ICBC"),
    ("中国建设银行", "China Construction Bank", "CCB"),
    ("中国银行", "Bank of China", "BOC"),
    ("中国农业银行", "Agricultural Bank of China", "ABC"),
    ("交通银行", "Bank of Communications", "BOCOM"),
    ("招商银行", "China Merchants Bank", "CMB"),
    ("浦发银行", "SPD Bank", "SPDB"),
    ("上海银行", "Bank of Shanghai", "BOSH"),
    ("上海农商银行", "Shanghai Rural Commercial Bank", "SRCB"),
    ("中国邮政储蓄银行", "Postal Savings Bank of China", "PSBC"),
]
BRANCH_TYPES = [
    ("支行", "Sub-branch"),
    ("自助银行", "Self-service Banking Center"),
    ("社区支行", "Community Sub-branch"),
]
PUDONG = ("浦东新区", "Pudong New Area")
# region → (place cn, place en, (district cn, district en), road cn, road en)
PLACES = {
    "Shanghai East": [
        ("陆家嘴", "Lujiazui", PUDONG, "陆家嘴环路", "Lujiazui Ring Road"),
        ("张江", "Zhangjiang", PUDONG, "祖冲之路", "Zuchongzhi Road"),
        ("金桥", "Jinqiao", PUDONG, "金桥路", "Jinqiao Road"),
        ("川沙", "Chuansha", PUDONG, "川沙路", "Chuansha Road"),
        ("花木", "Huamu", PUDONG, "芳甸路", "Fangdian Road"),
        ("世纪公园", "Century Park", PUDONG, "锦绣路", "Jinxiu Road"),
        ("外高桥", "Waigaoqiao", PUDONG, "洲海路", "Zhouhai Road"),
        ("惠南", "Huinan", PUDONG, "人民东路", "Renmin East Road"),
        ("周浦", "Zhoupu", PUDONG, "年家浜路", "Nianjiabang Road"),
        ("三林", "Sanlin", PUDONG, "上南路", "Shangnan Road"),
        ("塘桥", "Tangqiao", PUDONG, "浦东南路", "Pudong South Road"),
        ("洋泾", "Yangjing", PUDONG, "张杨路", "Zhangyang Road"),
        ("北蔡", "Beicai", PUDONG, "沪南路", "Hunan Road"),
        ("高行", "Gaohang", PUDONG, "东靖路", "Dongjing Road"),
        ("唐镇", "Tangzhen", PUDONG, "创新中路", "Chuangxin Middle Road"),
        ("康桥", "Kangqiao", PUDONG, "康桥路", "Kangqiao Road"),
    ],
    "Shanghai West": [
        ("静安寺", "Jing'an Temple", ("静安区", "Jing'an District"), "南京西路", "West Nanjing Road"),
        ("曹家渡", "Caojiadu", ("静安区", "Jing'an District"), "万航渡路", "Wanhangdu Road"),
        ("大宁", "Daning", ("静安区", "Jing'an District"), "共和新路", "Gonghe Xin Road"),
        ("中山公园", "Zhongshan Park", ("长宁区", "Changning District"), "长宁路", "Changning Road"),
        ("虹桥", "Hongqiao", ("长宁区", "Changning District"), "虹桥路", "Hongqiao Road"),
        ("古北", "Gubei", ("长宁区", "Changning District"), "黄金城道", "Huangjincheng Avenue"),
        ("天山", "Tianshan", ("长宁区", "Changning District"), "天山路", "Tianshan Road"),
        ("长寿路", "Changshou Road", ("普陀区", "Putuo District"), "长寿路", "Changshou Road"),
        ("真如", "Zhenru", ("普陀区", "Putuo District"), "真北路", "Zhenbei Road"),
        ("长风", "Changfeng", ("普陀区", "Putuo District"), "大渡河路", "Daduhe Road"),
        ("桃浦", "Taopu", ("普陀区", "Putuo District"), "武威路", "Wuwei Road"),
        ("嘉定新城", "Jiading New Town", ("嘉定区", "Jiading District"), "裕民南路", "Yumin South Road"),
        ("安亭", "Anting", ("嘉定区", "Jiading District"), "墨玉路", "Moyu Road"),
        ("南翔", "Nanxiang", ("嘉定区", "Jiading District"), "民主街", "Minzhu Street"),
        ("徐泾", "Xujing", ("青浦区", "Qingpu District"), "崧泽大道", "Songze Avenue"),
        ("青浦城区", "Qingpu Town", ("青浦区", "Qingpu District"), "公园路", "Gongyuan Road"),
    ],
    "Shanghai South": [
        ("莘庄", "Xinzhuang", ("闵行区", "Minhang District"), "莘松路", "Xinsong Road"),
        ("七宝", "Qibao", ("闵行区", "Minhang District"), "七莘路", "Qixin Road"),
        ("颛桥", "Zhuanqiao", ("闵行区", "Minhang District"), "都市路", "Dushi Road"),
        ("梅陇", "Meilong", ("闵行区", "Minhang District"), "莲花南路", "Lianhua South Road"),
        ("吴泾", "Wujing", ("闵行区", "Minhang District"), "龙吴路", "Longwu Road"),
        ("浦江", "Pujiang", ("闵行区", "Minhang District"), "浦星公路", "Puxing Highway"),
        ("古美", "Gumei", ("闵行区", "Minhang District"), "古美路", "Gumei Road"),
        ("徐家汇", "Xujiahui", ("徐汇区", "Xuhui District"), "漕溪北路", "North Caoxi Road"),
        ("漕河泾", "Caohejing", ("徐汇区", "Xuhui District"), "宜山路", "Yishan Road"),
        ("龙华", "Longhua", ("徐汇区", "Xuhui District"), "龙华中路", "Longhua Middle Road"),
        ("田林", "Tianlin", ("徐汇区", "Xuhui District"), "田林路", "Tianlin Road"),
        ("松江新城", "Songjiang New Town", ("松江区", "Songjiang District"), "人民北路", "Renmin North Road"),
        ("九亭", "Jiuting", ("松江区", "Songjiang District"), "沪亭北路", "Huting North Road"),
        ("泗泾", "Sijing", ("松江区", "Songjiang District"), "泗通路", "Sitong Road"),
        ("南桥", "Nanqiao", ("奉贤区", "Fengxian District"), "解放东路", "Jiefang East Road"),
        ("金汇", "Jinhui", ("奉贤区", "Fengxian District"), "南亭公路", "Nanting Highway"),
    ],
}
REGION_LETTER = {"Shanghai East": "E", "Shanghai West": "W", "Shanghai South": "S"}

TOOLBOX_SKU = "KIT-ATM-TECH"
TOOLBOX_TOOLS = ["TL-FLUKE-117", "TL-CRIMP-RJ45", "TL-SCRDRV-VDE", "TL-HEX-9"]
UNIFORM_SIZES = ["S", "M", "L", "XL", "XXL"]
# The size each technician wears, in the order of TECHNICIANS.
TECHNICIAN_SIZES = ["L", "M", "XL", "L", "M", "XXL", "L", "XL", "M", "L", "S", "XL"]
VAN_PLATES = ["沪AD35821", "沪AD62190", "沪BD07436", "沪AF28953", "沪AD71604", "沪BF49318"]


def _item(sku: str, name: str, kind: ItemKind, **extra) -> Item:
    tracking = Tracking.quantity if kind in (ItemKind.part, ItemKind.consumable, ItemKind.uniform) else None
    return Item(sku=sku, name=name, kind=kind, tracking=tracking or Tracking.serial, **extra)


def _catalog() -> list[Item]:
    maintenance = {"service_kind": ServiceKind.maintenance, "service_interval_days": 180}
    calibration = {"service_kind": ServiceKind.calibration}
    return [
        *(_item(sku, name, ItemKind.spare_unit, **maintenance) for sku, name, _prefix, _share in ATM_MODELS),
        _item(
            "TL-TORQ-25",
            "扭力扳手 5–25 N·m Torque wrench",
            ItemKind.tool,
            service_interval_days=180,
            loan_days=14,
            **calibration,
        ),
        _item(
            "TL-DIAG-LT",
            "ATM 诊断笔记本 ATM diagnostic laptop",
            ItemKind.tool,
            loan_days=7,
            service_kind=ServiceKind.inspection,
            service_interval_days=365,
        ),
        _item(
            "TL-FLUKE-117",
            "数字万用表 Fluke 117 Digital multimeter",
            ItemKind.tool,
            service_interval_days=365,
            **calibration,
        ),
        _item("TL-CRIMP-RJ45", "网线压线钳 RJ45 Crimping tool", ItemKind.tool),
        _item("TL-SCRDRV-VDE", "绝缘螺丝刀套装 VDE Insulated screwdriver set", ItemKind.tool),
        _item("TL-HEX-9", "内六角扳手套装 9-piece Hex key set", ItemKind.tool),
        _item(TOOLBOX_SKU, "ATM 技术员标准工具箱 Standard technician toolbox", ItemKind.toolbox),
        _item("UNF-JACKET", "工装夹克 Work jacket", ItemKind.uniform, sizes=list(UNIFORM_SIZES)),
        _item("UNF-POLO", "工装 Polo 衫 Work polo shirt", ItemKind.uniform, sizes=list(UNIFORM_SIZES)),
        _item("PRT-CST-BELT", "钞箱传送皮带 Cash-cassette belt", ItemKind.part),
        _item("PRT-PICK-ROLL", "出钞模块搓钞轮 Dispenser pick roller", ItemKind.part),
        _item("CNS-PAPER-80", "热敏打印纸 80 mm Thermal printer paper", ItemKind.consumable, unit="roll"),
        _item("CNS-CLEAN-CARD", "读卡器清洁卡 Card reader cleaning card", ItemKind.consumable),
        _item(
            "VEH-MAXUS-V80",
            "上汽大通 V80 维修车 SAIC Maxus V80 service van",
            ItemKind.vehicle,
            service_kind=ServiceKind.inspection,
            service_interval_days=365,
        ),
    ]


# Steps reported to ``advance`` beside one per loader chunk of the installed base.
INVENTORY_STEPS = [
    "catalog",
    "spare pools",
    "toolboxes",
    "depot tools",
    "uniforms",
    "parts",
    "vans",
    "field facts",
]


def demo_steps(
    installed_units: int = DEFAULT_INSTALLED_UNITS, inventory: bool = True, jobs: bool = False
) -> int:
    # depots, the manager, quality, each team's supervisor and name, technicians, the quality
    # department's policies and rules
    people = 1 + 2 + len(TEAMS) * 2 + len(TECHNICIANS) + 1
    if not inventory:
        return people
    steps = people + len(INVENTORY_STEPS) + math.ceil(installed_units / CHUNK)
    if jobs and installed_units > 0:
        from backend.jobs.demo_data import JOB_STEPS

        steps += len(JOB_STEPS) + 1  # and the trainings and incentives that go with the jobs
    return steps


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    display_name: str
    team: str


class DemoSeedRefused(RuntimeError):
    pass


async def seed_demo(
    session_factory: async_sessionmaker[AsyncSession],
    advance: Callable[[str], None] = lambda _msg: None,
    *,
    installed_units: int = DEFAULT_INSTALLED_UNITS,
    inventory: bool = True,
    settings: Settings | None = None,
) -> tuple[list[DemoLogin], bool]:
    """Create the demo company (and its inventory, with ``installed_units`` ATMs installed at bank
    branches); returns its logins and whether anything was created.

    With ``settings`` and the inventory, the demo's jobs too (``demo_steps(..., jobs=True)``): their
    sign-offs are sealed with ``settings.secret_key`` and their photos and signatures stored under
    ``settings.data_dir / "blobs"``, as the app does. Without an installed base there are no jobs."""
    async with session_factory() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == "manager")):
            logins = await _existing_logins(session)
            return logins, False
        users, teams = UserService(session), TeamService(session)
        logins: list[DemoLogin] = []

        for code, name, region, address in DEPOTS:
            session.add(
                Location(kind=LocationKind.depot, name=name, code=code, region=region, address=address)
            )
        session.add(
            Location(
                kind=LocationKind.repair, name="维修车间 Repair Workshop", code=REPAIR, region="Shanghai"
            )
        )
        advance("depots")

        async def create(username: str, name: str, role: Role, team_id=None, team_name: str = "") -> User:
            user = await users.create(
                UserCreate(
                    username=username,
                    display_name=name,
                    role=role,
                    password=DEMO_PASSWORD,
                    team_id=team_id,
                    locale="zh-CN",
                )
            )
            logins.append(DemoLogin(username, str(role), name, team_name))
            advance(username)
            return user

        manager = await create("manager", "林国华 Lin Guohua", Role.manager)
        quality = await create("quality", "郑丽 Zheng Li (质量部)", Role.quality)
        technicians: list[User] = []
        for index, ((team_name, region), supervisor_name) in enumerate(zip(TEAMS, SUPERVISORS, strict=True)):
            supervisor = await create(f"supervisor{index + 1}", supervisor_name, Role.supervisor)
            team = await teams.create(
                TeamCreate(name=team_name, region=region, supervisor_ids=[supervisor.id])
            )
            supervisor.team_id = team.id
            logins[-1] = DemoLogin(supervisor.username, "supervisor", supervisor_name, team_name)
            advance(team_name)
            for offset in range(4):
                number = index * 4 + offset + 1
                technicians.append(
                    await create(
                        f"tech{number}", TECHNICIANS[number - 1], Role.technician, team.id, team_name
                    )
                )
        # The quality department's standing configuration comes before any job, so the demo's jobs
        # go through the same policies and rules as real ones (callbacks, nonconformance candidates).
        await seed_feedback_defaults(session, quality.id)
        await seed_loop_defaults(session, quality.id)
        advance("quality policies and rules")
        if inventory:
            await _DemoInventory(session, manager, technicians, advance).seed(installed_units)
            if settings is not None and installed_units > 0:
                from backend.jobs.demo_data import seed_jobs

                await seed_jobs(
                    session,
                    secret_key=settings.secret_key,
                    blob_dir=settings.data_dir / "blobs",
                    advance=advance,
                )
                await settle_events(session)
                # Trainings, and rewards and penalties tied to the evaluations the jobs left behind.
                await seed_people_demo(session, quality.id, [t.id for t in technicians], utcnow().date())
                advance("trainings and incentives")
        await settle_events(session)
        return logins, True


async def _existing_logins(session: AsyncSession) -> list[DemoLogin]:
    rows = await session.execute(
        select(User.username, User.role, User.display_name, Team.name)
        .outerjoin(Team, Team.id == User.team_id)
        .order_by(User.created_at)
    )
    return [DemoLogin(u, r, d, t or "") for u, r, d, t in rows]


# ---------------------------------------------------------------------------------------------------
# Inventory


def _shares(total: int, weights: dict) -> dict:
    """``total`` split by ``weights``, whole numbers that add up (largest remainders)."""
    weight_sum = sum(weights.values())
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: math.floor(value) for key, value in exact.items()}
    left = total - sum(counts.values())
    for key in sorted(exact, key=lambda k: (counts[k] - exact[k], str(k)))[:left]:
        counts[key] += 1
    return counts


class _DemoInventory:
    def __init__(
        self,
        session: AsyncSession,
        manager: User,
        technicians: list[User],
        advance: Callable[[str], None],
    ) -> None:
        self.session = session
        self.service = InventoryService(session)
        self.manager = manager
        self.actor = _current(manager)
        self.technicians = technicians
        self.advance = advance
        self.rng = random.Random(20261124)  # demo data, not secrets
        self.now = utcnow()
        self.items: dict[str, Item] = {}
        self.locations: dict[str, Location] = {}
        self.serials: dict[str, int] = {}
        self.counts: dict[tuple[str, str], int] = {}
        self.spares: dict[tuple[str, str], list[UUID]] = {}
        self.loaned: dict[str, UUID] = {}

    def op(self, *, recorded_at: datetime | None = None, reason: str = "") -> OperationContext:
        return OperationContext(actor=self.actor, move_id=uuid4(), recorded_at=recorded_at, reason=reason)

    def serial(self, prefix: str, year: int | None = None) -> str:
        self.serials[prefix] = self.serials.get(prefix, 0) + 1
        return f"{prefix}{(year or self.now.year) % 100:02d}{self.serials[prefix]:06d}"

    async def receive(self, sku: str, depot: str, *, qty: int = 0, size: str = "", serials=()) -> list[UUID]:
        result = await self.service.receive(
            self.op(),
            to_location_id=self.locations[depot].id,
            item_id=self.items[sku].id,
            qty=qty or None,
            size=size,
            assets=[s if isinstance(s, NewAsset) else NewAsset(serial=s) for s in serials] or None,
        )
        return result.asset_ids

    async def seed(self, installed_units: int) -> None:
        await self.seed_catalog()
        self.counts = self.installed_counts(installed_units)
        # Spares first: the installed base then opens a shortage only where a pool really is short.
        await self.seed_spares()
        await self.seed_installed_base()
        await self.seed_toolboxes()
        await self.seed_depot_tools()
        await self.seed_uniforms()
        await self.seed_parts()
        await self.seed_vans()
        await self.seed_field_facts()

    async def seed_catalog(self) -> None:
        items = _catalog()
        self.session.add_all(items)
        await self.session.flush()
        self.items = {item.sku: item for item in items}
        box = self.items[TOOLBOX_SKU]
        self.session.add_all(
            KitComponent(kit_item_id=box.id, component_item_id=self.items[sku].id, qty=1)
            for sku in TOOLBOX_TOOLS
        )
        self.locations = {
            loc.code: loc
            for loc in await self.session.scalars(select(Location).where(Location.code.is_not(None)))
        }
        await self.session.flush()
        self.advance("catalog")

    # --- the installed base: ATMs at bank branches, through the bulk loader -----------------------

    def installed_counts(self, installed_units: int) -> dict[tuple[str, str], int]:
        weights = {
            (sku, region): share * REGION_SHARES[region]
            for sku, _name, _prefix, share in ATM_MODELS
            for region in REGIONS
        }
        return _shares(installed_units, weights)

    async def seed_installed_base(self) -> None:
        prefixes = {sku: prefix for sku, _name, prefix, _share in ATM_MODELS}
        sites: list[NewLocation] = []
        units: list[OpeningAsset] = []
        for region in REGIONS:
            models = [sku for (sku, r), n in self.counts.items() if r == region for _ in range(n)]
            self.rng.shuffle(models)
            names = self.branch_names(region)
            position = 0
            while position < len(models):
                size = self.rng.choice((1, 2, 2, 3, 3, 4, 6))
                site = next(names)
                sites.append(site)
                for sku in models[position : position + size]:
                    installed_at = self.now - timedelta(days=self.rng.randint(20, 8 * 365))
                    units.append(
                        OpeningAsset(
                            item_id=self.items[sku].id,
                            serial=self.serial(prefixes[sku], installed_at.year),
                            location_id=site.id,
                            status=AssetStatus.installed,
                            region=region,
                            installed_at=installed_at,
                        )
                    )
                position += size
        if not units:
            return
        await write_opening_assets(
            self.session,
            actor_id=self.manager.id,
            assets=units,
            new_locations=sites,
            reason="demo: installed base",
            args={"import": "demo installed base", "rows": len(units)},
            progress=lambda _phase, advance, total: self.advance(f"installed base: {advance:,} of {total:,}"),
        )

    def branch_names(self, region: str):
        """Bank branches of ``region``: every bank, place and kind of branch once, then numbered."""
        combos = [
            (place, bank, branch) for place in PLACES[region] for bank in BANKS for branch in BRANCH_TYPES
        ]
        self.rng.shuffle(combos)
        letter = REGION_LETTER[region]
        number = 0
        while True:
            for (place_cn, place_en, (district_cn, district_en), road_cn, road_en), bank, branch in combos:
                number += 1
                round_ = (number - 1) // len(combos)
                suffix_cn, suffix_en = (f"第{round_ + 1}", f" No. {round_ + 1}") if round_ else ("", "")
                house = self.rng.randint(1, 2999)
                yield NewLocation(
                    kind=LocationKind.site,
                    name=(
                        f"{bank[0]}上海{place_cn}{suffix_cn}{branch[0]} "
                        f"{bank[1]} Shanghai {place_en}{suffix_en} {branch[1]}"
                    ),
                    code=f"{bank[2]}-{letter}{number:05d}",
                    region=region,
                    address=f"上海市{district_cn}{road_cn} {house} 号 "
                    f"({house} {road_en}, {district_en}, Shanghai)",
                )

    # --- spare pools per model and region ---------------------------------------------------------

    async def seed_spares(self) -> None:
        prefixes = {sku: prefix for sku, _name, prefix, _share in ATM_MODELS}
        self.spares: dict[tuple[str, str], list[UUID]] = {}
        to_repair: list[UUID] = []
        for sku, _name, _prefix, _share in ATM_MODELS:
            for region in REGIONS:
                installed = self.counts[(sku, region)]
                required = math.ceil(round(installed * 0.01, 9))
                extra, in_repair = SPARE_PLAN.get((sku, region), (1, 0))
                serviceable = max(0, required + extra)
                count = serviceable + in_repair
                if not count:
                    continue
                received = await self.receive(
                    sku,
                    REGIONAL_DEPOT[region],
                    serials=[self.serial(prefixes[sku]) for _ in range(count)],
                )
                self.spares[(sku, region)] = received[:serviceable]
                to_repair.extend(received[serviceable:])
        for asset_id in to_repair:
            await self.service.send_to_repair(
                self.op(reason="demo: dispenser fault"),
                asset_id=asset_id,
                to_location_id=self.locations[REPAIR].id,
            )
        self.advance("spare pools")

    # --- tools: a toolbox per technician, depot tools on loan -------------------------------------

    async def seed_toolboxes(self) -> None:
        depot = CENTRAL_DEPOT
        count = len(self.technicians)
        boxes = await self.receive(TOOLBOX_SKU, depot, serials=[self.serial("TBX") for _ in range(count)])
        contents: dict[str, list[UUID]] = {}
        for sku in TOOLBOX_TOOLS:
            prefix = sku.split("-")[1][:4]
            serials = [NewAsset(serial=self.serial(prefix)) for _ in range(count)]
            if sku == "TL-FLUKE-117":
                # Two multimeters missed their yearly calibration (technicians of teams 2 and 3).
                serials[5] = NewAsset(serial=serials[5].serial, due_at=self.now - timedelta(days=23))
                serials[10] = NewAsset(serial=serials[10].serial, due_at=self.now - timedelta(days=4))
            contents[sku] = await self.receive(sku, depot, serials=serials)
        # Packing a toolbox is set-up data, not a movement: the tools and the box share the depot.
        for index, box_id in enumerate(boxes):
            for sku in TOOLBOX_TOOLS:
                tool = await self.session.get(Asset, contents[sku][index])
                tool.parent_asset_id = box_id
        await self.session.flush()
        for technician, box_id in zip(self.technicians, boxes, strict=True):
            await self.service.checkout(
                self.op(),
                Stock(asset_id=box_id),
                from_location_id=self.locations[depot].id,
                user_id=technician.id,
            )
        self.advance("toolboxes")

    async def seed_depot_tools(self) -> None:
        wrenches = [NewAsset(serial=self.serial("TQ")) for _ in range(6)]
        # One wrench on the shelf is past its 180-day calibration.
        wrenches[3] = NewAsset(serial=wrenches[3].serial, due_at=self.now - timedelta(days=12))
        wrench_ids = await self.receive("TL-TORQ-25", CENTRAL_DEPOT, serials=wrenches)
        laptops = await self.receive(
            "TL-DIAG-LT", CENTRAL_DEPOT, serials=[self.serial("DIAG") for _ in range(3)]
        )
        central = self.locations[CENTRAL_DEPOT].id
        self.loaned = {"wrench": wrench_ids[1], "laptop": laptops[0]}
        # tech6 borrowed a wrench 30 days ago for 14 days: overdue. tech10 has one on a current loan,
        # tech9 a diagnostic laptop.
        for asset_id, technician, days_ago in (
            (wrench_ids[0], self.technicians[5], 30),
            (wrench_ids[1], self.technicians[9], 3),
            (laptops[0], self.technicians[8], 2),
        ):
            await self.service.checkout(
                self.op(recorded_at=self.now - timedelta(days=days_ago)),
                Stock(asset_id=asset_id),
                from_location_id=central,
                user_id=technician.id,
            )
        self.advance("depot tools")

    # --- uniforms, by size ------------------------------------------------------------------------

    async def seed_uniforms(self) -> None:
        stock = {"S": 4, "M": 10, "L": 12, "XL": 10, "XXL": 6}
        for sku, per_person in (("UNF-JACKET", 1), ("UNF-POLO", 2)):
            for size, qty in stock.items():
                await self.receive(sku, CENTRAL_DEPOT, qty=qty * per_person, size=size)
            for technician, size in zip(self.technicians, TECHNICIAN_SIZES, strict=True):
                await self.service.issue_uniform(
                    self.op(),
                    user_id=technician.id,
                    item_id=self.items[sku].id,
                    size=size,
                    qty=per_person,
                    from_location_id=self.locations[CENTRAL_DEPOT].id,
                )
        self.advance("uniforms")

    # --- parts and consumables in the depots ------------------------------------------------------

    PART_STOCK = {"PRT-CST-BELT": 40, "PRT-PICK-ROLL": 24, "CNS-PAPER-80": 300, "CNS-CLEAN-CARD": 200}

    async def seed_parts(self) -> None:
        for sku, qty in self.PART_STOCK.items():
            await self.receive(sku, CENTRAL_DEPOT, qty=qty * 2)
            for region in REGIONS:
                await self.receive(sku, REGIONAL_DEPOT[region], qty=qty)
        self.advance("parts")

    # --- vans: one for every two technicians, with stock in it ------------------------------------

    VAN_LOAD = {"PRT-CST-BELT": 4, "PRT-PICK-ROLL": 2, "CNS-PAPER-80": 20, "CNS-CLEAN-CARD": 10}

    async def seed_vans(self) -> None:
        drivers = self.technicians[::2]  # tech1, tech3, … : each shares the van with the next
        for technician, plate in zip(drivers, VAN_PLATES, strict=False):
            region = REGIONS[self.technicians.index(technician) // 4]
            depot = REGIONAL_DEPOT[region]
            [van_id] = await self.receive("VEH-MAXUS-V80", depot, serials=[plate])
            await self.service.assign_vehicle(self.op(), vehicle_asset_id=van_id, user_id=technician.id)
            for sku, qty in self.VAN_LOAD.items():
                await self.service.checkout(
                    self.op(),
                    Stock(item_id=self.items[sku].id, qty=qty),
                    from_location_id=self.locations[depot].id,
                    user_id=technician.id,
                    to_vehicle=True,
                )
            # A spare ATM rides along with the first driver of each region, where the pool has one.
            pool = self.spares.get(("NCR-SS22E", region)) or []
            if self.technicians.index(technician) % 4 == 0 and len(pool) > 1:
                await self.service.checkout(
                    self.op(),
                    Stock(asset_id=pool[-1]),
                    from_location_id=self.locations[depot].id,
                    user_id=technician.id,
                    to_vehicle=True,
                )
        self.advance("vans")

    # --- what the field reported that the store did not expect: exceptions for supervisors ----------

    async def seed_field_facts(self) -> None:
        """Recorded by the technicians themselves, so each raises the exception it would in real life;
        all in teams 2 and 3 (team 1's views stay simple for a first look)."""
        tech7, tech9, tech12 = self.technicians[6], self.technicians[8], self.technicians[11]
        central = self.locations[CENTRAL_DEPOT].id

        def by(technician: User) -> OperationContext:
            return OperationContext(actor=_current(technician), move_id=uuid4(), recorded_at=self.now)

        # tech12 took the wrench tech10 has on loan from the depot shelf: a custody conflict.
        await self.service.checkout(
            by(tech12), Stock(asset_id=self.loaned["wrench"]), from_location_id=central
        )
        # tech9 brought the diagnostic laptop back with a cracked screen.
        await self.service.return_(
            by(tech9), Stock(asset_id=self.loaned["laptop"]), to_location_id=central, condition="damaged"
        )
        # tech7 used more cassette belts than the store thought were in the van: a stock discrepancy.
        await self.service.consume(
            OperationContext(actor=_current(tech7), move_id=uuid4(), recorded_at=self.now, job_id=uuid4()),
            item_id=self.items["PRT-CST-BELT"].id,
            qty=self.VAN_LOAD["PRT-CST-BELT"] + 2,
        )
        self.advance("field facts")


_current = CurrentUser.acting_as
