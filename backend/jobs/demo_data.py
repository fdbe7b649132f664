"""The demo company's jobs, on top of its people and inventory (``backend.demo`` calls ``seed_jobs``).

* Customers: the banks whose branches hold the demo ATMs, with the people to call.
* A ``site`` for every bank-branch location of the installed base and a ``unit`` for every ATM installed
  there, written in bulk (``insert_synced_rows``): 3,000 units take well under a second.
* The standard procedures per job type (ATM install, preventive maintenance in two revisions, repair,
  inspection, callback, rework) through ``CatalogService.publish_procedure``.
* Jobs through ``JobService``, acting as the supervisors who dispatch and approve and the technicians who
  do the work, so every job has the history, steps, logs, parts (from the technician's van, only while
  the van has them), photos, sealed sign-off and approval the real verbs write: about 60 days of approved
  history (ratings mostly 4–5, some low, a few returned and amended, callbacks and reworks), and for every
  technician today's and the next five days' work in every open status, plus new service requests per
  team, one refused sign-off and one incomplete job with its follow-up.

The service stamps some moments with the wall clock (submission, approval, the history's ``at``); for
past jobs the demo moves those to when the work happened. None of them is in the signed record, so every
sign-off still verifies. Photos are a few synthetic JPEGs and signatures are PNG strokes drawn with Pillow,
uploaded once each through ``BlobService`` (content-addressed). Schedules are local working hours in
Asia/Shanghai (08:30–18:00), stored in UTC.

Without an installed base (``fieldq seed --demo --no-inventory``, people only) there are no sites or
units, and no jobs are seeded.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role, Team, TeamSupervisor, User
from backend.auth.services import CurrentUser
from backend.db import utcnow
from backend.inventory.models import Asset, Balance, Item, Location, LocationKind
from backend.jobs.catalog import CatalogService, StepSpec, link_installed_base
from backend.jobs.models import (
    Approval,
    Customer,
    Job,
    JobHistory,
    JobStatus,
    JobType,
    Priority,
    Procedure,
    Signoff,
    Site,
    Unit,
)
from backend.jobs.services import Geo, JobService, NewJob
from backend.sync.feed import insert_synced_rows

LOCAL = ZoneInfo("Asia/Shanghai")
DAY_START, DAY_END = time(8, 30), time(18, 0)
HISTORY_DAYS = 60
# Approved history per technician over HISTORY_DAYS (the seed's time goes mostly here).
HISTORY_JOBS_PER_TECHNICIAN = 22
UPCOMING_DAYS = 5
# ATM-PM revision 2 was published this many days ago: older jobs keep revision 1.
PM_REVISION_2_DAYS_AGO = 28
DISPATCH_FIELDS = ("assignee_id", "team_id", "scheduled_start", "scheduled_end")
HISTORY_STEPS = 10

# Progress steps reported to ``advance`` (``backend.demo.demo_steps`` counts them).
JOB_STEPS = [
    "customers",
    "sites and units",
    "procedures",
    "photos",
    *(f"job history {n}/{HISTORY_STEPS}" for n in range(1, HISTORY_STEPS + 1)),
    "today's jobs",
    "upcoming jobs",
    "service requests",
]

# --- customers -------------------------------------------------------------------------------------------

# bank code → (name, [(contact name, role, phone, email)])
CUSTOMERS: dict[str, tuple[str, list[tuple[str, str, str, str]]]] = {
    "ICBC": (
        "中国工商银行上海市分行 ICBC Shanghai Branch",
        [
            (
                "沈立群 Shen Liqun",
                "运营管理部 ATM 主管 ATM operations manager",
                "021-5888 6201",
                "shen.liqun@sh.icbc.example",
            ),
            (
                "顾晓东 Gu Xiaodong",
                "科技部设备管理员 IT equipment administrator",
                "139 1620 4418",
                "gu.xiaodong@sh.icbc.example",
            ),
            ("钱伟 Qian Wei", "安全保卫部 Security officer", "021-5888 6277", "qian.wei@sh.icbc.example"),
        ],
    ),
    "CCB": (
        "中国建设银行上海市分行 China Construction Bank Shanghai Branch",
        [
            (
                "陆敏 Lu Min",
                "渠道管理部经理 Channel management manager",
                "021-6887 5032",
                "lu.min@sh.ccb.example",
            ),
            (
                "蒋俊 Jiang Jun",
                "自助设备管理岗 Self-service equipment officer",
                "138 1735 2290",
                "jiang.jun@sh.ccb.example",
            ),
        ],
    ),
    "BOC": (
        "中国银行上海市分行 Bank of China Shanghai Branch",
        [
            (
                "王慧 Wang Hui",
                "个人金融部 ATM 运营 ATM operations, retail banking",
                "021-3877 1180",
                "wang.hui@sh.boc.example",
            ),
            (
                "许志刚 Xu Zhigang",
                "信息科技部工程师 IT engineer",
                "137 6102 8836",
                "xu.zhigang@sh.boc.example",
            ),
        ],
    ),
    "ABC": (
        "中国农业银行上海市分行 Agricultural Bank of China Shanghai Branch",
        [
            (
                "朱红梅 Zhu Hongmei",
                "运营管理部主管 Operations supervisor",
                "021-5386 4120",
                "zhu.hongmei@sh.abc.example",
            ),
            ("严斌 Yan Bin", "安全保卫部 Security officer", "136 0187 5523", "yan.bin@sh.abc.example"),
        ],
    ),
    "BOCOM": (
        "交通银行上海市分行 Bank of Communications Shanghai Branch",
        [
            (
                "周佳 Zhou Jia",
                "电子银行部 ATM 经理 ATM manager, e-banking",
                "021-6258 8830",
                "zhou.jia@sh.bankcomm.example",
            ),
            (
                "孔德明 Kong Deming",
                "设备管理员 Equipment administrator",
                "139 0176 3341",
                "kong.deming@sh.bankcomm.example",
            ),
        ],
    ),
    "CMB": (
        "招商银行上海分行 China Merchants Bank Shanghai Branch",
        [
            (
                "林雪 Lin Xue",
                "零售运营部主管 Retail operations supervisor",
                "021-2088 6655",
                "lin.xue@sh.cmb.example",
            ),
            ("韩磊 Han Lei", "科技运维岗 IT operations", "135 6488 0192", "han.lei@sh.cmb.example"),
        ],
    ),
    "SPDB": (
        "上海浦东发展银行 SPD Bank",
        [
            (
                "曹颖 Cao Ying",
                "总行渠道部 ATM 运营 ATM operations, head office channels",
                "021-6161 8888",
                "cao.ying@spdb.example",
            ),
            (
                "范建华 Fan Jianhua",
                "安全保卫部 Security officer",
                "138 0192 7714",
                "fan.jianhua@spdb.example",
            ),
        ],
    ),
    "BOSH": (
        "上海银行 Bank of Shanghai",
        [
            ("吕静 Lü Jing", "运营管理部经理 Operations manager", "021-6847 5588", "lv.jing@bosc.example"),
            (
                "汤卫国 Tang Weiguo",
                "自助设备管理员 Self-service equipment administrator",
                "139 1809 6620",
                "tang.weiguo@bosc.example",
            ),
        ],
    ),
    "SRCB": (
        "上海农商银行 Shanghai Rural Commercial Bank",
        [
            (
                "邵华 Shao Hua",
                "渠道运营部主管 Channel operations supervisor",
                "021-3896 2999",
                "shao.hua@srcb.example",
            ),
            ("施勇 Shi Yong", "科技部工程师 IT engineer", "137 1766 4035", "shi.yong@srcb.example"),
        ],
    ),
    "PSBC": (
        "中国邮政储蓄银行上海分行 Postal Savings Bank of China Shanghai Branch",
        [
            (
                "马丽 Ma Li",
                "运营管理部 ATM 主管 ATM operations manager",
                "021-6326 8800",
                "ma.li@sh.psbc.example",
            ),
            ("何飞 He Fei", "安全保卫部 Security officer", "136 8172 5590", "he.fei@sh.psbc.example"),
        ],
    ),
}
# A branch's own staff: who calls in a fault and who signs for the work.
BRANCH_STAFF = [
    ("周敏 Zhou Min", "大堂经理 Lobby manager"),
    ("徐静 Xu Jing", "网点负责人 Branch manager"),
    ("孙丽华 Sun Lihua", "运营主管 Operations supervisor"),
    ("胡晓军 Hu Xiaojun", "大堂经理 Lobby manager"),
    ("郭婷 Guo Ting", "柜员主管 Teller supervisor"),
    ("何建军 He Jianjun", "网点负责人 Branch manager"),
    ("高雅 Gao Ya", "大堂经理 Lobby manager"),
    ("林涛 Lin Tao", "安保员 Security guard"),
    ("罗晓燕 Luo Xiaoyan", "运营主管 Operations supervisor"),
    ("梁振华 Liang Zhenhua", "网点负责人 Branch manager"),
    ("宋佳 Song Jia", "大堂经理 Lobby manager"),
    ("唐海波 Tang Haibo", "运营主管 Operations supervisor"),
    ("韩雪 Han Xue", "柜员主管 Teller supervisor"),
    ("冯军 Feng Jun", "安保员 Security guard"),
    ("曾丽 Zeng Li", "大堂经理 Lobby manager"),
    ("彭伟 Peng Wei", "网点负责人 Branch manager"),
]

# Where the demo's places are (lat, lon); a site is placed near its place, else near its region.
PLACE_COORDS = {
    "Lujiazui": (31.2397, 121.4998),
    "Zhangjiang": (31.2036, 121.5905),
    "Jinqiao": (31.2530, 121.5970),
    "Chuansha": (31.1890, 121.6980),
    "Huamu": (31.2150, 121.5560),
    "Century Park": (31.2130, 121.5450),
    "Waigaoqiao": (31.3500, 121.5950),
    "Huinan": (31.0530, 121.7580),
    "Zhoupu": (31.1170, 121.5720),
    "Sanlin": (31.1500, 121.5050),
    "Tangqiao": (31.2150, 121.5180),
    "Yangjing": (31.2430, 121.5330),
    "Beicai": (31.1900, 121.5500),
    "Gaohang": (31.2950, 121.5880),
    "Tangzhen": (31.2150, 121.6560),
    "Kangqiao": (31.1450, 121.5850),
    "Jing'an Temple": (31.2235, 121.4455),
    "Caojiadu": (31.2310, 121.4310),
    "Daning": (31.2800, 121.4580),
    "Zhongshan Park": (31.2210, 121.4170),
    "Hongqiao": (31.1960, 121.4050),
    "Gubei": (31.1990, 121.3980),
    "Tianshan": (31.2130, 121.3900),
    "Changshou Road": (31.2420, 121.4380),
    "Zhenru": (31.2500, 121.3950),
    "Changfeng": (31.2230, 121.3950),
    "Taopu": (31.2830, 121.3550),
    "Jiading New Town": (31.3480, 121.2600),
    "Anting": (31.2950, 121.1620),
    "Nanxiang": (31.2980, 121.3180),
    "Xujing": (31.1850, 121.2650),
    "Qingpu Town": (31.1510, 121.1230),
    "Xinzhuang": (31.1120, 121.3850),
    "Qibao": (31.1550, 121.3500),
    "Zhuanqiao": (31.0580, 121.4100),
    "Meilong": (31.1300, 121.4250),
    "Wujing": (31.0450, 121.4700),
    "Pujiang": (31.0850, 121.5100),
    "Gumei": (31.1500, 121.4050),
    "Xujiahui": (31.1950, 121.4370),
    "Caohejing": (31.1700, 121.4000),
    "Longhua": (31.1720, 121.4500),
    "Tianlin": (31.1730, 121.4250),
    "Songjiang New Town": (31.0300, 121.2230),
    "Jiuting": (31.1300, 121.3230),
    "Sijing": (31.1230, 121.2650),
    "Nanqiao": (30.9180, 121.4740),
    "Jinhui": (30.9750, 121.5000),
}
REGION_COORDS = {
    "Shanghai East": (31.22, 121.58),
    "Shanghai West": (31.24, 121.36),
    "Shanghai South": (31.10, 121.40),
}
POSITIONS = [
    "大堂 Lobby",
    "自助银行 ATM room 1",
    "自助银行 ATM room 2",
    "穿墙 Through-the-wall",
    "自助银行 ATM room 3",
    "免下车 Drive-through",
]

# --- standard procedures ---------------------------------------------------------------------------------

INSTALL_STEPS = [
    StepSpec(
        "survey",
        "现场勘察与地面/锚固检查 Site survey, floor and anchoring check",
        "Floor level and load rating, anchor positions clear of cables, 600 mm service clearance.",
        requires=["check"],
    ),
    StepSpec(
        "power",
        "供电电压 Power supply voltage",
        "Measure L–N at the dedicated ATM socket.",
        requires=["reading"],
        reading_unit="V AC",
        reading_min=198,
        reading_max=242,
    ),
    StepSpec(
        "earth",
        "接地电阻 Earth/ground resistance",
        "Earth-loop tester at the cabinet earth stud.",
        requires=["reading"],
        reading_unit="Ω",
        reading_min=0,
        reading_max=4,
    ),
    StepSpec(
        "anchors",
        "地脚螺栓扭矩 Anchor bolts torque",
        "All four anchors, 5–25 N·m torque wrench.",
        requires=["reading"],
        reading_unit="N·m",
        reading_min=18,
        reading_max=25,
    ),
    StepSpec(
        "network",
        "网络链路测试 Network link test",
        "Host connection up, TLS handshake with the switch, ping < 50 ms.",
        requires=["check"],
    ),
    StepSpec(
        "dispense",
        "钞箱装载与出钞测试 Cassette loading and dispense test",
        "Load test notes, dispense 10 from every cassette, no rejects.",
        requires=["check"],
    ),
    StepSpec(
        "card_epp",
        "读卡器与密码键盘测试 Card reader and EPP (PIN pad) test",
        "Test card read, EPP key check, PIN block with the test key.",
        requires=["check"],
    ),
    StepSpec(
        "security_kit",
        "防侧录装置与监控安装 CCTV and anti-skimming device fitted",
        "Anti-skimming bezel on the card slot, camera covers keypad hands-free.",
        requires=["photo"],
    ),
    StepSpec(
        "seals",
        "加贴安全封条 Security seals applied",
        "Numbered seals on the safe door and the top-hat; photograph the numbers.",
        requires=["photo"],
        key_moment=True,
    ),
    StepSpec(
        "handover",
        "客户演示与移交 Customer walkthrough and handover",
        "Show the branch staff the replenishment and the first-line fault clearing; hand over keys.",
        requires=["check"],
        key_moment=True,
    ),
    StepSpec(
        "cleanup",
        "现场清洁 Site cleaned",
        "Packaging removed, floor clean; photograph the site.",
        requires=["photo"],
        monitoring_point=True,
    ),
]


def pm_steps(revision: int) -> list[StepSpec]:
    """ATM preventive maintenance. Revision 2 (after a skimming incident at another bank) makes the
    anti-skimming inspection a monitoring point with a photo of the card slot; revision 1 only asked for
    a check."""
    skimming = (
        StepSpec(
            "skimming",
            "防侧录检查 Anti-skimming inspection",
            "Card slot, fascia and keypad free of overlays and pinhole cameras.",
            requires=["check"],
        )
        if revision == 1
        else StepSpec(
            "skimming",
            "防侧录检查 Anti-skimming inspection",
            "Card slot, fascia and keypad free of overlays and pinhole cameras; photograph the slot.",
            requires=["photo"],
            monitoring_point=True,
        )
    )
    return [
        StepSpec(
            "arrival",
            "到场与客户联系 Arrival and customer contact",
            "Introduce yourself to the branch contact, show the work order and badge.",
            requires=["check"],
            key_moment=True,
        ),
        StepSpec(
            "safe",
            "保险柜/金库检查 Safe and vault check",
            "Dual control with the branch: safe locks, door bolts, alarm contacts.",
            requires=["check"],
        ),
        StepSpec(
            "pick_line",
            "清洁出钞通道与传感器 Clean dispenser pick line and sensors",
            "Blow out dust, wipe the sensors, check the note path.",
            requires=["check"],
        ),
        StepSpec(
            "belts",
            "检查皮带与滚轮磨损 Check belts and rollers for wear",
            "Replace cracked belts and glazed pick rollers from the van stock.",
            requires=["check"],
        ),
        StepSpec(
            "card_reader",
            "清洁读卡器 Card reader cleaning with a cleaning card",
            "Three passes with a pre-saturated cleaning card.",
            requires=["check"],
        ),
        StepSpec(
            "printer",
            "凭条打印测试 Receipt printer test print",
            "Print the test receipt; photograph it.",
            requires=["photo"],
        ),
        StepSpec(
            "ups",
            "UPS 电池电压 UPS battery voltage",
            "At the battery terminals, mains disconnected.",
            requires=["reading"],
            reading_unit="V DC",
            reading_min=12.0,
            reading_max=13.8,
        ),
        StepSpec(
            "temperature",
            "机箱温度 Cabinet temperature",
            "Inside the safe, after 10 minutes closed.",
            requires=["reading"],
            reading_unit="°C",
            reading_min=5,
            reading_max=40,
        ),
        skimming,
        StepSpec(
            "test_txn",
            "测试交易 Test transaction",
            "Withdraw and deposit with the test card together with the branch contact.",
            requires=["check"],
            key_moment=True,
        ),
        StepSpec(
            "error_log",
            "错误日志检查 Error log review",
            "Review the journal and device errors since the last visit.",
            requires=["check"],
        ),
        StepSpec(
            "departure",
            "离场说明 Departure briefing",
            "Tell the branch what was done and what to watch; ask them to sign.",
            requires=["check"],
            key_moment=True,
        ),
    ]


REPAIR_STEPS = [
    StepSpec(
        "arrival",
        "到场并与客户确认故障 Arrival, fault confirmed with the branch",
        requires=["check"],
        key_moment=True,
    ),
    StepSpec("diagnose", "读取故障码与流水 Read error codes and the journal", requires=["check"]),
    StepSpec("isolate", "断电与安全隔离 Power isolated, safe opened under dual control", requires=["check"]),
    StepSpec(
        "fix",
        "维修或更换故障模块 Faulty module repaired or replaced",
        "Photograph the replaced part or the repair.",
        requires=["photo"],
    ),
    StepSpec("test_txn", "测试交易 Test transaction", requires=["check"], key_moment=True),
    StepSpec("departure", "离场说明 Departure briefing", requires=["check"], key_moment=True),
]
INSPECTION_STEPS = [
    StepSpec("fascia", "外观与标识 Fascia and signage condition", requires=["photo"]),
    StepSpec(
        "skimming",
        "防侧录与针孔摄像头排查 Skimmer and pinhole camera sweep",
        requires=["photo"],
        monitoring_point=True,
    ),
    StepSpec("cctv", "监控覆盖检查 CCTV coverage check", requires=["check"]),
    StepSpec(
        "temperature",
        "机箱温度 Cabinet temperature",
        requires=["reading"],
        reading_unit="°C",
        reading_min=5,
        reading_max=40,
    ),
    StepSpec("seals", "安全封条完好 Security seals intact", requires=["check"], monitoring_point=True),
    StepSpec("lighting", "照明与周边环境 Lighting and surroundings", requires=["check"], mandatory=False),
]
CALLBACK_STEPS = [
    StepSpec("contact", "联系网点负责人 Branch contact reached", requires=["check"], key_moment=True),
    StepSpec("no_recurrence", "故障未复发 Fault has not come back since the visit", requires=["check"]),
    StepSpec(
        "satisfaction",
        "客户满意度确认 Customer satisfaction confirmed",
        requires=["check"],
        key_moment=True,
        monitoring_point=True,
    ),
    StepSpec("remarks", "记录客户意见 Customer remarks noted", requires=["check"], mandatory=False),
]
REWORK_STEPS = [
    StepSpec("review", "查看原工单与问题 Original job and the defect reviewed", requires=["check"]),
    StepSpec("correct", "纠正缺陷 Defect corrected", "Photograph the corrected work.", requires=["photo"]),
    StepSpec("test_txn", "测试交易 Test transaction", requires=["check"], key_moment=True),
    StepSpec(
        "explain",
        "向客户说明原因 What went wrong explained to the customer",
        requires=["check"],
        key_moment=True,
    ),
]
# code, job type, name, steps
PROCEDURES = [
    ("ATM-INSTALL", JobType.install, "ATM 安装 ATM installation", INSTALL_STEPS),
    ("ATM-PM", JobType.maintenance, "ATM 预防性维护 ATM preventive maintenance", pm_steps(1)),
    ("ATM-REPAIR", JobType.repair, "ATM 故障维修 ATM corrective repair", REPAIR_STEPS),
    ("ATM-INSPECT", JobType.inspection, "ATM 安全巡检 ATM security inspection", INSPECTION_STEPS),
    ("ATM-CALLBACK", JobType.callback, "客户回访 Customer callback visit", CALLBACK_STEPS),
    ("ATM-REWORK", JobType.rework, "返工 Rework of a previous job", REWORK_STEPS),
]

# --- what the jobs say -----------------------------------------------------------------------------------

# (description, findings, part sku or "")
REPAIR_FAULTS = [
    (
        "吞卡，读卡器报错 Card retained, card reader error",
        "读卡器皮带打滑，已清洁并调整 Card reader belt slipping; cleaned and adjusted",
        "",
    ),
    (
        "出钞模块卡钞 Dispenser jam, notes stuck in the pick line",
        "搓钞轮磨损，已更换 Pick roller glazed; replaced",
        "PRT-PICK-ROLL",
    ),
    (
        "钞箱无法识别 Cassette not recognised",
        "钞箱传送皮带断裂，已更换 Cassette belt broken; replaced",
        "PRT-CST-BELT",
    ),
    (
        "凭条打印机无法打印 Receipt printer not printing",
        "打印纸卡纸，已更换纸卷并清洁打印头 Paper jam; new roll, print head cleaned",
        "CNS-PAPER-80",
    ),
    (
        "密码键盘按键无响应 EPP keys unresponsive",
        "密码键盘排线松动，已重新插紧 EPP cable loose; reseated",
        "",
    ),
    (
        "网络中断，交易超时 Network down, transactions time out",
        "交换机端口故障，已改用备用端口 Switch port dead; moved to the spare port",
        "",
    ),
    ("屏幕无显示 Screen blank", "显示器电源板保险丝熔断，已更换 Monitor PSU fuse blown; replaced", ""),
    (
        "存款模块拒钞率高 Deposit module rejects too many notes",
        "识别模块传感器脏污，已清洁校准 Validator sensors dirty; cleaned and calibrated",
        "",
    ),
]
PM_DESCRIPTIONS = [
    "季度预防性维护 Quarterly preventive maintenance",
    "半年度预防性维护 Half-year preventive maintenance",
]
PM_FINDINGS = [
    "设备运行正常 Machine in good order",
    "出钞通道积尘较多，已清洁 Heavy dust in the pick line; cleaned",
    "读卡器磁头轻微磨损，建议下次更换 Card reader head slightly worn; replace at the next visit",
    "UPS 电池接近使用年限 UPS battery nearing end of life",
]
INSPECTION_DESCRIPTIONS = [
    "季度安全巡检 Quarterly security inspection",
    "防侧录专项检查 Anti-skimming sweep after an alert from the bank",
]
# (overall, technical, service, comment)
GOOD_RATINGS = [
    (5, 5, 5, "技术员很专业，准时到达 Professional and on time"),
    (5, 5, 5, ""),
    (5, 5, 4, "处理及时 Quick work"),
    (4, 4, 5, "服务态度很好 Very courteous"),
    (4, 5, 4, ""),
    (5, 4, 5, "耐心讲解了操作 Explained the replenishment patiently"),
    (4, 4, 4, ""),
]
LOW_RATINGS = [
    (3, 5, 2, "修好了，但迟到一个多小时也没有提前通知 Fixed, but over an hour late without a call"),
    (3, 3, 4, "维修时间太长，影响网点营业 Took too long; the lobby was blocked"),
    (2, 2, 3, "第二天又出现同样的故障 Same fault came back the next day"),
    (3, 4, 2, "现场没有清理干净 Left packaging behind"),
    (2, 3, 1, "态度不耐烦 Impatient with our staff"),
]
RETURN_REASONS = [
    "UPS 电池电压低于下限，请说明处理措施 UPS battery below the limit: say what you did about it",
    "凭条打印照片看不清，请补拍 The receipt test print photo is unreadable; add a clear one",
    "出钞通道清洁没有说明，请补充 Say what the pick-line cleaning found",
]


# --- pictures --------------------------------------------------------------------------------------------

PHOTO_SUBJECTS = {
    "receipt": ("Receipt test print", (236, 236, 228), (120, 120, 110)),
    "skimming": ("Card slot / anti-skimming bezel", (60, 64, 72), (150, 160, 175)),
    "seals": ("Security seals Nos. 0041277-0041279", (170, 30, 30), (240, 200, 200)),
    "cctv": ("CCTV and anti-skimming kit fitted", (40, 45, 60), (120, 140, 170)),
    "cleanup": ("Site cleaned after install", (200, 205, 210), (90, 100, 110)),
    "module": ("Replaced module", (55, 90, 70), (170, 210, 180)),
    "fascia": ("Fascia and signage", (20, 90, 160), (200, 220, 240)),
}
STEP_PHOTO = {
    "printer": "receipt",
    "skimming": "skimming",
    "seals": "seals",
    "security_kit": "cctv",
    "cleanup": "cleanup",
    "fix": "module",
    "correct": "module",
    "fascia": "fascia",
}


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


def demo_photo(subject: str, variant: int, taken_by: str = "") -> bytes:
    """A 640×480 JPEG: a gradient in the subject's colours with its caption (a stand-in for a phone
    photo)."""
    from PIL import Image, ImageDraw

    caption, top, bottom = PHOTO_SUBJECTS[subject]
    width, height = 640, 480
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = y / (height - 1)
        draw.line(
            [(0, y), (width, y)], fill=tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True))
        )
    shade = 30 + 25 * variant
    draw.rounded_rectangle([140, 110, 500, 330], radius=18, outline=(shade, shade, shade), width=6)
    draw.rectangle([0, 400, width, height], fill=(0, 0, 0))
    draw.text((20, 412), caption, fill=(255, 255, 255), font=_font(26))
    draw.text((20, 446), f"FieldQ demo photo {variant + 1} {taken_by}", fill=(200, 200, 200), font=_font(18))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def demo_signature(name: str) -> bytes:
    """A handwritten-looking signature: two slanted cursive words (a tall initial, then loops of
    varying height along a wavering baseline), a pen lift between them and an underline flourish, in
    blue-black ink on a transparent 600×200 canvas (what signature pads export)."""
    from PIL import Image, ImageDraw

    rng = random.Random(f"signature:{name}")
    width, height = 600, 200
    scale = 2  # drawn at twice the size, then scaled down: smooth edges
    image = Image.new("RGBA", (width * scale, height * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ink = (20, 30, 90, 255)
    slant = rng.uniform(0.2, 0.45)
    x, baseline = rng.uniform(40, 70), 125.0 + rng.uniform(-8, 8)

    def stroke(points: list[tuple[float, float]], pen: int) -> None:
        sheared = [((px + slant * (baseline - py)) * scale, py * scale) for px, py in points]
        draw.line(sheared, fill=ink, width=pen * scale, joint="curve")

    for _word in range(2):
        points: list[tuple[float, float]] = []
        # The initial: a tall loop that starts below the baseline.
        tall = rng.uniform(55, 80)
        for step in range(40):
            t = step / 39
            angle = t * 2 * math.pi
            points.append((x + 10 * t + 12 * math.sin(angle), baseline + 8 - tall * math.sin(angle / 2) ** 2))
        x += 26
        for letter in range(rng.randint(3, 6)):
            rise = rng.uniform(28, 45) if rng.random() < 0.3 else rng.uniform(10, 22)
            advance = rng.uniform(16, 26)
            for step in range(18):
                t = step / 17
                angle = t * 2 * math.pi
                px = x + advance * t + 5 * math.sin(angle)
                py = baseline - rise * (0.5 - 0.5 * math.cos(angle)) + 1.5 * math.sin(5 * t + letter)
                points.append((px, py))
            x += advance
            baseline += rng.uniform(-2.5, 2)
        stroke(points, rng.choice((3, 3, 4)))
        x += rng.uniform(24, 40)  # the pen lifts between the words
    end_x = min(width - 40, x + rng.uniform(0, 30))
    start_x = rng.uniform(40, 90)
    flourish = [
        (start_x + (end_x - start_x) * t, baseline + 20 + 9 * math.sin(math.pi * t) - 14 * t)
        for t in (i / 40 for i in range(41))
    ]
    stroke(flourish, 2)
    image = image.resize((width, height), resample=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# --- the seed --------------------------------------------------------------------------------------------


@dataclass
class SiteRef:
    id: UUID
    name: str
    region: str
    lat: float
    lon: float
    customer_id: UUID


@dataclass
class UnitRef:
    id: UUID
    site: SiteRef
    model: str
    serial: str
    installed_at: datetime | None


@dataclass
class Crew:
    """A technician, their team and the supervisor who dispatches and approves their work."""

    user: User
    lead: User
    team_id: UUID
    region: str
    van_stock: dict[str, int] = field(default_factory=dict)  # sku → what the demo may still use

    @property
    def actor(self) -> CurrentUser:
        return CurrentUser.acting_as(self.user)


@dataclass
class Plan:
    crew: Crew
    type: str
    site: SiteRef
    unit: UnitRef | None
    start: datetime
    end: datetime
    target: JobStatus
    description: str = ""
    findings: str = ""
    # step id → the part (sku) that step uses from the van
    parts: dict[str, str] = field(default_factory=dict)
    priority: str = Priority.normal
    created: datetime | None = None
    rating: tuple[int, int, int, str] | None = None
    return_reason: str = ""
    amend: bool = False  # returned, amended by the technician, approved
    origin_id: UUID | None = None
    incomplete_reason: str = ""
    refused: bool = False
    steps_done: float = 1.0  # share of the steps recorded (on site)
    out_of_range: bool = False


class JobsDemo:
    def __init__(
        self,
        session: AsyncSession,
        *,
        secret_key: str,
        blob_dir,
        advance: Callable[[str], None],
        seed: int = 20261125,
    ) -> None:
        from backend.jobs.blobs import BlobService
        from backend.media.store import BlobStore

        self.session = session
        self.jobs = JobService(session, secret_key)
        self.catalog = CatalogService(session)
        self.blobs = BlobService(session, BlobStore(blob_dir))
        self.advance = advance
        self.rng = random.Random(seed)  # demo data, not secrets
        self.now = utcnow()
        self.today = self.now.astimezone(LOCAL).date()
        self.customers: dict[str, UUID] = {}
        self.sites: dict[UUID, SiteRef] = {}
        self.units: dict[str, list[UnitRef]] = {}
        self.crews: list[Crew] = []
        self.procedures: dict[UUID, Procedure] = {}
        # Each technician's own photos (a blob is evidence only for whoever uploaded it).
        self.photos: dict[tuple[UUID, str], list[str]] = {}
        self.manager: User | None = None
        self.created: list[Job] = []
        self.approved_by_unit: dict[UUID, Job] = {}

    # --- set-up -----------------------------------------------------------------------------------------

    async def seed(self) -> bool:
        """Everything; False (and nothing written) when there is no installed base to work on."""
        site_locations = await self.session.scalar(
            select(func.count()).select_from(Location).where(Location.kind == LocationKind.site)
        )
        if not site_locations:
            return False
        await self.load_people()
        await self.seed_customers()
        await self.seed_sites_and_units()
        await self.seed_procedures()
        await self.seed_pictures()
        await self.seed_history()
        await self.seed_today()
        await self.seed_upcoming()
        await self.seed_requests()
        return True

    async def load_people(self) -> None:
        users = list(await self.session.scalars(select(User).order_by(User.created_at, User.username)))
        self.manager = next(u for u in users if u.role == Role.manager)
        by_id = {u.id: u for u in users}
        leads: dict[UUID, User] = {}
        for team_id, user_id in await self.session.execute(
            select(TeamSupervisor.team_id, TeamSupervisor.user_id).order_by(TeamSupervisor.user_id)
        ):
            leads.setdefault(team_id, by_id[user_id])
        regions = dict((await self.session.execute(select(Team.id, Team.region))).all())
        technicians = [u for u in users if u.role == Role.technician and u.is_active and u.team_id in leads]
        technicians.sort(key=lambda u: (len(u.username), u.username))
        stock = await self.van_stock()
        self.crews = [
            Crew(t, leads[t.team_id], t.team_id, regions.get(t.team_id, ""), stock.get(t.id, {}))
            for t in technicians
        ]

    async def van_stock(self) -> dict[UUID, dict[str, int]]:
        """Parts in each technician's van (where ``consume`` takes them from), half of it for the demo's
        jobs so the vans still hold stock today. A technician without a van uses nothing."""
        rows = await self.session.execute(
            select(Location.user_id, Item.sku, Balance.qty)
            .join(Balance, Balance.location_id == Location.id)
            .join(Item, Item.id == Balance.item_id)
            .where(Location.kind == LocationKind.vehicle, Location.is_active, Balance.qty > 0)
        )
        stock: dict[UUID, dict[str, int]] = {}
        for user_id, sku, qty in rows:
            stock.setdefault(user_id, {})[sku] = qty // 2
        return stock

    async def seed_customers(self) -> None:
        existing = dict((await self.session.execute(select(Customer.code, Customer.id))).all())
        rows = []
        for code, (name, contacts) in CUSTOMERS.items():
            if code in existing:
                self.customers[code] = existing[code]
                continue
            row_id = uuid4()
            rows.append(
                {
                    "id": row_id,
                    "name": name,
                    "code": code,
                    "contacts": [
                        {"name": n, "role": role, "phone": phone, "email": email}
                        for n, role, phone, email in contacts
                    ],
                    "is_active": True,
                }
            )
            self.customers[code] = row_id
        await insert_synced_rows(self.session, Customer, rows)
        self.advance("customers")

    def _customer_for(self, location: Location) -> UUID:
        code = (location.code or "").split("-", 1)[0].upper()
        if code in self.customers:
            return self.customers[code]
        for bank_code, (name, _contacts) in CUSTOMERS.items():
            if name.split("银行", 1)[0] and name.split("银行", 1)[0] + "银行" in location.name:
                return self.customers[bank_code]
        digest = int(hashlib.sha256(location.name.encode()).hexdigest(), 16)
        return list(self.customers.values())[digest % len(self.customers)]

    def _coords(self, location: Location) -> tuple[float, float]:
        for place, coords in PLACE_COORDS.items():
            if f"Shanghai {place}" in location.name:
                lat, lon = coords
                spread = 0.012
                break
        else:
            lat, lon = REGION_COORDS.get(location.region, (31.23, 121.47))
            spread = 0.06
        return (
            round(lat + self.rng.uniform(-spread, spread), 6),
            round(lon + self.rng.uniform(-spread, spread), 6),
        )

    def _site_details(self, location: Location) -> dict:
        lat, lon = self._coords(location)
        staff, role = self.rng.choice(BRANCH_STAFF)
        opens = self.rng.choice(("8:30", "9:00"))
        return {
            "lat": lat,
            "lon": lon,
            "access_notes": (
                f"营业时间 {opens}–17:00，自助区 24 小时；联系人 {staff}（{role.split(' ')[0]}）。"
                f"Open {opens}–17:00, ATM lobby 24 h; ask {staff.split(' ', 1)[-1]} "
                f"({role.split(' ', 1)[-1]}) for the safe key holder."
            ),
        }

    @staticmethod
    def _position(index: int) -> str:
        suffix = f" {index // len(POSITIONS) + 1}" if index >= len(POSITIONS) else ""
        return POSITIONS[index % len(POSITIONS)] + suffix

    async def seed_sites_and_units(self) -> None:
        """A site for every site location without one, a unit for every ATM installed at a site that is
        not a unit yet: in bulk, through the same linker the installed-base import uses."""
        await link_installed_base(
            self.session,
            customer_for=self._customer_for,
            site_details=self._site_details,
            position_for=self._position,
        )
        for site in await self.session.scalars(select(Site).execution_options(populate_existing=True)):
            self.sites[site.id] = SiteRef(
                site.id, site.name, site.region, site.lat or 0.0, site.lon or 0.0, site.customer_id
            )
        rows = await self.session.execute(
            select(Unit.id, Unit.site_id, Unit.model, Unit.serial, Asset.installed_at)
            .join(Asset, Asset.id == Unit.asset_id)
            .where(Unit.is_active)
            .order_by(Unit.serial)
        )
        for unit_id, site_id, model, serial, installed_at in rows:
            site = self.sites[site_id]
            self.units.setdefault(site.region, []).append(UnitRef(unit_id, site, model, serial, installed_at))
        self.advance("sites and units")

    async def seed_procedures(self) -> None:
        manager = CurrentUser.acting_as(self.manager)
        published = self.now - timedelta(days=HISTORY_DAYS + 40)
        for code, job_type, name, steps in PROCEDURES:
            if await self.session.scalar(select(Procedure.id).where(Procedure.code == code)):
                continue
            procedure = await self.catalog.publish_procedure(
                manager, code=code, job_type=job_type, name=name, steps=steps
            )
            procedure.created_at = published
        self.advance("procedures")

    async def publish_pm_revision_2(self, when: datetime) -> None:
        current = await self.session.scalar(
            select(Procedure).where(Procedure.code == "ATM-PM", Procedure.is_current.is_(True))
        )
        if current is None or current.revision >= 2:
            return
        procedure = await self.catalog.publish_procedure(
            CurrentUser.acting_as(self.manager),
            code="ATM-PM",
            job_type=JobType.maintenance,
            name="ATM 预防性维护 ATM preventive maintenance",
            steps=pm_steps(2),
        )
        procedure.created_at = when

    async def seed_pictures(self) -> None:
        for crew in self.crews:
            uploader = crew.actor
            for subject in PHOTO_SUBJECTS:
                self.photos[(crew.user.id, subject)] = [
                    await self._upload(
                        uploader, demo_photo(subject, variant, crew.user.username), "image/jpeg"
                    )
                    for variant in range(2)
                ]
        self.advance("photos")

    async def _upload(self, uploader: CurrentUser, data: bytes, content_type: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        await self.blobs.upload(uploader, sha, data, content_type)
        return sha

    # --- time -------------------------------------------------------------------------------------------

    def local(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=LOCAL).astimezone(UTC)

    def day_windows(self, day: date, count: int) -> list[tuple[datetime, datetime]]:
        """``count`` visits in a working day: 08:30 onwards, 1–2 h each, with travel between."""
        windows = []
        start = self.local(day, DAY_START) + timedelta(minutes=self.rng.choice((0, 0, 15, 30)))
        closing = self.local(day, DAY_END)
        length = (closing - start) / count
        for _ in range(count):
            duration = min(
                length - timedelta(minutes=20), timedelta(minutes=self.rng.choice((60, 90, 90, 120)))
            )
            duration = max(duration, timedelta(minutes=45))
            windows.append((start, start + duration))
            start = start + length
            start = start.replace(minute=(start.minute // 15) * 15, second=0, microsecond=0)
        return windows

    def clamp(self, moment: datetime) -> datetime:
        """Nothing recorded in the future (a job 'done this morning' when the seed runs at 07:00)."""
        return min(moment, self.now - timedelta(minutes=2))

    # --- choosing work ----------------------------------------------------------------------------------

    def pick_unit(self, crew: Crew) -> UnitRef:
        return self.rng.choice(self.units.get(crew.region) or [u for us in self.units.values() for u in us])

    def plan_for(
        self,
        crew: Crew,
        window: tuple[datetime, datetime],
        target: JobStatus,
        *,
        job_type: str | None = None,
        unit: UnitRef | None = None,
    ) -> Plan:
        job_type = (
            job_type
            or self.rng.choices([JobType.maintenance, JobType.repair, JobType.inspection], weights=[5, 4, 1])[
                0
            ]
        )
        unit = unit or self.pick_unit(crew)
        plan = Plan(
            crew=crew, type=job_type, site=unit.site, unit=unit, start=window[0], end=window[1], target=target
        )
        if job_type == JobType.repair:
            self.fault(plan, self.rng.choice(REPAIR_FAULTS))
            plan.priority = self.rng.choice((Priority.normal, Priority.high, Priority.high, Priority.urgent))
        elif job_type == JobType.maintenance:
            plan.description = self.rng.choice(PM_DESCRIPTIONS)
            plan.findings = self.rng.choice(PM_FINDINGS)
            plan.parts = {"card_reader": "CNS-CLEAN-CARD"}
            if self.rng.random() < 0.3:
                plan.parts["printer"] = "CNS-PAPER-80"
            plan.priority = Priority.low if self.rng.random() < 0.3 else Priority.normal
        elif job_type == JobType.inspection:
            plan.description = self.rng.choice(INSPECTION_DESCRIPTIONS)
            plan.findings = "未发现侧录装置，封条完好 No skimming devices found; seals intact"
        elif job_type == JobType.install:
            plan.description = f"新机安装 New ATM installation: {unit.model}" if unit else "新机安装 New ATM"
            plan.findings = "安装调试完成，已移交网点 Installed, commissioned and handed over"
        plan.rating = self.rng.choice(LOW_RATINGS if self.rng.random() < 0.14 else GOOD_RATINGS)
        plan.out_of_range = self.rng.random() < 0.06
        plan.created = window[0] - timedelta(days=self.rng.randint(1, 6), hours=self.rng.randint(0, 6))
        if job_type == JobType.repair:
            plan.created = window[0] - timedelta(hours=self.rng.randint(2, 20))
        return plan

    @staticmethod
    def fault(plan: Plan, fault: tuple[str, str, str]) -> None:
        plan.description, plan.findings, part = fault
        plan.parts = {"fix": part} if part else {}

    # --- the verbs, in the order a job lives them --------------------------------------------------------

    async def run(self, plan: Plan) -> Job:
        crew = plan.crew
        lead = CurrentUser.acting_as(crew.lead)
        tech = crew.actor
        created = self.clamp(plan.created or plan.start - timedelta(days=1))
        respond_in, complete_in = {
            Priority.urgent: (timedelta(hours=2), timedelta(hours=8)),
            Priority.high: (timedelta(hours=4), timedelta(hours=24)),
            Priority.normal: (timedelta(hours=24), timedelta(hours=72)),
            Priority.low: (timedelta(hours=72), timedelta(days=7)),
        }[plan.priority]
        respond_by = max(created + respond_in, plan.start + timedelta(minutes=30))
        complete_by = max(created + complete_in, plan.end + timedelta(hours=1))
        spec = NewJob(
            type=plan.type,
            site_id=plan.site.id,
            unit_id=plan.unit.id if plan.unit else None,
            priority=plan.priority,
            description=plan.description,
            scheduled_start=plan.start,
            scheduled_end=plan.end,
            respond_by=respond_by,
            complete_by=complete_by,
            assignee_id=crew.user.id,
            team_id=crew.team_id,
            origin_job_id=plan.origin_id,
            source={JobType.callback: "callback", JobType.rework: "rework"}.get(plan.type, "dispatch"),
        )
        job = (await self.jobs.create_job(lead, spec)).record
        self.created.append(job)
        times: dict[str, list[datetime]] = {"created": [created], "assigned": [created]}
        order = [JobStatus.accepted, JobStatus.en_route, JobStatus.on_site]
        reached = _rank(plan.target)
        if reached < _rank(JobStatus.accepted):
            await self.backdate(job, times)
            return job
        travel = timedelta(minutes=self.rng.randint(18, 45))
        arrive = plan.start + timedelta(minutes=self.rng.randint(-10, 25))
        moments = {
            JobStatus.accepted: created + timedelta(minutes=self.rng.randint(5, 90)),
            JobStatus.en_route: arrive - travel,
            JobStatus.on_site: arrive,
        }
        last = created
        for status in order:
            if _rank(status) > reached:
                break
            when = self.clamp(max(moments[status], last + timedelta(minutes=1)))
            last = when
            geo = self.geo(plan.site) if status == JobStatus.on_site else None
            await self.jobs.transition(tech, job.id, status, client_time=when, geo=geo)
            times.setdefault(str(status), []).append(when)
        if reached < _rank(JobStatus.on_site):
            await self.backdate(job, times)
            return job
        done = self.clamp(max(last + (plan.end - plan.start), last + timedelta(minutes=20)))
        if plan.target == JobStatus.on_site:
            done = self.clamp(max(last + timedelta(minutes=30), self.now - timedelta(minutes=5)))
        await self.work(job, plan, last, done, travel, times)
        if plan.target in (JobStatus.on_site,):
            await self.backdate(job, times)
            return job
        if plan.incomplete_reason:
            await self.jobs.transition(
                tech,
                job.id,
                JobStatus.incomplete,
                reason=plan.incomplete_reason,
                client_time=done,
                geo=self.geo(plan.site),
            )
            times.setdefault("incomplete", []).append(done)
            await self.backdate(job, times)
            return job
        await self.jobs.transition(
            tech, job.id, JobStatus.work_done, client_time=done, geo=self.geo(plan.site)
        )
        times.setdefault("work_done", []).append(done)
        if plan.target == JobStatus.work_done:
            await self.backdate(job, times)
            return job
        signed = self.clamp(done + timedelta(minutes=self.rng.randint(2, 8)))
        await self.sign(job, plan, signed)
        times.setdefault("awaiting_approval" if not plan.refused else "disputed", []).append(signed)
        if plan.target in (JobStatus.awaiting_approval, JobStatus.disputed):
            await self.backdate(job, times)
            return job
        decided = self.decision_time(signed)
        if plan.return_reason:
            await self.jobs.decide(lead, job.id, "return", plan.return_reason)
            times.setdefault("returned", []).append(decided)
            times.setdefault("decisions", []).append(decided)
            if not plan.amend:
                await self.backdate(job, times)
                return job
            amended = self.clamp(decided + timedelta(minutes=self.rng.randint(20, 120)))
            await self.jobs.add_log(
                tech,
                uuid4(),
                job.id,
                "note",
                text="已补充说明：电池已于现场更换，复测 13.1 V Clarified: battery replaced on site, "
                "re-measured 13.1 V",
                client_time=amended,
            )
            times.setdefault("amendment", []).append(amended)
            await self.jobs.transition(tech, job.id, JobStatus.awaiting_approval, client_time=amended)
            times.setdefault("awaiting_approval", []).append(amended)
            decided = self.decision_time(amended)
        await self.jobs.decide(lead, job.id, "approve")
        times.setdefault("approved", []).append(decided)
        times.setdefault("decisions", []).append(decided)
        if plan.unit is not None:
            self.approved_by_unit[plan.unit.id] = job
        await self.backdate(job, times)
        return job

    def decision_time(self, submitted: datetime) -> datetime:
        """A supervisor decides within the working day, most within a few hours."""
        hours = self.rng.choice((0.5, 1, 1.5, 2, 3, 4, 6, 20))
        return self.clamp(submitted + timedelta(hours=hours))

    def geo(self, site: SiteRef) -> Geo:
        return Geo(
            lat=round(site.lat + self.rng.uniform(-0.0004, 0.0004), 6),
            lon=round(site.lon + self.rng.uniform(-0.0004, 0.0004), 6),
            accuracy_m=float(self.rng.choice((6, 8, 12, 15, 25))),
        )

    async def work(
        self,
        job: Job,
        plan: Plan,
        arrived: datetime,
        done: datetime,
        travel: timedelta,
        times: dict[str, list[datetime]],
    ) -> None:
        """The work record: the checklist (photos, readings), parts from the van, time and notes."""
        tech = plan.crew.actor
        procedure = await self.procedure(job.procedure_id)
        steps = procedure.steps if procedure else []
        count = len(steps) if plan.steps_done >= 1 else max(1, int(len(steps) * plan.steps_done))
        span = (done - arrived) / max(count + 1, 2)
        step_times: list[datetime] = []
        for index, spec in enumerate(steps[:count]):
            when = (arrived + span * (index + 1)).replace(microsecond=0)
            step_times.append(when)
            value, result, note, blobs = None, "pass", "", []
            requires = set(spec.get("requires", ()))
            if "photo" in requires:
                subject = STEP_PHOTO.get(spec["id"], "module")
                blobs = [self.rng.choice(self.photos[(plan.crew.user.id, subject)])]
            if "reading" in requires:
                value, in_range = self.reading(spec, plan.out_of_range)
                if not in_range:
                    result, note = "fail", "超出范围，已报告 Out of range; reported to the branch"
            if not spec.get("mandatory", True) and self.rng.random() < 0.3:
                result = "na"
            await self.jobs.record_step(
                tech, job.id, spec["id"], result, value=value, note=note, blobs=blobs, client_time=when
            )
            if spec["id"] in plan.parts:
                await self.use_part(job, plan, plan.parts[spec["id"]], when)
        times["steps"] = step_times
        if plan.target == JobStatus.on_site:
            return
        await self.jobs.add_log(
            tech,
            uuid4(),
            job.id,
            "time",
            text="路程 Travel",
            minutes=int(travel.total_seconds() // 60),
            client_time=arrived,
        )
        worked = max(15, int((done - arrived).total_seconds() // 60))
        await self.jobs.add_log(
            tech, uuid4(), job.id, "time", text="现场工作 On-site work", minutes=worked, client_time=done
        )
        if plan.findings:
            await self.jobs.update(tech, job.id, {"findings": plan.findings})
            await self.jobs.add_log(tech, uuid4(), job.id, "note", text=plan.findings, client_time=done)

    async def use_part(self, job: Job, plan: Plan, sku: str, when: datetime) -> None:
        """A part from the van, while the van has one (the demo never drives a van below zero)."""
        stock = plan.crew.van_stock
        if stock.get(sku, 0) <= 0:
            return
        item_id = await self.item_id(sku)
        if item_id is None:
            return
        stock[sku] -= 1
        await self.jobs.use_part(plan.crew.actor, job.id, uuid4(), item_id, 1, recorded_at=when)

    async def item_id(self, sku: str) -> UUID | None:
        if not hasattr(self, "_items"):
            self._items = dict((await self.session.execute(select(Item.sku, Item.id))).all())
        return self._items.get(sku)

    def reading(self, spec: dict[str, Any], out_of_range: bool) -> tuple[float, bool]:
        low, high = spec.get("reading_min"), spec.get("reading_max")
        low = 0.0 if low is None else float(low)
        high = low + 10 if high is None else float(high)
        if out_of_range and spec["id"] in ("ups", "earth", "temperature"):
            value = {"ups": 11.6, "earth": 5.2, "temperature": 43.0}[spec["id"]]
        else:
            span = high - low
            value = low + span * self.rng.uniform(0.3, 0.7)
        value = round(value, 1)
        return value, low <= value <= high

    async def procedure(self, procedure_id: UUID | None) -> Procedure | None:
        if procedure_id is None:
            return None
        if procedure_id not in self.procedures:
            self.procedures[procedure_id] = await self.session.get(Procedure, procedure_id)
        return self.procedures[procedure_id]

    async def sign(self, job: Job, plan: Plan, signed: datetime) -> None:
        signer, role = self.rng.choice(BRANCH_STAFF)
        if plan.refused:
            rating, technical, service, comment = (
                1,
                1,
                3,
                "故障没有解决，仍然吞卡，不同意验收 Not fixed: it still retains cards; not accepted",
            )
        else:
            rating, technical, service, comment = plan.rating or GOOD_RATINGS[0]
        await self.jobs.signoff(
            plan.crew.actor,
            uuid4(),
            job.id,
            signer_name=f"{signer}（{role.split(' ')[0]}）",
            # Every sign-off is its own signature: the same image on two jobs is refused.
            signature_blob=await self._upload(
                plan.crew.actor, demo_signature(f"{signer}:{job.id}"), "image/png"
            ),
            accepted=not plan.refused,
            rating=rating,
            rating_technical=technical,
            rating_service=service,
            comment=comment,
            signed_at=signed,
            geo=self.geo(plan.site),
            check_signature=self.blobs.check_signature_blob,
        )

    async def backdate(self, job: Job, times: dict[str, list[datetime]]) -> None:
        """Move what the service stamped with the wall clock to when it happened in the demo's story:
        the job's creation, submission, approval and closing, the approvals' decision times and
        turnaround, and every history row (none of these is part of the signed record)."""
        created = times["created"][0]
        job.created_at = created
        if job.status not in (JobStatus.new,) and times.get("awaiting_approval"):
            job.submitted_at = times["awaiting_approval"][-1]
        if job.approved_at is not None and times.get("approved"):
            job.approved_at = job.closed_at = times["approved"][-1]
        if job.status == JobStatus.incomplete and times.get("incomplete"):
            job.closed_at = times["incomplete"][-1]
        decisions = list(times.get("decisions", []))
        if decisions:
            approvals = list(
                await self.session.scalars(
                    select(Approval).where(Approval.job_id == job.id).order_by(Approval.decided_at)
                )
            )
            submissions = list(times.get("awaiting_approval", []))
            for approval, decided, submitted in zip(approvals, decisions, submissions, strict=False):
                approval.decided_at = decided
                approval.created_at = decided
                approval.turnaround_seconds = max(0, int((decided - submitted).total_seconds()))
        queues = {name: list(values) for name, values in times.items()}
        steps = iter(times.get("steps", []))
        last = created
        rows = list(
            await self.session.scalars(
                select(JobHistory).where(JobHistory.job_id == job.id).order_by(JobHistory.at, JobHistory.id)
            )
        )
        for row in rows:
            when = None
            if row.kind == "created":
                when = created
            elif row.field == "status" and queues.get(str(row.new_value)):
                when = queues[str(row.new_value)].pop(0)
            elif row.field.startswith("step:"):
                when = next(steps, None)
            elif row.kind == "amendment" and queues.get("amendment"):
                when = queues["amendment"][0]
            elif row.field in DISPATCH_FIELDS and queues.get("assigned"):
                when = queues["assigned"][0]  # a dispatch: the fields it set, then the status
            when = when or last
            row.at = when
            last = when

    # --- the demo's story -----------------------------------------------------------------------------

    async def seed_history(self) -> None:
        """About 60 days of finished work per technician, oldest first (so the procedure revision in
        force at the time is the one each job got), with a refused sign-off and an incomplete job."""
        plans: list[Plan] = []
        for crew in self.crews:
            days = [
                self.today - timedelta(days=offset)
                for offset in range(1, HISTORY_DAYS + 1)
                if (self.today - timedelta(days=offset)).weekday() < 6
            ]
            chosen = sorted(self.rng.sample(days, min(len(days), HISTORY_JOBS_PER_TECHNICIAN * 2 // 3)))
            for day in chosen:
                count = self.rng.choice((1, 1, 2))
                windows = self.day_windows(day, self.rng.choice((3, 4, 5)))
                for window in self.rng.sample(windows, count):
                    plans.append(self.plan_for(crew, window, JobStatus.approved))
        plans.extend(self.install_plans())
        plans.sort(key=lambda p: p.start)
        # Every kind of ending the history needs, on a few of the plans.
        returned = [p for p in plans if p.type == JobType.maintenance][-12::5]
        for plan in returned[:2]:
            plan.return_reason, plan.amend, plan.out_of_range = RETURN_REASONS[0], True, True
        special = self.special_crews()
        yesterday = self.today - timedelta(days=1)
        disputed = self.plan_for(
            special[0], self.day_windows(yesterday, 4)[2], JobStatus.disputed, job_type=JobType.repair
        )
        disputed.refused = True
        self.fault(disputed, REPAIR_FAULTS[0])
        incomplete_day = self.today - timedelta(days=2)
        incomplete = self.plan_for(
            special[1], self.day_windows(incomplete_day, 4)[1], JobStatus.incomplete, job_type=JobType.repair
        )
        self.fault(incomplete, REPAIR_FAULTS[6])
        incomplete.incomplete_reason = (
            "显示器电源板需要更换，车上无备件，已订货 "
            "The monitor PSU board must be replaced; none in the van, ordered from the depot"
        )
        incomplete.steps_done = 0.5
        plans.extend([disputed, incomplete])
        plans.sort(key=lambda p: p.start)
        revision_2_at = self.now - timedelta(days=PM_REVISION_2_DAYS_AGO)
        revised = False
        # Progress in tenths: after the plan at each mark (the callbacks and reworks are the last step).
        parts = range(1, HISTORY_STEPS)
        marks = {max(0, math.ceil(len(plans) * n / HISTORY_STEPS) - 1): n for n in parts}
        for index, plan in enumerate(plans):
            if not revised and plan.start >= revision_2_at:
                await self.publish_pm_revision_2(revision_2_at)
                revised = True
            job = await self.run(plan)
            if plan is incomplete:
                await self.dispatch_follow_up(job, plan.crew)
            if index in marks:
                self.advance(f"job history {marks[index]}/{HISTORY_STEPS}")
        for missing in sorted(set(parts) - set(marks.values())):
            self.advance(f"job history {missing}/{HISTORY_STEPS}")
        if not revised:
            await self.publish_pm_revision_2(revision_2_at)
        await self.seed_linked()
        self.advance(f"job history {HISTORY_STEPS}/{HISTORY_STEPS}")

    def special_crews(self) -> list[Crew]:
        """Who gets the refused sign-off and the incomplete job: teams 2 and 3 (like the inventory's
        exceptions), so team 1's board stays simple for a first look."""
        by_team: dict[UUID, list[Crew]] = {}
        for crew in self.crews:
            by_team.setdefault(crew.team_id, []).append(crew)
        teams = list(by_team.values())
        second = teams[1] if len(teams) > 1 else teams[0]
        third = teams[2] if len(teams) > 2 else second
        return [second[min(1, len(second) - 1)], third[min(1, len(third) - 1)]]

    def install_plans(self) -> list[Plan]:
        """Units installed within the history window get the install job that put them there."""
        start = self.now - timedelta(days=HISTORY_DAYS - 1)
        plans = []
        for crew_index, crew in enumerate(self.crews):
            recent = [
                u
                for u in self.units.get(crew.region, [])
                if u.installed_at and start <= _aware(u.installed_at) < self.now - timedelta(days=1)
            ]
            share = recent[crew_index % 4 :: 4][:2]
            for unit in share:
                day = _aware(unit.installed_at).astimezone(LOCAL).date()
                window = self.day_windows(day, 3)[0]
                window = (window[0], window[0] + timedelta(hours=4))
                plan = self.plan_for(crew, window, JobStatus.approved, job_type=JobType.install, unit=unit)
                plans.append(plan)
        return plans

    async def dispatch_follow_up(self, job: Job, crew: Crew) -> None:
        """The follow-up the incomplete job created, planned for tomorrow morning for the same technician
        (the part comes from the depot)."""
        follow_up = await self.session.scalar(select(Job).where(Job.origin_job_id == job.id))
        if follow_up is None:
            return
        tomorrow = self.today + timedelta(days=1)
        start = self.local(tomorrow, time(9, 0))
        await self.jobs.assign(
            CurrentUser.acting_as(crew.lead),
            follow_up.id,
            crew.user.id,
            scheduled_start=start,
            scheduled_end=start + timedelta(hours=2),
            note="备件已到 The PSU board is in the depot; pick it up first",
        )
        # Made when the job was left incomplete, dispatched the next morning.
        created = job.closed_at or self.now
        next_morning = created.astimezone(LOCAL).date() + timedelta(days=1)
        dispatched = self.clamp(self.local(next_morning, time(8, 45)))
        follow_up.respond_by = created + timedelta(hours=24)
        follow_up.complete_by = created + timedelta(hours=72)
        await self.backdate(follow_up, {"created": [created], "assigned": [dispatched]})

    async def seed_linked(self) -> None:
        """Callbacks after some repairs and a rework after a low technical rating, all approved."""
        approved = [j for j in self.created if j.status == JobStatus.approved and j.unit_id]
        repairs = [j for j in approved if j.type == JobType.repair][::9]
        technical = dict(
            (
                await self.session.execute(
                    select(Signoff.job_id, Signoff.rating_technical).where(
                        Signoff.job_id.in_([j.id for j in approved])
                    )
                )
            ).all()
        )
        poor = [j for j in approved if (technical.get(j.id) or 5) <= 2][:3]
        crews = {c.user.id: c for c in self.crews}
        units = {u.id: u for us in self.units.values() for u in us}
        for origin, job_type in [
            *((j, JobType.callback) for j in repairs[:6]),
            *((j, JobType.rework) for j in poor),
        ]:
            crew = crews.get(origin.assignee_id)
            if crew is None:
                continue
            day = (origin.scheduled_start.astimezone(LOCAL) + timedelta(days=self.rng.randint(3, 7))).date()
            if day >= self.today:
                continue
            window = self.day_windows(day, 4)[self.rng.randint(0, 3)]
            plan = self.plan_for(
                crew, window, JobStatus.approved, job_type=job_type, unit=units[origin.unit_id]
            )
            plan.origin_id = origin.id
            plan.created = origin.scheduled_start + timedelta(days=1)
            if job_type == JobType.callback:
                plan.description = (
                    f"回访：确认 {origin.number} 的维修效果 "
                    f"Callback: does the repair of {origin.number} hold?"
                )
                plan.findings = "客户确认故障未复发 The branch confirms the fault has not come back"
                plan.parts = {}
                plan.rating = self.rng.choice(GOOD_RATINGS)
            else:
                plan.description = (
                    f"返工：{origin.number} 问题复发 Rework: the fault of {origin.number} came back"
                )
                plan.findings = "重新更换并测试，问题解决 Replaced again and tested; fixed"
                plan.rating = self.rng.choice(GOOD_RATINGS[:4])
            await self.run(plan)

    async def seed_today(self) -> None:
        """Every technician's day: the morning's work done (waiting for the customer, for approval, or
        returned by the supervisor), one job on site or on the way, the rest accepted or assigned."""
        for index, crew in enumerate(self.crews):
            count = self.rng.choice((4, 5, 5, 6))
            windows = self.day_windows(self.today, count)
            first = JobStatus.returned if index % 4 == 1 else JobStatus.awaiting_approval
            second = JobStatus.work_done if index % 2 == 0 else JobStatus.awaiting_approval
            third = JobStatus.on_site if index % 2 == 0 else JobStatus.en_route
            statuses = [first, second, third, JobStatus.accepted]
            statuses += [JobStatus.assigned] * (count - len(statuses))
            for window, status in zip(windows, statuses, strict=False):
                plan = self.plan_for(crew, window, status)
                if status == JobStatus.returned:
                    plan.type = JobType.maintenance
                    plan.description, plan.findings = PM_DESCRIPTIONS[0], PM_FINDINGS[3]
                    plan.parts = {"card_reader": "CNS-CLEAN-CARD"}
                    plan.return_reason = RETURN_REASONS[index % len(RETURN_REASONS)]
                    plan.out_of_range = True
                if status == JobStatus.on_site:
                    plan.steps_done = 0.5
                plan.created = window[0] - timedelta(days=self.rng.randint(1, 4))
                await self.run(plan)
        self.advance("today's jobs")

    async def seed_upcoming(self) -> None:
        for crew in self.crews:
            for offset in range(1, UPCOMING_DAYS + 1):
                day = self.today + timedelta(days=offset)
                count = self.rng.choice((3, 4, 4, 5, 6))
                for slot, window in enumerate(self.day_windows(day, count)):
                    status = JobStatus.accepted if offset == 1 and slot < 2 else JobStatus.assigned
                    job_type = None
                    if offset >= 3 and slot == 0 and self.rng.random() < 0.2:
                        job_type = JobType.install
                    plan = self.plan_for(crew, window, status, job_type=job_type)
                    if job_type == JobType.install:
                        # A new machine: the site is known, the unit exists once it is installed.
                        plan.unit = None
                        plan.description = (
                            f"新机安装 New ATM installation at {plan.site.name.split(' ', 1)[0]}"
                        )
                        plan.end = plan.start + timedelta(hours=4)
                    plan.created = self.now - timedelta(
                        days=self.rng.randint(0, 3), hours=self.rng.randint(0, 8)
                    )
                    await self.run(plan)
        self.advance("upcoming jobs")

    async def seed_requests(self) -> None:
        """New faults called in on the repair line, waiting for the supervisor to dispatch them."""
        by_team: dict[UUID, Crew] = {}
        for crew in self.crews:
            by_team.setdefault(crew.team_id, crew)
        for crew in by_team.values():
            lead = CurrentUser.acting_as(crew.lead)
            for _ in range(self.rng.choice((2, 3))):
                unit = self.pick_unit(crew)
                description, _findings, _part = self.rng.choice(REPAIR_FAULTS)
                reporter, role = self.rng.choice(BRANCH_STAFF)
                job = (
                    await self.jobs.create_job(
                        lead,
                        NewJob(
                            type=JobType.repair,
                            site_id=unit.site.id,
                            unit_id=unit.id,
                            priority=self.rng.choice((Priority.urgent, Priority.high, Priority.normal)),
                            description=f"{description}（{unit.site.name.split(' ', 1)[0]} {unit.serial}）",
                            team_id=crew.team_id,
                            source="request",
                            reported_by=f"{reporter}（{role.split(' ')[0]}）",
                            reporter_phone=f"138{self.rng.randint(10_000_000, 99_999_999)}",
                        ),
                    )
                ).record
                self.created.append(job)
        self.advance("service requests")


