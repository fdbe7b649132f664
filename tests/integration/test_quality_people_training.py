"""Training records, required trainings, the training check and matrix, and the warning dispatch gets
when a job goes to someone without the training its type requires (the assignment still happens)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory
from backend.quality.people.demo import seed_people_demo
from tests.conftest import run_async
from tests.jobs_helpers import build_world, drive, new_job

TODAY = date.today()
TRAININGS = "/api/quality/trainings"
REQUIRED = "/api/quality/required-trainings"


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def train(client, headers, user_id, course, *, status=201, **fields):
    body = {
        "user_id": user_id,
        "category": "technical",
        "course": course,
        "completed_on": day(-100),
        **fields,
    }
    response = client.post(TRAININGS, headers=headers, json=body)
    assert response.status_code == status, response.text
    return response.json()


def require(client, as_role, job_type, course, category="technical"):
    response = client.post(
        REQUIRED,
        headers=as_role("quality"),
        json={"job_type": job_type, "course": course, "category": category},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_training_records_are_validated_and_scoped(client, as_role, seeded):
    quality, lead, tech1 = as_role("quality"), as_role("supervisor1"), as_role("tech1")
    made = train(
        client,
        quality,
        seeded["tech1"],
        "  ATM   repair L2 ",
        score=91,
        expires_on=day(600),
        notes=" Trainer: Wang ",
    )
    assert made["course"] == "ATM repair L2" and made["notes"] == "Trainer: Wang"
    assert made["state"] == "held" and made["recorded_by_id"] == seeded["quality"]
    train(client, lead, seeded["tech2"], "Customer service etiquette", category="functional")
    train(client, as_role("manager"), seeded["tech5"], "ATM repair L2", expires_on=day(-1))

    # Refusals: wrong team, wrong role, no login, bad input; nothing is written.
    base = {"user_id": seeded["tech1"], "category": "technical", "course": "X", "completed_on": day(-1)}
    cases = [
        (lead, {**base, "user_id": seeded["tech5"]}, 403, "user_id"),
        (tech1, base, 403, None),
        (quality, {**base, "completed_on": day(1)}, 422, "completed_on"),
        (quality, {**base, "expires_on": day(-1)}, 422, "expires_on"),
        (quality, {**base, "expires_on": day(-5)}, 422, "expires_on"),
        (quality, {**base, "user_id": str(uuid.uuid4())}, 422, "user_id"),
        (quality, {**base, "trainer": "Wang"}, 400, "trainer"),
        (quality, {**base, "score": 101}, 400, "score"),
        (quality, {**base, "category": "soft"}, 400, "category"),
        (quality, {**base, "course": ""}, 400, "course"),
        (quality, {**base, "course": "   "}, 400, "course"),
        (quality, {**base, "completed_on": "yesterday"}, 400, "completed_on"),
    ]
    for headers, body, status, field in cases:
        response = client.post(TRAININGS, headers=headers, json=body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json().get("field") == field, response.text
    assert client.post(TRAININGS, json=base).status_code == 401

    everyone = client.get(TRAININGS, headers=quality).json()
    assert everyone["total"] == 3
    mine = client.get(TRAININGS, headers=tech1).json()
    assert [r["id"] for r in mine["items"]] == [made["id"]]
    # A technician naming someone else's records gets none of them.
    assert client.get(TRAININGS, headers=tech1, params={"user_id": seeded["tech2"]}).json()["total"] == 0
    assert client.get(TRAININGS, headers=lead).json()["total"] == 2
    assert client.get(TRAININGS, headers=as_role("supervisor2")).json()["total"] == 1
    assert client.get(TRAININGS, headers=as_role("supervisor3")).json()["total"] == 0
    by_course = client.get(TRAININGS, headers=quality, params={"course": "atm repair l2"}).json()
    assert by_course["total"] == 2
    expired = client.get(TRAININGS, headers=quality, params={"expired": "true"}).json()
    assert [r["user_id"] for r in expired["items"]] == [seeded["tech5"]]
    assert expired["items"][0]["state"] == "expired"
    assert client.get(TRAININGS, headers=quality, params={"expired": "false"}).json()["total"] == 2
    soon = client.get(TRAININGS, headers=quality, params={"expiring_within_days": 700}).json()
    assert [r["id"] for r in soon["items"]] == [made["id"]]
    assert client.get(TRAININGS, headers=quality, params={"expiring_within_days": 30}).json()["total"] == 0
    assert client.get(TRAININGS, headers=quality, params={"offset": -1}).status_code == 400
    # One record: visible to its person and their supervisor only.
    one = f"{TRAININGS}/{made['id']}"
    assert client.get(one, headers=tech1).status_code == 200
    assert client.get(one, headers=as_role("tech2")).status_code == 404
    assert client.get(one, headers=as_role("supervisor2")).status_code == 404


def test_training_corrections_are_for_the_quality_office(client, as_role, seeded):
    quality = as_role("quality")
    made = train(client, as_role("supervisor1"), seeded["tech1"], "ATM repair L2", passed=False, score=40)
    assert made["state"] == "failed"
    path = f"{TRAININGS}/{made['id']}"
    fixed = client.patch(path, headers=quality, json={"passed": True, "score": 75, "expires_on": day(300)})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["state"] == "held" and fixed.json()["score"] == 75
    cleared = client.patch(path, headers=quality, json={"expires_on": None, "notes": "no expiry"})
    assert cleared.json()["expires_on"] is None and cleared.json()["notes"] == "no expiry"
    assert client.patch(path, headers=quality, json={"expires_on": day(-200)}).status_code == 422
    assert client.patch(path, headers=quality, json={"course": "Other"}).status_code == 400
    assert client.patch(path, headers=as_role("supervisor1"), json={"score": 10}).status_code == 403
    assert client.patch(path, headers=as_role("tech1"), json={"score": 100}).status_code == 403
    assert client.patch(f"{TRAININGS}/{uuid.uuid4()}", headers=quality, json={"score": 1}).status_code == 404
    assert client.get(path, headers=quality).json()["score"] == 75


def test_required_trainings_are_unique_per_job_type_and_course(client, as_role):
    quality = as_role("quality")
    first = require(client, as_role, "install", "ATM installation & commissioning")
    require(client, as_role, "repair", "ATM installation & commissioning")
    require(client, as_role, "any", "Customer service etiquette", "functional")
    twice = client.post(
        REQUIRED,
        headers=as_role("manager"),
        json={"job_type": "install", "course": "atm  INSTALLATION & commissioning", "category": "technical"},
    )
    assert twice.status_code == 409 and twice.json()["field"] == "course"
    body = {"job_type": "install", "course": "Safe handling", "category": "functional"}
    assert client.post(REQUIRED, headers=as_role("supervisor1"), json=body).status_code == 403
    assert client.post(REQUIRED, headers=quality, json={**body, "job_type": "party"}).status_code == 400
    assert client.post(REQUIRED, headers=quality, json={**body, "level": 2}).status_code == 400
    assert client.post(REQUIRED, json=body).status_code == 401
    for_install = client.get(REQUIRED, headers=as_role("tech1"), params={"job_type": "install"}).json()
    assert {r["course"] for r in for_install} == {
        "ATM installation & commissioning",
        "Customer service etiquette",
    }
    assert len(client.get(REQUIRED, headers=quality).json()) == 3
    path = f"{REQUIRED}/{first['id']}"
    assert client.delete(path, headers=as_role("supervisor1")).status_code == 403
    assert client.delete(path, headers=quality).status_code == 204
    assert client.delete(path, headers=quality).status_code == 404
    assert len(client.get(REQUIRED, headers=quality, params={"job_type": "install"}).json()) == 1


def test_training_check_counts_the_latest_pass(client, as_role, seeded):
    quality = as_role("quality")
    tech1 = seeded["tech1"]
    courses = ["Held", "Failed", "Expired", "Missing", "Lapses soon", "Renewed", "Passed on retake", "Kept"]
    for course in courses:
        require(client, as_role, "repair", course)
    train(client, quality, tech1, "Held")
    train(client, quality, tech1, "failed", passed=False, score=30)
    train(client, quality, tech1, "Expired", completed_on=day(-800), expires_on=day(-35))
    train(client, quality, tech1, "Lapses soon", expires_on=day(10))
    train(client, quality, tech1, "Renewed", completed_on=day(-800), expires_on=day(-100))
    train(client, quality, tech1, "Renewed", completed_on=day(-20), expires_on=day(700))
    train(client, quality, tech1, "Passed on retake", completed_on=day(-60), passed=False)
    train(client, quality, tech1, "Passed on retake", completed_on=day(-30))
    # A later failed attempt does not take away a pass that is still valid.
    train(client, quality, tech1, "Kept", completed_on=day(-60), expires_on=day(300))
    train(client, quality, tech1, "Kept", completed_on=day(-5), passed=False)

    def check(headers, user="tech1", **params):
        return client.get(
            "/api/quality/training-check",
            headers=headers,
            params={"user_id": seeded[user], "job_type": "repair", **params},
        )

    today = check(as_role("tech1")).json()
    assert today["ok"] is False and today["on"] == TODAY.isoformat()
    gaps = {g["course"]: g for g in today["gaps"]}
    assert {c: g["reason"] for c, g in gaps.items()} == {
        "Failed": "failed",
        "Expired": "expired",
        "Missing": "missing",
    }
    assert gaps["Expired"]["on"] == day(-35) and "expired on" in gaps["Expired"]["message"]
    later = check(as_role("supervisor1"), on=day(20)).json()
    assert {g["course"]: g["reason"] for g in later["gaps"]}["Lapses soon"] == "expires_before_job"
    # Nothing required for installs: nothing missing.
    install = client.get(
        "/api/quality/training-check",
        headers=quality,
        params={"user_id": tech1, "job_type": "install"},
    ).json()
    assert install["ok"] is True and install["gaps"] == []
    assert check(as_role("tech2")).status_code == 404
    assert check(as_role("supervisor2")).status_code == 404
    assert check(quality, user="tech5").json()["gaps"][0]["reason"] == "missing"
    assert check(quality, job_type="party").status_code == 400
    unknown = client.get(
        "/api/quality/training-check",
        headers=quality,
        params={"user_id": str(uuid.uuid4()), "job_type": "repair"},
    )
    assert unknown.status_code == 404
    assert client.get("/api/quality/training-check", params={"user_id": tech1}).status_code == 401


def test_training_matrix_shows_who_holds_what(client, as_role, seeded):
    quality, lead = as_role("quality"), as_role("supervisor1")
    require(client, as_role, "install", "Install cert")
    require(client, as_role, "any", "Etiquette", "functional")
    train(client, quality, seeded["tech1"], "Install cert", expires_on=day(400))
    train(client, quality, seeded["tech1"], "Etiquette", category="functional")
    train(client, quality, seeded["tech2"], "Install cert", expires_on=day(12))
    train(client, quality, seeded["tech3"], "Install cert", completed_on=day(-400), expires_on=day(-3))
    train(client, quality, seeded["tech4"], "Install cert", passed=False)

    matrix = client.get("/api/quality/training-matrix", headers=lead).json()
    assert [c["course"] for c in matrix["courses"]] == ["Etiquette", "Install cert"]
    assert matrix["total"] == 4
    rows = {r["username"]: {c["course"]: c["status"] for c in r["cells"]} for r in matrix["rows"]}
    assert rows == {
        "tech1": {"Install cert": "held", "Etiquette": "held"},
        "tech2": {"Install cert": "expiring", "Etiquette": "missing"},
        "tech3": {"Install cert": "expired", "Etiquette": "missing"},
        "tech4": {"Install cert": "failed", "Etiquette": "missing"},
    }
    assert matrix["counts"] == {"held": 2, "expiring": 1, "expired": 1, "failed": 1, "missing": 3}
    narrower = client.get(
        "/api/quality/training-matrix", headers=lead, params={"expiring_within_days": 5}
    ).json()
    assert {r["username"]: r["cells"][1]["status"] for r in narrower["rows"]}["tech2"] == "held"
    everyone = client.get("/api/quality/training-matrix", headers=quality, params={"limit": 5}).json()
    assert everyone["total"] == 12 and len(everyone["rows"]) == 5
    repair_only = client.get(
        "/api/quality/training-matrix", headers=quality, params={"job_type": "repair"}
    ).json()
    assert [c["course"] for c in repair_only["courses"]] == ["Etiquette"]
    assert client.get("/api/quality/training-matrix", headers=as_role("tech1")).status_code == 403
    assert client.get("/api/quality/training-matrix").status_code == 401


def test_dispatch_is_warned_of_untrained_assignees_and_the_job_is_still_assigned(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality, lead = as_role("quality"), as_role("supervisor1")
    require(client, as_role, "maintenance", "ATM preventive maintenance L1")
    train(client, quality, seeded["tech2"], "ATM preventive maintenance L1", expires_on=day(365))
    train(
        client,
        quality,
        seeded["tech3"],
        "ATM preventive maintenance L1",
        completed_on=day(-400),
        expires_on=day(-10),
    )
    train(client, quality, seeded["tech4"], "ATM preventive maintenance L1", passed=False)

    created = client.post(
        "/api/jobs",
        headers=lead,
        json={
            "type": "maintenance",
            "site_id": world.site["id"],
            "unit_id": world.unit["id"],
            "assignee_id": seeded["tech1"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["job"]["status"] == "assigned" and body["job"]["assignee_id"] == seeded["tech1"]
    assert [(w["code"], w["course"]) for w in body["warnings"]] == [
        ("TRAINING_MISSING", "ATM preventive maintenance L1")
    ]
    assert "ATM preventive maintenance L1" in body["warnings"][0]["message"]
    job_id = body["job"]["id"]

    def assign(user):
        response = client.post(f"/api/jobs/{job_id}/assign", headers=lead, json={"assignee_id": seeded[user]})
        assert response.status_code == 200, response.text
        return response.json()

    trained = assign("tech2")
    assert trained["warnings"] == [] and trained["assignee_id"] == seeded["tech2"]
    expired = assign("tech3")
    assert [w["code"] for w in expired["warnings"]] == ["TRAINING_EXPIRED"]
    assert expired["assignee_id"] == seeded["tech3"] and expired["status"] == "assigned"
    failed = assign("tech4")
    assert [w["code"] for w in failed["warnings"]] == ["TRAINING_FAILED"]
    assert client.get(f"/api/jobs/{job_id}", headers=lead).json()["assignee_id"] == seeded["tech4"]
    # Unassigned jobs and trained assignees: no warnings.
    unassigned = new_job(client, as_role, world, assignee=None)
    assert unassigned["status"] == "new"
    plain = client.post(
        "/api/jobs",
        headers=lead,
        json={"type": "maintenance", "site_id": world.site["id"], "assignee_id": seeded["tech2"]},
    )
    assert plain.status_code == 201 and plain.json()["warnings"] == []
    # A refused assignment is still refused, with no warning to show.
    other = client.post(f"/api/jobs/{job_id}/assign", headers=lead, json={"assignee_id": seeded["tech5"]})
    assert other.status_code == 403
    # A rework linked to a disputed job warns the same way.
    require(client, as_role, "rework", "Rework and recovery")
    disputed = drive(client, as_role, world, "disputed")
    linked = client.post(
        f"/api/jobs/{disputed['id']}/linked",
        headers=lead,
        json={"type": "rework", "assignee_id": seeded["tech2"]},
    )
    assert linked.status_code == 201, linked.text
    assert [w["course"] for w in linked.json()["warnings"]] == ["Rework and recovery"]


def test_demo_seed_gives_a_realistic_mix(client, as_role, seeded, settings):
    technicians = [uuid.UUID(seeded[f"tech{i}"]) for i in range(1, 13)]

    async def seed():
        engine = create_async_db_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                first = await seed_people_demo(session, uuid.UUID(seeded["quality"]), technicians, TODAY)
                await session.commit()
            async with create_session_factory(engine)() as session:
                again = await seed_people_demo(session, uuid.UUID(seeded["quality"]), technicians, TODAY)
                await session.commit()
            return first, again
        finally:
            await engine.dispose()

    first, again = run_async(seed())
    assert first["required"] == 7 and first["trainings"] > 40
    assert again == {"required": 0, "trainings": 0, "incentives": 0}
    matrix = client.get("/api/quality/training-matrix", headers=as_role("quality")).json()
    counts = matrix["counts"]
    assert counts["held"] > counts["missing"] > 0
    assert counts["expiring"] >= 2 and counts["expired"] >= 2 and counts["failed"] == 1
