"""The technician's day in real Chromium with no signal, against a live server on SQLite and PostgreSQL.

Log in online, go offline, do two whole jobs (every transition, every step with real JPEG photos through
the file input, readings with one out of range, parts, time, findings), reload half-way, close the
browser and open it again on the same profile, come back online: everything reaches the server exactly
once, checked through the API as the supervisor and against a fresh pull. Then the faults: a push whose
response is lost after the commit, a job reassigned while the phone was offline, and a schedule changed
by the supervisor while the technician wrote findings offline.
"""

from __future__ import annotations

import pytest

from tests.e2e.tech_phone import (
    GEO,
    _context,
    _do_step,
    _fresh_pull,
    _idb,
    _log_in,
    _row,
    _wait_synced,
    _watch,
    api,  # fixtures: module scope, one live server per database for this file
    live_server,
    playwright_instance,
    world,
)
from tests.jobs_helpers import jpeg_photo, new_job, now_iso


def _work_a_job(page, job: dict, photo, *, reading: str, out_of_range: bool, parts: list[int]) -> None:
    _row(page, job).click()
    page.wait_for_selector(f"[data-testid=job][data-job-id='{job['id']}']")
    for to in ("accepted", "en_route", "on_site"):
        page.get_by_test_id(f"action-{to}").click()
        page.wait_for_selector(f"[data-testid=job][data-status='{to}']")
    # Work done is not offered while required steps have no result.
    assert page.get_by_test_id("action-work_done").is_disabled()
    assert page.get_by_test_id("work-done-blocked").is_visible()
    page.get_by_test_id("open-procedure").click()
    page.wait_for_selector("[data-testid=procedure][data-state=ready]")
    _do_step(page, "arrive")
    _do_step(page, "photo", photo=photo)
    if out_of_range:
        step = page.locator("[data-testid=step][data-step-id='ups']")
        step.locator("[data-testid=step-reading]").fill(reading)
        assert step.get_by_test_id("out-of-range").is_visible()
        step.get_by_test_id("step-pass").click()
        assert step.get_by_test_id("step-error").is_visible()  # a note is asked for first
        _do_step(page, "ups", note="Battery over-charged; charger replaced")
    else:
        _do_step(page, "ups", reading=reading)
    _do_step(page, "extra", result="na")
    page.get_by_test_id("back-to-job").click()
    page.get_by_test_id("open-parts").click()
    page.wait_for_selector("[data-testid=parts][data-state=ready]")
    for count, qty in enumerate(parts, start=1):
        page.get_by_test_id("part-search").fill("filter")
        page.get_by_test_id("part-option").first.click()
        page.get_by_test_id("part-qty").fill(str(qty))
        page.get_by_test_id("part-save").click()
        page.locator("[data-testid=part-used]").nth(count - 1).wait_for()
    page.get_by_test_id("log-kind-time").click()
    page.get_by_test_id("log-minutes").fill("45")
    page.get_by_test_id("log-text").fill("Travel and work")
    page.get_by_test_id("log-save").click()
    page.get_by_test_id("log-saved").wait_for()
    page.get_by_test_id("field-findings").fill(f"Pick filter clogged on {job['number']}")
    page.get_by_test_id("fields-save").click()
    page.get_by_test_id("fields-saved").wait_for()
    page.goto(f"/jobs/{job['id']}")
    page.wait_for_selector(f"[data-testid=job][data-job-id='{job['id']}']")
    page.get_by_test_id("action-work_done").click()
    page.wait_for_selector("[data-testid=job][data-status='work_done']")


