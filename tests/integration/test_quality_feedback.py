"""The customer's voice: sign-off ratings become evaluations (once, however often replayed), the
technician's self-assessment, callback policies and the callbacks they create, callback outcomes, survey
templates, and survey links the customer answers on their own phone through the public pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from backend.db import create_engine as create_async_db_engine
from backend.db import create_session_factory
from backend.quality.feedback import tokens
from backend.quality.feedback.services import draws, seed_feedback_defaults
from tests.conftest import TEST_SECRET, run_async
from tests.jobs_helpers import build_world, drive, signature_png, signoff_body, upload
from tests.sync_helpers import SyncClient


def run_sql(settings, statement: str, **params) -> list:
    async def go():
        engine = create_async_db_engine(settings)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            await engine.dispose()

    return run_async(go())


@pytest.fixture
def defaults(settings, seeded) -> None:
    """The default survey template and callback policies, as the demo seed makes them."""

    async def go():
        engine = create_async_db_engine(settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                await seed_feedback_defaults(session, UUID(seeded["quality"]))
        finally:
            await engine.dispose()

    run_async(go())


def only_policies(client, as_role, *policies: dict) -> list[dict]:
    """Deactivate every policy, then create ``policies``: the test decides who gets called back."""
    quality = as_role("quality")
    for policy in client.get("/api/quality/callback-policies", headers=quality).json():
        if policy["active"]:
            r = client.patch(
                f"/api/quality/callback-policies/{policy['id']}", headers=quality, json={"active": False}
            )
            assert r.status_code == 200, r.text
    made = []
    for body in policies:
        r = client.post("/api/quality/callback-policies", headers=quality, json=body)
        assert r.status_code == 201, r.text
        made.append(r.json())
    return made


def evaluations(client, headers, **params) -> dict:
    r = client.get("/api/quality/evaluations", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def callbacks(client, headers, **params) -> dict:
    r = client.get("/api/quality/callbacks", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def to_work_done(client, as_role, world) -> dict:
    return drive(client, as_role, world, "work_done")


def sign(client, as_role, job: dict, accepted: bool = True, tech: str = "tech1", **ratings) -> dict:
    headers = as_role(tech)
    signature = upload(client, headers, signature_png(), "image/png")
    body = signoff_body(signature, accepted=accepted, **ratings)
    r = client.post(f"/api/jobs/{job['id']}/signoff", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return body


# --- evaluations ------------------------------------------------------------------------------------


def test_a_signoff_becomes_one_evaluation_with_its_three_scores_even_when_replayed(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = to_work_done(client, as_role, world)
    tech = as_role("tech1")
    signature = upload(client, tech, signature_png(), "image/png")
    body = signoff_body(signature, rating=4, rating_technical=5, rating_service=3)
    phone = SyncClient(client, tech)
    mutation = phone.mutation("job.signoff", job_id=job["id"], **body)
    assert phone.push([mutation])["results"][0]["status"] == "applied"
    # The phone did not hear back and pushes again; another phone replays the same sign-off by REST.
    assert phone.push([mutation])["results"][0]["status"] == "duplicate"
    again = client.post(f"/api/jobs/{job['id']}/signoff", headers=tech, json=body)
    assert again.status_code in (200, 201), again.text

    page = evaluations(client, as_role("quality"), job_id=job["id"])
    assert page["total"] == 1
    (evaluation,) = page["items"]
    assert evaluation["source"] == "signoff" and evaluation["source_id"] == body["signoff_id"]
    assert (evaluation["overall"], evaluation["technical"], evaluation["service"]) == (4, 5, 3)
    assert evaluation["technician_id"] == seeded["tech1"] and evaluation["comment"] == body["comment"]

    # Scope: the technician sees their own, the team's supervisor the team's, another supervisor none.
    assert evaluations(client, tech)["total"] == 1
    assert evaluations(client, as_role("tech2"))["total"] == 0
    assert evaluations(client, as_role("supervisor1"), source="signoff")["total"] == 1
    assert evaluations(client, as_role("supervisor2"))["total"] == 0
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert evaluations(client, as_role("manager"), **{"from": later})["total"] == 0
    assert client.get("/api/quality/evaluations").status_code == 401
    assert client.get("/api/quality/evaluations", headers=tech, params={"source": "nope"}).status_code == 400


def test_self_assessment_by_the_assignee_once_after_the_work(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    on_site = drive(client, as_role, world, "on_site")
    job = to_work_done(client, as_role, world)
    tech = as_role("tech1")
    url = f"/api/jobs/{job['id']}/self-assessment"
    body = {"overall": 5, "technical": 4, "service": 5, "comment": "all steps done"}

    early = client.post(f"/api/jobs/{on_site['id']}/self-assessment", headers=tech, json=body)
    assert early.status_code == 409 and "on_site" in early.json()["message"]
    assert client.post(url, headers=tech, json={**body, "overall": 6}).status_code == 400
    unknown = client.post(url, headers=tech, json={**body, "stars": 5})
    assert unknown.status_code == 400 and unknown.json()["field"] == "stars"
    assert client.post(url, headers=as_role("tech2"), json=body).status_code == 404
    assert client.post(url, headers=as_role("supervisor1"), json=body).status_code == 403
    assert client.post(url, json=body).status_code == 401

    made = client.post(url, headers=tech, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["source"] == "self" and made.json()["technician_id"] == seeded["tech1"]
    again = client.post(url, headers=tech, json=body)
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_ASSESSED"
    sign(client, as_role, job, rating=3)
    sources = {e["source"]: e["overall"] for e in evaluations(client, tech, job_id=job["id"])["items"]}
    assert sources == {"self": 5, "signoff": 3}


# --- callback policies ------------------------------------------------------------------------------


def test_callback_policies_are_validated_and_kept_by_quality(client, as_role, seeded):
    quality = as_role("quality")
    url = "/api/quality/callback-policies"
    good = {"name": "Every install", "trigger": "job_approved", "job_type": "install", "due_hours": 48}
    for bad, field in (
        ({**good, "trigger": "sometimes"}, "trigger"),
        ({**good, "share_percent": 101}, "share_percent"),
        ({**good, "due_hours": 0}, "due_hours"),
        ({**good, "due_hours": 721}, "due_hours"),
        ({**good, "job_type": "party"}, "job_type"),
        ({**good, "color": "red"}, "color"),
    ):
        r = client.post(url, headers=quality, json=bad)
        assert r.status_code == 400 and r.json()["field"] == field, (bad, r.text)
    low = client.post(url, headers=quality, json={"name": "Low", "trigger": "low_rating"})
    assert low.status_code == 422 and low.json()["field"] == "rating_at_or_below"
    mixed = client.post(url, headers=quality, json={**good, "rating_at_or_below": 2})
    assert mixed.status_code == 422 and mixed.json()["field"] == "rating_at_or_below"
    not_quality = client.post(url, headers=quality, json={**good, "assignee_id": seeded["tech1"]})
    assert not_quality.status_code == 422 and not_quality.json()["field"] == "assignee_id"
    for who in ("supervisor1", "tech1"):
        assert client.post(url, headers=as_role(who), json=good).status_code == 403
        assert client.get(url, headers=as_role(who)).status_code == 403
    assert client.get(url).status_code == 401

    made = client.post(url, headers=as_role("manager"), json=good)
    assert made.status_code == 201, made.text
    policy = made.json()
    assert policy["share_percent"] == 100 and policy["active"] is True
    off = client.patch(f"{url}/{policy['id']}", headers=quality, json={"active": False, "share_percent": 30})
    assert off.status_code == 200 and (off.json()["active"], off.json()["share_percent"]) == (False, 30)
    assert client.patch(f"{url}/{uuid4()}", headers=quality, json={"active": True}).status_code == 404
    assert (
        client.patch(f"{url}/{policy['id']}", headers=quality, json={"trigger": "low_rating"}).status_code
        == 400
    )


def test_the_share_of_a_policy_is_a_stable_draw():
    policy = uuid4()
    jobs = [uuid4() for _ in range(400)]
    drawn = [draws(policy, job, 20) for job in jobs]
    assert drawn == [draws(policy, job, 20) for job in jobs]  # the same every time, in every process
    assert 40 <= sum(drawn) <= 120  # about a fifth
    assert all(draws(policy, job, 100) for job in jobs) and not any(draws(policy, job, 0) for job in jobs)


def test_approvals_are_called_back_by_job_type_and_share(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    only_policies(
        client,
        as_role,
        {"name": "No maintenance", "trigger": "job_approved", "job_type": "maintenance", "share_percent": 0},
        {"name": "Every install", "trigger": "job_approved", "job_type": "install"},
    )
    job = drive(client, as_role, world, "approved")
    quality = as_role("quality")
    assert callbacks(client, quality, job_id=job["id"])["total"] == 0

    only_policies(
        client,
        as_role,
        {"name": "All maintenance", "trigger": "job_approved", "job_type": "maintenance", "due_hours": 24},
    )
    job = drive(client, as_role, world, "approved")
    page = callbacks(client, quality, job_id=job["id"])
    assert page["total"] == 1
    callback = page["items"][0]
    assert re.fullmatch(r"CB-\d{6}", callback["number"]) and callback["reason"] == "job_approved"
    assert callback["assignee_id"] == seeded["quality"] and callback["technician_id"] == seeded["tech1"]
    due = datetime.fromisoformat(callback["due_at"])
    assert timedelta(hours=23) < due - datetime.now(UTC) <= timedelta(hours=24)
    # Supervisors see their teams' callbacks, read-only; technicians none.
    assert callbacks(client, as_role("supervisor1"))["total"] == 1
    assert callbacks(client, as_role("supervisor2"))["total"] == 0
    assert (
        client.get(f"/api/quality/callbacks/{callback['id']}", headers=as_role("supervisor2")).status_code
        == 404
    )
    assert client.get("/api/quality/callbacks", headers=as_role("tech1")).status_code == 403
    assert callbacks(client, quality, mine="true")["total"] == 1
    assert callbacks(client, quality, overdue="true")["total"] == 0


def test_a_low_rating_is_called_back(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    only_policies(client, as_role, {"name": "Low", "trigger": "low_rating", "rating_at_or_below": 2})
    happy = to_work_done(client, as_role, world)
    sign(client, as_role, happy, rating=3)
    unhappy = to_work_done(client, as_role, world)
    sign(client, as_role, unhappy, rating=2)
    quality = as_role("quality")
    assert callbacks(client, quality, job_id=happy["id"])["total"] == 0
    (callback,) = callbacks(client, quality, job_id=unhappy["id"])["items"]
    assert callback["reason"] == "low_rating"


def test_a_refused_signoff_is_called_back_and_becomes_a_complaint_once(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    only_policies(
        client,
        as_role,
        {"name": "Refused", "trigger": "refused_signoff", "due_hours": 8},
        {"name": "Low", "trigger": "low_rating", "rating_at_or_below": 2},
    )
    job = to_work_done(client, as_role, world)
    body = sign(client, as_role, job, accepted=False, rating=1, comment="还是吞卡 Still swallowing cards")
    quality = as_role("quality")
    # The customer is called once: the refusal's callback; the low rating adds no second call.
    (callback,) = callbacks(client, quality, job_id=job["id"])["items"]
    assert callback["reason"] == "refused_signoff"
    complaints = client.get("/api/quality/complaints", headers=quality, params={"job_id": job["id"]}).json()
    assert complaints["total"] == 1
    complaint = complaints["items"][0]
    assert (complaint["channel"], complaint["severity"]) == ("refused_signoff", "high")
    assert complaint["source_id"] == body["signoff_id"] and complaint["technician_id"] == seeded["tech1"]
    assert "Still swallowing cards" in complaint["details"]
    # The sign-off replayed changes nothing.
    again = client.post(f"/api/jobs/{job['id']}/signoff", headers=as_role("tech1"), json=body)
    assert again.status_code == 200, again.text
    assert client.get("/api/quality/complaints", headers=quality).json()["total"] == 1
    assert callbacks(client, quality)["total"] == 1
    assert evaluations(client, quality, job_id=job["id"])["total"] == 1


# --- callbacks --------------------------------------------------------------------------------------


def test_a_callback_from_call_to_outcome(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    only_policies(client, as_role)
    job = drive(client, as_role, world, "approved")
    quality, manager = as_role("quality"), as_role("manager")
    url = "/api/quality/callbacks"
    assert client.post(url, headers=as_role("supervisor1"), json={"job_id": job["id"]}).status_code == 403
    assert client.post(url, headers=quality, json={"job_id": str(uuid4())}).status_code == 404
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert client.post(url, headers=quality, json={"job_id": job["id"], "due_at": past}).status_code == 422
    made = client.post(url, headers=quality, json={"job_id": job["id"], "comments": "ask about the noise"})
    assert made.status_code == 201, made.text
    callback = made.json()
    assert callback["reason"] == "manual" and callback["assignee_id"] == seeded["quality"]
    assert client.post(url, headers=quality, json={"job_id": job["id"]}).status_code == 409
    base = f"{url}/{callback['id']}"

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    tried = client.post(f"{base}/attempt", headers=quality, json={"note": "no answer", "due_at": later})
    assert tried.status_code == 200 and tried.json()["attempts"] == 1
    assert tried.json()["due_at"].startswith(later[:16])

    # A second quality officer takes it over.
    officer = client.post(
        "/api/users",
        headers=manager,
        json={"username": "quality2", "display_name": "QA 2", "role": "quality", "password": "fieldq-demo-2"},
    )
    assert officer.status_code == 201, officer.text
    to_tech = client.post(f"{base}/assign", headers=quality, json={"assignee_id": seeded["tech1"]})
    assert to_tech.status_code == 422 and to_tech.json()["field"] == "assignee_id"
    moved = client.post(f"{base}/assign", headers=quality, json={"assignee_id": officer.json()["id"]})
    assert moved.status_code == 200 and moved.json()["assignee_id"] == officer.json()["id"]

    no_score = client.post(f"{base}/outcome", headers=quality, json={"reached": True})
    assert no_score.status_code == 422 and no_score.json()["field"] == "satisfaction"
    odd = client.post(f"{base}/outcome", headers=quality, json={"reached": False, "satisfaction": 3})
    assert odd.status_code == 422
    assert (
        client.post(f"{base}/outcome", headers=quality, json={"reached": True, "satisfaction": 9}).status_code
        == 400
    )
    for who in ("supervisor1", "tech1"):
        assert (
            client.post(f"{base}/outcome", headers=as_role(who), json={"reached": False}).status_code == 403
        )
    outcome = {
        "reached": True,
        "satisfaction": 2,
        "rating_technical": 3,
        "rating_service": 1,
        "comments": "The technician was rude",
        "complaint": {"summary": "Rude technician", "severity": "high"},
    }
    done = client.post(f"{base}/outcome", headers=manager, json=outcome)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "done" and result["reached"] is True and result["satisfaction"] == 2
    assert result["evaluation_id"] and result["complaint_id"]
    (evaluation,) = evaluations(client, quality, source="callback")["items"]
    assert (evaluation["overall"], evaluation["technical"], evaluation["service"]) == (2, 3, 1)
    assert evaluation["source_id"] == callback["id"] and evaluation["technician_id"] == seeded["tech1"]
    complaint = client.get(f"/api/quality/complaints/{result['complaint_id']}", headers=quality).json()
    assert (complaint["channel"], complaint["severity"], complaint["job_id"]) == (
        "callback",
        "high",
        job["id"],
    )

    # Done is final.
    for action, body in (
        ("attempt", {}),
        ("outcome", {"reached": False}),
        ("cancel", {"reason": "x"}),
        ("assign", {"assignee_id": seeded["quality"]}),
    ):
        refused = client.post(f"{base}/{action}", headers=quality, json=body)
        assert refused.status_code == 409 and "done" in refused.json()["message"], (action, refused.text)
    assert client.get(base, headers=as_role("supervisor1")).json()["status"] == "done"


def test_a_cancelled_callback_and_an_unreached_customer(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    only_policies(client, as_role)
    first, second = (drive(client, as_role, world, "approved") for _ in range(2))
    quality = as_role("quality")
    one = client.post("/api/quality/callbacks", headers=quality, json={"job_id": first["id"]}).json()
    two = client.post("/api/quality/callbacks", headers=quality, json={"job_id": second["id"]}).json()
    assert (
        client.post(f"/api/quality/callbacks/{one['id']}/cancel", headers=quality, json={}).status_code == 400
    )
    cancelled = client.post(
        f"/api/quality/callbacks/{one['id']}/cancel", headers=quality, json={"reason": "customer closed"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    gave_up = client.post(
        f"/api/quality/callbacks/{two['id']}/outcome", headers=quality, json={"reached": False}
    )
    assert gave_up.status_code == 200
    assert (gave_up.json()["status"], gave_up.json()["reached"], gave_up.json()["evaluation_id"]) == (
        "done",
        False,
        None,
    )
    assert evaluations(client, quality, source="callback")["total"] == 0
    assert callbacks(client, quality, status="open")["total"] == 0


# --- survey templates -------------------------------------------------------------------------------


def test_survey_templates_are_validated_and_revised(client, as_role, seeded):
    quality = as_role("quality")
    url = "/api/quality/survey-templates"
    question = {"key": "overall", "text": "Overall?", "kind": "rating", "score": "overall", "required": True}
    good = {"code": "install", "title": "After your install", "questions": [question]}
    for bad, status, field in (
        ({**good, "questions": []}, 400, "questions"),
        ({**good, "questions": [{**question, "key": f"q{i}"} for i in range(31)]}, 400, "questions"),
        ({**good, "questions": [{**question, "key": "Bad Key"}]}, 400, "questions[0].key"),
        ({**good, "questions": [{**question, "kind": "slider"}]}, 400, "questions[0].kind"),
        ({**good, "questions": [{**question, "text": "x" * 301}]}, 400, "questions[0].text"),
        ({**good, "questions": [question, question]}, 422, "questions[1].key"),
        ({**good, "questions": [question, {**question, "key": "again"}]}, 422, "questions[1].score"),
        ({**good, "questions": [{**question, "kind": "text"}]}, 422, "questions[0].score"),
        (
            {**good, "questions": [{"key": "c", "text": "Pick", "kind": "choice", "choices": ["a"]}]},
            422,
            "questions[0].choices",
        ),
        (
            {**good, "questions": [{"key": "c", "text": "Y?", "kind": "yes_no", "choices": ["a", "b"]}]},
            422,
            "questions[0].choices",
        ),
        ({**good, "extra": 1}, 400, "extra"),
    ):
        r = client.post(url, headers=quality, json=bad)
        assert (r.status_code, r.json().get("field")) == (status, field), (bad, r.text)
    assert client.post(url, headers=as_role("supervisor1"), json=good).status_code == 403

    first = client.post(url, headers=quality, json=good)
    assert first.status_code == 201 and first.json()["revision"] == 1
    choice = {
        "key": "channel",
        "text": "How did you hear of us?",
        "kind": "choice",
        "choices": ["bank", "web"],
    }
    second = client.post(url, headers=as_role("manager"), json={**good, "questions": [question, choice]})
    assert second.status_code == 201 and second.json()["revision"] == 2
    current = client.get(url, headers=quality).json()
    # (The demo company may have its own "default" template.)
    assert [(t["code"], t["revision"]) for t in current if t["code"] == "install"] == [("install", 2)]
    everything = client.get(url, headers=quality, params={"all": "true"}).json()
    assert [(t["revision"], t["is_current"]) for t in everything if t["code"] == "install"] == [
        (1, False),
        (2, True),
    ]


# --- surveys ----------------------------------------------------------------------------------------


def survey_link(client, headers, job_id: str, **body) -> dict:
    r = client.post(f"/api/jobs/{job_id}/survey", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def form(token: str, **answers) -> dict:
    return {"token": token, **{k: str(v) for k, v in answers.items()}}


def test_the_customer_answers_a_survey_on_their_own_phone(client, as_role, seeded, defaults):
    world = build_world(client, as_role, seeded)
    only_policies(client, as_role, {"name": "Low", "trigger": "low_rating", "rating_at_or_below": 2})
    job = drive(client, as_role, world, "awaiting_approval")
    link = survey_link(client, as_role("supervisor1"), job["id"], expires_in_days=7)
    assert link["path"].startswith("/s/") and link["url"].endswith(link["path"]) and link["status"] == "sent"
    assert (
        timedelta(days=6)
        < datetime.fromisoformat(link["expires_at"]) - datetime.now(UTC)
        <= timedelta(days=7)
    )
    token = link["path"].removeprefix("/s/")

    opened = client.get(link["path"])
    assert opened.status_code == 200 and opened.headers["content-type"].startswith("text/html")
    page = opened.text
    assert job["number"] in page and world.site["name"] in page and "<script" not in page
    assert 'name="overall"' in page and 'name="contact_me"' in page and f'value="{token}"' in page
    assert "script-src 'self'" in opened.headers["content-security-policy"]
    assert client.get("/s/survey.css").headers["content-type"].startswith("text/css")

    answers = form(
        token, overall=2, technical=4, service=1, on_time="no", comment="来晚了两小时 <b>two hours late</b>"
    )
    answered = client.post(link["path"], data=answers)
    assert answered.status_code == 200, answered.text
    assert "Thank you" in answered.text

    (evaluation,) = evaluations(client, as_role("quality"), source="survey")["items"]
    assert (evaluation["overall"], evaluation["technical"], evaluation["service"]) == (2, 4, 1)
    assert evaluation["technician_id"] == seeded["tech1"] and "two hours late" in evaluation["comment"]
    # Overall 2 with a comment is a complaint; a rating of 2 calls the customer back.
    quality = as_role("quality")
    (complaint,) = client.get(
        "/api/quality/complaints", headers=quality, params={"channel": "survey"}
    ).json()["items"]
    assert complaint["job_id"] == job["id"] and complaint["source_id"] == link["id"]
    assert callbacks(client, quality, job_id=job["id"])["items"][0]["reason"] == "low_rating"
    surveys = client.get(f"/api/jobs/{job['id']}/surveys", headers=as_role("supervisor1")).json()
    assert (
        surveys[0]["status"] == "answered"
        and surveys[0]["answers"]["overall"] == 2
        and surveys[0]["url"] is None
    )
    assert surveys[0]["answers"]["on_time"] is False and surveys[0]["opened_at"]

    # Single use: the link again, opened or posted.
    for response in (client.get(link["path"]), client.post(link["path"], data=answers)):
        assert response.status_code == 409 and "already answered" in response.text
    assert client.get("/api/quality/complaints", headers=quality).json()["total"] == 1


def test_bad_expired_and_revoked_links_get_clear_pages(client, as_role, seeded, settings, defaults):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "approved")
    quality = as_role("quality")
    link = survey_link(client, quality, job["id"])
    token = link["path"].removeprefix("/s/")
    survey_hex, expiry, nonce, signature = token.split(".")

    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    tampered = [
        f"{survey_hex}.{expiry}.{nonce}.{flipped}",
        f"{survey_hex}.{int(expiry) + 86400}.{nonce}.{signature}",  # a longer life, same signature
        f"{uuid4().hex}.{expiry}.{nonce}.{signature}",
        "garbage",
        "a" * 500,
        # Signed with another server's key.
        tokens.make_token(
            "another-secret-" + "y" * 40, UUID(survey_hex), datetime.fromtimestamp(int(expiry), UTC), nonce
        ),
    ]
    for bad in tampered:
        for response in (client.get(f"/s/{bad}"), client.post(f"/s/{bad}", data=form(bad, overall=5))):
            assert response.status_code == 400, (bad, response.status_code)
            assert "not valid" in response.text and response.headers["content-type"].startswith("text/html")
    # The form must carry the link's own token.
    wrong = client.post(link["path"], data=form("something-else", overall=5))
    assert wrong.status_code == 400 and "not valid" in wrong.text

    # Expired: a link whose expiry passed (the row and the token agree on it).
    expired = survey_link(client, quality, job["id"])
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    run_sql(
        settings,
        "UPDATE survey SET expires_at = :at WHERE id = :id",
        at=past,
        id=UUID(expired["id"]).hex if settings.database_url.startswith("sqlite") else UUID(expired["id"]),
    )
    nonce = expired["path"].split(".")[2]
    old_token = tokens.make_token(TEST_SECRET, UUID(expired["id"]), past, nonce)
    gone = client.get(f"/s/{old_token}")
    assert gone.status_code == 410 and "expired on" in gone.text and f"{past:%Y-%m-%d}" in gone.text

    revoked = client.post(f"/api/quality/surveys/{link['id']}/revoke", headers=quality)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    page = client.get(link["path"])
    assert page.status_code == 410 and "withdrawn" in page.text
    assert client.post(f"/api/quality/surveys/{link['id']}/revoke", headers=quality).status_code == 409
    assert (
        client.post(f"/api/quality/surveys/{link['id']}/revoke", headers=as_role("supervisor1")).status_code
        == 403
    )
    assert evaluations(client, quality, source="survey")["total"] == 0


def test_survey_answers_are_checked_and_a_request_to_be_contacted_is_a_complaint(
    client, as_role, seeded, defaults
):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "disputed")
    link = survey_link(client, as_role("tech1"), job["id"])
    token = link["path"].removeprefix("/s/")
    for answers, problem in (
        (form(token, technical=4), "Please answer this question"),  # overall is required
        (form(token, overall=9), "Choose 1 to 5"),
        (form(token, overall=4, contact_me="maybe"), "Choose yes or no"),
        (form(token, overall=4, comment="x" * 2001), "At most 2000"),
    ):
        refused = client.post(link["path"], data=answers)
        assert refused.status_code == 400 and problem in refused.text, refused.text
        assert 'name="overall"' in refused.text  # the form again, to fix
    big = client.post(
        link["path"],
        content=b"token=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code in (400, 413)
    quality = as_role("quality")
    assert evaluations(client, quality, source="survey")["total"] == 0

    ok = client.post(
        link["path"], data=form(token, overall=4, contact_me="yes", comment="请回电 Please call me")
    )
    assert ok.status_code == 200, ok.text
    complaints = client.get("/api/quality/complaints", headers=quality, params={"channel": "survey"}).json()
    assert complaints["total"] == 1 and "contacted" in complaints["items"][0]["summary"]


def test_who_may_send_a_survey_and_when(client, as_role, seeded, defaults):
    world = build_world(client, as_role, seeded)
    done = drive(client, as_role, world, "awaiting_approval")
    on_site = drive(client, as_role, world, "on_site")
    url = f"/api/jobs/{done['id']}/survey"
    early = client.post(f"/api/jobs/{on_site['id']}/survey", headers=as_role("quality"), json={})
    assert early.status_code == 409 and "on_site" in early.json()["message"]
    assert client.post(url, headers=as_role("supervisor2"), json={}).status_code == 404
    assert client.post(url, headers=as_role("tech2"), json={}).status_code == 404
    assert client.post(url, json={}).status_code == 401
    assert client.post(url, headers=as_role("quality"), json={"expires_in_days": 61}).status_code == 400
    unknown = client.post(url, headers=as_role("quality"), json={"template_code": "nope"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "template_code"
    assert client.post(url, headers=as_role("quality"), json={"channel": "sms"}).status_code == 400
    assert client.post(url, headers=as_role("tech1"), json={}).status_code == 201
    listing = client.get(f"/api/jobs/{done['id']}/surveys", headers=as_role("quality"))
    assert listing.status_code == 200 and len(listing.json()) == 1 and listing.json()[0]["url"]
    assert client.get(f"/api/jobs/{done['id']}/surveys", headers=as_role("tech1")).status_code == 403
    assert client.get(f"/api/jobs/{done['id']}/surveys", headers=as_role("supervisor2")).status_code == 404
