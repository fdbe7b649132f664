"""Start a real FieldQ server (uvicorn in a subprocess) on a data folder, for tests that need one."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from backend.settings import PROJECT_ROOT

LIVE_INSTALLED_UNITS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_fieldq(
    data_dir: Path,
    database_url: str | None = None,
    *,
    demo_inventory: bool = False,
    demo_jobs: bool = False,
    **extra_env: str,
) -> Iterator[str]:
    """Migrate, seed the demo company and serve; yields the base URL, stops the server after. The demo
    inventory (with a small installed base) only with ``demo_inventory``: tests that build their own
    stock count on the rest of the store being empty, as with the ``seeded`` fixture. The demo jobs
    (hundreds of jobs through the services, ~25 s) only with ``demo_jobs``."""
    port = free_port()
    env = {
        **os.environ,
        "FIELDQ_DATA_DIR": str(data_dir),
        "FIELDQ_PORT": str(port),
        "FIELDQ_ENV": "dev",
        **extra_env,
    }
    if database_url:
        env["FIELDQ_DATABASE_URL"] = database_url
    else:
        env.pop("FIELDQ_DATABASE_URL", None)
    fieldq = [sys.executable, "-m", "backend.cli"]
    # A small demo installed base: the full 3,000 ATMs add seconds to every live server start.
    seed = ["seed", "--demo", "--installed-units", str(LIVE_INSTALLED_UNITS)]
    if not demo_inventory:
        seed.append("--no-inventory")
    if not demo_jobs:
        seed.append("--no-jobs")
    for command in (["migrate"], seed):
        subprocess.run([*fieldq, *command], env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
    log_path = data_dir / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*fieldq, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=10)
