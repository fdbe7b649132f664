"""Who sees which job: a technician only the jobs assigned to them (not a teammate's, not another
team's), a supervisor only their teams' jobs, quality and managers every job — in lists, one job, its
record, history, report, sign-off check and the images of its photos and signature. And a returned job:
the record reopens, the technician's changes are amendments, the sign-off check reports them."""

from __future__ import annotations

from tests.jobs_helpers import (
    build_world,
    do_steps,
    drive,
    ids,
    jpeg_photo,
    signature_png,
    signoff_body,
    transition,
    upload,
)


def signed_job(client, as_role, world, *, photo_seed: int, signature_seed: int) -> tuple[dict, str, str]:
    """tech1's job awaiting approval, with a photo and a signature no other job uses."""
    tech = as_role("tech1")
    job = drive(client, as_role, world, "on_site")
    photo = upload(client, tech, jpeg_photo(seed=photo_seed), "image/jpeg")
    do_steps(client, tech, job["id"], photo)
    assert transition(client, tech, job["id"], "work_done").status_code == 200
    signature = upload(client, tech, signature_png(seed=signature_seed), "image/png")
    signed = client.post(f"/api/jobs/{job['id']}/signoff", headers=tech, json=signoff_body(signature))
    assert signed.status_code == 201, signed.text
    return client.get(f"/api/jobs/{job['id']}", headers=tech).json(), photo, signature


def listed(client, headers, path: str = "/api/jobs", **params) -> set[str]:
    response = client.get(
        path, headers=headers, params={"limit": 200, **params} if path == "/api/jobs" else params
    )
    assert response.status_code == 200, response.text
    return {j["id"] for j in response.json()}


def queue(client, headers) -> set[str]:
    response = client.get("/api/jobs/approvals", headers=headers)
    assert response.status_code == 200, response.text
    return {item["job"]["id"] for item in response.json()["items"]}


