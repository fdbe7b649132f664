"""The sync protocol over HTTP (docs/SYNC.md): push outcomes, exactly-once replays, gaps, unknown and
foreign clients, blocked mutations, scoped pulls with signed cursors, merges and re-applying."""

from __future__ import annotations

from tests.jobs_helpers import (
    build_world,
    drive,
    ids,
    jpeg_photo,
    new_job,
    sha,
    signature_png,
    signoff_body,
    transition,
    upload,
)
from tests.sync_helpers import SyncClient


def _stock(client, headers, location_id, item_id):
    rows = client.get(f"/api/inventory/locations/{location_id}/stock", headers=headers).json()
    return sum(r["qty"] for r in rows if r["item_id"] == item_id)


def _my_location(client, headers):
    custody = client.get("/api/inventory/custody/me", headers=headers)
    assert custody.status_code == 200, custody.text
    return custody.json()


def test_a_working_day_pushed_once_and_replayed_changes_nothing_twice(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = new_job(client, as_role, world)
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    photo = upload(client, tech, jpeg_photo(seed=7), "image/jpeg")
    batch = [
        phone.mutation("job.transition", job_id=job["id"], to="accepted"),
        phone.mutation("job.transition", job_id=job["id"], to="en_route"),
        phone.mutation(
            "job.transition",
            job_id=job["id"],
            to="on_site",
            geo={"lat": 31.24, "lon": 121.5, "accuracy_m": 8},
        ),
        phone.mutation("job.step", job_id=job["id"], step_id="arrive", result="pass"),
        phone.mutation("job.step", job_id=job["id"], step_id="photo", result="pass", blobs=[photo]),
        phone.mutation("job.step", job_id=job["id"], step_id="ups", result="pass", value=13.0),
        phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="Cleaned the dispenser"),
        phone.mutation(
            "stock.consume", move_id=ids(), job_id=job["id"], item_id=world.part_item["id"], qty=2
        ),
    ]
    first = phone.push(batch)
    assert first["last_mutation_id"] == 8
    assert [r["status"] for r in first["results"]] == ["applied"] * 8, first["results"]
    state = client.get(f"/api/jobs/{job['id']}", headers=tech).json()
    assert state["status"] == "on_site"
    # One push is one transaction: the job moved one version, and every result names it.
    assert {r["version"] for r in first["results"][:3]} == {state["version"]}
    record = client.get(f"/api/jobs/{job['id']}/record", headers=tech).json()
    parts_before = record["parts"]
    assert sum(p["qty"] for p in parts_before) == 2

    # A record id mentioned twice in one batch (the phone queued the same note twice) is one record.
    note = batch[6]["args"]
    twice = phone.push([phone.mutation("job.log", **note), phone.mutation("job.log", **note)])
    assert [r["status"] for r in twice["results"]] == ["applied", "applied"], twice
    batch_ids = [m["id"] for m in batch]
    assert batch_ids == list(range(1, 9))

    # The response was lost: the phone pushes the same batch again, and once more split in two.
    again = phone.push(batch)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 8
    assert again["results"][7]["result"]["status"] == "applied"
    assert phone.push(batch[:3])["results"][0]["status"] == "duplicate"
    record = client.get(f"/api/jobs/{job['id']}/record", headers=tech).json()
    assert record["parts"] == parts_before
    assert len(record["logs"]) == 1

    # The pull that reaches the write checkpoint holds the phone's own writes.
    phone.pull()
    assert phone.last_mutation_id == 10
    assert phone.checkpoint >= int(first["write_checkpoint"])
    assert phone.records[("job", job["id"])]["status"] == "on_site"
    assert len(phone.ids_of("job_step")) == 3 and len(phone.ids_of("job_log")) == 1


def test_gaps_unknown_clients_foreign_and_revoked_clients(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    note = lambda: phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="n")  # noqa: E731

    # An unknown client that starts past 1 is told to start over; nothing is registered.
    stranger = SyncClient(client, tech)
    stranger.next_id = 3
    response = stranger.push_raw(
        [stranger.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="n")]
    )
    assert response.status_code == 409 and response.json()["code"] == "CLIENT_UNKNOWN"

    assert phone.push([note(), note()])["last_mutation_id"] == 2
    skipped = phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="x")
    skipped["id"] = 5
    out = phone.push([skipped])
    assert out["last_mutation_id"] == 2 and out["results"] == []
    devices = client.get("/api/devices", headers=as_role("supervisor1")).json()
    mine = next(d for d in devices if d["id"] == phone.client_id)
    assert mine["last_mutation_id"] == 2 and mine["pending_gap_from"] == 5 and mine["last_push_at"]

    # Another user may not use this client id.
    thief = SyncClient(client, as_role("tech2"), client_id=phone.client_id)
    response = thief.push_raw([])
    assert response.status_code == 403, response.text
    assert thief.pull_raw().status_code == 403

    # A revoked phone can no longer push or pull.
    revoked = client.post(f"/api/devices/{phone.client_id}/revoke", headers=as_role("supervisor1"))
    assert revoked.status_code == 200, revoked.text
    for response in (phone.push_raw([]), phone.pull_raw()):
        assert response.status_code in (401, 403)


