"""SYNC.md 1.1, device health rides along: a push or a pull may carry ``device``; the server keeps the
latest report per client and shows it in the supervisors' device list. A malformed report refuses the
whole request (400 naming the field) and changes nothing."""

from __future__ import annotations

from tests.jobs_helpers import build_world, drive, ids
from tests.sync_helpers import SyncClient

REPORT = {
    "app_version": "1.4.2",
    "outbox_pending": 3,
    "oldest_pending_at": "2026-11-24T08:00:00+08:00",
    "blobs_pending": 1,
    "storage_used": 52_428_800,
    "storage_quota": 2_147_483_648,
    "persisted": True,
}


def _device(client, headers, client_id):
    listed = client.get("/api/devices", headers=headers)
    assert listed.status_code == 200, listed.text
    return next((d for d in listed.json() if d["id"] == client_id), None)


def test_the_latest_report_of_a_push_or_a_pull_is_shown_to_the_phones_supervisor(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    lead, manager = as_role("supervisor1"), as_role("manager")
    phone = SyncClient(client, as_role("tech1"))

    # Never reported: the device is listed with a null health.
    assert phone.pull_raw().status_code == 200
    assert _device(client, lead, phone.client_id)["health"] is None

    note = phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="n")
    pushed = phone.push_raw([note], device=REPORT)
    assert pushed.status_code == 200 and pushed.json()["results"][0]["status"] == "applied", pushed.text
    device = _device(client, lead, phone.client_id)
    health = device.pop("health")
    received_at = health.pop("received_at")
    assert received_at and health == {**REPORT, "oldest_pending_at": "2026-11-24T08:00:00+08:00"}
    # The report's version is the client's version, as the top-level app_version is.
    assert device["app_version"] == "1.4.2"

    # The latest wins, from a pull as from a push; fields it does not name are null, not kept.
    later = {"app_version": "1.5.0", "outbox_pending": 0, "oldest_pending_at": None, "persisted": False}
    assert phone.pull_raw(device=later).status_code == 200
    device = _device(client, manager, phone.client_id)
    assert device["app_version"] == "1.5.0"
    assert device["health"]["received_at"] >= received_at
    assert {k: v for k, v in device["health"].items() if k != "received_at"} == {
        "app_version": "1.5.0",
        "outbox_pending": 0,
        "oldest_pending_at": None,
        "blobs_pending": None,
        "storage_used": None,
        "storage_quota": None,
        "persisted": False,
    }
    # Straight after, within the minute the pull time is noted once: a changed report still lands.
    assert phone.pull_raw(device={"outbox_pending": 7}).status_code == 200
    assert _device(client, lead, phone.client_id)["health"]["outbox_pending"] == 7
    # An empty report is a report (nothing named); a request without one keeps the last.
    assert phone.push_raw([]).status_code == 200
    assert phone.pull_raw().status_code == 200
    assert _device(client, lead, phone.client_id)["health"]["outbox_pending"] == 7
    assert phone.push_raw([], device={}).status_code == 200
    health = _device(client, lead, phone.client_id)["health"]
    assert health["outbox_pending"] is None and health["received_at"]
    # The top-level app_version, when given, is the client's version.
    assert phone.push_raw([], app_version="1.6.0", device={"app_version": "1.5.9"}).status_code == 200
    assert _device(client, lead, phone.client_id)["app_version"] == "1.6.0"

    # Only the phone's supervisors (and managers) see it; technicians do not list devices.
    assert _device(client, as_role("supervisor2"), phone.client_id) is None
    assert client.get("/api/devices", headers=as_role("tech1")).status_code == 403
    assert client.get("/api/devices", headers=as_role("quality")).status_code == 403


def test_a_bad_report_refuses_the_request_whole_and_changes_nothing(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    lead = as_role("supervisor1")
    phone = SyncClient(client, as_role("tech1"))
    assert phone.push_raw([], app_version="1.0.0", device={"outbox_pending": 2}).status_code == 200
    before = _device(client, lead, phone.client_id)

    bad = [
        ({"outbox_pending": -1}, "device.outbox_pending"),
        ({"blobs_pending": 2**53 + 1}, "device.blobs_pending"),
        ({"storage_used": 10**30}, "device.storage_used"),
        ({"storage_quota": 1.5}, "device.storage_quota"),
        ({"persisted": "yes"}, "device.persisted"),
        ({"oldest_pending_at": "2026-11-24T08:00:00"}, "device.oldest_pending_at"),
        ({"oldest_pending_at": "yesterday"}, "device.oldest_pending_at"),
        ({"app_version": "1.0\u0000"}, "device.app_version"),
        ({"app_version": "1.0\n2"}, "device.app_version"),
        ({"app_version": "x" * 41}, "device.app_version"),
        # The error mapping names an unknown field by its own name (as everywhere in the API).
        ({"battery": 80}, "battery"),
        ([], "device"),
    ]
    for device, field in bad:
        note = {"id": 1, "name": "job.log", "args": {"log_id": ids(), "job_id": job["id"], "kind": "note"}}
        for response in (phone.push_raw([note], device=device), phone.pull_raw(device=device)):
            assert response.status_code == 400, (device, response.text)
            assert response.json()["field"] == field, (device, response.text)
    # A NUL in the top-level app_version is refused too (it was a 500 on PostgreSQL).
    for response in (phone.push_raw([], app_version="1\u0000"), phone.pull_raw(app_version="1\u0000")):
        assert response.status_code == 400 and response.json()["field"] == "app_version", response.text

    after = _device(client, lead, phone.client_id)
    assert after == before and after["health"] == {
        **dict.fromkeys(
            [
                "app_version",
                "oldest_pending_at",
                "blobs_pending",
                "storage_used",
                "storage_quota",
                "persisted",
            ]
        ),
        "outbox_pending": 2,
        "received_at": before["health"]["received_at"],
    }
    assert after["last_mutation_id"] == 0 and after["app_version"] == "1.0.0"
    record = client.get(f"/api/jobs/{job['id']}/record", headers=lead).json()
    assert record["logs"] == []
