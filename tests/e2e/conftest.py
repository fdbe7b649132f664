"""A live FieldQ (uvicorn, the built PWA, demo data on SQLite) and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.settings import PROJECT_ROOT
from tests.live import live_fieldq

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PWA_DIST = PROJECT_ROOT / "pwa" / "dist"
REQUIRE_BROWSER = os.environ.get("FIELDQ_REQUIRE_BROWSER") == "1"


def _missing(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (FIELDQ_REQUIRE_BROWSER=1 makes this a failure)")
    pytest.skip(reason)


# Module scope: Playwright's sync API keeps an event loop running on this thread while it is
# open, so it must be closed before other modules' tests call asyncio.run().
@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (PWA_DIST / "index.html").exists():
        _missing("the PWA is not built (make build)")
    with live_fieldq(
        tmp_path_factory.mktemp("e2e-data"), demo_inventory=True, FIELDQ_PWA_DIST=str(PWA_DIST)
    ) as base:
        yield base


@pytest.fixture(scope="module")
def browser(live_server) -> Iterator[object]:
    if not CHROMIUM.exists():
        _missing("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server, viewport={"width": 390, "height": 844}, locale="en-US"
    )
    page = context.new_page()
    page.csp_violations = []
    page.on(
        "console",
        lambda message: (
            page.csp_violations.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    yield page
    context.close()