def test_a_technicians_day_with_no_signal_reaches_the_server_once(
    playwright_instance, live_server, api, world, tmp_path
):
    jobs = [
        new_job(api.client, api.headers, world, scheduled_start=now_iso(), description=f"Day job {n}")
        for n in (1, 2)
    ]
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_photo(1600, 1200, seed=7))
    photo2 = tmp_path / "photo2.jpg"
    photo2.write_bytes(jpeg_photo(1200, 900, seed=8))
    person = next(
        loc
        for loc in api.get("/api/inventory/locations", "manager", kind="person")
        if loc["user_id"] == api.ids["tech1"]
    )
    stock_before = {
        row["item_id"]: row["qty"]
        for row in api.get(f"/api/inventory/locations/{person['id']}/stock", "manager")["stock"]
    }
    profile = tmp_path / "profile"

    context = _context(playwright_instance, live_server, profile)
    page = context.pages[0] if context.pages else context.new_page()
    problems = _watch(page)
    _log_in(page, "tech1")
    for job in jobs:
        _row(page, job).wait_for(timeout=30_000)
    page.wait_for_selector("body[data-sw-ready='1']", timeout=20_000)

    context.set_offline(True)
    _work_a_job(page, jobs[0], photo, reading="13.1", out_of_range=False, parts=[2, 1])

    # Half-way, a reload with no network: everything is still there and queued.
    page.reload()
    page.wait_for_selector(f"[data-testid=job][data-job-id='{jobs[0]['id']}'][data-status='work_done']")
    page.get_by_test_id("nav-today").click()
    page.wait_for_selector("[data-testid=today][data-state=ready]")
    assert _row(page, jobs[0]).get_attribute("data-status") == "work_done"
    assert _row(page, jobs[0]).get_attribute("data-pending") == "1"
    waiting = int(page.get_by_test_id("nav-pending").inner_text())
    names = sorted(entry["name"] for entry in _idb(page, "outbox"))
    assert waiting == len(names) == 12, " ".join(names)

    # The browser closed and opened again on the same profile, still offline.
    context.close()
    context = _context(playwright_instance, live_server, profile)
    context.set_offline(True)
    page = context.pages[0] if context.pages else context.new_page()
    problems += _watch(page)
    page.goto("/")
    page.wait_for_selector("[data-testid=today][data-state=ready]", timeout=20_000)
    assert int(page.get_by_test_id("nav-pending").inner_text()) == waiting
    _work_a_job(page, jobs[1], photo2, reading="14.9", out_of_range=True, parts=[1])

    page.goto("/sync")
    page.wait_for_selector("[data-testid=waiting][data-state=ready]")
    pending = int(page.get_by_test_id("waiting").get_attribute("data-pending"))
    assert pending == int(page.get_by_test_id("nav-pending").inner_text()) and pending > waiting
    assert page.get_by_test_id("photo-entry").count() == 2
    words = page.get_by_test_id("outbox-pending").inner_text()
    assert (
        jobs[1]["number"] in words and "状态 → 已到场" in words
    )  # tech1 reads Chinese (the account's locale)

    context.set_offline(False)
    _wait_synced(page)
    assert page.get_by_test_id("needs-attention").count() == 0

    # Through the API, as the supervisor: the records as entered, once.
    for job, reading, qty in ((jobs[0], 13.1, 3), (jobs[1], 14.9, 1)):
        record = api.get(f"/api/jobs/{job['id']}/record")
        assert record["job"]["status"] == "work_done"
        assert record["job"]["findings"] == f"Pick filter clogged on {job['number']}"
        assert record["job"]["arrival_lat"] == pytest.approx(GEO["latitude"], abs=1e-3)
        steps = {step["step_id"]: step for step in record["steps"]}
        assert {k: steps[k]["result"] for k in ("arrive", "photo", "ups", "extra")} == {
            "arrive": "pass",
            "photo": "pass",
            "ups": "pass",
            "extra": "na",
        }
        assert steps["ups"]["value"] == reading
        assert steps["ups"]["in_range"] is (reading <= 13.8)
        assert len(steps["photo"]["blobs"]) == 1
        assert [log["minutes"] for log in record["logs"] if log["kind"] == "time"] == [45]
        assert sum(part["qty"] for part in record["parts"]) == qty, record["parts"]
        attachment = record["attachments"][0]
        image = api.client.get(attachment["thumbnail_url"], headers=api.headers("supervisor1"))
        assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
        history = api.get(f"/api/jobs/{job['id']}/history")
        transitions = [h["new_value"] for h in history if h["kind"] == "transition"]
        assert transitions == ["accepted", "en_route", "on_site", "work_done"], (
            transitions
        )  # accepted, en route, on site, work done: once each
    stock_after = {
        row["item_id"]: row["qty"]
        for row in api.get(f"/api/inventory/locations/{person['id']}/stock", "manager")["stock"]
    }
    assert stock_before[world.part_item["id"]] - stock_after[world.part_item["id"]] == 4

    # The outbox is empty and the phone's records equal a fresh pull of the same scope.
    assert [entry for entry in _idb(page, "outbox") if entry["state"] in ("queued", "sent", "blocked")] == []
    phone = {(r["entity"], r["id"]): r["version"] for r in _idb(page, "records") if not r.get("pinned")}
    fresh = _fresh_pull(api, "tech1")
    assert phone == fresh
    assert problems == []
    context.close()


