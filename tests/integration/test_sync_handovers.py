"""SYNC.md 1.1, "Hand-overs reach the phone": the ``handover`` entity in the pull of both people and
their supervisors (and nobody else's), ``custody.accept`` and ``custody.decline`` through push, exactly
once, only by the receiver; an answer that comes after the hand-over was decided is kept (``merged``,
with one custody conflict), and a hand-over decided more than 30 days ago leaves the phones."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

import pytest
from sqlalchemy import func, select

from backend.db import create_engine, create_session_factory, utcnow
from backend.inventory.models import Handover
from backend.sync.compaction import compact_feed
from backend.sync.models import SyncException
from tests.jobs_helpers import build_world, ids
from tests.sync_helpers import SyncClient

HANDOVER_FIELDS = {"asset_id", "item_id", "qty", "size", "from_user_id", "to_user_id", "status"}


def _run(settings, work):
    async def go():
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _ok(response, status=201):
    assert response.status_code == status, response.text
    return response.json()


def _tool(client, as_role, world, serial: str) -> str:
    """A multimeter received at the world's depot and checked out by tech1; returns the asset id."""
    manager = as_role("manager")
    item = _ok(
        client.post(
            "/api/inventory/items",
            headers=manager,
            json={"sku": f"MM-{ids()[:8]}", "name": "Fluke multimeter", "kind": "tool"},
        )
    )
    received = _ok(
        client.post(
            "/api/inventory/ops/receive",
            headers=manager,
            json={
                "move_id": ids(),
                "to_location_id": world.depot["id"],
                "item_id": item["id"],
                "assets": [{"serial": serial}],
            },
        )
    )
    asset_id = received["asset_ids"][0]
    _ok(
        client.post(
            "/api/inventory/ops/checkout",
            headers=as_role("tech1"),
            json={"move_id": ids(), "from_location_id": world.depot["id"], "asset_id": asset_id},
        )
    )
    return asset_id


def _hand_over(phone: SyncClient, **stock) -> str:
    """tech1's phone hands ``stock`` to tech5 and learns the hand-over from its pull; returns its id."""
    move_id = ids()
    out = phone.push([phone.mutation("custody.transfer", move_id=move_id, to_user_id=phone.to_user, **stock)])
    assert out["results"][0]["status"] == "applied", out
    phone.pull()
    [handover] = [r for r in phone.records.values() if r.get("move_id") == move_id and "to_user_id" in r]
    return handover["id"]


def _phone(client, as_role, name, seeded, to: str = "tech5") -> SyncClient:
    phone = SyncClient(client, as_role(name))
    phone.to_user = seeded[to]
    return phone


def _exceptions(client, as_role, **params):
    return _ok(client.get("/api/exceptions", headers=as_role("manager"), params=params), 200)["items"]


