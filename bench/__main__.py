"""FieldQ benchmarks: `python -m bench` (or `make bench`) runs every suite and prints their tables.

`python -m bench auth` starts a real server: each scenario runs against uvicorn on loopback with the
standard argon2 profile. `python -m bench inventory [--quick|--profile sqlite|...]` drives the inventory
service layer in-process (bench/inventory.py). `python -m bench media [--runs N|--quick]` times the photo and
signature pipeline in-process (bench/media.py). `python -m bench jobs [--quick|--explain]` times the
approval queue and a technician's job list over ~100,000 jobs (bench/jobs.py). `python -m bench sync
[--quick]` starts a real server per database and times push, pull and blob upload over HTTP, next to the
raw database's own rate for equivalent rows (bench/sync.py). `python -m bench push [--quick]` times the
Web Push outbox delivered to a local push service that verifies and decrypts (bench/push.py).
`python -m bench quality [--quick]` times the quality indicators and the management review over ~100,000
jobs, in-process and through HTTP (bench/quality.py). `python -m bench pwa [--quick]` measures the built PWA
(pwa/dist) against its budgets: initial JS gzip per role, Lighthouse mobile scores (bench/lighthouse: `npm ci`
there), a cold offline start to Today, a local write to its screen and the first pull into IndexedDB, in
Debian's Chromium driven by Playwright against a live server (bench/pwa.py).
Numbers on these shared machines are noisy: compare rows of one run (ratios), not runs of different days.
Set FIELDQ_BENCH_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to add a PostgreSQL run;
it uses a throwaway database on that server. Each suite replaces its own section of
bench/results/latest.md and keeps the others.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.md"


@dataclass
class Result:
    database: str
    scenario: str
    requests: int
    concurrency: int
    latencies: list[float]
    wall: float

    def row(self) -> list[str]:
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return [
            self.database,
            self.scenario,
            str(self.requests),
            str(self.concurrency),
            f"{statistics.median(ordered) * 1000:.1f}",
            f"{p95 * 1000:.1f}",
            f"{self.requests / self.wall:.0f}",
        ]


def Server(database_url: str | None) -> LiveServer:
    """The whole demo company, standard argon2 (the auth scenarios measure real logins)."""
    return LiveServer(database_url, seed=("--demo",))


async def _measure(database, scenario, total, concurrency, make_request) -> Result:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with semaphore:
            started = time.perf_counter()
            response = await make_request(index)
            latencies.append(time.perf_counter() - started)
            if response.status_code >= 400:
                raise RuntimeError(f"{scenario}: {response.status_code} {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return Result(database, scenario, total, concurrency, latencies, time.perf_counter() - started)


async def run_suite(base: str, database: str) -> list[Result]:
    results = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def login(index: int):
            return await http.post(
                "/api/auth/login", json={"username": f"tech{index % 12 + 1}", "password": "fieldq-demo"}
            )

        results.append(await _measure(database, "login (argon2id verify)", 24, 1, login))
        results.append(await _measure(database, "login (argon2id verify)", 24, 4, login))

        tokens = (await login(0)).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}

        async def me(_index: int):
            return await http.get("/api/auth/me", headers=headers)

        results.append(await _measure(database, "GET /api/auth/me (bearer check)", 600, 8, me))

        chain = {"refresh": tokens["refresh_token"]}

        async def refresh(_index: int):
            response = await http.post("/api/auth/refresh", json={"refresh_token": chain["refresh"]})
            chain["refresh"] = response.json().get("refresh_token", chain["refresh"])
            return response

        results.append(await _measure(database, "POST /api/auth/refresh (rotation)", 200, 1, refresh))

        async def shell(_index: int):
            return await http.get("/")

        results.append(await _measure(database, "GET / (PWA shell)", 600, 8, shell))
    return results


def _table(results: list[Result]) -> str:
    header = ["database", "scenario", "requests", "concurrency", "p50 ms", "p95 ms", "req/s"]
    rows = [header, *[r.row() for r in results]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def run_auth() -> None:
    targets: list[tuple[str, str | None]] = [("sqlite", None)]
    pg = os.environ.get("FIELDQ_BENCH_DATABASE_URL")
    cleanup = None
    if pg:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin_url = make_url(pg).set(drivername="postgresql+psycopg")
        name = f"fieldq_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        targets.append(
            (
                "postgresql",
                admin_url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                    hide_password=False
                ),
            )
        )

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    results: list[Result] = []
    try:
        for label, url in targets:
            print(f"benchmarking on {label} …", file=sys.stderr)
            with Server(url) as server:
                results.extend(asyncio.run(run_suite(server.base, label)))
    finally:
        if cleanup:
            cleanup()
    table = _table(results)
    print(table)
    from bench.inventory import merge_section

    merge_section(
        RESULTS,
        "auth",
        f"## Auth and HTTP (live server: `python -m bench auth`)\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores\n\n{table}\n",
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    suite = args[0] if args and not args[0].startswith("-") else "all"
    if suite not in ("all", "auth", "inventory", "media", "jobs", "sync", "push", "quality", "pwa"):
        sys.exit(
            f"unknown suite {suite!r}: "
            "python -m bench [auth|inventory|media|jobs|sync|push|quality|pwa [options]]"
        )
    if suite in ("all", "auth"):
        run_auth()
    if suite in ("all", "inventory"):
        from bench import inventory

        inventory.main(args[1:] if suite == "inventory" else [])
    if suite in ("all", "media"):
        from bench import media

        media.main(args[1:] if suite == "media" else [])
    if suite in ("all", "jobs"):
        from bench import jobs

        jobs.main(args[1:] if suite == "jobs" else [])
    if suite in ("all", "sync"):
        from bench import sync

        sync.main(args[1:] if suite == "sync" else [])
    if suite in ("all", "push"):
        from bench import push

        push.main(args[1:] if suite == "push" else [])
    if suite in ("all", "quality"):
        from bench import quality

        quality.main(args[1:] if suite == "quality" else [])
    if suite in ("all", "pwa"):
        from bench import pwa

        pwa.main(args[1:] if suite == "pwa" else [])


if __name__ == "__main__":
    main()
