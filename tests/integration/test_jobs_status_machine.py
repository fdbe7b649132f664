"""The status machine through the HTTP API: every status × every requested `to` × every kind of caller,
and the other verbs that move a job (dispatch, sign-off, approval) across the same statuses and callers.

The expected answer of each cell comes from SYNC.md ("Jobs") and the scope rules (a technician sees the
jobs assigned to them, a supervisor their teams' jobs, quality and managers every job), written out
below, not from backend.jobs.workflow. One job per status serves every refused cell (a refused request
changes nothing, which is checked); a cell that succeeds gets a job of its own, taken from a pool that
earlier successes fill, so the whole matrix drives a few dozen jobs, not hundreds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from tests.jobs_helpers import (
    build_world,
    do_steps,
    drive,
    ids,
    jpeg_photo,
    new_job,
    now_iso,
    signature_png,
    signoff_body,
    transition,
    upload,
)

STATUSES = (
    "new",
    "assigned",
    "accepted",
    "en_route",
    "on_site",
    "work_done",
    "incomplete",
    "awaiting_approval",
    "returned",
    "approved",
    "disputed",
    "cancelled",
)
# The assignee, a teammate, a technician of team 2, the team's supervisor, team 2's supervisor, quality,
# a manager. Every job of the matrix belongs to team 1 and (once assigned) to tech1.
CALLERS = ("tech1", "tech2", "tech5", "supervisor1", "supervisor2", "quality", "manager")
TECHNICIANS = ("tech1", "tech2", "tech5")
LEADS = ("supervisor1", "manager")
SEE_EVERY_TEAM_1_JOB = ("supervisor1", "quality", "manager")

# --- SYNC.md, "Jobs" ---------------------------------------------------------------------------------
BEFORE_WORK_DONE = ("new", "assigned", "accepted", "en_route", "on_site")
ASSIGNABLE = ("new", "assigned", "accepted", "en_route")
# Through POST /transition, by the assigned technician:
TECH_MOVES = {
    ("assigned", "accepted"),
    ("accepted", "en_route"),
    ("en_route", "on_site"),
    ("on_site", "work_done"),
    ("on_site", "incomplete"),
    ("returned", "awaiting_approval"),
}
# … and by a supervisor of the job's team (a manager acts as one):
LEAD_MOVES = {(status, "cancelled") for status in BEFORE_WORK_DONE}
NEEDS_REASON = {("on_site", "incomplete")} | LEAD_MOVES
# Edges that exist but are made through another verb; asking for them as a transition names the verb.
TECH_OTHER_VERB = {
    ("work_done", "awaiting_approval"): "USE_SIGNOFF",
    ("work_done", "disputed"): "USE_SIGNOFF",
}
LEAD_OTHER_VERB = {
    **{(status, "assigned"): "USE_DISPATCH" for status in ASSIGNABLE},
    ("awaiting_approval", "approved"): "USE_APPROVAL",
    ("awaiting_approval", "returned"): "USE_APPROVAL",
}
# Statuses a job only reaches after the customer signed.
SIGNED = ("awaiting_approval", "returned", "approved", "disputed")
REASON = "the customer postponed"


def sees(caller: str, job: dict, people: dict[str, str]) -> bool:
    if caller in SEE_EVERY_TEAM_1_JOB:
        return True
    return caller == "tech1" and job["assignee_id"] == people["tech1"]


def expect_transition(
    job: dict, caller: str, to: str, people, *, with_reason: bool
) -> tuple[int, str | None]:
    if not sees(caller, job, people):
        return 404, "NOT_FOUND"
    if caller == "quality":
        return 403, "FORBIDDEN"  # quality sees every job and moves none
    edge = (job["status"], to)
    if caller == "tech1":
        mine, mine_other, theirs = TECH_MOVES, TECH_OTHER_VERB, LEAD_MOVES | set(LEAD_OTHER_VERB)
    else:
        mine, mine_other, theirs = LEAD_MOVES, LEAD_OTHER_VERB, TECH_MOVES | set(TECH_OTHER_VERB)
    if edge in mine:
        return (422, "REASON_REQUIRED") if edge in NEEDS_REASON and not with_reason else (200, None)
    if edge in mine_other:
        return 409, mine_other[edge]
    if edge in theirs:
        return 403, "FORBIDDEN"
    return 409, "STALE_TRANSITION"


def expect_assign(job: dict, caller: str, people) -> tuple[int, str | None]:
    if caller not in ("supervisor1", "supervisor2", "manager"):
        return 403, "FORBIDDEN"  # dispatch is for supervisors and managers
    if not sees(caller, job, people):
        return 404, "NOT_FOUND"
    return (200, None) if job["status"] in ASSIGNABLE else (409, "STALE_TRANSITION")


def expect_decision(job: dict, caller: str, decision: str, people, *, with_reason: bool):
    if caller not in ("supervisor1", "supervisor2", "manager"):
        return 403, "FORBIDDEN"
    if not sees(caller, job, people):
        return 404, "NOT_FOUND"
    if job["status"] != "awaiting_approval":
        return 409, "NOT_AWAITING_APPROVAL"
    if decision == "return" and not with_reason:
        return 422, "REASON_REQUIRED"
    return 201, None


def expect_signoff(job: dict, caller: str, people) -> tuple[int, str | None]:
    if caller not in TECHNICIANS:
        return 403, "FORBIDDEN"  # the customer signs on the technician's phone
    if not sees(caller, job, people):
        return 404, "NOT_FOUND"
    if job["status"] in SIGNED:
        return 409, "ALREADY_SIGNED"
    return (201, None) if job["status"] == "work_done" else (409, "STALE_TRANSITION")


@dataclass(frozen=True)
class Cell:
    verb: str  # transition, assign, decision, signoff
    caller: str
    arg: str | bool  # the `to`, the decision, or whether the customer accepts

    def expect(self, job: dict, people, *, with_reason: bool) -> tuple[int, str | None]:
        if self.verb == "transition":
            return expect_transition(job, self.caller, self.arg, people, with_reason=with_reason)
        if self.verb == "assign":
            return expect_assign(job, self.caller, people)
        if self.verb == "decision":
            return expect_decision(job, self.caller, self.arg, people, with_reason=with_reason)
        return expect_signoff(job, self.caller, people)

    def after(self) -> str:
        """The status a successful request leaves the job in."""
        if self.verb == "transition":
            return self.arg
        if self.verb == "assign":
            return "assigned"
        if self.verb == "decision":
            return "approved" if self.arg == "approve" else "returned"
        return "awaiting_approval" if self.arg else "disputed"


CELLS = [
    *(Cell("transition", caller, to) for caller in CALLERS for to in STATUSES),
    *(Cell("assign", caller, "tech1") for caller in CALLERS),
    *(Cell("decision", caller, decision) for caller in CALLERS for decision in ("approve", "return")),
    *(Cell("signoff", caller, accepted) for caller in CALLERS for accepted in (True, False)),
]


class Matrix:
    def __init__(self, client, as_role, world) -> None:
        self.client, self.as_role, self.world = client, as_role, world
        self.people = world.people
        self.pool: dict[str, list[dict]] = defaultdict(list)
        self.drives = 0
        tech = as_role("tech1")
        self.photo = upload(client, tech, jpeg_photo(seed=3), "image/jpeg")

    def read(self, job_id: str) -> dict:
        response = self.client.get(f"/api/jobs/{job_id}", headers=self.as_role("manager"))
        assert response.status_code == 200, response.text
        return response.json()

    def record(self, job_id: str) -> dict:
        response = self.client.get(f"/api/jobs/{job_id}/record", headers=self.as_role("manager"))
        assert response.status_code == 200, response.text
        return response.json()

    def take(self, status: str) -> dict:
        if self.pool[status]:
            return self.read(self.pool[status].pop()["id"])
        self.drives += 1
        return drive(self.client, self.as_role, self.world, status)

    def send(self, cell: Cell, job: dict, *, with_reason: bool):
        headers = self.as_role(cell.caller)
        path = f"/api/jobs/{job['id']}"
        reason = REASON if with_reason else ""
        if cell.verb == "transition":
            body = {"to": cell.arg, **({"reason": reason} if with_reason else {})}
            return self.client.post(f"{path}/transition", headers=headers, json=body)
        if cell.verb == "assign":
            return self.client.post(
                f"{path}/assign", headers=headers, json={"assignee_id": self.people["tech1"]}
            )
        if cell.verb == "decision":
            return self.client.post(
                f"{path}/decision", headers=headers, json={"decision": cell.arg, "reason": reason}
            )
        # A fresh signature per request: the same image on two sign-offs is refused (SIGNATURE_REUSED).
        signature = upload(self.client, self.as_role("tech1"), signature_png(), "image/png")
        return self.client.post(
            f"{path}/signoff", headers=headers, json=signoff_body(signature, accepted=cell.arg)
        )


def check(response, expected: tuple[int, str | None], where) -> list:
    status, code = expected
    if response.status_code != status:
        return [(where, response.status_code, status, response.text[:200])]
    if code is not None and response.json().get("code") != code:
        return [(where, response.json().get("code"), code)]
    return []


def test_every_status_every_target_every_caller(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    matrix = Matrix(client, as_role, world)
    people = world.people
    for status in STATUSES:
        job = matrix.take(status)
        assert job["status"] == status and job["team_id"] is not None
        # Every job but the new one is tech1's, so the assignee's column is exercised in every status.
        assert (job["assignee_id"] == people["tech1"]) == (status != "new"), job
        before, record_before = job, matrix.record(job["id"])
        mismatches: list = []
        successes: list[Cell] = []
        # Every refused cell on this one job, asked without a reason.
        for cell in CELLS:
            expected = cell.expect(job, people, with_reason=False)
            if expected[0] < 300:
                successes.append(cell)
                continue
            response = matrix.send(cell, job, with_reason=False)
            mismatches += check(response, expected, (status, cell))
            if response.status_code == 422 and expected[1] == "REASON_REQUIRED":
                assert response.json()["field"] == "reason"
                # The same request with a reason is a success of its own.
                successes.append(cell)
        assert mismatches == [], mismatches
        # Nothing refused changed the job, its record, its sign-off or its approvals.
        after = matrix.read(job["id"])
        assert (after["status"], after["version"]) == (status, before["version"])
        assert after == before
        assert matrix.record(job["id"]) == record_before

        # Each success on a job in this status: first the ones that keep the status (reassigning an
        # assigned job to the technician it already has is a no-op), then one on this job, the rest on
        # jobs of their own.
        successes.sort(key=lambda c: c.after() != status)
        assert len({(c.verb, c.caller, c.arg) for c in successes}) == len(successes)
        target = job
        for cell in successes:
            if target is None:
                target = matrix.take(status)
            if (status, cell.arg) == ("on_site", "work_done"):
                do_steps(client, as_role("tech1"), target["id"], matrix.photo)
                target = matrix.read(target["id"])
            response = matrix.send(cell, target, with_reason=True)
            expected = cell.expect(target, people, with_reason=True)
            assert response.status_code == expected[0], (status, cell, response.text)
            now = matrix.read(target["id"])
            assert now["status"] == cell.after(), (status, cell)
            if cell.after() == status:
                assert now["version"] == target["version"], "a no-op reassignment changed the job"
                continue
            assert now["version"] > target["version"]
            if cell.verb == "transition" and cell.arg == "cancelled":
                assert now["status_reason"] == REASON and now["closed_at"] is not None
            if cell.verb == "assign":
                assert now["assignee_id"] == people["tech1"] and now["accepted_at"] is None
            if cell.arg == "accepted":
                assert now["accepted_at"] is not None
            matrix.pool[now["status"]].append(now)
            target = None
    # The pool made the matrix cheap: far fewer jobs driven than cells that succeeded.
    assert matrix.drives <= 20, matrix.drives


def test_an_invalid_target_or_reason_is_refused_without_a_change(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, tech = as_role("supervisor1"), as_role("tech1")
    job = new_job(client, as_role, world)
    unknown = transition(client, tech, job["id"], "done")
    assert unknown.status_code == 400 and unknown.json()["field"] == "to"
    blank = transition(client, lead, job["id"], "cancelled", reason="   \n ")
    assert blank.status_code == 422 and blank.json()["code"] == "REASON_REQUIRED"
    missing = client.post(f"/api/jobs/{job['id']}/transition", headers=tech, json={"reason": "x"})
    assert missing.status_code == 400 and missing.json()["field"] == "to"
    after = client.get(f"/api/jobs/{job['id']}", headers=lead).json()
    assert (after["status"], after["version"]) == ("assigned", job["version"])
    history = client.get(f"/api/jobs/{job['id']}/history", headers=lead).json()
    assert [h["kind"] for h in history] == ["created"]


def test_incomplete_creates_a_linked_follow_up_job(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead = as_role("supervisor1")
    job = drive(client, as_role, world, "on_site")
    before = {j["id"] for j in client.get("/api/jobs", headers=lead, params={"limit": 200}).json()}
    done = transition(
        client, as_role("tech1"), job["id"], "incomplete", reason="the dispenser part is on order"
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "incomplete" and done.json()["closed_at"] is not None
    jobs = client.get("/api/jobs", headers=lead, params={"limit": 200}).json()
    made = [j for j in jobs if j["id"] not in before]
    assert len(made) == 1
    follow_up = made[0]
    assert follow_up["origin_job_id"] == job["id"]
    assert follow_up["status"] == "new" and follow_up["assignee_id"] is None
    assert follow_up["source"] == "follow_up" and follow_up["team_id"] == job["team_id"]
    assert (follow_up["site_id"], follow_up["unit_id"]) == (job["site_id"], job["unit_id"])
    assert "the dispenser part is on order" in follow_up["description"]
    assert job["number"] in follow_up["description"]
    # The origin's history names the follow-up; the follow-up waits for dispatch like any new job.
    history = client.get(f"/api/jobs/{job['id']}/history", headers=lead).json()
    assert any(h["kind"] == "linked" and h["new_value"] == follow_up["id"] for h in history)
    assigned = client.post(
        f"/api/jobs/{follow_up['id']}/assign", headers=lead, json={"assignee_id": world.people["tech2"]}
    )
    assert assigned.status_code == 200 and assigned.json()["status"] == "assigned"
    # Asking again (a retried request) does not make a second follow-up.
    again = transition(
        client, as_role("tech1"), job["id"], "incomplete", reason="the dispenser part is on order"
    )
    assert again.status_code == 409 and again.json()["code"] == "STALE_TRANSITION"
    jobs = client.get("/api/jobs", headers=lead, params={"limit": 200}).json()
    assert len([j for j in jobs if j["origin_job_id"] == job["id"]]) == 1


def test_rework_and_callback_link_to_their_origin(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead = as_role("supervisor1")
    origin = drive(client, as_role, world, "approved")
    rework_id = ids()
    rework = client.post(
        f"/api/jobs/{origin['id']}/linked",
        headers=lead,
        json={
            "id": rework_id,
            "type": "rework",
            "assignee_id": world.people["tech3"],
            "scheduled_start": now_iso(timedelta(days=1)),
            "scheduled_end": now_iso(timedelta(days=1, hours=2)),
        },
    )
    assert rework.status_code == 201, rework.text
    made = rework.json()["job"]
    assert made["id"] == rework_id and made["origin_job_id"] == origin["id"] and made["type"] == "rework"
    assert made["status"] == "assigned" and made["assignee_id"] == world.people["tech3"]
    assert (made["site_id"], made["unit_id"], made["team_id"]) == (
        origin["site_id"],
        origin["unit_id"],
        origin["team_id"],
    )
    assert made["priority"] == origin["priority"] and origin["number"] in made["description"]
    # A retry with the same id answers with the same job.
    again = client.post(
        f"/api/jobs/{origin['id']}/linked",
        headers=lead,
        json={"id": rework_id, "type": "rework", "assignee_id": world.people["tech3"]},
    )
    assert again.status_code == 200 and again.json()["job"]["id"] == rework_id

    callback = client.post(
        f"/api/jobs/{origin['id']}/linked",
        headers=as_role("quality"),
        json={"type": "callback", "description": "Customer reports the fault is back"},
    )
    assert callback.status_code == 201, callback.text
    cb = callback.json()["job"]
    assert cb["origin_job_id"] == origin["id"] and cb["status"] == "new" and cb["priority"] == "normal"
    assert cb["description"] == "Customer reports the fault is back" and cb["source"] == "callback"

    # Only a rework or a callback links this way; only someone who sees the origin may link to it.
    repair = client.post(f"/api/jobs/{origin['id']}/linked", headers=lead, json={"type": "repair"})
    assert repair.status_code == 400 and repair.json()["field"] == "type"
    other_team = client.post(
        f"/api/jobs/{origin['id']}/linked", headers=as_role("supervisor2"), json={"type": "callback"}
    )
    assert other_team.status_code == 404
    tech = client.post(
        f"/api/jobs/{origin['id']}/linked", headers=as_role("tech1"), json={"type": "callback"}
    )
    assert tech.status_code == 403
    # A supervisor cannot hand the rework to another team's technician.
    foreign = client.post(
        f"/api/jobs/{origin['id']}/linked",
        headers=lead,
        json={"type": "rework", "assignee_id": world.people["tech5"]},
    )
    assert foreign.status_code == 403 and foreign.json()["field"] == "assignee_id"
    linked = [
        j
        for j in client.get("/api/jobs", headers=lead, params={"limit": 200}).json()
        if j["origin_job_id"] == origin["id"]
    ]
    assert sorted(j["type"] for j in linked) == ["callback", "rework"]
    # The origin itself is untouched.
    assert client.get(f"/api/jobs/{origin['id']}", headers=lead).json()["version"] == origin["version"]


def test_reassignment_moves_the_job_between_technicians(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, people = as_role("supervisor1"), world.people
    job = drive(client, as_role, world, "en_route")
    moved = client.post(
        f"/api/jobs/{job['id']}/assign",
        headers=lead,
        json={"assignee_id": people["tech2"], "note": "tech1 is stuck in traffic"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "assigned" and moved.json()["assignee_id"] == people["tech2"]
    assert client.get(f"/api/jobs/{job['id']}", headers=as_role("tech1")).status_code == 404
    assert client.get(f"/api/jobs/{job['id']}", headers=as_role("tech2")).status_code == 200
    # tech1's phone, still offline, asks for on_site: the job is no longer theirs.
    assert transition(client, as_role("tech1"), job["id"], "on_site").status_code == 404
    assert transition(client, as_role("tech2"), job["id"], "accepted").status_code == 200
    # A manager moves it to team 2: team 2's supervisor now sees it, team 1's no longer does.
    across = client.post(
        f"/api/jobs/{job['id']}/assign", headers=as_role("manager"), json={"assignee_id": people["tech5"]}
    )
    assert across.status_code == 200 and across.json()["team_id"] != job["team_id"]
    assert client.get(f"/api/jobs/{job['id']}", headers=as_role("supervisor2")).status_code == 200
    assert client.get(f"/api/jobs/{job['id']}", headers=lead).status_code == 404
    history = client.get(f"/api/jobs/{job['id']}/history", headers=as_role("manager")).json()
    assignees = [h["new_value"] for h in history if h["field"] == "assignee_id"]
    assert assignees == [people["tech2"], people["tech5"]]
    # Not an active technician: refused, nothing changes.
    for who in ("supervisor1", "quality"):
        bad = client.post(
            f"/api/jobs/{job['id']}/assign", headers=as_role("manager"), json={"assignee_id": people[who]}
        )
        assert bad.status_code == 422 and bad.json()["field"] == "assignee_id"
    final = client.get(f"/api/jobs/{job['id']}", headers=as_role("manager")).json()
    assert final["assignee_id"] == people["tech5"] and final["version"] == across.json()["version"]
