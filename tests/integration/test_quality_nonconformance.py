"""Nonconformances through the API: the whole loop (identify → assign → root cause → actions → verification
→ closed), front-line resolution, the candidates the rules raise from signals, a complaint's
nonconformance, every refusal, and the overdue scan."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from sqlalchemy import select, update

from backend.auth.models import User
from backend.auth.services import CurrentUser
from backend.db import utcnow
from backend.events import PENDING_EVENTS_KEY
from backend.jobs.events import SignoffRecorded
from backend.quality.events import (
    CallbackCompleted,
    EvaluationRecorded,
    QualityItemAssigned,
    QualityItemOverdue,
)
from backend.quality.loop.overdue import scan_overdue
from backend.quality.loop.services import LoopService, seed_loop_defaults
from backend.quality.models import Complaint, Nonconformance, QualityAction, QualityRule
from tests.integration.test_quality_nonconformance_helpers import (
    NC_PATH,
    due,
    identify,
    ncs,
    no_rules,
    only_rule,
    unit_of_work,
    verb,
)
from tests.jobs_helpers import build_world, drive, new_job, signature_png, signoff_body, upload


def _to_root_cause(client, as_role, world, owner: str = "supervisor1") -> tuple[dict, dict]:
    """An NC about tech1's approved job, assigned to ``owner``, its root cause recorded."""
    quality = as_role("quality")
    job = drive(client, as_role, world, "approved")
    nc = identify(client, quality, job_id=job["id"])
    assert (
        nc["status"] == "open"
        and nc["number"].startswith("NC-")
        and nc["technician_id"] == world.people["tech1"]
    )
    verb(client, quality, nc["id"], "assign", owner_id=world.people[owner], due_at=due())
    nc = verb(
        client,
        as_role(owner),
        nc["id"],
        "root-cause",
        root_cause="Uniform left in the van",
        category="people",
    )
    assert nc["status"] == "root_cause"
    return job, nc


def _action(client, headers, nc_id: str, owner_id: str, kind: str = "corrective", status: int = 201) -> dict:
    response = client.post(
        f"{NC_PATH}/{nc_id}/actions",
        headers=headers,
        json={"kind": kind, "description": f"{kind} action", "owner_id": owner_id, "due_at": due(3)},
    )
    assert response.status_code == status, response.text
    return response.json()


def _to_verification(client, as_role, world) -> tuple[dict, dict]:
    job, nc = _to_root_cause(client, as_role, world)
    action = _action(client, as_role("supervisor1"), nc["id"], world.people["supervisor1"])
    assert (
        client.post(
            f"/api/quality/actions/{action['id']}/done", headers=as_role("supervisor1"), json={}
        ).status_code
        == 200
    )
    nc = verb(client, as_role("supervisor1"), nc["id"], "submit-verification")
    assert nc["status"] == "verification"
    return job, nc