def test_bad_pushes_are_refused_whole_and_change_nothing(client, as_role, seeded):
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    assert phone.push_raw([], protocol=2).json()["code"] == "PROTOCOL_UNSUPPORTED"
    assert phone.push_raw([]).status_code == 200
    too_many = [{"id": i, "name": "job.log", "args": {}} for i in range(1, 502)]
    response = phone.push_raw(too_many)
    assert response.status_code == 413, response.text
    huge = [{"id": 1, "name": "job.log", "args": {"text": "x" * (5 * 1024 * 1024)}}]
    assert phone.push_raw(huge).status_code == 413
    response = client.post("/api/sync/v1/push", headers=tech, content=b"{not json")
    assert response.status_code == 400
    response = phone.push_raw([{"id": 1, "name": "job.log", "args": {}, "extra": True}])
    assert response.status_code == 400 and response.json()["field"] == "extra"
    response = phone.push_raw([{"id": 0, "name": "job.log", "args": {}}])
    assert response.status_code == 400
    assert client.post("/api/sync/v1/push", json={"protocol": 1}).status_code == 401
    devices = client.get("/api/devices", headers=as_role("manager")).json()
    assert next(d for d in devices if d["id"] == phone.client_id)["last_mutation_id"] == 0


def test_refused_mutations_are_rejected_and_kept_the_rest_goes_on(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "accepted")
    other = drive(client, as_role, world, "on_site", assignee="tech5", by="supervisor2")
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    first_log = ids()
    out = phone.push(
        [
            phone.mutation("job.log", log_id=first_log, job_id=job["id"], kind="note", text="first"),
            phone.mutation("job.teleport", job_id=job["id"]),
            phone.mutation("job.log", log_id="not-a-uuid", job_id=job["id"], kind="note", text="x"),
            phone.mutation("job.transition", job_id=job["id"], to="work_done"),  # not on site yet
            phone.mutation("job.log", log_id=ids(), job_id=other["id"], kind="note", text="spy"),
            phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="kept"),
        ]
    )
    codes = [(r["status"], r.get("code")) for r in out["results"]]
    out["results"] = out["results"][1:]
    assert codes == [
        ("applied", None),
        ("rejected", "UNKNOWN_MUTATION"),
        ("rejected", "INVALID_ARGS"),
        ("rejected", "STALE_TRANSITION"),
        ("rejected", "FORBIDDEN"),
        ("applied", None),
    ], out["results"]
    assert out["results"][1]["field"] == "log_id"
    assert out["last_mutation_id"] == 6
    # Every refusal is kept in full for the supervisor, and the phone sees its own open ones.
    listed = client.get("/api/exceptions", headers=as_role("supervisor1"), params={"kind": "rejected"}).json()
    kept = {e["id"]: e for e in listed["items"]}
    for result in out["results"][:4]:
        assert result["exception_id"] in kept
    assert kept[out["results"][2]["exception_id"]]["mutation"]["args"]["to"] == "work_done"
    phone.pull()
    assert {r["exception_id"] for r in out["results"][:4]} <= phone.ids_of("sync_exception")
    # What applied before and after the refusals reaches the phone (the refusals' savepoints rolled
    # back only themselves, not the feed entries of the batch's other mutations).
    logs = {phone.records[("job_log", i)]["text"] for i in phone.ids_of("job_log")}
    assert logs == {"first", "kept"}
    # The job stayed where it was; tech5's job got nothing.
    assert client.get(f"/api/jobs/{job['id']}", headers=tech).json()["status"] == "accepted"
    spied = client.get(f"/api/jobs/{other['id']}/record", headers=as_role("tech5")).json()
    assert spied["logs"] == []


def test_a_missing_image_blocks_until_uploaded(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech = as_role("tech1")
    phone = SyncClient(client, tech)
    photo = jpeg_photo(seed=99)
    batch = [
        phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="before"),
        phone.mutation("job.attach", attachment_id=ids(), job_id=job["id"], blob=sha(photo)),
        phone.mutation("job.log", log_id=ids(), job_id=job["id"], kind="note", text="after"),
    ]
    out = phone.push(batch)
    assert out["last_mutation_id"] == 1
    assert out["results"][1] == {
        "id": 2,
        "status": "blocked",
        "code": "BLOB_MISSING",
        "blob": sha(photo),
        "message": out["results"][1]["message"],
    }
    assert len(out["results"]) == 2
    upload(client, tech, photo, "image/jpeg")
    out = phone.push(batch)
    assert [r["status"] for r in out["results"]] == ["duplicate", "applied", "applied"]


