"""Against a real server process: bursts of logins neither exhaust the connection pool nor get past
the throttle, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx


async def _burst(base: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        return await asyncio.gather(*(client.post("/api/auth/login", json=body) for body in bodies))


def test_a_burst_of_correct_logins_all_succeed(live_server):
    # More concurrent logins than the pool has connections, all from one address (a depot's NAT).
    bodies = [{"username": f"tech{i % 12 + 1}", "password": "fieldq-demo"} for i in range(40)]
    responses = asyncio.run(_burst(live_server, bodies))
    assert [r.status_code for r in responses] == [200] * 40, [
        r.text for r in responses if r.status_code != 200
    ]


def test_a_burst_of_guesses_is_throttled_at_the_limit(live_server):
    bodies = [{"username": "tech3", "password": f"guess-{i}"} for i in range(12)]
    statuses = sorted(r.status_code for r in asyncio.run(_burst(live_server, bodies)))
    # Five guesses are checked, every other one waits: concurrency does not buy extra guesses.
    assert statuses == [401] * 5 + [429] * 7