def test_the_whole_loop_closes_with_a_verification_job_by_another_technician(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality, owner, tech1 = as_role("quality"), as_role("supervisor1"), as_role("tech1")
    _job, nc = _to_root_cause(client, as_role, world)
    corrective = _action(client, owner, nc["id"], world.people["tech1"])
    preventive = _action(client, owner, nc["id"], world.people["supervisor1"], kind="preventive")

    # What waits for tech1: the action they own, and they may mark only theirs done.
    waiting = client.get(
        "/api/quality/actions", headers=tech1, params={"mine": "true", "status": "open"}
    ).json()
    assert [a["id"] for a in waiting["items"]] == [corrective["id"]]
    assert (
        client.post(f"/api/quality/actions/{preventive['id']}/done", headers=tech1, json={}).status_code
        == 403
    )
    # Not yet: an action is open.
    refused = client.post(f"{NC_PATH}/{nc['id']}/submit-verification", headers=owner, json={})
    assert refused.status_code == 409 and "still open" in refused.json()["message"]
    done = client.post(
        f"/api/quality/actions/{corrective['id']}/done", headers=tech1, json={"note": "Re-briefed"}
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = client.post(f"/api/quality/actions/{corrective['id']}/done", headers=tech1, json={})
    assert again.status_code == 409
    assert (
        client.post(f"/api/quality/actions/{preventive['id']}/done", headers=owner, json={}).status_code
        == 200
    )
    verb(client, owner, nc["id"], "submit-verification", note="both done")

    # Only quality or a manager verifies.
    assert (
        client.post(
            f"{NC_PATH}/{nc['id']}/verify", headers=owner, json={"effective": True, "note": "x"}
        ).status_code
        == 403
    )
    later = drive(client, as_role, world, "approved", assignee="tech2")
    closed = verb(
        client,
        quality,
        nc["id"],
        "verify",
        effective=True,
        note="Uniform worn at the next visit",
        verification_job_id=later["id"],
    )
    assert closed["status"] == "closed" and closed["verification_job_id"] == later["id"]
    assert closed["verified_by_id"] == seeded["quality"] and closed["closed_at"]
    assert [e["verb"] for e in closed["timeline"]] == [
        "identify",
        "assign",
        "root-cause",
        "add-action",
        "add-action",
        "action-done",
        "action-done",
        "submit-verification",
        "verify",
    ]
    assert {a["status"] for a in closed["actions"]} == {"done"}
    # Closed is closed.
    refused = client.post(
        f"{NC_PATH}/{nc['id']}/assign", headers=quality, json={"owner_id": seeded["quality"], "due_at": due()}
    )
    assert refused.status_code == 409 and "closed" in refused.json()["message"]


def test_verification_by_the_same_technician_is_refused_and_ineffective_goes_back(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality = as_role("quality")
    _job, nc = _to_verification(client, as_role, world)
    own = drive(client, as_role, world, "approved")  # tech1 again
    refused = client.post(
        f"{NC_PATH}/{nc['id']}/verify",
        headers=quality,
        json={"effective": True, "note": "ok", "verification_job_id": own["id"]},
    )
    assert refused.status_code == 400, refused.text
    assert (
        refused.json()["code"] == "VERIFIER_NOT_INDEPENDENT"
        and refused.json()["field"] == "verification_job_id"
    )
    unfinished = drive(client, as_role, world, "on_site", assignee="tech2")
    refused = client.post(
        f"{NC_PATH}/{nc['id']}/verify",
        headers=quality,
        json={"effective": True, "note": "ok", "verification_job_id": unfinished["id"]},
    )
    assert refused.status_code == 400 and "approved" in refused.json()["message"]
    assert client.get(f"{NC_PATH}/{nc['id']}", headers=quality).json()["status"] == "verification"

    back = verb(client, quality, nc["id"], "verify", effective=False, note="Seen without uniform again")
    assert back["status"] == "root_cause" and back["verified_at"] is None
    # The old actions do not count again: new ones are planned, done, and then it is verified again.
    owner = as_role("supervisor1")
    refused = client.post(f"{NC_PATH}/{nc['id']}/submit-verification", headers=owner, json={})
    assert refused.status_code == 409 and "ineffective" in refused.json()["message"]
    action = _action(client, owner, nc["id"], world.people["supervisor1"])
    assert client.post(f"/api/quality/actions/{action['id']}/done", headers=owner, json={}).status_code == 200
    assert verb(client, owner, nc["id"], "submit-verification")["status"] == "verification"


def test_front_line_resolution_closes_on_the_spot(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead = as_role("supervisor1")
    job = drive(client, as_role, world, "on_site")
    nc = identify(client, lead, job_id=job["id"], source="other", title="Customer unhappy with waiting time")
    assert nc["identified_by_id"] == seeded["supervisor1"] and nc["team_id"] == job["team_id"]
    closed = verb(
        client, lead, nc["id"], "resolve-on-site", resolution="Apologised, explained the delay, fixed now"
    )
    assert closed["status"] == "closed" and closed["front_line_resolution"].startswith("Apologised")
    assert (
        closed["verified_by_id"] == seeded["supervisor1"] and closed["closed_by_id"] == seeded["supervisor1"]
    )
    assert closed["timeline"][-1]["verb"] == "resolve-on-site"
    again = client.post(f"{NC_PATH}/{nc['id']}/resolve-on-site", headers=lead, json={"resolution": "again"})
    assert again.status_code == 409 and "closed" in again.json()["message"]


def test_refusals_by_role_scope_status_and_input(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality, lead, other_lead, tech = (
        as_role("quality"),
        as_role("supervisor1"),
        as_role("supervisor2"),
        as_role("tech1"),
    )
    job = drive(client, as_role, world, "approved")
    nc = identify(client, lead, job_id=job["id"])

    assert client.get(NC_PATH).status_code == 401
    assert client.get(NC_PATH, headers=tech).status_code == 403
    assert client.post(NC_PATH, headers=tech, json={"source": "other", "title": "x"}).status_code == 403
    assert client.get(f"{NC_PATH}/{nc['id']}", headers=tech).status_code == 404
    # Another team's supervisor: not found, in the list or by id, and may not identify on that job.
    assert client.get(f"{NC_PATH}/{nc['id']}", headers=other_lead).status_code == 404
    assert nc["id"] not in {n["id"] for n in ncs(client, other_lead)}
    assert nc["id"] in {n["id"] for n in ncs(client, lead)}
    refused = client.post(
        NC_PATH, headers=other_lead, json={"source": "other", "title": "x", "job_id": job["id"]}
    )
    assert refused.status_code == 404
    refused = client.post(NC_PATH, headers=lead, json={"source": "other", "title": "no job"})
    assert refused.status_code == 403 and refused.json()["field"] == "job_id"
    # Supervisors do not run the workflow: assigning is quality's.
    assert (
        client.post(
            f"{NC_PATH}/{nc['id']}/assign",
            headers=lead,
            json={"owner_id": seeded["supervisor1"], "due_at": due()},
        ).status_code
        == 403
    )
    # Wrong status: names the status and what to do.
    refused = client.post(
        f"{NC_PATH}/{nc['id']}/root-cause", headers=quality, json={"root_cause": "x", "category": "method"}
    )
    assert refused.status_code == 409 and "is open" in refused.json()["message"]
    refused = client.post(f"{NC_PATH}/{nc['id']}/accept", headers=quality, json={})
    assert refused.status_code == 409 and "candidate" in refused.json()["message"]
    # Bad input: 400 naming the field.
    for body, field in (
        ({"owner_id": seeded["supervisor1"], "due_at": due(-1)}, "due_at"),
        ({"owner_id": str(uuid4()), "due_at": due()}, "owner_id"),
        ({"owner_id": seeded["supervisor1"], "due_at": due(), "colour": "red"}, "colour"),
        ({"owner_id": seeded["supervisor1"], "due_at": "2030-01-01T00:00:00"}, "due_at"),
    ):
        refused = client.post(f"{NC_PATH}/{nc['id']}/assign", headers=quality, json=body)
        assert refused.status_code == 400 and refused.json()["field"] == field, (body, refused.text)
    for body, field in (
        ({"source": "complaint", "title": "x"}, "source_id"),
        ({"source": "low_rating", "title": "x"}, "source"),
        ({"source": "other", "title": "x", "source_id": str(uuid4())}, "source_id"),
        ({"source": "other", "title": ""}, "title"),
    ):
        refused = client.post(NC_PATH, headers=quality, json=body)
        assert refused.status_code == 400 and refused.json()["field"] == field, (body, refused.text)
    assert (
        client.post(
            NC_PATH, headers=quality, json={"source": "callback", "title": "x", "source_id": str(uuid4())}
        ).status_code
        == 404
    )
    # Nothing half-written: the NC is as it was.
    after = client.get(f"{NC_PATH}/{nc['id']}", headers=quality).json()
    assert after["status"] == "open" and after["owner_id"] is None and len(after["timeline"]) == 1


def test_actions_by_owner_and_scope(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    owner, other_lead, tech2 = as_role("supervisor1"), as_role("supervisor2"), as_role("tech2")
    _job, nc = _to_root_cause(client, as_role, world)
    action = _action(client, owner, nc["id"], world.people["tech1"])
    # Not the NC's owner: a technician may not add actions; another team's supervisor does not see it.
    _action(client, as_role("tech1"), nc["id"], world.people["tech1"], status=403)
    _action(client, other_lead, nc["id"], world.people["tech1"], status=404)
    assert (
        client.post(f"/api/quality/actions/{action['id']}/done", headers=other_lead, json={}).status_code
        == 404
    )
    assert client.post(f"/api/quality/actions/{action['id']}/done", headers=tech2, json={}).status_code == 404
    assert (
        client.post(
            f"/api/quality/actions/{action['id']}/cancel", headers=as_role("tech1"), json={"reason": "no"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/quality/actions/{action['id']}/cancel", headers=owner, json={}).status_code == 400
    )
    cancelled = client.post(
        f"/api/quality/actions/{action['id']}/cancel", headers=owner, json={"reason": "duplicate"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused = client.post(f"{NC_PATH}/{nc['id']}/submit-verification", headers=owner, json={})
    assert refused.status_code == 409 and "corrective" in refused.json()["message"]
    # Actions are planned after the root cause, with a future due date and an active owner.
    fresh = identify(client, as_role("quality"))
    _action(client, as_role("quality"), fresh["id"], world.people["tech1"], status=409)
    response = client.post(
        f"{NC_PATH}/{nc['id']}/actions",
        headers=owner,
        json={"kind": "corrective", "description": "x", "owner_id": seeded["tech1"], "due_at": due(-1)},
    )
    assert response.status_code == 400 and response.json()["field"] == "due_at"


def test_rules_are_configured_by_quality(client, as_role, seeded):
    quality = as_role("quality")
    assert client.get("/api/quality/rules", headers=as_role("supervisor1")).status_code == 403
    for body, field in (
        ({"name": "r", "signal": "low_rating"}, "threshold"),
        ({"name": "r", "signal": "low_rating", "threshold": 6}, "threshold"),
        ({"name": "r", "signal": "repeat_visit"}, "window_days"),
        ({"name": "r", "signal": "repeat_visit", "window_days": 400}, "window_days"),
        ({"name": "r", "signal": "refused_signoff", "threshold": 2}, "threshold"),
        ({"name": "r", "signal": "weather", "threshold": 2}, "signal"),
    ):
        refused = client.post("/api/quality/rules", headers=quality, json=body)
        assert refused.status_code == 400 and refused.json()["field"] == field, (body, refused.text)
    rule = only_rule(client, quality, "low_rating", threshold=2, severity="high")
    changed = client.patch(
        f"/api/quality/rules/{rule['id']}", headers=quality, json={"threshold": 3, "active": False}
    )
    assert changed.status_code == 200 and changed.json()["threshold"] == 3 and not changed.json()["active"]
    assert (
        client.patch(f"/api/quality/rules/{rule['id']}", headers=quality, json={"window_days": 3}).status_code
        == 400
    )
    assert (
        client.patch(f"/api/quality/rules/{uuid4()}", headers=quality, json={"active": True}).status_code
        == 404
    )

    async def seed_twice(session):
        user = UUID(seeded["quality"])
        await seed_loop_defaults(session, user)
        await seed_loop_defaults(session, user)
        return list(await session.scalars(select(QualityRule.signal)))

    signals = unit_of_work(client.app.state.settings, seed_twice)
    assert {"low_rating", "refused_signoff", "repeat_visit", "unsatisfied_callback"} <= set(signals)


def _candidates(client, quality, source: str) -> list[dict]:
    return ncs(client, quality, source=source, status="candidate")


def test_a_low_customer_rating_raises_one_candidate_however_often_replayed(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality, tech = as_role("quality"), as_role("tech1")
    only_rule(client, quality, "low_rating", threshold=2)
    job = drive(client, as_role, world, "work_done")
    signature = upload(client, tech, signature_png(), "image/png")
    response = client.post(
        f"/api/jobs/{job['id']}/signoff", headers=tech, json=signoff_body(signature, accepted=True, rating=1)
    )
    assert response.status_code == 201, response.text
    evaluation = EvaluationRecorded(
        uuid4(), UUID(job["id"]), UUID(seeded["tech1"]), UUID(job["team_id"]), "signoff", 1, 5, 4
    )
    found = [c for c in _candidates(client, quality, "low_rating") if c["job_id"] == job["id"]]
    if not found:  # the sign-off's evaluation is written by the feedback listener; without it, the event
        unit_of_work(client.app.state.settings, lambda s: _record(s, evaluation))
        found = [c for c in _candidates(client, quality, "low_rating") if c["job_id"] == job["id"]]
    assert len(found) == 1 and found[0]["technician_id"] == seeded["tech1"] and "1/5" in found[0]["title"]
    candidate = found[0]
    # Replayed: nothing new. A technician's own assessment and a rating above the threshold: nothing.
    replay = EvaluationRecorded(
        UUID(candidate["source_id"]), UUID(job["id"]), UUID(seeded["tech1"]), None, "signoff", 1, 1, 1
    )
    for event in (
        replay,
        replay,
        EvaluationRecorded(uuid4(), UUID(job["id"]), None, None, "self", 1, 1, 1),
        EvaluationRecorded(uuid4(), UUID(job["id"]), None, None, "survey", 3, 3, 3),
    ):
        unit_of_work(client.app.state.settings, lambda s, e=event: _record(s, e))
    assert len([c for c in ncs(client, quality, source="low_rating") if c["job_id"] == job["id"]]) == 1
    # Accepting with an owner assigns it.
    accepted = verb(client, quality, candidate["id"], "accept", owner_id=seeded["supervisor1"], due_at=due())
    assert accepted["status"] == "assigned" and accepted["owner_id"] == seeded["supervisor1"]
    assert [e["verb"] for e in accepted["timeline"]] == ["identify", "accept", "assign"]


async def _record(session, event) -> None:
    from backend.events import record_event

    record_event(session, event)


def test_refused_signoff_raises_a_candidate_and_an_inactive_rule_nothing(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality = as_role("quality")
    no_rules(client, quality, "refused_signoff")
    quiet = drive(client, as_role, world, "disputed")
    assert not [c for c in ncs(client, quality, source="refused_signoff") if c["job_id"] == quiet["id"]]

    only_rule(client, quality, "refused_signoff", severity="high")
    job = drive(client, as_role, world, "disputed")
    found = [c for c in ncs(client, quality, source="refused_signoff") if c["job_id"] == job["id"]]
    assert len(found) == 1 and found[0]["status"] == "candidate" and found[0]["severity"] == "high"
    candidate = found[0]
    event = SignoffRecorded(
        UUID(job["id"]), UUID(candidate["source_id"]), False, None, None, 2, None, None, "", utcnow()
    )
    unit_of_work(client.app.state.settings, lambda s: _record(s, event))
    assert len([c for c in ncs(client, quality, source="refused_signoff") if c["job_id"] == job["id"]]) == 1
    dismissed = verb(client, quality, candidate["id"], "dismiss", reason="the customer signed later")
    assert dismissed["status"] == "dismissed"
    assert client.post(f"{NC_PATH}/{candidate['id']}/dismiss", headers=quality, json={}).status_code == 400


def test_a_repair_soon_after_work_on_the_same_unit_is_a_repeat_visit(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality = as_role("quality")
    only_rule(client, quality, "repeat_visit", window_days=30)
    earlier = drive(client, as_role, world, "approved")
    # A scheduled maintenance on the same unit is a planned visit: nothing.
    new_job(client, as_role, world)
    assert not ncs(client, quality, source="repeat_visit")
    repair = new_job(
        client, as_role, world, type="repair", procedure_id=None, description="Dispenser jams again"
    )
    found = ncs(client, quality, source="repeat_visit")
    assert len(found) == 1, found
    candidate = found[0]
    assert candidate["source_id"] == repair["id"] and candidate["job_id"] == earlier["id"]
    assert earlier["number"] in candidate["description"] and repair["number"] in candidate["description"]
    assert candidate["technician_id"] == seeded["tech1"] and candidate["unit_id"] == world.unit["id"]


def test_an_unsatisfied_callback_raises_a_candidate(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality = as_role("quality")
    only_rule(client, quality, "unsatisfied_callback", threshold=2)
    job = drive(client, as_role, world, "approved")
    tech, team = UUID(seeded["tech1"]), UUID(job["team_id"])
    callback_id = uuid4()
    for event in (
        CallbackCompleted(uuid4(), UUID(job["id"]), tech, team, True, 4),
        CallbackCompleted(uuid4(), UUID(job["id"]), tech, team, False, None),
        CallbackCompleted(callback_id, UUID(job["id"]), tech, team, True, 2),
        CallbackCompleted(callback_id, UUID(job["id"]), tech, team, True, 2),
    ):
        unit_of_work(client.app.state.settings, lambda s, e=event: _record(s, e))
    found = [c for c in ncs(client, quality, source="callback") if c["job_id"] == job["id"]]
    assert len(found) == 1 and found[0]["source_id"] == str(callback_id) and found[0]["status"] == "candidate"


def _complaint(session, job: dict, technician_id: str, **fields) -> Complaint:
    now = utcnow()
    complaint = Complaint(
        number=f"CMP-T{uuid4().hex[:8]}",
        channel="phone",
        summary="Technician left the branch dirty",
        job_id=UUID(job["id"]),
        technician_id=UUID(technician_id),
        team_id=UUID(job["team_id"]),
        respond_by=now + timedelta(hours=4),
        resolve_by=now + timedelta(days=3),
        **fields,
    )
    session.add(complaint)
    return complaint


def test_a_complaint_opens_one_nonconformance(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    quality = as_role("quality")
    job = drive(client, as_role, world, "approved")

    async def make(session):
        complaint = _complaint(session, job, seeded["tech1"])
        await session.flush()
        return str(complaint.id)

    complaint_id = unit_of_work(client.app.state.settings, make)
    path = f"/api/quality/complaints/{complaint_id}/nonconformance"
    assert client.post(path, headers=as_role("supervisor1")).status_code == 403
    assert (
        client.post(f"/api/quality/complaints/{uuid4()}/nonconformance", headers=quality).status_code == 404
    )
    first = client.post(path, headers=quality)
    assert first.status_code == 201, first.text
    nc = first.json()
    assert nc["source"] == "complaint" and nc["complaint_id"] == complaint_id and nc["job_id"] == job["id"]
    assert nc["technician_id"] == seeded["tech1"] and nc["status"] == "open"
    again = client.post(path, headers=quality)
    assert again.status_code == 200 and again.json()["id"] == nc["id"]
    # By hand as well: the same complaint is already identified.
    refused = client.post(
        NC_PATH, headers=quality, json={"source": "complaint", "source_id": complaint_id, "title": "x"}
    )
    assert refused.status_code == 409 and nc["number"] in refused.json()["message"]


def test_the_overdue_scan_tells_owners_once_a_day(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    settings = client.app.state.settings
    _job, nc = _to_root_cause(client, as_role, world)
    action = _action(client, as_role("supervisor1"), nc["id"], world.people["tech1"])
    job = drive(client, as_role, world, "approved")

    async def make_late(session):
        past = utcnow() - timedelta(hours=1)
        await session.execute(
            update(Nonconformance).where(Nonconformance.id == UUID(nc["id"])).values(due_at=past)
        )
        await session.execute(
            update(QualityAction).where(QualityAction.id == UUID(action["id"])).values(due_at=past)
        )
        complaint = _complaint(session, job, seeded["tech1"], assignee_id=UUID(seeded["quality"]))
        await session.flush()
        complaint.respond_by = past
        done = _complaint(session, job, seeded["tech1"], status="resolved")
        done.respond_by = done.resolve_by = past

    unit_of_work(settings, make_late)

    def scan(at):
        async def work(session):
            counts = await scan_overdue(session, at)
            pending = session.sync_session.info.get(PENDING_EVENTS_KEY, [])
            events = [
                e for e in pending if isinstance(e, QualityItemOverdue) and e.kind != "callback"
            ]  # callbacks made by the feedback policies are not this test's
            return counts, events

        return unit_of_work(settings, work)

    now = utcnow()
    counts, events = scan(now)
    assert counts["nonconformances"] == 1 and counts["actions"] == 1 and counts["complaints"] == 1
    assert {(e.kind, str(e.assignee_id)) for e in events} == {
        ("nonconformance", seeded["supervisor1"]),
        ("action", seeded["tech1"]),
        ("complaint", seeded["quality"]),
    }
    counts, events = scan(now + timedelta(hours=1))
    assert sum(counts.values()) == 0 and not events
    counts, events = scan(now + timedelta(hours=25))
    assert counts["nonconformances"] == 1 and counts["actions"] == 1 and len(events) == 3
    overdue = ncs(client, as_role("quality"), overdue="true")
    assert [n["id"] for n in overdue] == [nc["id"]] and overdue[0]["overdue"]


def test_owners_are_told_when_an_item_becomes_theirs(client, as_role, seeded):
    quality, tech1 = as_role("quality"), as_role("tech1")
    nc = identify(client, quality)

    async def work(session):
        service = LoopService(session)
        actor = CurrentUser.acting_as(await session.get(User, UUID(seeded["quality"])))
        owner, tech, lead2 = (UUID(seeded[name]) for name in ("supervisor1", "tech1", "supervisor2"))
        await service.assign(actor, UUID(nc["id"]), owner, utcnow() + timedelta(days=5))
        await service.record_root_cause(actor, UUID(nc["id"]), "No checklist for uniforms", "method")
        action = await service.add_action(
            actor,
            UUID(nc["id"]),
            kind="preventive",
            description="Uniform check at depot",
            owner_id=tech,
            due_at=utcnow() + timedelta(days=2),
        )
        await service.action_assign(actor, action.id, lead2, utcnow() + timedelta(days=3))
        pending = session.sync_session.info.get(PENDING_EVENTS_KEY, [])
        return [(e.kind, str(e.assignee_id)) for e in pending if isinstance(e, QualityItemAssigned)], str(
            action.id
        )

    told, action_id = unit_of_work(client.app.state.settings, work)
    assert told == [
        ("nonconformance", seeded["supervisor1"]),
        ("action", seeded["tech1"]),
        ("action", seeded["supervisor2"]),
    ]
    # Through the API: the NC's owner reassigns an action; its former owner may not.
    path = f"/api/quality/actions/{action_id}/assign"
    body = {"owner_id": seeded["tech1"], "due_at": due(4)}
    assert client.post(path, headers=tech1, json=body).status_code == 404  # no longer theirs: not visible
    moved = client.post(path, headers=as_role("supervisor1"), json=body)
    assert moved.status_code == 200 and moved.json()["owner_id"] == seeded["tech1"]
    assert client.post(path, headers=tech1, json=body).status_code == 403
    refused = client.post(path, headers=quality, json={**body, "due_at": due(-1)})
    assert refused.status_code == 400 and refused.json()["field"] == "due_at"
    timeline = client.get(f"{NC_PATH}/{nc['id']}", headers=quality).json()["timeline"]
    assert [e["verb"] for e in timeline][-2:] == ["action-assign", "action-assign"]
