"""Bad input to the jobs API: each is a clear 4xx with its `code`, a message and (where there is one)
the `field`, and nothing is half-written — the job, its record and its history are as they were."""

from __future__ import annotations

from datetime import timedelta

from tests.jobs_helpers import (
    STEPS,
    blank_png,
    build_world,
    dot_png,
    drive,
    ids,
    job_state,
    jpeg_photo,
    new_job,
    now_iso,
    png_claiming,
    sha,
    signature_png,
    signoff_body,
    transition,
    upload,
)

ANY = object()


def refused(response, status: int, code: str, field=ANY) -> dict:
    assert response.status_code == status, (status, code, response.status_code, response.text)
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and len(body["message"]) > 5, body
    if field is not ANY:
        assert body.get("field") == field, body
    return body


def put_blob(client, headers, data: bytes, content_type: str, name: str | None = None):
    return client.put(
        f"/api/sync/v1/blobs/{name or sha(data)}",
        content=data,
        headers={**headers, "Content-Type": content_type},
    )


def stored_files(settings) -> list:
    base = settings.data_dir / "blobs"
    return [p for p in base.rglob("*") if p.is_file()] if base.exists() else []


def test_uploads_that_are_not_acceptable_images(client, as_role, settings):
    tech = as_role("tech1")
    photo, signature = jpeg_photo(), signature_png()
    tried = []

    def attempt(data, content_type, status, code, field=None, name=None):
        tried.append(name or sha(data))
        return refused(put_blob(client, tech, data, content_type, name), status, code, field)

    attempt(b"hello, this is a text file\n", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE")
    attempt(b"hello, this is a text file\n", "image/jpeg", 415, "UNSUPPORTED_MEDIA_TYPE")
    cut_jpeg = attempt(photo[: len(photo) // 2], "image/jpeg", 422, "INVALID_IMAGE")
    assert "truncated" in cut_jpeg["message"]
    cut_png = attempt(signature[: len(signature) // 2], "image/png", 422, "INVALID_IMAGE")
    assert "truncated" in cut_png["message"]
    mismatch = attempt(signature, "image/jpeg", 415, "TYPE_MISMATCH")
    assert "image/png" in mismatch["message"]
    # 15 MiB is the limit: one byte over is refused by the blob service (413), far over by the server
    # before the body is read to the end.
    over = b"\xff\xd8\xff" + b"\x00" * (15 * 1024 * 1024 - 2)
    attempt(over, "image/jpeg", 413, "TOO_LARGE")
    attempt(over + b"\x00" * (2 * 1024 * 1024), "image/jpeg", 413, "BODY_TOO_LARGE")
    # Decompression bombs: a 118-byte PNG claiming 20000×20000, and 8000×8000 (over the 50 MP limit
    # but under Pillow's own guard).
    bomb = attempt(png_claiming(20_000, 20_000), "image/png", 422, "TOO_MANY_PIXELS")
    assert "20000×20000" in bomb["message"]
    attempt(png_claiming(8000, 8000), "image/png", 422, "TOO_MANY_PIXELS")
    # The body must hash to the name in the URL.
    attempt(photo, "image/jpeg", 400, "HASH_MISMATCH", "sha256", name=sha(photo + b"x"))
    for name in ("abc", "A" * 64, "g" * 64, "a" * 65, "0" * 63, sha(photo).upper()):
        refused(put_blob(client, tech, photo, "image/jpeg", name), 400, "INVALID_HASH", "sha256")
        assert client.head(f"/api/sync/v1/blobs/{name}", headers=tech).status_code == 400
        refused(client.get(f"/api/blobs/{name}/display", headers=tech), 400, "INVALID_HASH", "sha256")

    # Nothing refused was stored, on disk or as a row.
    assert stored_files(settings) == []
    for name in set(tried):
        assert client.head(f"/api/sync/v1/blobs/{name}", headers=tech).status_code == 404
    # HEAD of a blob nobody uploaded: 404, for every role.
    for who in ("tech1", "supervisor1", "manager"):
        assert (
            client.head(f"/api/sync/v1/blobs/{sha(b'never uploaded')}", headers=as_role(who)).status_code
            == 404
        )
    # The same endpoint takes a real photo (and a second upload of it is a 200 no-op).
    first = put_blob(client, tech, photo, "image/jpeg")
    assert first.status_code == 201 and first.json()["width"] == 800
    assert put_blob(client, tech, photo, "image/jpeg").status_code == 200
    assert client.head(f"/api/sync/v1/blobs/{sha(photo)}", headers=tech).status_code == 200


def test_signoff_refuses_bad_signatures_and_ratings_and_signs_once(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    tech, lead = as_role("tech1"), as_role("supervisor1")
    job = drive(client, as_role, world, "work_done")
    url = f"/api/jobs/{job['id']}/signoff"
    good = upload(client, tech, signature_png(), "image/png")
    before = job_state(client, lead, job["id"])
    assert before["record"]["signoff"] is None

    blank = refused(
        client.post(url, headers=tech, json=signoff_body(upload(client, tech, blank_png(), "image/png"))),
        422,
        "BLANK_SIGNATURE",
        "signature_blob",
    )
    assert "blank" in blank["message"]
    jpeg = upload(client, tech, jpeg_photo(seed=9), "image/jpeg")
    refused(client.post(url, headers=tech, json=signoff_body(jpeg)), 422, "NOT_PNG", "signature_blob")
    dot = refused(
        client.post(url, headers=tech, json=signoff_body(upload(client, tech, dot_png(), "image/png"))),
        422,
        "BLANK_SIGNATURE",
        "signature_blob",
    )
    assert "dot" in dot["message"]
    missing = sha(b"no such signature")
    missing_body = refused(
        client.post(url, headers=tech, json=signoff_body(missing)), 422, "BLOB_MISSING", "signature_blob"
    )
    assert missing in missing_body["message"]
    # The schema refuses ratings outside 1–5, a missing or empty signer and a time without offset (400).
    for extra, field in (
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating_technical": 6}, "rating_technical"),
        ({"rating_service": 0}, "rating_service"),
        ({"signer_name": ""}, "signer_name"),
        ({"signed_at": "2026-11-24T08:03:11"}, "signed_at"),
    ):
        response = client.post(url, headers=tech, json=signoff_body(good, **extra))
        assert response.status_code == 400 and response.json()["field"] == field, (extra, response.text)
    nameless = signoff_body(good)
    del nameless["signer_name"]
    refused(client.post(url, headers=tech, json=nameless), 400, "MISSING_FIELD", "signer_name")
    refused(
        client.post(url, headers=tech, json={**signoff_body(good), "stamp": "x"}),
        400,
        "UNKNOWN_FIELD",
        "stamp",
    )
    # The job is still work_done with no sign-off, and nothing landed in its history.
    assert job_state(client, lead, job["id"]) == before

    body = signoff_body(good)
    signed = client.post(url, headers=tech, json=body)
    assert signed.status_code == 201, signed.text
    after_signing = job_state(client, lead, job["id"])
    assert after_signing["job"]["status"] == "awaiting_approval"
    # The same sign-off again (a retry): 200 and the same body. Another one: ALREADY_SIGNED.
    replay = client.post(url, headers=tech, json=body)
    assert replay.status_code == 200 and replay.json() == signed.json()
    refused(client.post(url, headers=tech, json=signoff_body(good)), 409, "ALREADY_SIGNED", "signoff_id")
    refused(client.post(url, headers=tech, json=signoff_body(good, accepted=False)), 409, "ALREADY_SIGNED")

    # The signed record is locked: no photos, logs, steps or findings without a supervisor's return.
    photo = upload(client, tech, jpeg_photo(seed=11), "image/jpeg")
    for response in (
        client.post(
            f"/api/jobs/{job['id']}/attachments",
            headers=tech,
            json={"attachment_id": ids(), "blob": photo, "caption": "after"},
        ),
        client.post(
            f"/api/jobs/{job['id']}/logs",
            headers=tech,
            json={"log_id": ids(), "kind": "note", "text": "one more thing"},
        ),
        client.put(f"/api/jobs/{job['id']}/steps/ups", headers=tech, json={"result": "pass", "value": 13.0}),
        client.patch(f"/api/jobs/{job['id']}", headers=tech, json={"findings": "rewritten"}),
        client.post(
            f"/api/jobs/{job['id']}/parts",
            headers=tech,
            json={"move_id": ids(), "item_id": world.part_item["id"], "qty": 1},
        ),
    ):
        refused(response, 409, "RECORD_LOCKED")
    assert job_state(client, lead, job["id"]) == after_signing
    verified = client.get(f"/api/jobs/{job['id']}/signoff/verify", headers=lead).json()
    assert verified["valid"] is True and verified["changed"] == []


def test_work_record_input_is_checked(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    tech, lead = as_role("tech1"), as_role("supervisor1")
    job = drive(client, as_role, world, "on_site")
    other = drive(client, as_role, world, "accepted")
    steps = f"/api/jobs/{job['id']}/steps"
    never = sha(b"a photo that never arrived")
    before, other_before = job_state(client, lead, job["id"]), job_state(client, lead, other["id"])

    refused(
        client.put(f"{steps}/photo", headers=tech, json={"result": "pass"}), 422, "STEP_INCOMPLETE", "blobs"
    )
    refused(
        client.put(f"{steps}/photo", headers=tech, json={"result": "fail"}), 422, "STEP_INCOMPLETE", "blobs"
    )
    reading = refused(
        client.put(f"{steps}/ups", headers=tech, json={"result": "pass"}), 422, "STEP_INCOMPLETE", "value"
    )
    assert "V" in reading["message"]
    refused(
        client.put(f"{steps}/photo", headers=tech, json={"result": "pass", "blobs": [never]}),
        422,
        "BLOB_MISSING",
        "blobs[0]",
    )
    refused(
        client.put(f"{steps}/arrive", headers=tech, json={"result": "na"}), 422, "STEP_INCOMPLETE", "result"
    )
    refused(
        client.put(f"{steps}/nope", headers=tech, json={"result": "pass"}), 422, "INVALID_INPUT", "step_id"
    )
    refused(
        client.put(f"{steps}/arrive", headers=tech, json={"result": "pass", "colour": "red"}),
        400,
        "UNKNOWN_FIELD",
        "colour",
    )
    refused(
        client.put(f"{steps}/arrive", headers=tech, json={"result": "maybe"}), 400, "INVALID_INPUT", "result"
    )
    refused(
        client.put(f"{steps}/arrive", headers=tech, json={"result": "pass", "blobs": ["not-a-sha"]}),
        400,
        "INVALID_INPUT",
        "blobs[0]",
    )
    refused(
        client.put(
            f"{steps}/arrive", headers=tech, json={"result": "pass", "client_time": "2026-11-24T08:03"}
        ),
        400,
        "INVALID_INPUT",
        "client_time",
    )
    refused(
        client.put(
            f"{steps}/arrive",
            headers={**tech, "Content-Type": "application/json"},
            content=b'{"result": "pass",',
        ),
        400,
        "MALFORMED_JSON",
    )
    refused(
        client.post(
            f"/api/jobs/{job['id']}/transition",
            headers={**tech, "Content-Type": "application/json"},
            content=b"to=work_done",
        ),
        400,
        "MALFORMED_JSON",
    )
    logs = f"/api/jobs/{job['id']}/logs"
    refused(
        client.post(logs, headers=tech, json={"log_id": ids(), "kind": "note", "text": "  "}),
        422,
        "INVALID_INPUT",
        "text",
    )
    refused(
        client.post(logs, headers=tech, json={"log_id": ids(), "kind": "time"}),
        422,
        "INVALID_INPUT",
        "minutes",
    )
    refused(
        client.post(logs, headers=tech, json={"log_id": ids(), "kind": "reading"}),
        422,
        "INVALID_INPUT",
        "value",
    )
    refused(
        client.post(logs, headers=tech, json={"log_id": ids(), "kind": "time", "minutes": 0}),
        400,
        "INVALID_INPUT",
        "minutes",
    )
    refused(
        client.post(logs, headers=tech, json={"log_id": "not-a-uuid", "kind": "note", "text": "x"}),
        400,
        "INVALID_INPUT",
        "log_id",
    )
    attachments = f"/api/jobs/{job['id']}/attachments"
    refused(
        client.post(attachments, headers=tech, json={"attachment_id": ids(), "blob": never}),
        422,
        "BLOB_MISSING",
        "blob",
    )
    photo = upload(client, tech, jpeg_photo(seed=5), "image/jpeg")
    refused(
        client.post(
            attachments, headers=tech, json={"attachment_id": ids(), "blob": photo, "step_id": "nope"}
        ),
        422,
        "INVALID_INPUT",
        "step_id",
    )
    # work_done with steps missing names them.
    early = refused(transition(client, tech, job["id"], "work_done"), 422, "STEP_INCOMPLETE", "steps")
    assert "photo" in early["message"] and "ups" in early["message"] and "extra" not in early["message"]
    assert job_state(client, lead, job["id"]) == before

    # A log_id is one log: the same again on the same job is a no-op, on another job a conflict.
    log = {"log_id": ids(), "kind": "time", "minutes": 30, "text": "cleaning"}
    assert client.post(logs, headers=tech, json=log).status_code == 201
    assert client.post(logs, headers=tech, json=log).status_code == 200
    refused(client.post(f"/api/jobs/{other['id']}/logs", headers=tech, json=log), 409, "ID_TAKEN", "log_id")
    attachment = {"attachment_id": ids(), "blob": photo}
    assert client.post(attachments, headers=tech, json=attachment).status_code == 201
    refused(
        client.post(f"/api/jobs/{other['id']}/attachments", headers=tech, json=attachment),
        409,
        "ID_TAKEN",
        "attachment_id",
    )
    assert job_state(client, lead, other["id"]) == other_before
    record = client.get(f"/api/jobs/{job['id']}/record", headers=lead).json()
    assert len(record["logs"]) == 1 and record["minutes_logged"] == 30 and len(record["attachments"]) == 1


def test_job_creation_input_is_checked(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, manager = as_role("supervisor1"), as_role("manager")

    def jobs_now() -> list:
        return sorted(j["id"] for j in client.get("/api/jobs", headers=manager, params={"limit": 200}).json())

    existing = new_job(client, as_role, world)
    before = jobs_now()
    base = {
        "type": "maintenance",
        "site_id": world.site["id"],
        "unit_id": world.unit["id"],
        "assignee_id": world.people["tech1"],
    }
    other_site = client.post(
        "/api/sites",
        headers=manager,
        json={
            "customer_id": world.customer["id"],
            "name": "ICBC Pudong airport branch",
            "region": "Shanghai East",
        },
    )
    assert other_site.status_code == 201

    def create(headers=lead, path="/api/jobs", **changes):
        return client.post(path, headers=headers, json={**base, **changes})

    refused(create(scheduled_start="2026-11-24T09:00:00"), 400, "INVALID_INPUT", "scheduled_start")
    refused(create(complete_by="2026-11-24"), 400, "INVALID_INPUT", "complete_by")
    refused(
        create(scheduled_start=now_iso(timedelta(hours=3)), scheduled_end=now_iso(timedelta(hours=1))),
        422,
        "INVALID_INPUT",
        "scheduled_end",
    )
    refused(create(scheduled_start="1999-12-31T23:00:00+00:00"), 422, "INVALID_INPUT", "scheduled_start")
    refused(create(site_id=other_site.json()["id"]), 422, "INVALID_INPUT", "unit_id")
    refused(create(type="repair", procedure_id=world.procedure["id"]), 422, "INVALID_INPUT", "procedure_id")
    refused(create(type="rework"), 422, "INVALID_INPUT", "origin_job_id")
    refused(create(type="cleaning"), 400, "INVALID_INPUT", "type")
    refused(create(site_id=ids()), 404, "NOT_FOUND", "site_id")
    refused(create(colour="red"), 400, "UNKNOWN_FIELD", "colour")
    refused(
        client.post("/api/jobs", headers={**lead, "Content-Type": "application/json"}, content=b'{"type": '),
        400,
        "MALFORMED_JSON",
    )
    # Who may create: not a technician; a supervisor only in the teams they lead.
    refused(create(headers=as_role("tech1")), 403, "FORBIDDEN")
    refused(create(headers=as_role("tech1"), path="/api/service-requests"), 403, "FORBIDDEN")
    refused(create(assignee_id=world.people["tech5"]), 403, "FORBIDDEN", "assignee_id")
    team2 = client.get(f"/api/users/{world.people['tech5']}", headers=manager).json()["team_id"]
    refused(create(assignee_id=None, team_id=team2), 403, "FORBIDDEN", "team_id")
    refused(
        create(headers=manager, assignee_id=world.people["tech5"], team_id=existing["team_id"]),
        422,
        "INVALID_INPUT",
        "assignee_id",
    )

    # A retired procedure revision: publishing revision 2 retires revision 1 for new jobs.
    second = client.post(
        "/api/procedures",
        headers=manager,
        json={
            "code": world.procedure["code"],
            "job_type": "maintenance",
            "name": "ATM PM rev 2",
            "steps": STEPS[:2],
        },
    )
    assert second.status_code == 201 and second.json()["revision"] == 2
    retired = refused(create(procedure_id=world.procedure["id"]), 422, "INVALID_INPUT", "procedure_id")
    assert "retired" in retired["message"]
    assert jobs_now() == before
    # Without a procedure_id a new job gets the current revision; the existing job keeps revision 1.
    made = create()
    assert made.status_code == 201 and made.json()["job"]["procedure_id"] == second.json()["id"]
    assert (
        client.get(f"/api/jobs/{existing['id']}", headers=lead).json()["procedure_id"]
        == world.procedure["id"]
    )

    # Dispatch checks its schedule too, and changes nothing when it refuses.
    state = job_state(client, lead, existing["id"])
    refused(
        client.post(
            f"/api/jobs/{existing['id']}/assign",
            headers=lead,
            json={
                "assignee_id": world.people["tech2"],
                "scheduled_start": now_iso(timedelta(hours=5)),
                "scheduled_end": now_iso(timedelta(hours=4)),
            },
        ),
        422,
        "INVALID_INPUT",
        "scheduled_end",
    )
    refused(
        client.post(
            f"/api/jobs/{existing['id']}/assign",
            headers=lead,
            json={"assignee_id": world.people["tech2"], "scheduled_start": "2026-11-24T10:00:00"},
        ),
        400,
        "INVALID_INPUT",
        "scheduled_start",
    )
    refused(
        client.patch(
            f"/api/jobs/{existing['id']}", headers=lead, json={"scheduled_end": now_iso(timedelta(minutes=1))}
        ),
        422,
        "INVALID_INPUT",
        "scheduled_end",
    )
    assert job_state(client, lead, existing["id"]) == state


def test_other_teams_jobs_and_wrong_roles(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, tech = as_role("supervisor1"), as_role("tech1")
    job = drive(client, as_role, world, "on_site")
    path = f"/api/jobs/{job['id']}"
    photo = upload(client, as_role("tech5"), jpeg_photo(seed=21), "image/jpeg")
    signature = upload(client, as_role("tech5"), signature_png(seed=3), "image/png")
    before = job_state(client, lead, job["id"])

    # Every write endpoint answers a technician of another team as if the job did not exist.
    outsider = as_role("tech5")
    for response in (
        client.put(f"{path}/steps/arrive", headers=outsider, json={"result": "pass"}),
        client.post(f"{path}/logs", headers=outsider, json={"log_id": ids(), "kind": "note", "text": "hi"}),
        client.post(f"{path}/attachments", headers=outsider, json={"attachment_id": ids(), "blob": photo}),
        client.post(
            f"{path}/parts",
            headers=outsider,
            json={"move_id": ids(), "item_id": world.part_item["id"], "qty": 1},
        ),
        client.post(
            f"{path}/swap",
            headers=outsider,
            json={"move_id": ids(), "unit_id": world.unit["id"], "spare_asset_id": ids()},
        ),
        client.post(f"{path}/signoff", headers=outsider, json=signoff_body(signature)),
        client.post(f"{path}/transition", headers=outsider, json={"to": "work_done"}),
        client.patch(path, headers=outsider, json={"findings": "not mine"}),
    ):
        refused(response, 404, "NOT_FOUND", "job_id")
    # … and so does another team's supervisor, for the supervisor's verbs.
    other_lead = as_role("supervisor2")
    for response in (
        client.post(f"{path}/assign", headers=other_lead, json={"assignee_id": world.people["tech5"]}),
        client.post(f"{path}/decision", headers=other_lead, json={"decision": "approve"}),
        client.post(f"{path}/transition", headers=other_lead, json={"to": "cancelled", "reason": "mine now"}),
        client.patch(path, headers=other_lead, json={"description": "mine now"}),
        client.post(f"{path}/linked", headers=other_lead, json={"type": "callback"}),
    ):
        refused(response, 404, "NOT_FOUND")
    # A technician may not dispatch, approve or create; a supervisor may not assign outside their teams.
    refused(
        client.post(f"{path}/assign", headers=tech, json={"assignee_id": world.people["tech1"]}),
        403,
        "FORBIDDEN",
    )
    refused(client.post(f"{path}/decision", headers=tech, json={"decision": "approve"}), 403, "FORBIDDEN")
    waiting = new_job(client, as_role, world)
    waiting_before = job_state(client, lead, waiting["id"])
    refused(
        client.post(
            f"/api/jobs/{waiting['id']}/assign", headers=lead, json={"assignee_id": world.people["tech5"]}
        ),
        403,
        "FORBIDDEN",
        "assignee_id",
    )
    assert job_state(client, lead, waiting["id"]) == waiting_before
    refused(
        client.post(
            f"{path}/assign", headers=as_role("quality"), json={"assignee_id": world.people["tech2"]}
        ),
        403,
        "FORBIDDEN",
    )
    refused(
        client.post(
            f"{path}/transition", headers=as_role("quality"), json={"to": "cancelled", "reason": "x"}
        ),
        403,
        "FORBIDDEN",
        "to",
    )
    # Field ownership: the supervisor plans, the technician reports; a mixed edit changes nothing.
    refused(
        client.patch(path, headers=tech, json={"description": "easy job"}), 403, "FORBIDDEN", "description"
    )
    refused(
        client.patch(path, headers=tech, json={"findings": "worn belt", "priority": "low"}),
        403,
        "FORBIDDEN",
        "priority",
    )
    refused(
        client.patch(path, headers=lead, json={"findings": "I was not there"}), 403, "FORBIDDEN", "findings"
    )
    refused(
        client.patch(path, headers=lead, json={"description": "x", "meter_reading": 3}),
        403,
        "FORBIDDEN",
        "meter_reading",
    )
    refused(
        client.patch(path, headers=as_role("quality"), json={"description": "x"}),
        403,
        "FORBIDDEN",
        "description",
    )
    refused(
        client.patch(path, headers=lead, json={"base_version": job["version"] - 1, "priority": "high"}),
        409,
        "CONCURRENT_UPDATE",
        "base_version",
    )
    refused(
        client.patch(path, headers=tech, json={"base_version": job["version"] + 5, "findings": "x"}),
        409,
        "CONCURRENT_UPDATE",
        "base_version",
    )
    refused(client.patch(path, headers=lead, json={"priority": "whenever"}), 400, "INVALID_INPUT", "priority")
    assert job_state(client, lead, job["id"]) == before

    # The same edits by their owners, on the current version, go through and are in the history.
    planned = client.patch(path, headers=lead, json={"base_version": job["version"], "priority": "high"})
    assert planned.status_code == 200 and planned.json()["priority"] == "high"
    found = client.patch(
        path, headers=tech, json={"base_version": planned.json()["version"], "findings": "worn belt"}
    )
    assert found.status_code == 200 and found.json()["findings"] == "worn belt"
    fields = [h["field"] for h in client.get(f"{path}/history", headers=lead).json() if h["kind"] == "edit"]
    assert fields[-2:] == ["priority", "findings"]
