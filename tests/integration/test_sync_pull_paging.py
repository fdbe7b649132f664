"""Pull paging: a first pull pages through the whole scope consistently while writes go on, pages
stop at about 1 MiB, and image URLs in pulled records answer only to those who may see them."""

from __future__ import annotations

import json

from backend.sync import pull as pull_module
from tests.jobs_helpers import build_world, drive, ids, jpeg_photo, upload
from tests.sync_helpers import SyncClient


def test_a_first_pull_paging_while_writes_go_on_ends_with_the_current_scope(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    jobs = [drive(client, as_role, world, "accepted") for _ in range(3)]
    tech = as_role("tech1")
    writer = SyncClient(client, tech)
    phone = SyncClient(client, tech)
    cursor, pages, written = None, 0, []
    while True:
        response = phone.pull_raw(cursor, limit=4)
        assert response.status_code == 200, response.text
        page = response.json()
        if page["reset"]:
            phone.records.clear()
        for change in page["changes"]:
            key = (change["entity"], change["id"])
            if change["op"] == "put":
                phone.records[key] = change["data"]
            else:
                phone.records.pop(key, None)
        cursor, pages = page["cursor"], pages + 1
        if pages <= 6:
            # Between pages, the technician's other phone keeps writing into the same scope.
            log_id = ids()
            written.append(log_id)
            job = jobs[pages % len(jobs)]["id"]
            writer.push(
                [writer.mutation("job.log", log_id=log_id, job_id=job, kind="note", text=f"p{pages}")]
            )
            edited = client.patch(f"/api/jobs/{job}", headers=tech, json={"findings": f"after page {pages}"})
            assert edited.status_code == 200
        if not page["has_more"]:
            break
    assert pages > 6
    fresh = SyncClient(client, tech)
    fresh.pull()
    assert phone.records == fresh.records
    assert set(written) <= phone.ids_of("job_log")


def test_pages_stop_at_the_byte_budget_and_lose_nothing(client, as_role, seeded, monkeypatch):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "accepted")
    phone = SyncClient(client, as_role("tech1"))
    phone.push(
        [
            phone.mutation(
                "job.log", log_id=ids(), job_id=job["id"], kind="note", text=f"{n:03d} " + "x" * 3000
            )
            for n in range(40)
        ]
    )
    monkeypatch.setattr(pull_module, "PAGE_BYTES", 20_000)
    sizes = []
    cursor = None
    seen = set()
    while True:
        page = phone.pull_raw(cursor, limit=1000).json()
        sizes.append(len(json.dumps(page["changes"], ensure_ascii=False).encode()))
        seen |= {c["id"] for c in page["changes"] if c["entity"] == "job_log"}
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    # 40 logs of ~3 KB do not fit one 20 kB page; no page is more than one change over the budget.
    assert len(sizes) > 3 and max(sizes) <= 20_000 + 4_000, sizes
    assert len(seen) == 40


def test_image_urls_in_pulled_records_answer_only_within_scope(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    job = drive(client, as_role, world, "on_site")
    tech1 = as_role("tech1")
    photo = upload(client, tech1, jpeg_photo(seed=77), "image/jpeg")
    phone = SyncClient(client, tech1)
    out = phone.push([phone.mutation("job.attach", attachment_id=ids(), job_id=job["id"], blob=photo)])
    assert out["results"][0]["status"] == "applied"
    phone.pull()
    attachment = next(phone.records[k] for k in phone.records if k[0] == "attachment")
    for url in (attachment["url"], attachment["thumbnail_url"]):
        assert client.get(url, headers=tech1).status_code == 200
        assert client.get(url, headers=as_role("supervisor1")).status_code == 200
        assert client.get(url, headers=as_role("tech2")).status_code == 404
        assert client.get(url, headers=as_role("supervisor2")).status_code == 404
        assert client.get(url).status_code == 401
    other = SyncClient(client, as_role("tech2"))
    other.pull()
    assert not other.ids_of("attachment") and job["id"] not in other.ids_of("job")
