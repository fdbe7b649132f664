"""Supervision records: a check of a job against its procedure's monitoring points, the findings that open
a nonconformance, the points a checker's screen shows, and who may record and see what."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from tests.integration.test_quality_nonconformance_helpers import NC_PATH
from tests.jobs_helpers import build_world, drive, now_iso

PATH = "/api/quality/supervisions"


def _findings(ups: str = "pass", **extra) -> list[dict]:
    return [
        {"step_id": "arrive", "point": "Greets the customer, shows ID", "result": "pass"},
        {"step_id": "ups", "point": "UPS voltage within 12.0–13.8 V", "result": ups, "note": "read 11.2 V"},
        {"point": "Uniform and badge", "result": "not_applicable", **extra},
    ]


def test_every_monitoring_point_must_be_assessed(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead = as_role("supervisor1")
    job = drive(client, as_role, world, "work_done")
    missing = [f for f in _findings() if f.get("step_id") != "ups"]
    refused = client.post(
        PATH, headers=lead, json={"job_id": job["id"], "mode": "record", "findings": missing}
    )
    assert refused.status_code == 400, refused.text
    assert "'ups'" in refused.json()["message"] and refused.json()["field"] == "findings"
    for findings, field in (
        ([*_findings(), {"step_id": "nope", "point": "x", "result": "pass"}], "findings[3].step_id"),
        ([*_findings(), {"step_id": "ups", "point": "again", "result": "pass"}], "findings[3].step_id"),
        ([{**_findings()[0], "result": "ok"}, *_findings()[1:]], "findings[0].result"),
        ([{**_findings()[0], "colour": "red"}, *_findings()[1:]], "colour"),
    ):
        refused = client.post(
            PATH, headers=lead, json={"job_id": job["id"], "mode": "record", "findings": findings}
        )
        assert refused.status_code == 400 and refused.json()["field"] == field, (field, refused.text)
    future = client.post(
        PATH,
        headers=lead,
        json={
            "job_id": job["id"],
            "mode": "on_site",
            "findings": _findings(),
            "checked_at": now_iso(timedelta(hours=2)),
        },
    )
    assert future.status_code == 400 and future.json()["field"] == "checked_at"
    assert client.get(PATH, headers=lead, params={"job_id": job["id"]}).json()["total"] == 0


def test_a_passing_check_scores_and_opens_nothing(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "approved")
    made = client.post(
        PATH,
        headers=as_role("quality"),
        json={
            "job_id": job["id"],
            "mode": "record",
            "findings": _findings(),
            "checked_at": now_iso(timedelta(hours=-1)),
            "open_nonconformance": True,
        },
    )
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["passed"] and record["score"] == 100 and record["nonconformance_id"] is None
    assert record["technician_id"] == seeded["tech1"] and record["checked_by_id"] == seeded["quality"]


def test_a_failed_point_opens_a_nonconformance(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, quality = as_role("supervisor1"), as_role("quality")
    job = drive(client, as_role, world, "on_site")
    made = client.post(
        PATH,
        headers=lead,
        json={
            "job_id": job["id"],
            "mode": "on_site",
            "findings": _findings(ups="fail"),
            "notes": "checked with the technician",
            "open_nonconformance": True,
        },
    )
    assert made.status_code == 201, made.text
    record = made.json()
    assert not record["passed"] and record["score"] == 50 and record["nonconformance_id"]
    nc = client.get(f"{NC_PATH}/{record['nonconformance_id']}", headers=quality).json()
    assert nc["source"] == "monitoring" and nc["source_id"] == record["id"] and nc["status"] == "open"
    assert (
        "UPS voltage" in nc["title"] and nc["job_id"] == job["id"] and nc["technician_id"] == seeded["tech1"]
    )
    assert nc["identified_by_id"] == seeded["supervisor1"]
    # The record names its nonconformance; the supervisor who identified it sees it.
    assert client.get(f"{PATH}/{record['id']}", headers=lead).json()["nonconformance_id"] == nc["id"]
    assert client.get(f"{NC_PATH}/{nc['id']}", headers=lead).status_code == 200
    # Without the option, a failed point is recorded and nothing is opened.
    quiet = client.post(
        PATH, headers=lead, json={"job_id": job["id"], "mode": "record", "findings": _findings(ups="fail")}
    )
    assert quiet.status_code == 201 and quiet.json()["nonconformance_id"] is None


def test_who_records_and_sees_supervisions(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, other_lead, tech1, tech5 = (
        as_role("supervisor1"),
        as_role("supervisor2"),
        as_role("tech1"),
        as_role("tech5"),
    )
    job = drive(client, as_role, world, "work_done")
    body = {"job_id": job["id"], "mode": "record", "findings": _findings()}
    assert client.post(PATH, json=body).status_code == 401
    assert client.post(PATH, headers=tech1, json=body).status_code == 403
    assert client.post(PATH, headers=other_lead, json=body).status_code == 404
    assert client.post(PATH, headers=lead, json={**body, "job_id": str(uuid4())}).status_code == 404
    record = client.post(PATH, headers=lead, json=body).json()
    # The technician sees the checks of their own jobs; another team's people see nothing.
    assert [r["id"] for r in client.get(PATH, headers=tech1).json()["items"]] == [record["id"]]
    assert client.get(PATH, headers=tech5).json()["total"] == 0
    assert client.get(PATH, headers=other_lead).json()["total"] == 0
    assert client.get(f"{PATH}/{record['id']}", headers=other_lead).status_code == 404
    listed = client.get(
        PATH,
        headers=as_role("manager"),
        params={
            "checked_by": seeded["supervisor1"],
            "technician_id": seeded["tech1"],
            "from": now_iso(timedelta(hours=-1)),
            "to": now_iso(timedelta(hours=1)),
        },
    )
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["items"]] == [record["id"]]
    assert client.get(PATH, headers=lead, params={"from": "2020-01-01T00:00:00"}).json()["total"] == 1
    assert client.get(PATH, headers=lead, params={"limit": 0}).status_code == 400


def test_the_monitoring_points_of_a_job(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "work_done")
    path = f"/api/jobs/{job['id']}/monitoring-points"
    response = client.get(path, headers=as_role("supervisor1"))
    assert response.status_code == 200, response.text
    points = response.json()
    assert points["number"] == job["number"] and points["technician_id"] == seeded["tech1"]
    assert [p["step_id"] for p in points["points"]] == ["ups"]
    assert points["points"][0]["result"] == "pass" and points["points"][0]["value"] == 13.1
    assert client.get(path, headers=as_role("tech1")).status_code == 403
    assert client.get(path, headers=as_role("supervisor2")).status_code == 404
    fresh = drive(client, as_role, world, "assigned")
    pending = client.get(f"/api/jobs/{fresh['id']}/monitoring-points", headers=as_role("quality")).json()
    assert pending["points"][0]["result"] is None and pending["points"][0]["blobs"] == []
