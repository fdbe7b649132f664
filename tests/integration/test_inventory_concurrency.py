"""Against a real server process: 50 technicians' phones' worth of concurrent consumptions from one
van leave its balance exact, on SQLite and PostgreSQL, and replays of the same move_ids change nothing."""

from __future__ import annotations

import asyncio
import uuid

import httpx

CONSUMPTIONS = 50


def _login(http: httpx.Client, username: str) -> dict[str, str]:
    response = http.post("/api/auth/login", json={"username": username, "password": "fieldq-demo"})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _post(http: httpx.Client, path: str, headers, **body) -> dict:
    response = http.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _prepare_van(base: str) -> tuple[dict, dict, str, str]:
    """A van assigned to tech1 holding 40 cassette belts (fewer than will be consumed)."""
    with httpx.Client(base_url=base, timeout=30) as http:
        manager, tech = _login(http, "manager"), _login(http, "tech1")
        me = http.get("/api/auth/me", headers=tech).json()
        depot = _post(
            http, "/api/inventory/locations", manager, kind="depot", name="Load test depot", code="DEP-LT"
        )
        van_item = _post(
            http, "/api/inventory/items", manager, sku="VAN-LT", name="Load test van", kind="vehicle"
        )
        belt = _post(http, "/api/inventory/items", manager, sku="BELT-LT", name="Cassette belt", kind="part")
        van = _post(
            http,
            "/api/inventory/ops/receive",
            manager,
            move_id=str(uuid.uuid4()),
            to_location_id=depot["id"],
            item_id=van_item["id"],
            assets=[{"serial": "沪B-LT001"}],
        )
        _post(
            http,
            f"/api/inventory/ops/vehicles/{van['asset_ids'][0]}/assign",
            manager,
            move_id=str(uuid.uuid4()),
            user_id=me["id"],
        )
        _post(
            http,
            "/api/inventory/ops/receive",
            manager,
            move_id=str(uuid.uuid4()),
            to_location_id=depot["id"],
            item_id=belt["id"],
            qty=40,
        )
        _post(
            http,
            "/api/inventory/ops/checkout",
            tech,
            move_id=str(uuid.uuid4()),
            item_id=belt["id"],
            qty=40,
            from_location_id=depot["id"],
            to_vehicle=True,
        )
        van_location = http.get("/api/inventory/custody/me", headers=tech).json()["vehicle_location_id"]
        return manager, tech, belt["id"], van_location


async def _consume_concurrently(
    base: str, tech: dict, belt_id: str, move_ids: list[str]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONSUMPTIONS)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        return await asyncio.gather(
            *(
                http.post(
                    "/api/inventory/ops/consume",
                    headers=tech,
                    json={"move_id": move_id, "job_id": str(uuid.uuid4()), "item_id": belt_id, "qty": 1},
                )
                for move_id in move_ids
            )
        )


def test_concurrent_consumptions_from_one_van_leave_the_balance_exact(live_server):
    manager, tech, belt_id, van_location = _prepare_van(live_server)
    move_ids = [str(uuid.uuid4()) for _ in range(CONSUMPTIONS)]
    responses = asyncio.run(_consume_concurrently(live_server, tech, belt_id, move_ids))
    assert [r.status_code for r in responses] == [201] * CONSUMPTIONS, [
        r.text for r in responses if r.status_code != 201
    ]
    # Facts are never rejected: the ten consumptions past zero are recorded, each with a discrepancy.
    raised = sum(len(r.json()["exception_ids"]) for r in responses)
    assert raised == 10

    # Every phone retries every push at once: nothing changes.
    replays = asyncio.run(_consume_concurrently(live_server, tech, belt_id, move_ids))
    assert {r.status_code for r in replays} == {200}
    assert all(r.json()["duplicate"] for r in replays)

    with httpx.Client(base_url=live_server, timeout=30) as http:
        stock = http.get(f"/api/inventory/locations/{van_location}/stock", headers=manager).json()["stock"]
        assert [(b["sku"], b["qty"]) for b in stock] == [("BELT-LT", 40 - CONSUMPTIONS)]
        exceptions = http.get("/api/exceptions?kind=stock_discrepancy&limit=100", headers=manager).json()
        assert exceptions["total"] == 10


def test_the_same_move_sent_many_times_at_once_is_recorded_once(live_server):
    manager, tech, belt_id, van_location = _prepare_van(live_server)
    move_id = str(uuid.uuid4())
    responses = asyncio.run(_consume_concurrently(live_server, tech, belt_id, [move_id] * 12))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:  # PostgreSQL: the retry raced the first try's commit
            assert response.json()["code"] == "MOVE_IN_PROGRESS" and response.headers["retry-after"]
        else:
            assert response.status_code in (200, 201)
    with httpx.Client(base_url=live_server, timeout=30) as http:
        stock = http.get(f"/api/inventory/locations/{van_location}/stock", headers=manager).json()["stock"]
        assert [(b["sku"], b["qty"]) for b in stock] == [("BELT-LT", 39)]
