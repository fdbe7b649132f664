"""A technician's custody in real Chromium: the van, the toolbox with its tools and their due dates,
uniforms by size; shown again offline from what the phone stored; gone after logging out."""

from __future__ import annotations


def _log_in(page, username: str) -> None:
    page.goto("/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill("fieldq-demo")
    page.get_by_test_id("login-submit").click()


def _ready_card(page):
    page.wait_for_selector("[data-testid='custody-card'][data-state='ready']", timeout=20_000)
    return page.get_by_test_id("custody-card")


def test_a_technician_sees_what_they_hold_online_and_offline(page):
    _log_in(page, "tech1")
    card = _ready_card(page)
    assert page.get_by_test_id("custody-vehicle").count() == 1
    serials = page.get_by_test_id("custody-asset").evaluate_all("els => els.map(e => e.dataset.serial)")
    assert any(serial.startswith("TBX") or "TB" in serial for serial in serials), serials
    assert len(serials) >= 4  # the van, the toolbox and the tools inside it
    sizes = page.get_by_test_id("custody-stock-row").evaluate_all("els => els.map(e => e.dataset.size)")
    assert len(sizes) >= 2 and any(sizes), "uniforms (by size) and parts are listed"
    assert card.inner_text().strip()

    page.wait_for_selector("body[data-sw-ready='1']", timeout=20_000)
    page.context.set_offline(True)
    page.reload()
    card = _ready_card(page)
    offline_serials = page.get_by_test_id("custody-asset").evaluate_all(
        "els => els.map(e => e.dataset.serial)"
    )
    assert offline_serials == serials
    assert page.get_by_test_id("custody-updated").inner_text().strip()
    page.context.set_offline(False)
    assert page.csp_violations == []


def test_logging_out_forgets_the_custody_for_the_next_person(page):
    _log_in(page, "tech1")
    _ready_card(page)
    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-form").wait_for(timeout=10_000)
    left = page.evaluate(
        """() => new Promise((resolve) => {
            const open = indexedDB.open('fieldq');
            open.onsuccess = () => {
                const request = open.result.transaction('meta').objectStore('meta').getAllKeys();
                request.onsuccess = () =>
                    resolve(request.result.filter((k) => String(k).startsWith('user-cache:')));
            };
        })"""
    )
    assert left == []


def test_a_manager_has_no_custody_card(page):
    _log_in(page, "manager")
    page.get_by_test_id("shell-user-name").wait_for(timeout=15_000)
    assert page.get_by_test_id("custody-card").count() == 0