def test_pull_scope_follows_the_job_and_cursors_are_tamper_evident(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "accepted")
    tech1, tech2 = SyncClient(client, as_role("tech1")), SyncClient(client, as_role("tech2"))
    lead = SyncClient(client, as_role("supervisor1"))
    foreign_lead = SyncClient(client, as_role("supervisor2"))
    for phone in (tech1, tech2, lead, foreign_lead):
        phone.pull(limit=7)  # small pages: the paging itself is exercised
    assert job["id"] in tech1.ids_of("job") and job["id"] in lead.ids_of("job")
    assert job["id"] not in tech2.ids_of("job") and job["id"] not in foreign_lead.ids_of("job")
    assert world.site["id"] in tech1.ids_of("site") and world.unit["id"] in tech1.ids_of("unit")
    assert world.customer["id"] in tech1.ids_of("customer")
    assert world.site["id"] not in tech2.ids_of("site")
    assert world.part_item["id"] in tech2.ids_of("item")  # the catalog is everyone's
    # Themselves and their teammates (team 1: supervisor1, tech1–tech4), no one else.
    assert {seeded[n] for n in ("supervisor1", "tech1", "tech2", "tech3", "tech4")} == tech1.ids_of("user")
    assert "password_hash" not in tech1.records[("user", seeded["tech1"])]
    assert not any(
        r.get("user_id") == seeded["tech1"] for (k, _), r in tech2.records.items() if k == "location"
    )

    # A log on the job reaches its technician and supervisor, nobody else.
    log_id = ids()
    tech1.push([tech1.mutation("job.log", log_id=log_id, job_id=job["id"], kind="note", text="hi")])
    for phone in (tech1, tech2, lead, foreign_lead):
        phone.pull()
    assert log_id in tech1.ids_of("job_log") and log_id in lead.ids_of("job_log")
    assert log_id not in tech2.ids_of("job_log") and log_id not in foreign_lead.ids_of("job_log")

    # Reassigned to tech2: tech1 gets deletions for the job and what hangs off it, tech2 gets it all.
    reassigned = client.post(
        f"/api/jobs/{job['id']}/assign",
        headers=as_role("supervisor1"),
        json={"assignee_id": seeded["tech2"]},
    )
    assert reassigned.status_code == 200, reassigned.text
    changes = tech1.pull()
    assert {"entity": "job", "id": job["id"], "op": "del"} in changes
    assert job["id"] not in tech1.ids_of("job") and log_id not in tech1.ids_of("job_log")
    tech2.pull()
    assert job["id"] in tech2.ids_of("job") and log_id in tech2.ids_of("job_log")
    assert world.site["id"] in tech2.ids_of("site")

    # Cursors: another user's, another device's, or an altered one are refused.
    assert tech2.pull_raw(tech1.cursor).status_code == 400
    twin = SyncClient(client, as_role("tech1"))
    assert twin.pull_raw(tech1.cursor).json()["code"] == "INVALID_CURSOR"
    payload, mac = tech1.cursor.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    assert tech1.pull_raw(forged).status_code == 400
    assert tech1.pull_raw("garbage").status_code == 400
    assert tech1.pull_raw(protocol=7).status_code == 426


