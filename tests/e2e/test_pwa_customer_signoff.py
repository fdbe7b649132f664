"""Customer mode in real Chromium against a live server, SQLite and PostgreSQL: the technician hands the
phone over offline; the customer reads the summary in their language, signs with a drawn signature and
rates the work, or refuses with a reason; the back button and an edited URL show nothing of the
technician's; leaving needs the PIN. Back online the sign-off reaches the server once, with the phone's
own hash matching the server's, and a refusal ends the job disputed with its reason in the quality store.
A self-assessment and a report from the field travel the same way.
"""

from __future__ import annotations

from tests.e2e.tech_phone import (  # one live server per database for this file, browser set-up, helpers
    Api,
    _context,
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
from tests.jobs_helpers import drive, jpeg_photo

PIN = "2468"


def _sign(page, *, name: str, stars: tuple[int, int, int]) -> None:
    page.get_by_test_id("signer-name").fill(name)
    pad = page.get_by_test_id("signature-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] / 2)
    page.mouse.down()
    for i in range(40):
        page.mouse.move(box["x"] + 20 + i * 8, box["y"] + box["height"] / 2 + ((i % 6) - 3) * 12)
    page.mouse.up()
    page.get_by_test_id("signature-signed").wait_for(state="attached")
    for test_id, value in zip(("rating-overall", "rating-technical", "rating-service"), stars, strict=True):
        page.locator(f"[data-testid={test_id}] [data-star='{value}']").click()


def _no_technician_data(page) -> None:
    assert page.get_by_test_id("customer-mode").count() == 1
    for test_id in ("app-shell", "job-row", "nav-today", "nav-waiting", "logout", "custody-card"):
        assert page.get_by_test_id(test_id).count() == 0, test_id


def _leave(page) -> None:
    page.get_by_test_id("customer-leave").click()
    page.get_by_test_id("pin-input").fill("0000")
    page.get_by_test_id("pin-submit").click()
    page.get_by_test_id("pin-wrong").wait_for()
    _no_technician_data(page)
    page.get_by_test_id("pin-input").fill(PIN)
    page.get_by_test_id("pin-submit").click()
    page.get_by_test_id("app-shell").wait_for()


def test_a_customer_signs_and_another_refuses_offline_in_both_languages(
    playwright_instance, live_server, api: Api, world, tmp_path
):
    accepted_job = drive(api.client, api.headers, world, "work_done")
    refused_job = drive(api.client, api.headers, world, "work_done")
    photo = tmp_path / "report.jpg"
    photo.write_bytes(jpeg_photo(1024, 768, seed=11))
    context = _context(playwright_instance, live_server)
    page = context.new_page()
    problems = _watch(page)
    _log_in(page, "tech1")
    for job in (accepted_job, refused_job):
        _row(page, job).wait_for(timeout=30_000)
    page.wait_for_selector("body[data-sw-ready='1']", timeout=20_000)
    # A photo taken elsewhere (through the API) shows from the server's thumbnail, fetched with the token.
    _row(page, accepted_job).click()
    page.get_by_test_id("open-procedure").click()
    server_thumb = "[data-testid=step][data-step-id='photo'] [data-testid=thumb][data-state=server] img"
    page.locator(server_thumb).wait_for()
    page.get_by_test_id("nav-today").click()
    _row(page, accepted_job).wait_for()
    context.set_offline(True)

    # The technician rates their own work before leaving, and reports an observation with a photo.
    _row(page, accepted_job).click()
    page.locator("[data-testid=self-overall] [data-star='4']").click()
    page.get_by_test_id("self-save").click()
    page.get_by_test_id("self-assessed").wait_for()
    page.get_by_test_id("open-report").click()
    page.get_by_test_id("report-kind-observation").click()
    page.get_by_test_id("report-text").fill("Branch UPS room floods when it rains")
    page.get_by_test_id("report-photo").set_input_files(str(photo))
    page.locator("[data-testid=report-form] [data-testid=thumb]").wait_for()
    page.get_by_test_id("report-save").click()
    page.get_by_test_id("report-saved").wait_for()

    # Customer mode: the first customer reads English and accepts.
    page.goto(f"/jobs/{accepted_job['id']}")
    page.get_by_test_id("hand-to-customer").click()
    page.get_by_test_id("pin-new").fill(PIN)
    page.get_by_test_id("pin-again").fill(PIN)
    page.get_by_test_id("pin-save").click()
    page.wait_for_selector("[data-testid=customer-mode][data-state=ready]")
    page.get_by_test_id("customer-lang-en").click()
    summary = page.get_by_test_id("customer-summary").inner_text()
    assert accepted_job["number"] in summary and "Pass" in summary and "13.1" in summary
    page.go_back()
    _no_technician_data(page)
    page.goto("/")
    page.wait_for_selector("[data-testid=customer-mode][data-state=ready]")
    _no_technician_data(page)
    page.goto(f"/jobs/{refused_job['id']}/parts")
    page.wait_for_selector("[data-testid=customer-mode][data-state=ready]")
    _no_technician_data(page)
    assert "Please check and sign" in page.inner_text("body")  # the customer's language kept over reloads
    _sign(page, name="Ms. Li 李女士", stars=(5, 4, 5))
    page.get_by_test_id("customer-accept").click()
    page.wait_for_selector("[data-testid=customer-thanks][data-accepted='1']")
    page.reload()  # a reload after signing shows the thank-you again, never a second sign-off
    page.wait_for_selector("[data-testid=customer-thanks][data-accepted='1']")
    _leave(page)

    # The second customer reads Chinese and refuses, with a reason.
    page.goto(f"/jobs/{refused_job['id']}")
    page.get_by_test_id("hand-to-customer").click()  # the PIN is set: straight into the mode
    page.wait_for_selector("[data-testid=customer-mode][data-state=ready]")
    page.get_by_test_id("customer-lang-zh-CN").click()
    assert "请核对并签字" in page.inner_text("body")
    _sign(page, name="王先生", stars=(1, 2, 1))
    page.get_by_test_id("customer-refuse").click()
    page.get_by_test_id("customer-refuse-confirm").click()
    assert "请说明拒绝的原因" in page.get_by_test_id("customer-error").inner_text()
    page.get_by_test_id("refuse-reason").fill("还是吞卡 Still swallowing cards")
    page.get_by_test_id("customer-refuse-confirm").click()
    page.wait_for_selector("[data-testid=customer-thanks][data-accepted='0']")
    _leave(page)

    context.set_offline(False)
    _wait_synced(page)
    assert page.get_by_test_id("needs-attention").count() == 0

    signed = api.get(f"/api/jobs/{accepted_job['id']}/record")
    assert signed["job"]["status"] == "awaiting_approval"
    signoff = signed["signoff"]
    assert (signoff["rating"], signoff["rating_technical"], signoff["rating_service"]) == (5, 4, 5)
    assert signoff["signer_name"] == "Ms. Li 李女士" and signoff["accepted"] is True
    verify = api.get(f"/api/jobs/{accepted_job['id']}/signoff/verify")
    assert verify["valid"] is True
    assert verify["hash_match"] is True, verify  # the phone's hash of what the customer saw = the server's
    signature = api.client.get(signoff["signature_url"], headers=api.headers("supervisor1"))
    assert signature.status_code == 200
    report = api.client.get(f"/api/jobs/{accepted_job['id']}/report.pdf", headers=api.headers("supervisor1"))
    assert report.status_code == 200 and report.content.startswith(b"%PDF")
    # The service report (its HTML form, which the PDF is drawn from) shows the ratings, the signature
    # image and that the phone's hash matches the server's.
    html = api.client.get(
        f"/api/jobs/{accepted_job['id']}/report", headers=api.headers("supervisor1"), params={"lang": "en"}
    ).text
    assert "Hashes match" in html and "Ms. Li 李女士" in html
    assert [n in html for n in ("★★★★★</span> 5/5", "★★★★☆</span> 4/5")] == [True, True]
    assert "data:image/" in html

    refused = api.get(f"/api/jobs/{refused_job['id']}/record")
    assert refused["job"]["status"] == "disputed"
    complaints = api.get("/api/quality/complaints", "quality", job_id=refused_job["id"])
    assert complaints["total"] == 1
    assert "Still swallowing cards" in complaints["items"][0]["details"]

    reports = api.get("/api/quality/reports", "quality", job_id=accepted_job["id"])
    items = reports["items"] if isinstance(reports, dict) else reports
    assert [r["text"] for r in items] == ["Branch UPS room floods when it rains"]
    assert len(items[0]["blobs"]) == 1
    evaluations = api.get("/api/quality/evaluations", "quality", job_id=accepted_job["id"])
    sources = sorted(e["source"] for e in evaluations["items"])
    assert "self" in " ".join(sources) and "signoff" in " ".join(sources), sources
    # Every entry was answered once, and the outbox is empty.
    assert [e for e in _idb(page, "outbox") if e["state"] in ("queued", "sent", "blocked")] == []
    assert problems == []
    context.close()
