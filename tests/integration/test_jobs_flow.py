"""A job from the repair-request line to approval, through the HTTP API, on SQLite and PostgreSQL:
intake, dispatch, the technician's day, the work record with a photo, a reading and parts from their
stock, the customer's sign-off with its hash, the approval queue with the evidence, and the report."""

from __future__ import annotations

import hashlib
from uuid import UUID

from sqlalchemy import update

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


def test_a_request_goes_from_intake_to_approval(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, tech = as_role("supervisor1"), as_role("tech1")

    # The repair line takes a call: a `new` job for the team of the site's region, with targets.
    request = {
        "type": "repair",
        "site_id": world.site["id"],
        "unit_id": world.unit["id"],
        "priority": "urgent",
        "description": "Card reader rejects every card",
        "external_ref": "CRM-20261124-0042",
        "reported_by": "Ms. Li",
        "reporter_phone": "+86 21 5555 0101",
    }
    made = client.post("/api/service-requests", headers=as_role("manager"), json=request)
    assert made.status_code == 201, made.text
    job = made.json()["job"]
    assert job["status"] == "new" and job["source"] == "request" and job["number"].startswith("J")
    assert job["respond_by"] and job["complete_by"] and job["customer_name"] == "中国工商银行 ICBC"
    # The integration retries: the same job, 200, nothing new.
    again = client.post("/api/service-requests", headers=as_role("manager"), json=request)
    assert again.status_code == 200 and again.json()["job"]["id"] == job["id"]

    # Dispatch: the supervisor assigns it; tech1 sees it today, tech2 does not see it at all.
    assigned = client.post(
        f"/api/jobs/{job['id']}/assign",
        headers=lead,
        json={"assignee_id": seeded["tech1"], "scheduled_start": now_iso(), "scheduled_end": now_iso()},
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned"
    mine = client.get("/api/jobs/mine", headers=tech, params={"tz": "Asia/Shanghai"}).json()
    assert job["id"] in [j["id"] for j in mine]
    assert client.get(f"/api/jobs/{job['id']}", headers=as_role("tech2")).status_code == 404
    assert job["id"] not in [j["id"] for j in client.get("/api/jobs/mine", headers=as_role("tech2")).json()]


def test_the_work_record_signoff_and_approval(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    lead, tech = as_role("supervisor1"), as_role("tech1")
    job = new_job(client, as_role, world)
    for to in ("accepted", "en_route"):
        assert transition(client, tech, job["id"], to).status_code == 200
    arrived = transition(
        client, tech, job["id"], "on_site", geo={"lat": 31.24, "lon": 121.5, "accuracy_m": 8}
    )
    assert arrived.status_code == 200 and arrived.json()["arrival_lat"] == 31.24

    # work_done needs every mandatory step.
    early = transition(client, tech, job["id"], "work_done")
    assert early.status_code == 422 and early.json()["code"] == "STEP_INCOMPLETE"
    photo = upload(client, tech, jpeg_photo(), "image/jpeg")
    do_steps(client, tech, job["id"], photo)
    low = client.put(f"/api/jobs/{job['id']}/steps/ups", headers=tech, json={"result": "fail", "value": 11.2})
    assert low.status_code == 200 and low.json()["in_range"] is False
    log = client.post(
        f"/api/jobs/{job['id']}/logs",
        headers=tech,
        json={"log_id": ids(), "kind": "time", "minutes": 45, "text": "cleaning"},
    )
    assert log.status_code == 201
    part = client.post(
        f"/api/jobs/{job['id']}/parts",
        headers=tech,
        json={"move_id": ids(), "item_id": world.part_item["id"], "qty": 2},
    )
    assert part.status_code == 201, part.text
    assert transition(client, tech, job["id"], "work_done").status_code == 200

    signature = upload(client, tech, signature_png(), "image/png")
    signed = client.post(f"/api/jobs/{job['id']}/signoff", headers=tech, json=signoff_body(signature))
    assert signed.status_code == 201, signed.text
    assert len(signed.json()["hash"]) == 64
    second = client.post(f"/api/jobs/{job['id']}/signoff", headers=tech, json=signoff_body(signature))
    assert second.status_code == 409 and second.json()["code"] == "ALREADY_SIGNED"
    locked = client.put(
        f"/api/jobs/{job['id']}/steps/ups", headers=tech, json={"result": "pass", "value": 13}
    )
    assert locked.status_code == 409 and locked.json()["code"] == "RECORD_LOCKED"

    queue = client.get("/api/jobs/approvals", headers=lead).json()
    evidence = next(item for item in queue["items"] if item["job"]["id"] == job["id"])
    assert evidence["verification"]["valid"] is True
    assert {s["step_id"] for s in evidence["steps"]} == {"arrive", "photo", "ups"}
    assert evidence["parts"][0]["qty"] == 2 and evidence["minutes_logged"] == 45
    assert evidence["signoff"]["rating"] == 5 and evidence["attachments"][0]["blob"] == photo

    # The photo is served to the supervisor (re-encoded WebP), not to another technician.
    image = client.get(evidence["attachments"][0]["thumbnail_url"], headers=lead)
    assert image.status_code == 200 and image.content[:4] == b"RIFF"
    assert client.get(evidence["attachments"][0]["url"], headers=as_role("tech2")).status_code == 404

    no_reason = client.post(f"/api/jobs/{job['id']}/decision", headers=lead, json={"decision": "return"})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    approved = client.post(f"/api/jobs/{job['id']}/decision", headers=lead, json={"decision": "approve"})
    assert approved.status_code == 201, approved.text
    assert approved.json()["turnaround_seconds"] is not None
    report = client.get(f"/api/jobs/{job['id']}/report", headers=lead)
    assert report.status_code == 200 and "Ms. Li" in report.text and "data:image/webp;base64," in report.text
    assert "img-src data:" in report.headers["content-security-policy"]
    for lang in ("en", "zh-CN"):
        pdf = client.get(f"/api/jobs/{job['id']}/report.pdf", headers=lead, params={"lang": lang})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-") and pdf.content.rstrip().endswith(b"%%EOF")
        # The photo and the signature are embedded as images, and a font with Chinese glyphs (subset)
        # where setup could install one (CI does), else the viewer-side STSong-Light.
        from backend.jobs.report_pdf import FONT

        font = b"/FontFile2" if FONT == "FieldQReport" else b"STSong-Light"
        assert pdf.content.count(b"/Subtype /Image") >= 2 and font in pdf.content
    other = client.get(f"/api/jobs/{job['id']}/report.pdf", headers=as_role("tech5"))
    assert other.status_code == 404


def test_changing_a_signed_value_in_the_database_fails_verification(client, as_role, seeded, settings):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "awaiting_approval")
    lead = as_role("supervisor1")
    verified = client.get(f"/api/jobs/{job['id']}/signoff/verify", headers=lead).json()
    assert verified["valid"] and verified["changed"] == []

    import asyncio

    from backend.db import create_engine
    from backend.jobs.models import JobStep

    async def tamper():
        engine = create_engine(settings)
        async with engine.begin() as connection:
            await connection.execute(
                update(JobStep.__table__)
                .where(JobStep.__table__.c.job_id == UUID(job["id"]), JobStep.__table__.c.step_id == "ups")
                .values(value=12.5)
            )
        await engine.dispose()

    asyncio.run(tamper())
    after = client.get(f"/api/jobs/{job['id']}/signoff/verify", headers=lead).json()
    assert after["valid"] is False and after["changed"] == ["steps"] and after["snapshot_intact"] is True


def test_inventory_stock_moves_cannot_join_another_technicians_job(client, as_role, seeded):
    """Consumption recorded through inventory's own endpoint with a job_id joins that job's record, so
    the same rules hold: another technician's job is invisible (404), a signed job is locked (409)."""
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    body = {"move_id": ids(), "job_id": job["id"], "item_id": world.part_item["id"], "qty": 1}
    other_team = client.post("/api/inventory/ops/consume", headers=as_role("tech5"), json=body)
    assert other_team.status_code == 404 and other_team.json()["field"] == "job_id"
    mine = client.post(
        "/api/inventory/ops/consume", headers=as_role("tech1"), json={**body, "move_id": ids()}
    )
    assert mine.status_code == 201, mine.text
    signed = drive(client, as_role, world, "awaiting_approval")
    locked = client.post(
        "/api/inventory/ops/consume",
        headers=as_role("tech1"),
        json={**body, "move_id": ids(), "job_id": signed["id"]},
    )
    assert locked.status_code == 409 and locked.json()["code"] == "RECORD_LOCKED"
    verified = client.get(f"/api/jobs/{signed['id']}/signoff/verify", headers=as_role("supervisor1")).json()
    assert verified["valid"] is True


def test_a_retried_part_gets_its_first_answer_after_the_job_was_signed(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech = as_role("tech1")
    part = {"move_id": ids(), "item_id": world.part_item["id"], "qty": 1}
    first = client.post(f"/api/jobs/{job['id']}/parts", headers=tech, json=part)
    assert first.status_code == 201
    do_steps(client, tech, job["id"], upload(client, tech, jpeg_photo(seed=3), "image/jpeg"))
    assert transition(client, tech, job["id"], "work_done").status_code == 200
    signature = upload(client, tech, signature_png(seed=11), "image/png")
    assert (
        client.post(f"/api/jobs/{job['id']}/signoff", headers=tech, json=signoff_body(signature)).status_code
        == 201
    )
    retry = client.post(f"/api/jobs/{job['id']}/parts", headers=tech, json=part)
    assert retry.status_code == 200 and retry.json()["duplicate"] is True
    assert retry.json()["movement_ids"] == first.json()["movement_ids"]


def test_quality_takes_requests_but_does_not_assign_them(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    body = {"type": "repair", "site_id": world.site["id"], "assignee_id": seeded["tech1"]}
    refused = client.post("/api/service-requests", headers=as_role("quality"), json=body)
    assert refused.status_code == 403 and refused.json()["field"] == "assignee_id"
    taken = client.post(
        "/api/service-requests", headers=as_role("quality"), json={**body, "assignee_id": None}
    )
    assert taken.status_code == 201 and taken.json()["job"]["status"] == "new"


def test_a_refusal_with_a_long_comment_is_kept_whole_on_every_database(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "work_done")
    tech = as_role("tech1")
    signature = upload(client, tech, signature_png(seed=12), "image/png")
    comment = "屏幕有划痕，清洁不彻底。" * 300
    refused = client.post(
        f"/api/jobs/{job['id']}/signoff",
        headers=tech,
        json=signoff_body(signature, accepted=False, comment=comment),
    )
    assert refused.status_code == 201, refused.text
    assert refused.json()["comment"] == comment
    after = client.get(f"/api/jobs/{job['id']}", headers=as_role("supervisor1")).json()
    assert after["status"] == "disputed" and after["status_reason"] == comment[:1000]


def test_a_signature_file_replaced_on_disk_fails_verification(client, as_role, seeded, settings):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "awaiting_approval")
    lead = as_role("supervisor1")
    signoff = client.get(f"/api/jobs/{job['id']}/record", headers=lead).json()["signoff"]
    before = client.get(f"/api/jobs/{job['id']}/signoff/verify", headers=lead).json()
    assert before["valid"] is True and before["signature_intact"] is True
    from backend.media.store import BlobStore

    path = BlobStore(settings.data_dir / "blobs").path_for(signoff["signature_blob"])
    path.chmod(0o644)
    path.write_bytes(signature_png(seed=99))
    after = client.get(f"/api/jobs/{job['id']}/signoff/verify", headers=lead).json()
    assert after["valid"] is False and after["signature_intact"] is False and after["changed"] == []


def test_a_site_moved_to_its_real_customer_takes_its_jobs_along(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = new_job(client, as_role, world)
    manager = as_role("manager")
    bank = client.post(
        "/api/customers", headers=manager, json={"name": "中国建设银行 CCB", "code": f"CCB-{ids()[:6]}"}
    )
    assert bank.status_code == 201
    unknown = client.patch(f"/api/sites/{world.site['id']}", headers=manager, json={"customer_id": ids()})
    assert unknown.status_code == 404 and unknown.json()["field"] == "customer_id"
    moved = client.patch(
        f"/api/sites/{world.site['id']}", headers=manager, json={"customer_id": bank.json()["id"]}
    )
    assert moved.status_code == 200 and moved.json()["customer_id"] == bank.json()["id"]
    after = client.get(f"/api/jobs/{job['id']}", headers=manager).json()
    assert after["customer_id"] == bank.json()["id"] and after["customer_name"] == "中国建设银行 CCB"
    history = client.get(f"/api/jobs/{job['id']}/history", headers=manager).json()
    assert [
        (h["field"], h["old_value"], h["actor_name"] != "") for h in history if h["field"] == "customer_id"
    ] == [("customer_id", world.customer["id"], True)]


def test_evidence_must_be_the_technicians_own_upload_and_each_signature_signs_once(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    tech = as_role("tech1")
    first = drive(client, as_role, world, "awaiting_approval")
    used = client.get(f"/api/jobs/{first['id']}/record", headers=tech).json()["signoff"]["signature_blob"]
    job = drive(client, as_role, world, "on_site")
    foreign_photo = upload(client, as_role("tech5"), jpeg_photo(seed=55), "image/jpeg")
    borrowed = client.put(
        f"/api/jobs/{job['id']}/steps/photo", headers=tech, json={"result": "pass", "blobs": [foreign_photo]}
    )
    assert borrowed.status_code == 403 and borrowed.json()["field"] == "blobs[0]"
    attached = client.post(
        f"/api/jobs/{job['id']}/attachments",
        headers=tech,
        json={"attachment_id": ids(), "blob": foreign_photo},
    )
    assert attached.status_code == 403 and attached.json()["field"] == "blob"
    do_steps(client, tech, job["id"], upload(client, tech, jpeg_photo(seed=56), "image/jpeg"))
    assert transition(client, tech, job["id"], "work_done").status_code == 200
    reused = client.post(f"/api/jobs/{job['id']}/signoff", headers=tech, json=signoff_body(used))
    assert reused.status_code == 409 and reused.json()["code"] == "SIGNATURE_REUSED"
    assert client.get(f"/api/jobs/{job['id']}", headers=tech).json()["status"] == "work_done"


def test_the_sync_blob_endpoints_follow_the_contract(client, as_role, seeded):
    """docs/SYNC.md, Blobs: PUT 201 stored / 200 already there, HASH_MISMATCH 400, wrong type 415,
    HEAD 200 or 404."""
    tech = as_role("tech1")
    photo = jpeg_photo(seed=71)
    digest = hashlib.sha256(photo).hexdigest()
    url = f"/api/sync/v1/blobs/{digest}"
    assert client.head(url, headers=tech).status_code == 404
    first = client.put(url, content=photo, headers={**tech, "Content-Type": "image/jpeg"})
    assert first.status_code == 201 and first.json()["sha256"] == digest
    again = client.put(url, content=photo, headers={**tech, "Content-Type": "image/jpeg"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert client.head(url, headers=tech).status_code == 200
    other = jpeg_photo(seed=72)
    lying = client.put(url, content=other, headers={**tech, "Content-Type": "image/jpeg"})
    assert lying.status_code == 400 and lying.json()["code"] == "HASH_MISMATCH"
    png = signature_png(seed=73)
    wrong = client.put(
        f"/api/sync/v1/blobs/{hashlib.sha256(png).hexdigest()}",
        content=png,
        headers={**tech, "Content-Type": "image/jpeg"},
    )
    assert wrong.status_code == 415
    assert client.put(url, content=photo).status_code == 401