_ORDER = [
    JobStatus.new,
    JobStatus.assigned,
    JobStatus.accepted,
    JobStatus.en_route,
    JobStatus.on_site,
    JobStatus.work_done,
    JobStatus.awaiting_approval,
    JobStatus.returned,
    JobStatus.approved,
]


def _rank(status: JobStatus) -> int:
    if status in (JobStatus.incomplete,):
        return _ORDER.index(JobStatus.on_site) + 1
    if status == JobStatus.disputed:
        return _ORDER.index(JobStatus.awaiting_approval)
    return _ORDER.index(status)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def seed_jobs(
    session: AsyncSession,
    *,
    secret_key: str,
    blob_dir,
    advance: Callable[[str], None] = lambda _msg: None,
) -> bool:
    """The demo's customers, sites, units, procedures and jobs (see the module's docstring); False when
    there is no installed base to put them on."""
    return await JobsDemo(session, secret_key=secret_key, blob_dir=blob_dir, advance=advance).seed()


async def job_summary(session: AsyncSession) -> str:
    """One line for the end of the seed: how many jobs, by status."""
    counts = Tally(dict((await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()))
    total = sum(counts.values())
    if not total:
        return "Jobs: none"
    ordered = [str(s) for s in JobStatus if counts.get(str(s))]
    detail = ", ".join(f"{counts[s]:,} {s}" for s in ordered)
    sites = await session.scalar(select(func.count()).select_from(Site))
    units = await session.scalar(select(func.count()).select_from(Unit))
    return f"Jobs: {total:,} ({detail}) at {sites:,} sites with {units:,} units"
