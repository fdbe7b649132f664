"""A live FieldQ (uvicorn, the built PWA, demo data on SQLite) and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.settings import PROJECT_ROOT

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Module scope: Playwright's sync API keeps an event loop running on this thread while it is
# open, so it must be closed before other modules' tests call asyncio.run().
@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (PWA_DIST / "index.html").exists():
        _missing("the PWA is not built (make build)")
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {
        **os.environ,
        "FIELDQ_DATA_DIR": str(data_dir),
        "FIELDQ_PWA_DIST": str(PWA_DIST),
        "FIELDQ_PORT": str(port),
        "FIELDQ_ENV": "dev",
    }
    env.pop("FIELDQ_DATABASE_URL", None)
    fieldq = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*fieldq, "migrate"], env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
    subprocess.run([*fieldq, "seed", "--demo"], env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
    log = (data_dir / "server.log").open("w")
    server = subprocess.Popen(
        [*fieldq, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                pytest.fail(f"the server exited: {(data_dir / 'server.log').read_text()}")
            time.sleep(0.2)
        else:
            pytest.fail("the server did not become healthy in 30 s")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


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