def test_a_handover_reaches_both_people_and_their_supervisors_and_is_accepted_once(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    tool = _tool(client, as_role, world, "MM-101")
    giver = _phone(client, as_role, "tech1", seeded)
    handover_id = _hand_over(giver, asset_id=tool)

    seen = {}
    for name in ("tech1", "tech5", "supervisor1", "supervisor2", "manager", "tech2", "tech3", "supervisor3"):
        phone = SyncClient(client, as_role(name))
        phone.pull()
        seen[name] = phone.records.get(("handover", handover_id))
    # tech1 is in supervisor1's team, tech5 in supervisor2's; tech2 is tech1's teammate but no party.
    assert {name for name, record in seen.items() if record} == {
        "tech1",
        "tech5",
        "supervisor1",
        "supervisor2",
        "manager",
    }
    record = seen["tech5"]
    assert HANDOVER_FIELDS | {"recorded_at", "decided_at", "version"} <= set(record)
    assert (record["asset_id"], record["status"], record["decided_at"]) == (tool, "pending", None)
    assert (record["from_user_id"], record["to_user_id"]) == (seeded["tech1"], seeded["tech5"])
    assert (record["qty"], record["size"]) == (1, "")

    receiver = SyncClient(client, as_role("tech5"))
    receiver.pull()
    accept = receiver.mutation(
        "custody.accept", "2026-12-05T08:00:00Z", move_id=ids(), handover_id=handover_id
    )
    out = receiver.push([accept])
    assert out["results"] == [{"id": accept["id"], "status": "applied"}]
    receiver.pull()
    decided = receiver.records[("handover", handover_id)]
    assert decided["status"] == "accepted" and decided["decided_at"].startswith("2026-12-05T08:00:00")
    assert receiver.records[("asset", tool)]["holder_id"] == seeded["tech5"]
    giver.pull()
    assert giver.records[("handover", handover_id)]["status"] == "accepted"
    assert ("asset", tool) not in giver.records  # it left tech1's custody

    # The response was lost: the same push is a duplicate; the same move from a phone that started
    # over is answered from the ledger. Nothing moves twice.
    history = _ok(client.get(f"/api/inventory/assets/{tool}/history", headers=as_role("manager")), 200)
    assert receiver.push([accept])["results"][0]["status"] == "duplicate"
    again = SyncClient(client, as_role("tech5"))
    out = again.push([again.mutation("custody.accept", **accept["args"])])
    assert out["results"][0]["status"] == "applied"
    assert (
        _ok(client.get(f"/api/inventory/assets/{tool}/history", headers=as_role("manager")), 200) == history
    )


@pytest.mark.parametrize("accept_first", [True, False])
def test_a_late_answer_is_merged_with_one_custody_conflict(client, as_role, seeded, accept_first):
    """tech5 answers on two phones, offline: the first answer to reach the server decides, the other is
    kept with a custody conflict, once however often it is pushed."""
    world = build_world(client, as_role, seeded)
    giver = _phone(client, as_role, "tech1", seeded)
    handover_id = _hand_over(giver, item_id=world.part_item["id"], qty=5)
    phone_a, phone_b = SyncClient(client, as_role("tech5")), SyncClient(client, as_role("tech5"))
    accept = phone_a.mutation("custody.accept", move_id=ids(), handover_id=handover_id)
    decline = phone_b.mutation(
        "custody.decline", move_id=ids(), handover_id=handover_id, reason="Not mine: wrong filters"
    )
    (first_phone, first), (second_phone, second) = (
        ((phone_a, accept), (phone_b, decline)) if accept_first else ((phone_b, decline), (phone_a, accept))
    )
    first_out = first_phone.push([first])["results"][0]
    assert first_out["status"] in ("applied", "merged")  # a decline raises its own custody conflict
    late = second_phone.push([second])["results"][0]
    assert late["status"] == "merged" and late["exception_id"], late
    [conflict] = _exceptions(client, as_role, kind="custody_conflict", user_id=seeded["tech5"])
    assert conflict["id"] == late["exception_id"]
    assert conflict["move_id"] == second["args"]["move_id"]
    assert conflict["other_user_id"] == seeded["tech1"]
    assert "already" in conflict["message"] and "nothing was moved" in conflict["message"]
    assert conflict["mutation"]["name"] == second["name"]
    # The giver's supervisor sees it too.
    listed = _ok(client.get("/api/exceptions", headers=as_role("supervisor1")), 200)["items"]
    assert conflict["id"] in {e["id"] for e in listed}

    # Replays (the same push, or the same move from a phone that started over) raise nothing again.
    assert second_phone.push([second])["results"][0]["status"] == "duplicate"
    restarted = SyncClient(client, as_role("tech5"))
    replay = restarted.push([restarted.mutation(second["name"], **second["args"])])["results"][0]
    assert replay["status"] == "merged" and replay["exception_id"] == late["exception_id"]
    assert len(_exceptions(client, as_role, kind="custody_conflict", user_id=seeded["tech5"])) == 1

    final = "accepted" if accept_first else "declined"
    receiver = SyncClient(client, as_role("tech5"))
    receiver.pull()
    assert receiver.records[("handover", handover_id)]["status"] == final
    [person] = [
        location_id
        for (entity, location_id), r in receiver.records.items()
        if entity == "location" and r["kind"] == "person" and r["user_id"] == seeded["tech5"]
    ]
    held = [
        r["qty"]
        for (entity, _id), r in receiver.records.items()
        if entity == "balance" and r["item_id"] == world.part_item["id"] and r["location_id"] == person
    ]
    assert sum(held) == 20 + (5 if accept_first else 0)  # tech5 took 20 filters out of the depot


@pytest.mark.parametrize("return_first", [True, False])
def test_the_giver_returns_the_tool_while_the_receiver_accepts_it(client, as_role, seeded, return_first):
    """Both offline: tech1 takes the multimeter back to the depot, tech5 accepts it. Either order, nothing
    is rejected: the second fact is kept with a custody conflict."""
    world = build_world(client, as_role, seeded)
    tool = _tool(client, as_role, world, "MM-202")
    giver = _phone(client, as_role, "tech1", seeded)
    handover_id = _hand_over(giver, asset_id=tool)
    receiver = SyncClient(client, as_role("tech5"))
    accept = receiver.mutation("custody.accept", move_id=ids(), handover_id=handover_id)
    give_back = giver.mutation(
        "custody.return", move_id=ids(), asset_id=tool, to_location_id=world.depot["id"], condition="ok"
    )
    if return_first:
        # The store had it in transit to tech5: the return is kept, with tech1's own custody conflict.
        assert giver.push([give_back])["results"][0]["status"] == "merged"
        late = receiver.push([accept])["results"][0]
        assert late["status"] == "merged", late
        [conflict] = _exceptions(client, as_role, kind="custody_conflict", user_id=seeded["tech5"])
        assert "cancelled" in conflict["message"]
    else:
        assert receiver.push([accept])["results"][0]["status"] == "applied"
        late = giver.push([give_back])["results"][0]
        assert late["status"] == "merged", late  # tech1 returned what the store had with tech5
    asset = _ok(client.get(f"/api/inventory/assets/{tool}/history", headers=as_role("manager")), 200)["asset"]
    assert asset["location_id"] == world.depot["id"]
    for phone in (giver, receiver):
        phone.pull()
        assert phone.records[("handover", handover_id)]["status"] in ("accepted", "declined")


def test_only_the_receiver_answers_and_bad_args_are_refused_whole(client, as_role, seeded, settings):
    world = build_world(client, as_role, seeded)
    tool = _tool(client, as_role, world, "MM-303")
    giver = _phone(client, as_role, "tech1", seeded)
    handover_id = _hand_over(giver, asset_id=tool)
    for name in ("tech1", "tech3"):
        phone = SyncClient(client, as_role(name))
        out = phone.push([phone.mutation("custody.accept", move_id=ids(), handover_id=handover_id)])
        result = out["results"][0]
        assert (result["status"], result["code"]) == ("rejected", "FORBIDDEN"), (name, result)
        assert result["exception_id"]
    # A hand-over that does not exist is outside anyone's scope, like someone else's.
    stranger = SyncClient(client, as_role("tech5"))
    out = stranger.push([stranger.mutation("custody.accept", move_id=ids(), handover_id=ids())])
    assert out["results"][0]["code"] == "FORBIDDEN"

    receiver = SyncClient(client, as_role("tech5"))
    hostile = [
        ({"reason": "not\u0000mine"}, "custody.decline", "reason"),
        ({"reason": "x" * 1001}, "custody.decline", "reason"),
        ({"to_vehicle": "yes"}, "custody.accept", "to_vehicle"),
        ({"handover_id": "../../etc"}, "custody.accept", "handover_id"),
        ({"handover_id": 10**30}, "custody.accept", "handover_id"),
        ({"move_id": None}, "custody.accept", "move_id"),
        ({"colour": "red"}, "custody.decline", "colour"),
    ]
    for extra, name, field in hostile:
        args = {"move_id": ids(), "handover_id": handover_id, **extra}
        result = receiver.push([receiver.mutation(name, **args)])["results"][0]
        assert (result["status"], result["code"], result.get("field")) == (
            "rejected",
            "INVALID_ARGS",
            field,
        ), (
            extra,
            result,
        )
    # The REST endpoint refuses the same reason with a 400 naming it.
    rest = client.post(
        f"/api/inventory/ops/handovers/{handover_id}/decline",
        headers=as_role("tech5"),
        json={"move_id": ids(), "reason": "not\u0000mine"},
    )
    assert rest.status_code == 400 and rest.json()["field"] == "reason", rest.text
    # tech5 has no van: accepting into it is refused, and the hand-over waits.
    result = receiver.push(
        [receiver.mutation("custody.accept", move_id=ids(), handover_id=handover_id, to_vehicle=True)]
    )["results"][0]
    assert (result["status"], result["code"], result["field"]) == ("rejected", "NO_VEHICLE", "to_vehicle")

    async def state(session):
        handover = await session.get(Handover, UUID(handover_id))
        conflicts = await session.scalar(
            select(func.count()).select_from(SyncException).where(SyncException.kind == "custody_conflict")
        )
        return handover.status, conflicts

    assert _run(settings, state) == ("pending", 0)
    # Nothing half-written: the hand-over is still pending, and the receiver can still answer.
    out = receiver.push([receiver.mutation("custody.decline", move_id=ids(), handover_id=handover_id)])
    assert out["results"][0]["status"] == "merged"  # the decline's own custody conflict for the giver


def test_a_handover_decided_30_days_ago_leaves_the_phones(client, as_role, seeded, settings):
    world = build_world(client, as_role, seeded)
    giver = _phone(client, as_role, "tech1", seeded)
    old = _hand_over(giver, item_id=world.part_item["id"], qty=2)
    recent = _hand_over(giver, item_id=world.part_item["id"], qty=3)
    receiver = SyncClient(client, as_role("tech5"))
    receiver.push(
        [
            receiver.mutation("custody.accept", move_id=ids(), handover_id=old),
            receiver.mutation("custody.accept", move_id=ids(), handover_id=recent),
        ]
    )
    phones = {name: SyncClient(client, as_role(name)) for name in ("tech1", "tech5", "supervisor2")}
    for phone in phones.values():
        phone.pull()
        assert {old, recent} <= phone.ids_of("handover")

    async def age_and_compact(session):
        handover = await session.get(Handover, UUID(old))
        handover.decided_at = utcnow() - timedelta(days=31)
        await session.commit()
        await compact_feed(session, retention_days=30, progress=lambda _line: None)
        archived = await session.get(Handover, UUID(old))
        await session.refresh(archived)
        return archived.archived_at

    assert _run(settings, age_and_compact) is not None
    for name, phone in phones.items():
        changes = phone.pull()
        assert {"entity": "handover", "id": old, "op": "del"} in changes, name
        assert phone.ids_of("handover") >= {recent} and old not in phone.ids_of("handover"), name
        fresh = SyncClient(client, as_role(name))
        fresh.pull()
        assert old not in fresh.ids_of("handover") and recent in fresh.ids_of("handover"), name
    # Compacting again archives nothing more.
    assert _run(settings, lambda s: compact_feed(s, retention_days=30, progress=lambda _l: None)) is not None
    assert phones["tech5"].pull() == []
