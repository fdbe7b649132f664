"""Shared by the PWA's end-to-end tests of the technician's phone: a live server per database (module
scope, SQLite and PostgreSQL), the API as the demo people, Chromium contexts (persistent or not) with the
company's time zone and a position, and helpers that read the phone's IndexedDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS, PWA_DIST, _missing
from tests.jobs_helpers import build_world
from tests.live import live_fieldq

PASSWORD = "fieldq-demo"
TZ = "Asia/Shanghai"
GEO = {"latitude": 31.2397, "longitude": 121.4998}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (PWA_DIST / "index.html").exists():
        _missing("the PWA is not built (make build)")
    url = None
    if request.param == "postgres":
        pg = request.getfixturevalue("pg_server")
        url = pg.create("fieldq_e2e").replace("+psycopg", "+asyncpg")
        request.addfinalizer(lambda: pg.drop(url.replace("+asyncpg", "+psycopg")))
    with live_fieldq(
        tmp_path_factory.mktemp(f"e2e-techday-{request.param}"), url, FIELDQ_PWA_DIST=str(PWA_DIST)
    ) as base:
        yield base


@pytest.fixture(scope="module")
def playwright_instance(live_server) -> Iterator[object]:
    if not CHROMIUM.exists():
        _missing("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


class Api:
    """The API as the demo people, for setting up and checking what the phone did."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def headers(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            response = self.client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
            self.ids[username] = response.json()["user"]["id"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def get(self, path: str, username: str = "supervisor1", **params) -> dict | list:
        response = self.client.get(path, headers=self.headers(username), params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def api(live_server) -> Iterator[Api]:
    api = Api(live_server)
    for name in ("manager", "supervisor1", "tech1", "tech2", "tech5"):
        api.headers(name)
    yield api
    api.client.close()


@pytest.fixture(scope="module")
def world(api):
    return build_world(api.client, api.headers, dict(api.ids))


def _context(playwright, live_server, user_data_dir=None):
    options = {
        "base_url": live_server,
        "viewport": {"width": 390, "height": 844},
        "locale": "en-US",
        "timezone_id": TZ,
        "geolocation": GEO,
        "permissions": ["geolocation"],
    }
    if user_data_dir is not None:
        return playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True, **options
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
    context = browser.new_context(**options)
    context.on("close", lambda _context: browser.close())
    return context


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def _log_in(page, username: str) -> None:
    page.goto("/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    try:
        page.wait_for_selector("[data-testid=today][data-state=ready]", timeout=20_000)
    except Exception:
        page.screenshot(path="/tmp/fail.png")
        print(page.content()[-3000:])
        raise


def _row(page, job: dict):
    return page.locator(f"[data-testid=job-row][data-job-id='{job['id']}']")


def _wait_synced(page, timeout: int = 60_000) -> None:
    """Sync now from the waiting screen, until nothing waits and the last pull reached the pushes."""
    # In-app navigation, not a reload: a reload while the 'online' event's token refresh is in flight
    # would lose the rotated refresh token (see the closing note of this issue).
    page.get_by_test_id("nav-waiting").click()
    page.wait_for_selector("[data-testid=waiting][data-state=ready]")
    # The sync that "Sync now" starts must have finished, not one that ended before the click: wait for
    # the time of the last complete sync to change, then for nothing to be running or waiting.
    page.get_by_test_id("sync-now").wait_for()
    page.wait_for_selector("[data-testid=sync-now]:not([disabled])", timeout=timeout)
    before = page.get_by_test_id("last-sync").get_attribute("data-at")
    page.get_by_test_id("sync-now").click()
    page.wait_for_selector(f"[data-testid=last-sync]:not([data-at='{before}'])", timeout=timeout)
    page.wait_for_selector(
        "[data-testid=waiting][data-pending='0'] [data-testid=sync-state][data-problem='']", timeout=timeout
    )
    page.wait_for_selector("[data-testid=sync-badge][data-running='0']", state="attached", timeout=timeout)


def _idb(page, store: str) -> list[dict]:
    return page.evaluate(
        """(store) => new Promise((resolve, reject) => {
            const open = indexedDB.open('fieldq');
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
                const request = open.result.transaction(store).objectStore(store).getAll();
                request.onsuccess = () => {
                    const rows = request.result.map((row) => {
                        const copy = { ...row };
                        delete copy.bytes; delete copy.thumb;
                        return copy;
                    });
                    open.result.close();
                    resolve(rows);
                };
            };
        })""",
        store,
    )


def _do_step(page, step_id: str, *, photo=None, reading=None, note=None, result="pass") -> None:
    step = page.locator(f"[data-testid=step][data-step-id='{step_id}']")
    if photo is not None:
        step.locator("[data-testid=step-photo]").set_input_files(str(photo))
        step.locator("[data-testid=thumb]").first.wait_for()
    if reading is not None:
        step.locator("[data-testid=step-reading]").fill(reading)
    if note is not None:
        step.locator("[data-testid=step-note]").fill(note)
    step.locator(f"[data-testid=step-{result}]").click()
    page.wait_for_selector(f"[data-testid=step][data-step-id='{step_id}'][data-result='{result}']")


def _fresh_pull(api: Api, username: str) -> dict[tuple[str, str], int]:
    client_id = str(uuid.uuid4())
    cursor = None
    records: dict[tuple[str, str], int] = {}
    while True:
        response = api.client.post(
            "/api/sync/v1/pull",
            headers=api.headers(username),
            json={"protocol": 1, "client_id": client_id, "cursor": cursor},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        for change in page["changes"]:
            key = (change["entity"], change["id"])
            if change["op"] == "put":
                records[key] = change["version"]
            else:
                records.pop(key, None)
        cursor = page["cursor"]
        if not page["has_more"]:
            return records
