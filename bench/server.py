"""A real FieldQ server for the benchmarks that measure over HTTP (uvicorn in a subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """Migrate, seed the demo company (``seed``: the seed command's flags) and serve, on a fresh data
    folder, with the standard password hashing and no SQL logging."""

    def __init__(
        self,
        database_url: str | None,
        *,
        seed: Sequence[str] = ("--demo",),
        env: dict[str, str] | None = None,
        prefix: str = "fieldq-bench-",
    ) -> None:
        self.data = Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.seed = list(seed)
        self.env = {
            **os.environ,
            "FIELDQ_ENV": "dev",
            "FIELDQ_DATA_DIR": str(self.data),
            "FIELDQ_PORT": str(self.port),
            **(env or {}),
        }
        for name in ("FIELDQ_PASSWORD_HASH_PROFILE", "FIELDQ_LOG_SQL", "FIELDQ_SECRET_KEY"):
            self.env.pop(name, None)
        if database_url:
            self.env["FIELDQ_DATABASE_URL"] = database_url
        else:
            self.env.pop("FIELDQ_DATABASE_URL", None)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data / "server.log"

    @property
    def sqlite_path(self) -> Path:
        return self.data / "fieldq.db"

    @property
    def database_url(self) -> str:
        return self.env.get("FIELDQ_DATABASE_URL") or f"sqlite+aiosqlite:///{self.sqlite_path}"

    def __enter__(self) -> LiveServer:
        cli = [sys.executable, "-m", "backend.cli"]
        for command in (["migrate"], ["seed", *self.seed]):
            done = subprocess.run([*cli, *command], env=self.env, capture_output=True, cwd=ROOT, text=True)
            if done.returncode:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*cli, "serve"], env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.2)

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def cpu(self) -> float:
        """CPU seconds (user + system, all threads) the server process has used so far; 0 off Linux."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def problems(self) -> list[str]:
        """Server errors in the log: 5xx responses and tracebacks."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [
            line
            for line in lines
            if "Traceback" in line or ('HTTP/1.1" 5' in line) or line.startswith("ERROR")
        ]
