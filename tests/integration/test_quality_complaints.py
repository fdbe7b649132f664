"""Complaints from every channel: logged by the quality department or a supervisor with targets from
the severity and an owner, worked open → acknowledged → resolved → closed, reassigned, listed by scope
and overdue; and field reports triaged into complaints."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tests.jobs_helpers import build_world, drive, ids

URL = "/api/quality/complaints"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_complaint_gets_targets_from_its_severity_and_follows_its_workflow(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "approved")
    quality = as_role("quality")
    body = {
        "channel": "phone",
        "severity": "critical",
        "summary": "ATM out of service again after the visit",
        "details": "客户来电：维修后第二天又坏了",
        "job_id": job["id"],
        "contact_name": "Ms. Li",
        "contact_phone": "+86 21 5555 0101",
    }
    made = client.post(URL, headers=quality, json=body)
    assert made.status_code == 201, made.text
    complaint = made.json()
    assert re.fullmatch(r"CMP-\d{6}", complaint["number"]) and complaint["status"] == "open"
    assert complaint["respond_by"] and at(complaint["respond_by"]) - at(
        complaint["received_at"]
    ) == timedelta(hours=4)
    assert at(complaint["resolve_by"]) - at(complaint["received_at"]) == timedelta(days=2)
    # The job names the customer, site, technician and team; the least loaded quality user owns it.
    assert (complaint["customer_id"], complaint["site_id"]) == (world.customer["id"], world.site["id"])
    assert complaint["technician_id"] == seeded["tech1"] and complaint["assignee_id"] == seeded["quality"]
    assert complaint["overdue"] is False
    low = client.post(URL, headers=as_role("manager"), json={**body, "severity": "low", "job_id": None})
    assert low.status_code == 201
    assert at(low.json()["respond_by"]) - at(low.json()["received_at"]) == timedelta(hours=72)
    assert low.json()["technician_id"] is None

    base = f"{URL}/{complaint['id']}"
    early = client.post(f"{base}/resolve", headers=quality, json={"resolution": "fixed"})
    assert early.status_code == 409 and "open" in early.json()["message"]
    assert client.post(f"{base}/close", headers=quality, json={}).status_code == 409
    assert client.post(f"{base}/acknowledge", headers=quality, json={"response": ""}).status_code == 400
    assert (
        client.post(f"{base}/acknowledge", headers=as_role("supervisor1"), json={"response": "x"}).status_code
        == 403
    )
    acked = client.post(
        f"{base}/acknowledge", headers=quality, json={"response": "Called back, visit tomorrow"}
    )
    assert (
        acked.status_code == 200
        and acked.json()["status"] == "acknowledged"
        and acked.json()["acknowledged_at"]
    )
    again = client.post(f"{base}/acknowledge", headers=quality, json={"response": "again"})
    assert again.status_code == 409 and "acknowledged" in again.json()["message"]

    officer = client.post(
        "/api/users",
        headers=as_role("manager"),
        json={"username": "quality2", "display_name": "QA 2", "role": "quality", "password": "fieldq-demo-2"},
    ).json()
    assert (
        client.post(
            f"{base}/assign", headers=quality, json={"assignee_id": seeded["supervisor1"]}
        ).status_code
        == 422
    )
    moved = client.post(f"{base}/assign", headers=quality, json={"assignee_id": officer["id"]})
    assert moved.status_code == 200 and moved.json()["assignee_id"] == officer["id"]

    resolved = client.post(f"{base}/resolve", headers=quality, json={"resolution": "Dispenser replaced"})
    assert resolved.status_code == 200 and resolved.json()["resolved_at"]
    closed = client.post(f"{base}/close", headers=as_role("manager"), json={"note": "customer confirmed"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["closed_at"]
    for action, payload in (
        ("acknowledge", {"response": "x"}),
        ("resolve", {"resolution": "x"}),
        ("close", {}),
    ):
        refused = client.post(f"{base}/{action}", headers=quality, json=payload)
        assert refused.status_code == 409 and "closed" in refused.json()["message"], action
    assert (
        client.post(f"{base}/assign", headers=quality, json={"assignee_id": seeded["quality"]}).status_code
        == 409
    )

    # The next complaint goes to the officer with fewer open complaints.
    third = client.post(URL, headers=quality, json={**body, "severity": "medium"}).json()
    assert third["assignee_id"] == officer["id"]


def test_who_logs_and_sees_complaints(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "approved")
    other = drive(client, as_role, world, "approved", assignee="tech5", by="supervisor2")
    body = {"channel": "email", "severity": "medium", "summary": "Engineer left the panel open"}
    lead = as_role("supervisor1")

    assert client.post(URL, json={**body, "job_id": job["id"]}).status_code == 401
    assert client.post(URL, headers=as_role("tech1"), json={**body, "job_id": job["id"]}).status_code == 403
    assert client.get(URL, headers=as_role("tech1")).status_code == 403
    no_job = client.post(URL, headers=lead, json=body)
    assert no_job.status_code == 422 and no_job.json()["field"] == "job_id"
    assert client.post(URL, headers=lead, json={**body, "job_id": other["id"]}).status_code == 404
    for bad, field in (
        ({**body, "severity": "huge"}, "severity"),
        ({**body, "channel": "survey"}, "channel"),  # FieldQ makes those itself
        ({**body, "summary": ""}, "summary"),
        ({**body, "mood": "angry"}, "mood"),
        ({**body, "received_at": "2026-01-01T10:00:00"}, "received_at"),  # no offset
    ):
        r = client.post(URL, headers=as_role("quality"), json=bad)
        assert r.status_code == 400 and r.json()["field"] == field, (bad, r.text)
    assert (
        client.post(URL, headers=as_role("quality"), json={**body, "job_id": str(uuid4())}).status_code == 404
    )
    wrong_site = client.post(
        URL, headers=as_role("quality"), json={**body, "job_id": job["id"], "site_id": str(uuid4())}
    )
    assert wrong_site.status_code == 422 and wrong_site.json()["field"] == "site_id"

    mine = client.post(URL, headers=lead, json={**body, "job_id": job["id"]})
    assert mine.status_code == 201, mine.text
    theirs = client.post(URL, headers=as_role("quality"), json={**body, "job_id": other["id"]}).json()
    by_site = client.post(URL, headers=as_role("quality"), json={**body, "site_id": world.site["id"]})
    assert by_site.status_code == 201 and by_site.json()["customer_id"] == world.customer["id"]

    assert client.get(URL, headers=lead).json()["total"] == 1
    assert client.get(f"{URL}/{mine.json()['id']}", headers=lead).status_code == 200
    assert client.get(f"{URL}/{theirs['id']}", headers=lead).status_code == 404
    assert client.get(f"{URL}/{mine.json()['id']}", headers=as_role("supervisor2")).status_code == 404
    assert client.get(URL, headers=as_role("manager")).json()["total"] == 3
    tech_filter = client.get(
        URL, headers=as_role("quality"), params={"technician_id": seeded["tech5"]}
    ).json()
    assert [c["id"] for c in tech_filter["items"]] == [theirs["id"]]
    assert client.get(URL, headers=as_role("quality"), params={"status": "done"}).status_code == 400
    assert client.get(URL, headers=as_role("quality"), params={"offset": 2**63}).status_code == 400


def test_overdue_complaints(client, as_role, seeded):
    quality = as_role("quality")
    body = {"channel": "phone", "severity": "high", "summary": "No one called me back"}
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    late = client.post(URL, headers=quality, json={**body, "received_at": two_days_ago}).json()
    fresh = client.post(URL, headers=quality, json=body).json()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.post(URL, headers=quality, json={**body, "received_at": future}).status_code == 422
    assert late["overdue"] is True and fresh["overdue"] is False
    overdue = client.get(URL, headers=quality, params={"overdue": "true"}).json()
    assert [c["id"] for c in overdue["items"]] == [late["id"]]
    # Answering the customer meets the response target; the resolution target (5 days) is still ahead.
    client.post(f"{URL}/{late['id']}/acknowledge", headers=quality, json={"response": "sorry, on it"})
    assert client.get(URL, headers=quality, params={"overdue": "true"}).json()["total"] == 0
    assert client.get(URL, headers=quality, params={"overdue": "false"}).json()["total"] == 2


def test_field_reports_are_triaged_into_complaints(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech, quality = as_role("tech1"), as_role("quality")

    def report(kind: str, text: str, **extra) -> dict:
        r = client.post(
            "/api/quality/reports",
            headers=tech,
            json={"report_id": ids(), "kind": kind, "text": text, **extra},
        )
        assert r.status_code == 201, r.text
        return r.json()

    complaint_report = report(
        "complaint", "客户抱怨等待时间太长\nThe branch waited two hours", job_id=job["id"]
    )
    observation = report("observation", "Cable trays are not labelled")
    url = f"/api/quality/reports/{complaint_report['id']}/triage"

    assert client.post(url, headers=as_role("supervisor1"), json={"as": "complaint"}).status_code == 403
    assert client.post(url, headers=tech, json={"as": "complaint"}).status_code == 403
    unknown = client.post(url, headers=quality, json={"as": "party"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "as"
    assert client.post(url, headers=quality, json={"as": "complaint", "severity": "mild"}).status_code == 400
    assert (
        client.post(
            f"/api/quality/reports/{uuid4()}/triage", headers=quality, json={"as": "close"}
        ).status_code
        == 404
    )
    not_a_complaint = client.post(
        f"/api/quality/reports/{observation['id']}/triage", headers=quality, json={"as": "complaint"}
    )
    assert not_a_complaint.status_code == 422

    triaged = client.post(url, headers=quality, json={"as": "complaint", "severity": "high"})
    assert triaged.status_code == 200, triaged.text
    result = triaged.json()
    assert result["report"]["status"] == "triaged" and result["outcome"] == "complaint"
    complaint = result["complaint"]
    assert (complaint["channel"], complaint["severity"], complaint["source_id"]) == (
        "field_report",
        "high",
        complaint_report["id"],
    )
    assert complaint["summary"] == "客户抱怨等待时间太长" and complaint["technician_id"] == seeded["tech1"]
    assert complaint["job_id"] == job["id"] and "two hours" in complaint["details"]
    again = client.post(url, headers=quality, json={"as": "complaint"})
    assert again.status_code == 409 and "triaged" in again.json()["message"]

    closed = client.post(
        f"/api/quality/reports/{observation['id']}/triage", headers=as_role("manager"), json={"as": "close"}
    )
    assert closed.status_code == 200 and closed.json()["report"]["status"] == "closed"
    assert closed.json()["complaint"] is None
    listed = client.get("/api/quality/complaints", headers=as_role("supervisor1")).json()
    assert listed["total"] == 1