def test_faults_lost_response_reassigned_job_and_a_schedule_changed_meanwhile(
    playwright_instance, live_server, api, world
):
    lost = new_job(api.client, api.headers, world, scheduled_start=now_iso(), description="Lost answer")
    taken = new_job(api.client, api.headers, world, scheduled_start=now_iso(), description="Taken away")
    moved = new_job(api.client, api.headers, world, scheduled_start=now_iso(), description="Rescheduled")
    context = _context(playwright_instance, live_server)
    page = context.new_page()
    problems = _watch(page)
    _log_in(page, "tech1")
    for job in (lost, taken, moved):
        _row(page, job).wait_for(timeout=30_000)

    # 1. The server commits a push, and the answer never reaches the phone: the retry is a duplicate.
    answers: list[dict] = []
    state = {"dropped": False}

    def drop_first_answer(route):
        response = route.fetch()
        if not state["dropped"]:
            state["dropped"] = True
            route.abort()
            return
        answers.append(response.json())
        route.fulfill(response=response)

    page.route("**/api/sync/v1/push", drop_first_answer)
    _row(page, lost).click()
    page.get_by_test_id("action-accepted").click()
    page.wait_for_selector("[data-testid=job][data-status='accepted']")
    page.get_by_test_id("nav-waiting").click()
    page.wait_for_selector("[data-testid=waiting][data-state=ready]")
    for _ in range(60):
        if state["dropped"]:
            break
        page.wait_for_timeout(250)
    assert state["dropped"], "the first push never happened"
    _wait_synced(page)
    page.unroute("**/api/sync/v1/push")
    statuses = [result["status"] for answer in answers for result in answer["results"]]
    assert statuses[:1] == ["duplicate"], answers
    history = api.get(f"/api/jobs/{lost['id']}/history")
    assert [h["new_value"] for h in history if h["kind"] == "transition"] == ["accepted"]

    # 2. Offline, the technician works on a job the supervisor gives to someone else meanwhile.
    context.set_offline(True)
    page.goto(f"/jobs/{taken['id']}")
    page.get_by_test_id("action-accepted").click()
    page.wait_for_selector("[data-testid=job][data-status='accepted']")
    response = api.client.post(
        f"/api/jobs/{taken['id']}/assign",
        headers=api.headers("supervisor1"),
        json={"assignee_id": api.ids["tech2"]},
    )
    assert response.status_code == 200, response.text

    # 3. Offline, the technician writes findings while the supervisor moves the schedule.
    page.goto(f"/jobs/{moved['id']}")
    page.get_by_test_id("action-accepted").click()
    page.get_by_test_id("action-en_route").click()
    page.get_by_test_id("action-on_site").click()
    page.wait_for_selector("[data-testid=job][data-status='on_site']")
    page.get_by_test_id("open-parts").click()
    page.get_by_test_id("field-findings").fill("Cassette sensor dirty, cleaned")
    page.get_by_test_id("fields-save").click()
    page.get_by_test_id("fields-saved").wait_for()
    new_start = now_iso()
    current = api.get(f"/api/jobs/{moved['id']}")
    response = api.client.patch(
        f"/api/jobs/{moved['id']}",
        headers=api.headers("supervisor1"),
        json={"base_version": current["version"], "scheduled_start": new_start},
    )
    assert response.status_code == 200, response.text

    context.set_offline(False)
    _wait_synced(page)
    attention = page.get_by_test_id("needs-attention")
    attention.wait_for()
    rejected = attention.locator("[data-testid=outbox-entry][data-status='rejected']")
    assert rejected.count() == 1
    assert taken["number"] in rejected.inner_text()
    assert rejected.get_by_test_id("outbox-reason").inner_text().strip()
    items = api.get("/api/exceptions", kind="rejected")["items"]
    assert [item for item in items if taken["id"] in str(item.get("mutation"))], items
    rejected.get_by_test_id("mark-seen").click()
    page.wait_for_selector("[data-testid=waiting][data-attention='0']")
    # Nothing names the job any more: it left the phone with the pull that took it out of scope.
    page.get_by_test_id("nav-today").click()
    _row(page, moved).wait_for()
    assert _row(page, taken).count() == 0

    record = api.get(f"/api/jobs/{moved['id']}/record")
    assert record["job"]["findings"] == "Cassette sensor dirty, cleaned"
    assert record["job"]["scheduled_start"][:19] == new_start[:19]
    assert problems == []
    context.close()


