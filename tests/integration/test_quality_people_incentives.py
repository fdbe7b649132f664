"""Rewards and penalties: each rests on evidence that exists and concerns the person (an evaluation, a
complaint, a nonconformance caused or handled, a supervision record, a loss from their custody);
points and money are signed by the kind; a voided record stays listed and leaves the totals."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select

from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory, utcnow
from backend.inventory.models import Movement
from backend.quality.models import Complaint, Evaluation, Nonconformance, SupervisionRecord
from tests.conftest import run_async
from tests.jobs_helpers import build_world, drive, ids

INCENTIVES = "/api/quality/incentives"


def _run(settings, work):
    async def go():
        engine = create_async_db_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return run_async(go())


def evidence(client, as_role, seeded, settings) -> dict[str, str]:
    """One record of each kind of evidence about tech1 (the nonconformance: caused by tech2, handled by
    tech1), and a loss from tech1's custody recorded through the inventory API."""
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "assigned")
    lost = client.post(
        "/api/inventory/ops/return",
        headers=as_role("tech1"),
        json={
            "move_id": ids(),
            "to_location_id": world.depot["id"],
            "item_id": world.part_item["id"],
            "qty": 2,
            "condition": "lost",
        },
    )
    assert lost.status_code in (200, 201), lost.text
    tech1, tech2 = uuid.UUID(seeded["tech1"]), uuid.UUID(seeded["tech2"])
    job_id, quality = uuid.UUID(job["id"]), uuid.UUID(seeded["quality"])
    now = utcnow()

    async def work(session):
        rows = {
            "evaluation": Evaluation(
                job_id=job_id, technician_id=tech1, source="signoff", source_id=uuid.uuid4(), overall=5
            ),
            "complaint": Complaint(
                number=f"CMP-{uuid.uuid4().hex[:8]}",
                channel="phone",
                summary="Technician was late",
                technician_id=tech1,
                respond_by=now + timedelta(hours=4),
                resolve_by=now + timedelta(days=3),
            ),
            "nonconformance": Nonconformance(
                number=f"NC-{uuid.uuid4().hex[:8]}",
                source="complaint",
                title="Seal left broken",
                technician_id=tech2,
                owner_id=tech1,
            ),
            "supervision": SupervisionRecord(
                job_id=job_id, technician_id=tech1, checked_by_id=quality, mode="on_site", passed=True
            ),
        }
        session.add_all(rows.values())
        await session.flush()
        found = {name: str(row.id) for name, row in rows.items()}
        movements = {
            m.condition: m.id
            for m in await session.scalars(select(Movement).where(Movement.custodian_id == tech1))
        }
        found["custody_loss"] = str(movements["lost"])
        found["not_a_loss"] = str(next(mid for cond, mid in movements.items() if cond != "lost"))
        return found

    return _run(settings, work)


def award(client, headers, user_id, evidence_type, evidence_id, *, kind="reward", points=10, **extra):
    body = {
        "user_id": user_id,
        "kind": kind,
        "points": points,
        "reason": "Customer praised the technician",
        "evidence_type": evidence_type,
        "evidence_id": evidence_id,
        **extra,
    }
    return client.post(INCENTIVES, headers=headers, json=body)


def test_each_kind_of_evidence_must_exist_and_concern_the_person(client, as_role, seeded, settings):
    found = evidence(client, as_role, seeded, settings)
    quality = as_role("quality")
    tech1, tech2, tech5 = seeded["tech1"], seeded["tech2"], seeded["tech5"]
    for kind in ("evaluation", "complaint", "nonconformance", "supervision", "custody_loss"):
        # Someone else's evidence, evidence that does not exist, no evidence: refused, nothing written.
        for user, evidence_id, code in (
            (tech5, found[kind], "EVIDENCE_MISMATCH"),
            (tech1, str(uuid.uuid4()), "EVIDENCE_NOT_FOUND"),
            (tech1, None, "EVIDENCE_REQUIRED"),
        ):
            refused = award(client, quality, user, kind, evidence_id)
            assert refused.status_code == 422, (kind, refused.text)
            assert refused.json()["field"] == "evidence_id" and refused.json()["code"] == code, refused.text
        penalty = kind in ("complaint", "custody_loss")
        made = award(
            client,
            quality,
            tech1,
            kind,
            found[kind],
            kind="penalty" if penalty else "reward",
            points=-5 if penalty else 10,
        )
        assert made.status_code == 201, (kind, made.text)
        assert made.json()["evidence_type"] == kind and made.json()["evidence_id"] == found[kind]
    # The nonconformance's cause is evidence against tech2 as well; the same evidence twice is refused.
    caused = award(
        client, quality, tech2, "nonconformance", found["nonconformance"], kind="penalty", points=-3
    )
    assert caused.status_code == 201, caused.text
    twice = award(client, quality, tech1, "evaluation", found["evaluation"])
    assert twice.status_code == 409 and twice.json()["code"] == "ALREADY_AWARDED"
    not_lost = award(client, quality, tech1, "custody_loss", found["not_a_loss"], kind="penalty", points=-1)
    assert not_lost.status_code == 422 and "not a loss" in not_lost.json()["message"]
    # "other" rests on the reason alone and links no record.
    assert award(client, as_role("manager"), tech1, "other", None).status_code == 201
    assert award(client, quality, tech1, "other", found["evaluation"]).status_code == 422
    listed = client.get(INCENTIVES, headers=quality).json()
    assert listed["total"] == 7
    assert (
        client.get(INCENTIVES, headers=quality, params={"evidence_type": "custody_loss"}).json()["total"] == 1
    )