def test_job_update_merges_by_field_ownership(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech, lead, manager = as_role("tech1"), as_role("supervisor1"), as_role("manager")
    base = client.get(f"/api/jobs/{job['id']}", headers=tech).json()["version"]
    phone = SyncClient(client, tech)
    supervisor_phone = SyncClient(client, lead)
    # Meanwhile on the server: the manager edits the description, someone edits the findings.
    assert (
        client.patch(
            f"/api/jobs/{job['id']}", headers=manager, json={"description": "server plan"}
        ).status_code
        == 200
    )
    assert (
        client.patch(f"/api/jobs/{job['id']}", headers=tech, json={"findings": "server findings"}).status_code
        == 200
    )
    out = phone.push(
        [
            phone.mutation(
                "job.update",
                job_id=job["id"],
                base_version=base,
                fields={"findings": "phone findings", "arrival_note": "gate code 42"},
            )
        ]
    )
    assert out["results"][0]["status"] == "applied", out
    out = supervisor_phone.push(
        [
            supervisor_phone.mutation(
                "job.update",
                job_id=job["id"],
                base_version=base,
                fields={"description": "phone plan", "priority": "high"},
            )
        ]
    )
    result = out["results"][0]
    assert result["status"] == "merged" and result["overridden_fields"] == ["description"], result
    state = client.get(f"/api/jobs/{job['id']}", headers=lead).json()
    assert state["description"] == "server plan" and state["priority"] == "high"
    assert state["findings"] == "phone findings" and state["arrival_note"] == "gate code 42"
    history = client.get(f"/api/jobs/{job['id']}/history", headers=lead).json()
    lost = {(h["field"], h["new_value"]) for h in history if h["kind"] == "merge_lost"}
    assert ("description", "phone plan") in lost and ("findings", "server findings") in lost
    # A technician may not change the plan, merged or not.
    out = phone.push(
        [phone.mutation("job.update", job_id=job["id"], base_version=base, fields={"description": "mine"})]
    )
    assert out["results"][0]["code"] == "FORBIDDEN"


def test_second_signoff_is_kept_as_duplicate_signoff_and_reapply_fixes_a_stale_transition(
    client, as_role, seeded
):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "work_done")
    tech = as_role("tech1")
    phone, second_phone = SyncClient(client, tech), SyncClient(client, tech)
    signatures = [upload(client, tech, signature_png(seed=s), "image/png") for s in (1, 2)]
    first = phone.push([phone.mutation("job.signoff", job_id=job["id"], **signoff_body(signatures[0]))])
    assert first["results"][0]["status"] == "applied", first
    second = second_phone.push(
        [second_phone.mutation("job.signoff", job_id=job["id"], **signoff_body(signatures[1]))]
    )
    assert second["results"][0]["code"] == "ALREADY_SIGNED"
    kept = client.get(
        f"/api/exceptions/{second['results'][0]['exception_id']}", headers=as_role("supervisor1")
    )
    assert kept.json()["kind"] == "duplicate_signoff"

    other = new_job(client, as_role, world)
    out = phone.push([phone.mutation("job.transition", job_id=other["id"], to="en_route")])
    exception_id = out["results"][0]["exception_id"]
    lead = as_role("supervisor1")
    refused = client.post(f"/api/exceptions/{exception_id}/reapply", headers=lead)
    assert refused.status_code == 409 and refused.json()["code"] == "STALE_TRANSITION"
    assert client.post(f"/api/exceptions/{exception_id}/reapply", headers=tech).status_code == 403
    assert transition(client, tech, other["id"], "accepted").status_code == 200
    done = client.post(f"/api/exceptions/{exception_id}/reapply", headers=lead, json={"note": "accepted now"})
    assert done.status_code == 200, done.text
    assert done.json()["exception"]["status"] == "resolved"
    assert done.json()["exception"]["outcome"] == "corrected"
    assert client.get(f"/api/jobs/{other['id']}", headers=tech).json()["status"] == "en_route"
    again = client.post(f"/api/exceptions/{exception_id}/reapply", headers=lead)
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_RESOLVED"


def test_reapply_refuses_bad_input_other_teams_and_exceptions_without_a_mutation(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "accepted")
    phone = SyncClient(client, as_role("tech1"))
    out = phone.push(
        [
            phone.mutation("job.transition", job_id=job["id"], to="work_done"),
            # More parts than tech1 holds: a fact accepted with a stock_discrepancy exception.
            phone.mutation(
                "stock.consume", move_id=ids(), job_id=job["id"], item_id=world.part_item["id"], qty=500
            ),
        ]
    )
    rejected, merged = out["results"]
    assert rejected["status"] == "rejected" and merged["status"] == "merged", out
    lead = as_role("supervisor1")
    url = f"/api/exceptions/{rejected['exception_id']}/reapply"
    cases = [
        (client.post(url, headers=lead, json={"note": "x", "force": True}), 400, "UNKNOWN_FIELD"),
        (client.post(url, headers=lead, json={"note": "x" * 1001}), 400, None),
        (client.post("/api/exceptions/not-a-uuid/reapply", headers=lead), 404, None),
        (client.post(f"/api/exceptions/{ids()}/reapply", headers=lead), 404, "NOT_FOUND"),
        (client.post(url, headers=as_role("supervisor2")), 404, "NOT_FOUND"),
        (client.post(url), 401, None),
        (
            client.post(f"/api/exceptions/{merged['exception_id']}/reapply", headers=lead),
            409,
            "NOT_REAPPLIABLE",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        if code:
            assert response.json()["code"] == code, response.text
    # Nothing was resolved by the refused attempts.
    kept = client.get(f"/api/exceptions/{rejected['exception_id']}", headers=lead).json()
    assert kept["status"] == "open"
