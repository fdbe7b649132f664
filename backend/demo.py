"""The demo company: a depot, three teams, their supervisors and technicians, quality and a manager."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role, Team, User
from backend.auth.schemas import TeamCreate, UserCreate
from backend.auth.services import TeamService, UserService
from backend.inventory.models import Location, LocationKind

DEMO_PASSWORD = "fieldq-demo"  # noqa: S105 - printed to the user on purpose; refused in prod

TEAMS = [
    ("浦东维护一组 Pudong Team", "Shanghai East"),
    ("浦西维护二组 Puxi Team", "Shanghai West"),
    ("闵行维护三组 Minhang Team", "Shanghai South"),
]
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


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    display_name: str
    team: str


class DemoSeedRefused(RuntimeError):
    pass


def demo_steps() -> int:
    return 1 + len(TEAMS) * 2 + len(TECHNICIANS) + 2


async def seed_demo(
    session_factory: async_sessionmaker[AsyncSession], advance: Callable[[str], None] = lambda _msg: None
) -> tuple[list[DemoLogin], bool]:
    """Create the demo company; returns its logins and whether anything was created."""
    async with session_factory() as session, session.begin():
        if await session.scalar(select(User.id).where(User.username == "manager")):
            logins = await _existing_logins(session)
            return logins, False
        users, teams = UserService(session), TeamService(session)
        logins: list[DemoLogin] = []

        session.add(
            Location(
                kind=LocationKind.depot,
                name="上海中心仓 Shanghai Central Depot",
                code="DEP-SH",
                region="Shanghai",
                address="上海市闵行区虹梅南路 1888 号",
            )
        )
        session.add(
            Location(
                kind=LocationKind.repair, name="维修车间 Repair Workshop", code="REP-SH", region="Shanghai"
            )
        )
        advance("depot")

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

        await create("manager", "林国华 Lin Guohua", Role.manager)
        await create("quality", "郑丽 Zheng Li (质量部)", Role.quality)
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
                await create(f"tech{number}", TECHNICIANS[number - 1], Role.technician, team.id, team_name)
        return logins, True


async def _existing_logins(session: AsyncSession) -> list[DemoLogin]:
    rows = await session.execute(
        select(User.username, User.role, User.display_name, Team.name)
        .outerjoin(Team, Team.id == User.team_id)
        .order_by(User.created_at)
    )
    return [DemoLogin(u, r, d, t or "") for u, r, d, t in rows]