def test_points_and_money_are_signed_by_kind_and_voids_leave_the_totals(client, as_role, seeded):
    quality, tech1, tech2 = as_role("quality"), seeded["tech1"], seeded["tech2"]

    def other(user, kind, points=0, status=201, **extra):
        response = award(client, quality, user, "other", None, kind=kind, points=points, **extra)
        assert response.status_code == status, response.text
        return response.json()

    bonus = other(tech1, "reward", 20, amount="300.50")
    assert bonus["amount"] == "300.50" and bonus["amount_cents"] == 30050 and bonus["currency"] == "CNY"
    other(tech1, "penalty", -5, amount="-100")
    other(tech1, "reward", 0, amount="50.25", currency="USD")
    fine = other(tech2, "penalty", -8)
    for body, status, field in (
        ({"kind": "reward", "points": -5}, 422, "points"),
        ({"kind": "penalty", "points": 5}, 422, "points"),
        ({"kind": "penalty", "points": -1, "amount": "20.00"}, 422, "amount"),
        ({"kind": "reward", "points": 0}, 422, "points"),
        ({"kind": "reward", "amount": "1.234"}, 400, "amount"),
        ({"kind": "reward", "points": 1, "currency": "cny"}, 400, "currency"),
        ({"kind": "bonus", "points": 1}, 400, "kind"),
        ({"kind": "reward", "points": 1, "approved": True}, 400, "approved"),
        ({"kind": "reward", "points": 1, "reason": ""}, 400, "reason"),
        ({"kind": "reward", "points": 1, "user_id": str(uuid.uuid4())}, 422, "user_id"),
    ):
        response = client.post(
            INCENTIVES,
            headers=quality,
            json={"user_id": tech1, "reason": "test", "evidence_type": "other", **body},
        )
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field, response.text

    page = client.get(INCENTIVES, headers=quality).json()
    totals = {t["user_id"]: t for t in page["totals"]}
    assert totals[tech1]["points"] == 15 and totals[tech1]["records"] == 3
    assert totals[tech1]["amounts"] == {"CNY": "200.50", "USD": "50.25"}
    assert totals[tech2]["points"] == -8 and totals[tech2]["amounts"] == {}

    void = f"{INCENTIVES}/{bonus['id']}/void"
    assert client.post(void, headers=as_role("supervisor1"), json={"reason": "x"}).status_code == 403
    assert client.post(void, headers=quality, json={"reason": ""}).status_code == 400
    assert client.post(void, headers=quality, json={}).status_code == 400
    voided = client.post(void, headers=quality, json={"reason": "Recorded for the wrong month"})
    assert voided.status_code == 200, voided.text
    assert voided.json()["voided"] is True and voided.json()["voided_by_id"] == seeded["quality"]
    again = client.post(void, headers=quality, json={"reason": "again"})
    assert again.status_code == 409
    missing = f"{INCENTIVES}/{uuid.uuid4()}/void"
    assert client.post(missing, headers=quality, json={"reason": "x"}).status_code == 404

    page = client.get(INCENTIVES, headers=quality).json()
    assert page["total"] == 4  # the voided record stays listed
    totals = {t["user_id"]: t for t in page["totals"]}
    assert totals[tech1]["points"] == -5 and totals[tech1]["amounts"] == {"CNY": "-100.00", "USD": "50.25"}
    active = client.get(INCENTIVES, headers=quality, params={"include_voided": "false"}).json()
    assert active["total"] == 3
    penalties = client.get(INCENTIVES, headers=quality, params={"kind": "penalty"}).json()
    assert {i["id"] for i in penalties["items"]} >= {fine["id"]} and penalties["total"] == 2


def test_incentives_are_scoped_and_recorded_by_the_quality_office(client, as_role, seeded):
    quality = as_role("quality")
    for user in ("tech1", "tech2", "tech5"):
        assert award(client, quality, seeded[user], "other", None).status_code == 201
    # Supervisors and technicians do not record rewards or penalties.
    assert award(client, as_role("supervisor1"), seeded["tech1"], "other", None).status_code == 403
    assert award(client, as_role("tech1"), seeded["tech1"], "other", None).status_code == 403
    assert award(client, {}, seeded["tech1"], "other", None).status_code == 401

    def users(headers, **params):
        page = client.get(INCENTIVES, headers=headers, params=params).json()
        return sorted(i["user_id"] for i in page["items"]), sorted(t["user_id"] for t in page["totals"])

    assert users(as_role("tech1")) == ([seeded["tech1"]], [seeded["tech1"]])
    assert users(as_role("tech1"), user_id=seeded["tech2"]) == ([], [])
    assert users(as_role("supervisor1"))[0] == sorted([seeded["tech1"], seeded["tech2"]])
    assert users(as_role("supervisor2"))[0] == [seeded["tech5"]]
    assert users(as_role("supervisor3")) == ([], [])
    assert len(users(as_role("manager"))[0]) == 3
    today = date.today()
    assert len(users(quality, **{"from": today.isoformat(), "to": today.isoformat()})[0]) == 3
    assert users(quality, **{"from": (today + timedelta(days=1)).isoformat()}) == ([], [])
    assert users(quality, **{"to": (today - timedelta(days=1)).isoformat()}) == ([], [])
    assert users(quality, **{"to": "9999-12-31"})[0] != []
    assert client.get(INCENTIVES, headers=quality, params={"from": "soon"}).status_code == 400
    assert client.get(INCENTIVES, headers=quality, params={"limit": 0}).status_code == 400
    assert client.get(INCENTIVES).status_code == 401
