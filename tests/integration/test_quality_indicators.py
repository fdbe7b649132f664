"""Quality indicators, scorecards and the management review over a small hand-built world where every
value is known (computed by hand below), on SQLite and PostgreSQL.

The period is January 2026, [2026-01-01, 2026-02-01); the previous period December 2025.

Team 1 (supervisor1): tech1 and tech2. Team 2 (supervisor2): tech5. Site S1 (units U1: model A, U2: model B),
site S2 (no unit).

  job  tech   type         unit  created     arrived (resp. target)  work done (target)   approved
  J1   tech1  repair       U1    01-05 08h   10h  (12h) on time 2 h  14h (20h) on time 6h  01-06
  J2   tech1  repair       U2    01-10 08h   12h  (10h) late     4 h  18h (12h) late   10h  01-11 20h (Sun)
  J3   tech2  maintenance  U1    01-12 08h   11h  (none)         3 h  12h (none)       4h   01-13
  J4   tech2  install      –     01-15 08h   09h  (09:30) on time 1h  10h (11h) on time 2h  01-16
  J5   tech5  repair       U2    01-20 08h   09h  (none)         1 h  10h (none)       2h   01-21
  J6   tech5  rework (new) U2    01-25: J5's rework → J5 not fixed the first time
  J7   tech1  maintenance  U1    approved 2025-12-15 (previous period)

J5 is a repair of U2 9 days after J2's work was done: J2 is a repeat visit. Repairs: J1 (fixed), J2 (repeat),
J5 (reworked): first-time fix 1/3 overall, 1/2 in team 1 and for tech1.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import delete, select

from backend.auth.models import Team, User
from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory
from backend.inventory.models import Asset, AssetStatus, Item, ItemKind, Location, LocationKind, SpareShortage
from backend.jobs.models import Approval, Customer, Job, Site, Unit
from backend.quality.models import (
    Callback,
    Complaint,
    Evaluation,
    Incentive,
    Nonconformance,
    QualityAction,
    RequiredTraining,
    TrainingRecord,
)
from tests.conftest import run_async

PERIOD = {"from": "2026-01-01", "to": "2026-02-01"}


def at(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


class W:
    """Ids of the hand-built world."""

    def __init__(self, seeded: dict[str, str]) -> None:
        self.people = {k: UUID(v) for k, v in seeded.items()}


def build(settings, seeded) -> W:
    w = W(seeded)

    async def go() -> None:
        engine = create_async_db_engine(settings)
        try:
            async with create_session_factory(engine)() as s:
                # Only this world's trainings, rewards and shortages (the demo seeds its own).
                for model in (TrainingRecord, RequiredTraining, Incentive, SpareShortage):
                    await s.execute(delete(model))
                users = {u.username: u for u in (await s.execute(select(User))).scalars()}
                team1, team2 = users["tech1"].team_id, users["tech5"].team_id
                w.team1, w.team2 = team1, team2
                w.region1 = (await s.get(Team, team1)).region
                # A team whose name and region would be formulas in a spreadsheet.
                s.add(Team(name='=HYPERLINK("http://x")', region="@evil"))
                item_a = Item(sku="ATM-A", name="Model A", kind=ItemKind.spare_unit, tracking="serial")
                item_b = Item(sku="ATM-B", name="Model B", kind=ItemKind.spare_unit, tracking="serial")
                customer = Customer(name="Bank")
                loc1 = Location(kind=LocationKind.site, name="S1 loc", region=w.region1)
                loc2 = Location(kind=LocationKind.site, name="S2 loc", region=w.region1)
                s.add_all([item_a, item_b, customer, loc1, loc2])
                await s.flush()
                s1 = Site(
                    customer_id=customer.id, name="Site One", code="S1", region=w.region1, location_id=loc1.id
                )
                s2 = Site(
                    customer_id=customer.id, name="Site Two", code="S2", region=w.region1, location_id=loc2.id
                )
                s.add_all([s1, s2])
                await s.flush()
                a1 = Asset(item_id=item_a.id, serial="A1", status=AssetStatus.installed, location_id=loc1.id)
                a2 = Asset(item_id=item_b.id, serial="B1", status=AssetStatus.installed, location_id=loc1.id)
                s.add_all([a1, a2])
                await s.flush()
                u1 = Unit(site_id=s1.id, asset_id=a1.id, model="Model A", serial="A1")
                u2 = Unit(site_id=s1.id, asset_id=a2.id, model="Model B", serial="B1")
                s.add_all([u1, u2])
                await s.flush()
                w.site1, w.site2 = s1.id, s2.id
                tech1, tech2, tech5 = users["tech1"].id, users["tech2"].id, users["tech5"].id
                quality = users["quality"].id
                n = iter(range(1, 100))

                def job(tech, team, type_, site, unit, created, approved, **kw) -> Job:
                    j = Job(
                        number=f"T-{next(n):04d}",
                        type=type_,
                        status=kw.pop("status", "approved"),
                        customer_id=customer.id,
                        site_id=site.id,
                        unit_id=unit.id if unit else None,
                        assignee_id=tech,
                        team_id=team,
                        created_at=created,
                        approved_at=approved,
                        **kw,
                    )
                    s.add(j)
                    return j

                j1 = job(
                    tech1,
                    team1,
                    "repair",
                    s1,
                    u1,
                    at(1, 5, 8),
                    at(1, 6),
                    respond_by=at(1, 5, 12),
                    arrived_at=at(1, 5, 10),
                    complete_by=at(1, 5, 20),
                    work_done_at=at(1, 5, 14),
                )
                j2 = job(
                    tech1,
                    team1,
                    "repair",
                    s1,
                    u2,
                    at(1, 10, 8),
                    at(1, 11, 20),
                    respond_by=at(1, 10, 10),
                    arrived_at=at(1, 10, 12),
                    complete_by=at(1, 10, 12),
                    work_done_at=at(1, 10, 18),
                )
                j3 = job(
                    tech2,
                    team1,
                    "maintenance",
                    s1,
                    u1,
                    at(1, 12, 8),
                    at(1, 13),
                    arrived_at=at(1, 12, 11),
                    work_done_at=at(1, 12, 12),
                )
                j4 = job(
                    tech2,
                    team1,
                    "install",
                    s2,
                    None,
                    at(1, 15, 8),
                    at(1, 16),
                    respond_by=at(1, 15, 9, 30),
                    arrived_at=at(1, 15, 9),
                    complete_by=at(1, 15, 11),
                    work_done_at=at(1, 15, 10),
                )
                j5 = job(
                    tech5,
                    team2,
                    "repair",
                    s1,
                    u2,
                    at(1, 20, 8),
                    at(1, 21),
                    arrived_at=at(1, 20, 9),
                    work_done_at=at(1, 20, 10),
                )
                await s.flush()
                job(tech5, team2, "rework", s1, u2, at(1, 25), None, status="new", origin_job_id=j5.id)
                j7 = job(
                    tech1,
                    team1,
                    "maintenance",
                    s1,
                    u1,
                    at(12, 10, year=2025),
                    at(12, 15, year=2025),
                    arrived_at=at(12, 10, 13, year=2025),
                    work_done_at=at(12, 10, 14, year=2025),
                )
                await s.flush()

                def ev(j, tech, team, source, overall, technical=None, service=None, when=None) -> None:
                    s.add(
                        Evaluation(
                            job_id=j.id,
                            technician_id=tech,
                            team_id=team,
                            source=source,
                            source_id=uuid4(),
                            overall=overall,
                            technical=technical,
                            service=service,
                            evaluated_at=when or at(1, 20),
                        )
                    )

                ev(j1, tech1, team1, "signoff", 5, 5, 4)
                ev(j2, tech1, team1, "signoff", 2, 1, 3)
                ev(j3, tech2, team1, "survey", 4, 4, 5)
                ev(j4, tech2, team1, "callback", 1)
                ev(j5, tech5, team2, "signoff", 4)
                ev(j1, tech1, team1, "self", 5)
                ev(j2, tech1, team1, "self", 4)
                ev(j5, tech5, team2, "self", 5, when=at(1, 1, 0))  # ... but J5's customer said 4: gap +1
                ev(j7, tech1, team1, "signoff", 3, when=at(12, 15, year=2025))
                for j, seconds, decided, decision in (
                    (j1, 3600, at(1, 6), "approve"),
                    (j2, 5400, at(1, 11, 10), "return"),
                    (j2, 1800, at(1, 11, 20), "approve"),
                ):
                    s.add(
                        Approval(
                            job_id=j.id,
                            decision=decision,
                            decided_by=users["supervisor1"].id,
                            decided_at=decided,
                            turnaround_seconds=seconds,
                        )
                    )
                for number, tech, team, site, when, summary in (
                    ("CMP-1", tech1, team1, s1, at(1, 20), "=cmd|' /C calc'!A0"),
                    ("CMP-2", tech2, team1, s2, at(1, 17), "door left open"),
                    ("CMP-0", tech1, team1, s1, at(12, 20, year=2025), "earlier"),
                ):
                    s.add(
                        Complaint(
                            number=number,
                            channel="phone",
                            summary=summary,
                            technician_id=tech,
                            team_id=team,
                            site_id=site.id,
                            received_at=when,
                            respond_by=when,
                            resolve_by=when,
                        )
                    )
                nc1 = Nonconformance(
                    number="NC-1",
                    source="other",
                    status="closed",
                    title="closed one",
                    technician_id=tech1,
                    team_id=team1,
                    identified_at=at(1, 8),
                    closed_at=at(1, 18),
                    due_at=at(1, 20),
                )
                nc2 = Nonconformance(
                    number="NC-2",
                    source="other",
                    status="assigned",
                    title="open one",
                    technician_id=tech1,
                    team_id=team1,
                    identified_at=at(1, 9),
                    due_at=at(1, 31),
                )
                nc3 = Nonconformance(
                    number="NC-3",
                    source="other",
                    status="candidate",
                    title="candidate",
                    technician_id=tech2,
                    team_id=team1,
                    identified_at=at(1, 10),
                )
                nc4 = Nonconformance(
                    number="NC-4",
                    source="other",
                    status="open",
                    title="december",
                    technician_id=tech2,
                    team_id=team1,
                    identified_at=at(12, 20, year=2025),
                )
                s.add_all([nc1, nc2, nc3, nc4])
                await s.flush()
                s.add(
                    QualityAction(
                        nonconformance_id=nc2.id,
                        kind="corrective",
                        description="retrain on U2",
                        owner_id=quality,
                        due_at=at(2, 15),
                    )
                )
                s.add(
                    QualityAction(
                        nonconformance_id=nc1.id,
                        kind="corrective",
                        description="done already",
                        owner_id=quality,
                        due_at=at(1, 15),
                        status="done",
                        done_at=at(1, 14),
                    )
                )
                for number, tech, team, due, status, done in (
                    ("CB-1", tech1, team1, at(1, 10), "done", at(1, 9)),
                    ("CB-2", tech1, team1, at(1, 15), "done", at(1, 16)),
                    ("CB-3", tech2, team1, at(1, 20), "open", None),
                    ("CB-4", tech2, team1, at(1, 21), "cancelled", None),
                ):
                    s.add(
                        Callback(
                            number=number,
                            job_id=j1.id if number != "CB-4" else j3.id,
                            reason=number,
                            technician_id=tech,
                            team_id=team,
                            due_at=due,
                            status=status,
                            done_at=done,
                        )
                    )
                s.add_all(
                    [
                        RequiredTraining(job_type="repair", course="ATM repair L1", category="technical"),
                        RequiredTraining(job_type="maintenance", course="ATM PM", category="technical"),
                        TrainingRecord(
                            user_id=tech1,
                            category="technical",
                            course="ATM repair L1",
                            completed_on=date(2025, 6, 1),
                            expires_on=date(2027, 1, 1),
                        ),
                        TrainingRecord(
                            user_id=tech2,
                            category="technical",
                            course="ATM PM",
                            completed_on=date(2024, 1, 15),
                            expires_on=date(2026, 1, 15),
                        ),
                        TrainingRecord(
                            user_id=tech5,
                            category="technical",
                            course="ATM repair L1",
                            completed_on=date(2025, 6, 1),
                            passed=False,
                        ),
                        SpareShortage(
                            item_id=item_a.id, region=w.region1, shortage=3, required=5, serviceable=2
                        ),
                        SpareShortage(
                            item_id=item_b.id,
                            region=w.region1,
                            shortage=9,
                            required=9,
                            serviceable=0,
                            closed_at=at(1, 2),
                        ),
                        Incentive(
                            user_id=tech1,
                            kind="reward",
                            points=10,
                            reason="praise",
                            evidence_type="other",
                            awarded_by_id=quality,
                            awarded_at=at(1, 10),
                        ),
                        Incentive(
                            user_id=tech1,
                            kind="penalty",
                            points=-3,
                            reason="late",
                            evidence_type="other",
                            awarded_by_id=quality,
                            awarded_at=at(1, 20),
                        ),
                        Incentive(  # voided: stays for the audit, leaves the totals
                            user_id=tech1,
                            kind="reward",
                            points=50,
                            reason="by mistake",
                            evidence_type="other",
                            awarded_by_id=quality,
                            awarded_at=at(1, 21),
                            voided_at=at(1, 22),
                        ),
                    ]
                )
                await s.commit()
        finally:
            await engine.dispose()

    run_async(go())
    return w


@pytest.fixture
def world(client, settings, seeded) -> W:
    return build(settings, seeded)


def get_ok(client, url, headers, **params):
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def rows_by_label(body) -> dict[str, dict]:
    return {r["label"]: r for r in body["rows"]}


def test_team_indicators_have_the_hand_computed_values(client, as_role, world):
    body = get_ok(client, "/api/quality/indicators", as_role("quality"), group="team", **PERIOD)
    assert body["from"] == "2026-01-01" and body["to"] == "2026-02-01" and body["group"] == "team"
    team1 = next(r for r in body["rows"] if r["key"] == str(world.team1))["values"]
    assert team1 == {
        "jobs": 4,
        "evaluations": 4,
        "satisfaction_avg": 3.0,  # 5, 2, 4, 1
        "satisfaction_top2_share": 50.0,
        "technical_avg": 3.333,  # 5, 1, 4
        "service_avg": 4.0,  # 4, 3, 5
        "self_gap": 1.0,  # (5 − 5) and (4 − 2)
        "repair_jobs": 2,
        "first_time_fix_share": 50.0,
        "repeat_visits": 1,
        "repeat_visit_share": 50.0,
        "response_avg_hours": 2.5,  # 2, 4, 3, 1
        "response_on_time_share": 66.67,  # J1, J4 of J1, J2, J4
        "completion_avg_hours": 5.5,  # 6, 10, 4, 2
        "completion_on_time_share": 66.67,
        "approval_turnaround_hours": 1.0,  # (3600 + 5400 + 1800) / 3 s
        "complaints": 2,
        "complaints_per_100_jobs": 50.0,
        "nc_opened": 2,  # NC-1, NC-2 (NC-3 is a candidate, NC-4 December)
        "nc_overdue": 1,  # NC-2 (due 01-31); NC-4 has no due date
        "nc_closed": 1,
        "nc_days_to_close": 10.0,
        "callbacks_due": 3,  # CB-4 cancelled
        "callbacks_on_time_share": 33.33,
        "training_coverage_share": 50.0,  # tech1 holds repair L1; tech2's ATM PM expired 01-15
        "spare_shortages": None,
        "spare_units_short": None,
    }
    team2 = next(r for r in body["rows"] if r["key"] == str(world.team2))["values"]
    assert team2["jobs"] == 1 and team2["first_time_fix_share"] == 0.0  # J5 was reworked
    assert team2["self_gap"] == 1.0 and team2["training_coverage_share"] == 0.0  # tech5 failed the course


def test_all_and_region_roll_up_every_team(client, as_role, world):
    body = get_ok(client, "/api/quality/indicators", as_role("manager"), group="all", **PERIOD)
    [row] = body["rows"]
    assert row["key"] == "all"
    v = row["values"]
    assert v["jobs"] == 5 and v["evaluations"] == 5
    assert v["satisfaction_avg"] == 3.2 and v["satisfaction_top2_share"] == 60.0
    assert v["first_time_fix_share"] == 33.33 and v["repeat_visit_share"] == 33.33
    assert v["response_avg_hours"] == 2.2 and v["completion_avg_hours"] == 4.8
    assert v["complaints_per_100_jobs"] == 40.0
    assert v["training_coverage_share"] == 33.33
    assert v["spare_shortages"] == 1 and v["spare_units_short"] == 3  # the closed one is not counted
    assert v["self_gap"] == 1.0  # (0 + 2 + 1) / 3
    regions = rows_by_label(
        get_ok(client, "/api/quality/indicators", as_role("manager"), group="region", **PERIOD)
    )
    region1 = regions[world.region1]["values"]
    assert region1["jobs"] == 4 and region1["spare_units_short"] == 3


def test_technician_rows(client, as_role, world):
    body = get_ok(client, "/api/quality/indicators", as_role("quality"), group="technician", **PERIOD)
    by_key = {r["key"]: r["values"] for r in body["rows"]}
    tech1 = by_key[str(world.people["tech1"])]
    assert tech1["jobs"] == 2 and tech1["satisfaction_avg"] == 3.5 and tech1["technical_avg"] == 3.0
    assert tech1["first_time_fix_share"] == 50.0 and tech1["response_avg_hours"] == 3.0
    assert tech1["response_on_time_share"] == 50.0 and tech1["completion_avg_hours"] == 8.0
    assert tech1["callbacks_on_time_share"] == 50.0 and tech1["training_coverage_share"] == 100.0
    assert tech1["complaints_per_100_jobs"] == 50.0 and tech1["nc_overdue"] == 1
    tech2 = by_key[str(world.people["tech2"])]
    assert tech2["jobs"] == 2 and tech2["repair_jobs"] == 0 and tech2["first_time_fix_share"] is None
    assert tech2["training_coverage_share"] == 0.0


def test_month_and_week_trends_bucket_in_the_database(client, as_role, world):
    body = get_ok(
        client,
        "/api/quality/indicators",
        as_role("quality"),
        group="all",
        trend="month",
        **{"from": "2025-12-01", "to": "2026-02-01"},
    )
    trend = body["rows"][0]["trend"]
    assert [(p["bucket"], p["values"]["jobs"]) for p in trend] == [("2025-12-01", 1), ("2026-01-01", 5)]
    assert trend[0]["values"]["satisfaction_avg"] == 3.0 and trend[1]["values"]["satisfaction_avg"] == 3.2
    assert body["rows"][0]["values"]["jobs"] == 6
    week = get_ok(client, "/api/quality/indicators", as_role("quality"), group="all", trend="week", **PERIOD)
    points = [(p["bucket"], p["values"]["jobs"]) for p in week["rows"][0]["trend"]]
    # J2 was approved on Sunday 11 January at 20:00 UTC: the week of Monday 5 January.
    assert points == [
        ("2025-12-29", 0),
        ("2026-01-05", 2),
        ("2026-01-12", 2),
        ("2026-01-19", 1),
        ("2026-01-26", 0),
    ]


def test_supervisors_see_their_teams_only(client, as_role, world):
    body = get_ok(client, "/api/quality/indicators", as_role("supervisor1"), group="technician", **PERIOD)
    keys = {r["key"] for r in body["rows"]}
    assert str(world.people["tech1"]) in keys and str(world.people["tech5"]) not in keys
    [row] = get_ok(client, "/api/quality/indicators", as_role("supervisor1"), group="all", **PERIOD)["rows"]
    assert row["values"]["jobs"] == 4 and row["values"]["satisfaction_avg"] == 3.0
    [row] = get_ok(client, "/api/quality/indicators", as_role("supervisor2"), group="all", **PERIOD)["rows"]
    assert row["values"]["jobs"] == 1


def test_indicator_refusals(client, as_role, world):
    url = "/api/quality/indicators"
    assert client.get(url, params=PERIOD).status_code == 401
    refused = client.get(url, headers=as_role("tech1"), params=PERIOD)
    assert refused.status_code == 403
    for params, field in (
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-01-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
        ({**PERIOD, "group": "galaxy"}, "group"),
        ({**PERIOD, "trend": "year"}, "trend"),
        ({"from": "yesterday"}, "from"),
    ):
        response = client.get(url, headers=as_role("manager"), params=params)
        assert response.status_code == 400, (params, response.text)
        body = response.json()
        assert field in (body.get("field") or "") + body["message"], (params, body)


def test_scorecard_of_a_technician(client, as_role, world):
    tech1 = world.people["tech1"]
    card = get_ok(client, f"/api/quality/scorecards/{tech1}", as_role("tech1"), **PERIOD)
    assert card["technician"]["username"] == "tech1" and card["technician"]["region"] == world.region1
    assert card["previous_from"] == "2025-12-01" and card["previous_to"] == "2026-01-01"
    assert card["current"]["jobs"] == 2 and card["current"]["satisfaction_avg"] == 3.5
    assert card["current"]["self_gap"] == 1.0 and card["current"]["nc_opened"] == 2
    assert card["previous"]["jobs"] == 1 and card["previous"]["satisfaction_avg"] == 3.0
    assert card["team"]["jobs"] == 4 and card["team"]["satisfaction_avg"] == 3.0
    assert card["incentives"] == {"count": 2, "points": 7, "reward_points": 10, "penalty_points": -3}
    assert [t["course"] for t in card["trainings"]] == ["ATM repair L1"] and card["trainings"][0]["held"]
    assert [n["number"] for n in card["open_nonconformances"]] == ["NC-2"]
    assert card["open_nonconformances"][0]["overdue"] is True
    assert [c["number"] for c in card["recent_complaints"]] == ["CMP-1"]


def test_scorecard_scope(client, as_role, world):
    tech1, tech5 = world.people["tech1"], world.people["tech5"]
    url = f"/api/quality/scorecards/{tech1}"
    assert client.get(url, params=PERIOD).status_code == 401
    assert client.get(url, headers=as_role("tech2"), params=PERIOD).status_code == 403
    assert client.get(url, headers=as_role("supervisor1"), params=PERIOD).status_code == 200
    other = client.get(url, headers=as_role("supervisor2"), params=PERIOD)
    assert other.status_code == 404 and "team" in other.json()["message"]
    assert (
        client.get(
            f"/api/quality/scorecards/{tech5}", headers=as_role("supervisor2"), params=PERIOD
        ).status_code
        == 200
    )
    for missing in (uuid4(), world.people["supervisor1"]):
        assert client.get(f"/api/quality/scorecards/{missing}", headers=as_role("manager")).status_code == 404
    bad = client.get(url, headers=as_role("manager"), params={"from": "2026-03-01", "to": "2026-01-01"})
    assert bad.status_code == 400 and bad.json()["field"] == "from"


def test_review_html_has_charts_worst_sites_models_and_actions(client, as_role, world):
    response = client.get("/api/quality/review", headers=as_role("quality"), params=PERIOD)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.count("<svg") >= 9 and "<polyline" in html and "<rect" in html
    assert "style=" not in html and "<style" not in html and "<script" not in html  # the API's CSP
    worst = html.split('id="worst-sites"')[1].split("</table>")[0]
    assert worst.index("Site Two") < worst.index("Site One")  # 2 per job against 3 in 4 jobs
    models = html.split('id="worst-models"')[1].split("</table>")[0]
    assert models.index("Model B") < models.index("Model A")  # 0 % first-time fix against 100 %
    actions = html.split('id="actions"')[1].split("</table>")[0]
    assert "retrain on U2" in actions and "OVERDUE" in actions and "done already" not in actions
    assert "First-time fix" in html and 'id="definitions"' in html and "[from, to)" in html
    assert "&lt;" not in html.split("<h1>")[0]


def test_review_csv_structure_and_injection(client, as_role, world):
    response = client.get(
        "/api/quality/review", headers=as_role("manager"), params={**PERIOD, "format": "csv"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.match(
        r'attachment; filename="fieldq-review-2026-01-01-2026-02-01\.csv"',
        response.headers["content-disposition"],
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["indicator", "group", "value", "previous", "unit"]
    table = {(r[0], r[1]): r for r in rows[1:]}
    assert table[("jobs", "all")][2:] == ["5", "1", "count"]
    assert table[("satisfaction_avg", "all")][2:] == ["3.2", "3.0", "score"]
    assert table[("first_time_fix_share", "all")][2] == "33.33"
    assert table[("spare_units_short", "all")][2:4] == ["3", ""]
    groups = {r[1] for r in rows[1:]}
    assert "'@evil" in groups and '\'=HYPERLINK("http://x")' in groups
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)
    assert all(len(r) == 5 for r in rows)


def test_review_refusals(client, as_role, world):
    url = "/api/quality/review"
    assert client.get(url, params=PERIOD).status_code == 401
    assert client.get(url, headers=as_role("supervisor1"), params=PERIOD).status_code == 403
    assert client.get(url, headers=as_role("tech1"), params=PERIOD).status_code == 403
    bad = client.get(url, headers=as_role("manager"), params={**PERIOD, "format": "pdf"})
    assert bad.status_code == 400 and "format" in bad.text
