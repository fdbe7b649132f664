"""SYNC.md 1.1, ``job.update`` never drops the technician's facts: a field the caller's role may not
change is refused alone (``merged`` with ``refused_fields``, its value kept in the job's history), the
rest applied; a mutation with nothing it may apply is rejected and kept. And re-applying a kept
mutation with a supervisor's corrected args, the original staying in the exception."""

from __future__ import annotations

from tests.jobs_helpers import build_world, drive, ids
from tests.sync_helpers import SyncClient

PLAN_START = "2026-12-01T09:00:00+00:00"


def _history(client, headers, job_id, kind=None):
    rows = client.get(f"/api/jobs/{job_id}/history", headers=headers)
    assert rows.status_code == 200, rows.text
    return [h for h in rows.json() if kind is None or h["kind"] == kind]


def _job(client, headers, job_id):
    return client.get(f"/api/jobs/{job_id}", headers=headers).json()


def test_a_technicians_update_keeps_its_facts_and_refuses_the_plan_alone(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech, lead = as_role("tech1"), as_role("supervisor1")
    phone = SyncClient(client, tech)
    before = _job(client, lead, job["id"])
    update = phone.mutation(
        "job.update",
        job_id=job["id"],
        base_version=before["version"],
        fields={
            "findings": "Dispenser belt worn",
            "priority": "urgent",
            "arrival_note": "gate code 42",
            "scheduled_start": PLAN_START,
        },
    )
    out = phone.push([update])
    result = out["results"][0]
    assert result["status"] == "merged", result
    assert result["refused_fields"] == ["priority", "scheduled_start"]
    assert "overridden_fields" not in result and "exception_id" not in result
    state = _job(client, lead, job["id"])
    assert state["findings"] == "Dispenser belt worn" and state["arrival_note"] == "gate code 42"
    assert state["priority"] == before["priority"]
    assert state["scheduled_start"] == before["scheduled_start"]
    assert result["version"] == state["version"]
    # The refused values are kept in the job's history, by the technician, with why.
    refused = _history(client, lead, job["id"], "refused")
    assert {(h["field"], h["new_value"]) for h in refused} == {
        ("priority", "urgent"),
        ("scheduled_start", PLAN_START),
    }
    assert {h["actor_id"] for h in refused} == {seeded["tech1"]}
    assert all("supervisor" in h["note"] for h in refused)
    # Nothing was raised as an exception: the facts landed.
    listed = client.get("/api/exceptions", headers=lead, params={"kind": "rejected"}).json()
    assert listed["total"] == 0

    # The same push again (a lost response): duplicate, the stored answer, nothing twice.
    history_before = _history(client, lead, job["id"])
    again = phone.push([update])
    assert again["results"] == [{"id": update["id"], "status": "duplicate", "result": result}]
    assert _history(client, lead, job["id"]) == history_before
    assert _job(client, lead, job["id"])["version"] == state["version"]

    # A refused value changed nothing: a supervisor's offline edit from the same base is not contested.
    supervisor_phone = SyncClient(client, lead)
    out = supervisor_phone.push(
        [
            supervisor_phone.mutation(
                "job.update",
                job_id=job["id"],
                base_version=before["version"],
                fields={"priority": "high", "findings": "not mine to say"},
            )
        ]
    )
    result = out["results"][0]
    assert result["status"] == "merged" and result["refused_fields"] == ["findings"], result
    assert "overridden_fields" not in result
    state = _job(client, lead, job["id"])
    assert state["priority"] == "high" and state["findings"] == "Dispenser belt worn"


def test_overridden_and_refused_fields_together(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    lead, manager = as_role("supervisor1"), as_role("manager")
    base = _job(client, lead, job["id"])["version"]
    changed = client.patch(f"/api/jobs/{job['id']}", headers=manager, json={"description": "server plan"})
    assert changed.status_code == 200, changed.text
    supervisor_phone = SyncClient(client, lead)
    out = supervisor_phone.push(
        [
            supervisor_phone.mutation(
                "job.update",
                job_id=job["id"],
                base_version=base,
                fields={"description": "phone plan", "priority": "low", "meter_reading": 120.5},
            )
        ]
    )
    result = out["results"][0]
    assert result["status"] == "merged", result
    assert result["overridden_fields"] == ["description"] and result["refused_fields"] == ["meter_reading"]
    state = _job(client, lead, job["id"])
    assert state["description"] == "server plan" and state["priority"] == "low"
    assert state["meter_reading"] is None
    kept = {(h["kind"], h["field"], h["new_value"]) for h in _history(client, lead, job["id"])}
    assert {("merge_lost", "description", "phone plan"), ("refused", "meter_reading", 120.5)} <= kept


def test_nothing_applicable_is_rejected_and_kept_and_rest_stays_strict(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech, lead = as_role("tech1"), as_role("supervisor1")
    phone = SyncClient(client, tech)
    before = _job(client, lead, job["id"])
    out = phone.push(
        [
            phone.mutation(
                "job.update",
                job_id=job["id"],
                base_version=before["version"],
                fields={"priority": "urgent", "description": "my plan"},
            )
        ]
    )
    result = out["results"][0]
    assert result["status"] == "rejected" and result["code"] == "FORBIDDEN", result
    assert result["field"] == "description"  # the first refused, in the order of the args' fields
    kept = client.get(f"/api/exceptions/{result['exception_id']}", headers=lead).json()
    assert kept["kind"] == "rejected" and kept["status"] == "open"
    assert kept["mutation"]["args"]["fields"] == {"priority": "urgent", "description": "my plan"}
    # Rejected whole: no refused rows either (they are the exception's to keep).
    assert _history(client, lead, job["id"], "refused") == []
    assert _job(client, lead, job["id"]) == before

    # REST keeps refusing an edit that names a field of another role, whole.
    response = client.patch(
        f"/api/jobs/{job['id']}", headers=tech, json={"findings": "belt", "priority": "urgent"}
    )
    assert response.status_code == 403 and response.json()["field"] == "priority", response.text
    assert _job(client, lead, job["id"]) == before

    # A signed record is closed to every field: still rejected as before, not merged.
    signed = drive(client, as_role, world, "awaiting_approval")
    out = phone.push(
        [
            phone.mutation(
                "job.update",
                job_id=signed["id"],
                base_version=signed["version"],
                fields={"findings": "late", "priority": "low"},
            )
        ]
    )
    assert out["results"][0]["status"] == "rejected" and out["results"][0]["code"] == "RECORD_LOCKED", out


def test_reapply_with_corrected_args_keeps_the_original(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech, lead = as_role("tech1"), as_role("supervisor1")
    phone = SyncClient(client, tech)
    base = _job(client, lead, job["id"])["version"]
    out = phone.push(
        [
            # Every field the supervisor's: rejected and kept.
            phone.mutation("job.update", job_id=job["id"], base_version=base, fields={"priority": "urgent"}),
            # A malformed record id: rejected and kept.
            phone.mutation("job.log", log_id="not-a-uuid", job_id=job["id"], kind="note", text="belt worn"),
        ]
    )
    update_result, log_result = out["results"]
    assert update_result["status"] == "rejected" and log_result["status"] == "rejected", out
    url = f"/api/exceptions/{update_result['exception_id']}/reapply"

    # Corrected args are checked as a push checks them: 400 naming the field, nothing resolved.
    for args, field in (
        ({"job_id": job["id"], "base_version": 0, "fields": {}}, "args.base_version"),
        ({"job_id": job["id"], "base_version": base, "fields": {"colour": "red"}}, "args.fields.colour"),
        ({"job_id": job["id"], "base_version": base, "fields": {}, "extra": 1}, "args.extra"),
        ({"base_version": base, "fields": {}}, "args.job_id"),
    ):
        response = client.post(url, headers=lead, json={"args": args})
        assert response.status_code == 400, (args, response.text)
        assert response.json()["code"] == "INVALID_ARGS" and response.json()["field"] == field, response.text
    assert client.post(url, headers=lead, json={"args": []}).status_code == 400
    assert client.post(url, headers=tech, json={"args": {}}).status_code == 403
    still = client.get(f"/api/exceptions/{update_result['exception_id']}", headers=lead).json()
    assert still["status"] == "open" and "corrected" not in still["mutation"]

    # The supervisor turns the technician's wish into the technician's own field: applied as them.
    corrected = {"job_id": job["id"], "base_version": base, "fields": {"findings": "asked for urgent"}}
    done = client.post(url, headers=lead, json={"args": corrected, "note": "priority is mine"})
    assert done.status_code == 200, done.text
    assert done.json()["result"]["status"] == "applied"
    exception = done.json()["exception"]
    assert exception["status"] == "resolved" and exception["outcome"] == "corrected"
    assert "corrected args" in exception["resolution"]
    mutation = exception["mutation"]
    assert mutation["args"]["fields"] == {"priority": "urgent"}  # the original, as it arrived
    assert mutation["corrected"]["args"] == corrected
    assert mutation["corrected"]["by_id"] == seeded["supervisor1"] and mutation["corrected"]["at"]
    assert mutation["corrected"]["note"] == "priority is mine"
    state = _job(client, lead, job["id"])
    assert state["findings"] == "asked for urgent" and state["priority"] != "urgent"
    edit = [h for h in _history(client, lead, job["id"]) if h["field"] == "findings"]
    assert edit[-1]["actor_id"] == seeded["tech1"]
    assert client.post(url, headers=lead, json={"args": corrected}).json()["code"] == "ALREADY_RESOLVED"

    # A malformed id may be corrected; a well-formed id of the record the phone made may not change.
    log_url = f"/api/exceptions/{log_result['exception_id']}/reapply"
    log_id = ids()
    log_args = {"log_id": log_id, "job_id": job["id"], "kind": "note", "text": "belt worn"}
    fixed = client.post(log_url, headers=lead, json={"args": log_args})
    assert fixed.status_code == 200 and fixed.json()["result"]["status"] == "applied", fixed.text
    record = client.get(f"/api/jobs/{job['id']}/record", headers=lead).json()
    assert [entry["id"] for entry in record["logs"]] == [log_id]

    note = phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="time", text="no minutes")
    out = phone.push([note])
    assert out["results"][0]["status"] == "rejected", out
    moved = client.post(
        f"/api/exceptions/{out['results'][0]['exception_id']}/reapply",
        headers=lead,
        json={"args": {**note["args"], "log_id": ids(), "minutes": 30}},
    )
    assert moved.status_code == 422 and moved.json()["field"] == "args.log_id", moved.text
    kept = client.post(
        f"/api/exceptions/{out['results'][0]['exception_id']}/reapply",
        headers=lead,
        json={"args": {**note["args"], "minutes": 30}},
    )
    assert kept.status_code == 200, kept.text
    logs = client.get(f"/api/jobs/{job['id']}/record", headers=lead).json()["logs"]
    assert {entry["id"] for entry in logs} == {log_id, note["args"]["log_id"]}
