"""Helpers for the quality loop's tests: rules set to a known state through the API, and a unit of work
run directly on the test database (for signals another part of FieldQ records, and the overdue scan)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from backend.db import create_engine, create_session_factory
from backend.events import settle_events
from tests.jobs_helpers import now_iso

NC_PATH = "/api/quality/nonconformances"


def only_rule(client, headers, signal: str, **fields) -> dict:
    """Exactly one active rule for ``signal``, with ``fields``; the others of that signal deactivated."""
    rules = client.get("/api/quality/rules", headers=headers)
    assert rules.status_code == 200, rules.text
    for rule in rules.json():
        if rule["signal"] == signal and rule["active"]:
            response = client.patch(
                f"/api/quality/rules/{rule['id']}", headers=headers, json={"active": False}
            )
            assert response.status_code == 200, response.text
    response = client.post(
        "/api/quality/rules",
        headers=headers,
        json={"name": f"test {signal}", "signal": signal, **fields},
    )
    assert response.status_code == 201, response.text
    return response.json()


def no_rules(client, headers, signal: str) -> None:
    for rule in client.get("/api/quality/rules", headers=headers).json():
        if rule["signal"] == signal and rule["active"]:
            response = client.patch(
                f"/api/quality/rules/{rule['id']}", headers=headers, json={"active": False}
            )
            assert response.status_code == 200, response.text


def unit_of_work(settings, work) -> Any:
    """``await work(session)`` in one transaction on the test database, events settled before commit."""

    async def run():
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                async with session.begin():
                    result = await work(session)
                    await settle_events(session)
                return result
        finally:
            await engine.dispose()

    return asyncio.run(run())


def ncs(client, headers, **params) -> list[dict]:
    response = client.get(NC_PATH, headers=headers, params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def identify(client, headers, **fields) -> dict:
    body = {"source": "mystery_shopper", "title": "Technician arrived without uniform", **fields}
    response = client.post(NC_PATH, headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def verb(client, headers, nc_id: str, name: str, status: int = 200, **body) -> dict:
    response = client.post(f"{NC_PATH}/{nc_id}/{name}", headers=headers, json=body)
    assert response.status_code == status, response.text
    return response.json()


def due(days: float = 7) -> str:
    return now_iso(timedelta(days=days))