def test_a_revoked_phone_signs_out_and_says_why_keeping_its_outbox(
    playwright_instance, live_server, api, world
):
    job = new_job(
        api.client, api.headers, world, assignee="tech2", scheduled_start=now_iso(), description="Revoked"
    )
    context = _context(playwright_instance, live_server)
    page = context.new_page()
    problems = _watch(page)
    _log_in(page, "tech2")
    _row(page, job).wait_for(timeout=30_000)
    client_id = next(row["clientId"] for row in _idb(page, "clients") if row["username"] == "tech2")

    # A server that speaks a newer protocol: the phone asks for an update and keeps its work.
    page.route(
        "**/api/sync/v1/pull",
        lambda route: route.fulfill(
            status=426,
            content_type="application/json",
            body='{"code": "PROTOCOL_UNSUPPORTED", "message": "update the app", "field": "protocol"}',
        ),
    )
    page.get_by_test_id("nav-waiting").click()
    page.get_by_test_id("sync-now").click()
    page.get_by_test_id("update-required").wait_for()
    page.unroute("**/api/sync/v1/pull")

    # Offline, the technician accepts the job; meanwhile the phone is reported lost and revoked.
    context.set_offline(True)
    page.get_by_test_id("nav-today").click()
    _row(page, job).click()
    page.get_by_test_id("action-accepted").click()
    page.wait_for_selector("[data-testid=job][data-status='accepted']")
    response = api.client.post(f"/api/devices/{client_id}/revoke", headers=api.headers("supervisor1"))
    assert response.status_code == 200, response.text
    context.set_offline(False)
    page.get_by_test_id("login-revoked").wait_for(timeout=30_000)
    # Nothing recorded is dropped: the entry waits on the phone (a supervisor can still recover it).
    waiting = [entry for entry in _idb(page, "outbox") if entry["clientId"] == client_id]
    assert [(entry["name"], entry["state"]) for entry in waiting] in (
        [("job.transition", "queued")],
        [("job.transition", "sent")],
    )
    assert api.get(f"/api/jobs/{job['id']}")["status"] == "assigned"
    assert problems == []
    context.close()
