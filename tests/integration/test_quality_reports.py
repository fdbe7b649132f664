"""Issues reported from the field enter the quality store, by REST or by the sync mutation
``quality.report``; each reporter, team and role sees what it should, and bad input changes nothing."""

from __future__ import annotations

from tests.jobs_helpers import build_world, drive, ids, jpeg_photo, upload
from tests.sync_helpers import SyncClient


def test_reports_by_push_and_rest_are_kept_once_and_scoped(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech = as_role("tech1")
    photo = upload(client, tech, jpeg_photo(seed=31), "image/jpeg")
    phone = SyncClient(client, tech)
    report_id = ids()
    mutation = phone.mutation(
        "quality.report",
        report_id=report_id,
        kind="complaint",
        job_id=job["id"],
        text="客户投诉上次维修后出钞口卡钞 Customer says the dispenser jams since the last repair",
        blobs=[photo],
    )
    out = phone.push([mutation])
    assert out["results"][0]["status"] == "applied", out
    assert phone.push([mutation])["results"][0]["status"] == "duplicate"

    # The same report again by REST (a retry from another path) is the same report.
    again = client.post(
        "/api/quality/reports",
        headers=tech,
        json={"report_id": report_id, "kind": "complaint", "text": "again", "job_id": job["id"]},
    )
    assert again.status_code == 200 and again.json()["text"].startswith("客户投诉")
    observation = client.post(
        "/api/quality/reports",
        headers=as_role("supervisor1"),
        json={"report_id": ids(), "kind": "observation", "text": "Cable trays are not labelled"},
    )
    assert observation.status_code == 201, observation.text

    quality = client.get("/api/quality/reports", headers=as_role("quality")).json()
    assert quality["total"] == 2
    mine = client.get("/api/quality/reports", headers=tech).json()
    assert [r["id"] for r in mine["items"]] == [report_id] and mine["items"][0]["blobs"] == [photo]
    lead = client.get("/api/quality/reports", headers=as_role("supervisor1")).json()
    assert lead["total"] == 2
    assert client.get("/api/quality/reports", headers=as_role("supervisor2")).json()["total"] == 0
    assert client.get("/api/quality/reports", headers=as_role("tech2")).json()["total"] == 0
    complaints = client.get("/api/quality/reports", headers=as_role("quality"), params={"kind": "complaint"})
    assert complaints.json()["total"] == 1
    phone.pull()
    assert report_id in phone.ids_of("quality_report")


def test_bad_reports_are_refused_and_change_nothing(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    other = drive(client, as_role, world, "on_site", assignee="tech5", by="supervisor2")
    tech, tech5 = as_role("tech1"), as_role("tech5")
    foreign_photo = upload(client, tech5, jpeg_photo(seed=32), "image/jpeg")
    base = {"report_id": ids(), "kind": "nonconformance", "text": "Seal broken"}
    cases = [
        ({**base, "kind": "rumour"}, 400, "kind"),
        ({**base, "text": ""}, 400, "text"),
        ({**base, "mood": "angry"}, 400, "mood"),
        ({**base, "job_id": other["id"]}, 404, "job_id"),
        ({**base, "job_id": job["id"], "blobs": [foreign_photo]}, 403, "blobs[0]"),
        ({**base, "blobs": ["0" * 64]}, 422, "blobs[0]"),
        ({**base, "report_id": "nope"}, 400, "report_id"),
    ]
    for body, status, field in cases:
        response = client.post("/api/quality/reports", headers=tech, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json().get("field") == field, response.text
    assert client.post("/api/quality/reports", json=base).status_code == 401
    # Someone else's report id is not theirs to reuse.
    assert client.post("/api/quality/reports", headers=tech5, json=base).status_code == 201
    taken = client.post("/api/quality/reports", headers=tech, json=base)
    assert taken.status_code == 409 and taken.json()["code"] == "ID_TAKEN"
    assert client.get("/api/quality/reports", headers=as_role("quality")).json()["total"] == 1
    # By push: refused mutations are rejected and kept; a photo not uploaded yet blocks.
    phone = SyncClient(client, tech)
    out = phone.push(
        [
            phone.mutation("quality.report", report_id=ids(), kind="complaint", text="x", job_id=other["id"]),
            phone.mutation("quality.report", report_id=ids(), kind="complaint", text="x", blobs=["a" * 64]),
        ]
    )
    assert [(r["status"], r.get("code")) for r in out["results"]] == [
        ("rejected", "FORBIDDEN"),
        ("blocked", "BLOB_MISSING"),
    ]