def board(client, headers, **params) -> set[str]:
    response = client.get("/api/jobs/board", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return {j["id"] for column in response.json()["columns"] for j in column["jobs"]}


def reads(client, headers, job_id: str, blobs: list[str]) -> dict[str, int]:
    """The status of every read of one job and of its images, by what was read."""
    out = {
        what: client.get(f"/api/jobs/{job_id}{what}", headers=headers).status_code
        for what in ("", "/record", "/history", "/report", "/signoff/verify")
    }
    for sha in blobs:
        for variant in ("display", "thumbnail"):
            out[f"{sha[:8]}/{variant}"] = client.get(
                f"/api/blobs/{sha}/{variant}", headers=headers
            ).status_code
    return out


def test_each_role_sees_only_its_jobs(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    people = world.people
    mine, photo, signature = signed_job(client, as_role, world, photo_seed=4242, signature_seed=4243)
    # tech5's job in team 2, signed; its images differ from tech1's.
    theirs = drive(client, as_role, world, "awaiting_approval", assignee="tech5", by="supervisor2")
    their_record = client.get(f"/api/jobs/{theirs['id']}/record", headers=as_role("manager")).json()
    their_blobs = [their_record["attachments"][0]["blob"], their_record["signoff"]["signature_blob"]]
    assert not {photo, signature} & set(their_blobs)
    team1, team2 = mine["team_id"], theirs["team_id"]
    assert team1 != team2
    everything = {"": 200, "/record": 200, "/history": 200, "/report": 200, "/signoff/verify": 200}
    for sha in (photo, signature, *their_blobs):
        everything |= {f"{sha[:8]}/display": 200, f"{sha[:8]}/thumbnail": 200}

    def expect(job_blobs: list[str], code: int) -> dict[str, int]:
        keys = ["", "/record", "/history", "/report", "/signoff/verify"]
        keys += [f"{sha[:8]}/{v}" for sha in job_blobs for v in ("display", "thumbnail")]
        return dict.fromkeys(keys, code)

    # tech1: their job in every read, tech5's in none.
    tech1 = as_role("tech1")
    assert reads(client, tech1, mine["id"], [photo, signature]) == expect([photo, signature], 200)
    assert reads(client, tech1, theirs["id"], their_blobs) == expect(their_blobs, 404)
    # A teammate and a technician of another team see nothing of tech1's job, whatever they filter by.
    for who in ("tech2", "tech5"):
        headers = as_role(who)
        assert reads(client, headers, mine["id"], [photo, signature]) == expect([photo, signature], 404), who
        assert mine["id"] not in listed(client, headers)
        assert mine["id"] not in listed(client, headers, assignee_id=people["tech1"])
        assert mine["id"] not in listed(client, headers, team_id=team1, status=["awaiting_approval"])
        assert mine["id"] not in listed(client, headers, "/api/jobs/mine", days=60)
    assert listed(client, as_role("tech2")) == set()
    assert listed(client, as_role("tech5")) == {theirs["id"]}
    assert listed(client, tech1) == {mine["id"]}
    # The approval queue and the team board are not for technicians.
    for who in ("tech1", "tech2", "tech5"):
        for path in ("/api/jobs/approvals", "/api/jobs/board"):
            response = client.get(path, headers=as_role(who))
            assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN", (who, path)

    # Supervisors: their teams' jobs in lists, queue and board; another team's board is refused.
    for who, own, other, own_team, other_team in (
        ("supervisor1", mine, theirs, team1, team2),
        ("supervisor2", theirs, mine, team2, team1),
    ):
        headers = as_role(who)
        own_blobs = [photo, signature] if own is mine else their_blobs
        other_blobs = their_blobs if own is mine else [photo, signature]
        assert reads(client, headers, own["id"], own_blobs) == expect(own_blobs, 200), who
        assert reads(client, headers, other["id"], other_blobs) == expect(other_blobs, 404), who
        assert listed(client, headers) == {own["id"]}, who
        refused_list = client.get("/api/jobs", headers=headers, params={"team_id": other_team})
        assert refused_list.status_code == 403 and refused_list.json()["field"] == "team_id", who
        assert queue(client, headers) == {own["id"]}, who
        assert board(client, headers) == {own["id"]}, who
        assert board(client, headers, team_id=own_team) == {own["id"]}, who
        refused = client.get("/api/jobs/board", headers=headers, params={"team_id": other_team})
        assert refused.status_code == 403 and refused.json()["field"] == "team_id", who

    # Quality and managers see every job, every image, every team's board.
    both = {mine["id"], theirs["id"]}
    for who in ("quality", "manager"):
        headers = as_role(who)
        assert reads(client, headers, mine["id"], [photo, signature]) == expect([photo, signature], 200), who
        assert reads(client, headers, theirs["id"], their_blobs) == expect(their_blobs, 200), who
        assert both <= listed(client, headers), who
        assert queue(client, headers) == both, who
        assert board(client, headers) == both, who
        assert board(client, headers, team_id=team2) == {theirs["id"]}, who


def test_a_returned_job_reopens_its_record_as_amendments(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    tech, lead = as_role("tech1"), as_role("supervisor1")
    job, _photo, _signature = signed_job(client, as_role, world, photo_seed=5151, signature_seed=5152)
    path = f"/api/jobs/{job['id']}"
    assert client.get(f"{path}/signoff/verify", headers=lead).json()["valid"] is True

    returned = client.post(
        f"{path}/decision",
        headers=lead,
        json={"decision": "return", "reason": "the UPS reading is implausible; measure again"},
    )
    assert returned.status_code == 201, returned.text
    assert client.get(path, headers=tech).json()["status"] == "returned"
    # The supervisor's plan stays locked; the technician's record is open again.
    locked = client.patch(path, headers=lead, json={"description": "changed after the fact"})
    assert locked.status_code == 409 and locked.json()["code"] == "RECORD_LOCKED"
    history_before = client.get(f"{path}/history", headers=lead).json()
    assert not [h for h in history_before if h["kind"] == "amendment"]

    assert (
        client.put(f"{path}/steps/ups", headers=tech, json={"result": "pass", "value": 12.9}).status_code
        == 200
    )
    log = client.post(
        f"{path}/logs",
        headers=tech,
        json={"log_id": ids(), "kind": "note", "text": "re-measured with a calibrated meter"},
    )
    assert log.status_code == 201, log.text
    findings = client.patch(path, headers=tech, json={"findings": "UPS battery ageing; re-measured"})
    assert findings.status_code == 200, findings.text
    retake = upload(client, tech, jpeg_photo(seed=5153), "image/jpeg")
    attached = client.post(
        f"{path}/attachments",
        headers=tech,
        json={"attachment_id": ids(), "blob": retake, "caption": "meter display"},
    )
    assert attached.status_code == 201, attached.text

    history = client.get(f"{path}/history", headers=lead).json()
    amendments = [h for h in history if h["kind"] == "amendment"]
    assert sorted(h["field"] for h in amendments) == ["attachment", "findings", "log", "step:ups"]
    assert {h["actor_id"] for h in amendments} == {world.people["tech1"]}
    step = next(h for h in amendments if h["field"] == "step:ups")
    assert step["old_value"]["value"] == 13.1 and step["new_value"]["value"] == 12.9

    verified = client.get(f"{path}/signoff/verify", headers=lead).json()
    assert (
        verified["valid"] is False and verified["seal_valid"] is True and verified["snapshot_intact"] is True
    )
    assert verified["recomputed_hash"] != verified["hash"]
    assert sorted(verified["changed"]) == ["attachments", "job.findings", "logs", "steps"]
    assert sorted(a["field"] for a in verified["amendments"]) == ["attachment", "findings", "log", "step:ups"]
    assert all(a["actor_name"] for a in verified["amendments"])

    # Resubmitted: back in the queue with the amendments shown next to the failed check; then approved.
    again = transition(client, tech, job["id"], "awaiting_approval")
    assert again.status_code == 200 and again.json()["status"] == "awaiting_approval", again.text
    item = next(
        i
        for i in client.get("/api/jobs/approvals", headers=lead).json()["items"]
        if i["job"]["id"] == job["id"]
    )
    assert item["verification"]["valid"] is False and len(item["verification"]["amendments"]) == 4
    assert [a["decision"] for a in item["approvals"]] == ["return"]
    # Submitted again, the record is closed to the technician once more.
    late = client.post(f"{path}/logs", headers=tech, json={"log_id": ids(), "kind": "note", "text": "late"})
    assert late.status_code == 409 and late.json()["code"] == "RECORD_LOCKED"
    approved = client.post(f"{path}/decision", headers=lead, json={"decision": "approve"})
    assert approved.status_code == 201
    final = client.get(f"{path}/record", headers=lead).json()
    assert final["job"]["status"] == "approved" and [a["decision"] for a in final["approvals"]] == [
        "return",
        "approve",
    ]
