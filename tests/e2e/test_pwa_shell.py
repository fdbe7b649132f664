"""The PWA shell in real Chromium: log in, go offline, reload, still there; language switch; manifest."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

NAME = "王伟 Wang Wei"


def _log_in(page, username="tech1", password="fieldq-demo"):
    page.goto("/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_login_then_offline_reload_still_shows_the_user(page):
    _log_in(page)
    name = page.get_by_test_id("shell-user-name")
    name.wait_for(timeout=15_000)
    assert name.inner_text().strip() == NAME
    # Wait until the service worker controls the page, then cut the network.
    page.wait_for_selector("body[data-sw-ready='1']", timeout=20_000)
    page.context.set_offline(True)
    page.reload()
    page.get_by_test_id("app-shell").wait_for(timeout=15_000)
    assert page.get_by_test_id("shell-user-name").inner_text().strip() == NAME
    assert page.get_by_test_id("net-status").get_attribute("data-online") == "false"
    page.context.set_offline(False)
    assert page.csp_violations == []


def test_wrong_password_shows_an_error_and_no_shell(page):
    _log_in(page, password="not-the-password")
    error = page.get_by_test_id("login-error")
    error.wait_for(timeout=10_000)
    assert error.inner_text().strip()
    assert page.get_by_test_id("app-shell").count() == 0


def test_language_switch_changes_the_interface(page):
    page.goto("/")
    switch = page.get_by_test_id("lang-switch")
    switch.wait_for(timeout=10_000)
    switch.select_option("zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN", timeout=10_000)
    chinese = page.get_by_test_id("login-submit").inner_text()
    switch.select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en", timeout=10_000)
    english = page.get_by_test_id("login-submit").inner_text()
    assert chinese != english
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    # The choice survives a reload.
    switch.select_option("zh-CN")
    page.locator("[data-testid=lang-switch][data-saved='zh-CN']").wait_for(state="attached")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN", timeout=10_000)


def test_logout_returns_to_login(page):
    _log_in(page, "supervisor1")
    page.get_by_test_id("shell-user-name").wait_for(timeout=15_000)
    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-form").wait_for(timeout=10_000)


def test_manifest_is_installable_with_real_icons(live_server):
    manifest = httpx.get(f"{live_server}/manifest.webmanifest").json()
    assert manifest["name"] and manifest["start_url"] and manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any("maskable" in icon.get("purpose", "") for icon in manifest["icons"])
    for icon in manifest["icons"]:
        response = httpx.get(f"{live_server}/{icon['src'].lstrip('/')}")
        assert response.status_code == 200
        assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(response.content[16:20], "big")
        assert f"{width}x{width}" == icon["sizes"]
    page = httpx.get(live_server)
    assert "script-src 'self'" in page.headers["content-security-policy"]
