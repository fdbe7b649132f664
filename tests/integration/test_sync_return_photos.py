"""Issue 15: ``custody.return`` (and the REST return) may carry the technician's ``note`` and photos
(``blobs``). A damaged or lost return keeps them on the one exception it raises, where the supervisor
sees them (``GET /api/exceptions``, the pulled ``sync_exception``) and may fetch the photos; replays stay
exactly once, a photo not uploaded yet blocks the push, and bad input is refused naming the field."""

from __future__ import annotations

import asyncio
from uuid import UUID

from sqlalchemy import select

from backend.db import create_engine, create_session_factory
from backend.sync.models import SyncException
from tests.jobs_helpers import ids, jpeg_photo, sha, upload
from tests.sync_helpers import SyncClient

NOTE = "Screen cracked when the ladder slipped.\n\tStill powers on."


def _ok(response, status=201):
    assert response.status_code == status, response.text
    return response.json()


def _exceptions_of_move(settings, move_id: str) -> list[SyncException]:
    async def go():
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                rows = await session.scalars(
                    select(SyncException).where(SyncException.move_id == UUID(move_id))
                )
                return list(rows)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _depot_and_tool(client, as_role, holder: str = "tech1") -> tuple[str, str]:
    """A depot, and a multimeter received there and checked out by ``holder``: (depot id, asset id)."""
    manager = as_role("manager")
    tag = ids()[:6]
    depot = _ok(
        client.post(
            "/api/inventory/locations",
            headers=manager,
            json={"kind": "depot", "name": f"Depot {tag}", "code": f"DEP-{tag}", "region": "Shanghai East"},
        )
    )
    item = _ok(
        client.post(
            "/api/inventory/items",
            headers=manager,
            json={"sku": f"MM-{tag}", "name": "Fluke multimeter", "kind": "tool"},
        )
    )
    received = _ok(
        client.post(
            "/api/inventory/ops/receive",
            headers=manager,
            json={
                "move_id": ids(),
                "to_location_id": depot["id"],
                "item_id": item["id"],
                "assets": [{"serial": f"SN-{tag}"}],
            },
        )
    )
    asset_id = received["asset_ids"][0]
    _ok(
        client.post(
            "/api/inventory/ops/checkout",
            headers=as_role(holder),
            json={"move_id": ids(), "from_location_id": depot["id"], "asset_id": asset_id},
        )
    )
    return depot["id"], asset_id


def test_a_damaged_return_keeps_its_note_and_photo_on_one_exception(client, as_role, seeded, settings):
    depot_id, asset_id = _depot_and_tool(client, as_role)
    photo = jpeg_photo(seed=1501)
    photo_sha = sha(photo)
    phone = SyncClient(client, as_role("tech1"))
    move_id = ids()
    batch = [
        phone.mutation(
            "custody.return",
            move_id=move_id,
            asset_id=asset_id,
            to_location_id=depot_id,
            condition="damaged",
            note=NOTE,
            blobs=[photo_sha, photo_sha],
        )
    ]

    # The photo is not there yet: blocked, nothing applied, nothing raised.
    out = phone.push(batch)
    assert out["last_mutation_id"] == 0
    assert out["results"] == [
        {
            "id": 1,
            "status": "blocked",
            "code": "BLOB_MISSING",
            "blob": photo_sha,
            "message": out["results"][0]["message"],
        }
    ]
    assert _exceptions_of_move(settings, move_id) == []

    upload(client, as_role("tech1"), photo, "image/jpeg")
    out = phone.push(batch)
    result = out["results"][0]
    assert result["status"] == "merged" and out["last_mutation_id"] == 1, out
    exception_id = result["exception_id"]
    assert result["exception_ids"] == [exception_id]

    # Replays: the same push (duplicate) and a phone that started over with the same move_id.
    again = phone.push(batch)["results"][0]
    assert again["status"] == "duplicate" and again["result"] == result
    restarted = SyncClient(client, as_role("tech1"))
    replayed = restarted.push([{**batch[0], "id": 1}])["results"][0]
    assert replayed["status"] == "merged" and replayed["exception_id"] == exception_id
    kept = _exceptions_of_move(settings, move_id)
    assert [(str(e.id), e.kind, e.note, e.blobs) for e in kept] == [
        (exception_id, "damaged", NOTE.strip(), [photo_sha])
    ]

    # The supervisor sees them on the exception, through the REST list and in the pull.
    listed = _ok(client.get("/api/exceptions?kind=damaged", headers=as_role("supervisor1")), 200)
    mine = [e for e in listed["items"] if e["id"] == exception_id]
    assert len(mine) == 1 and mine[0]["note"] == NOTE.strip() and mine[0]["blobs"] == [photo_sha]
    lead = SyncClient(client, as_role("supervisor1"))
    lead.pull()
    pulled = lead.records[("sync_exception", exception_id)]
    assert pulled["note"] == NOTE.strip() and pulled["blobs"] == [photo_sha]
    assert pulled["kind"] == "damaged" and pulled["asset_id"] == asset_id
    phone.pull()
    assert phone.records[("sync_exception", exception_id)]["blobs"] == [photo_sha]

    # The photo: the technician's supervisor, quality and managers may fetch it; another team's
    # supervisor and a teammate may not.
    for who, status in (
        ("tech1", 200),
        ("supervisor1", 200),
        ("quality", 200),
        ("manager", 200),
        ("supervisor2", 404),
        ("tech2", 404),
    ):
        for variant in ("display", "thumbnail"):
            fetched = client.get(f"/api/blobs/{photo_sha}/{variant}", headers=as_role(who))
            assert fetched.status_code == status, (who, variant, fetched.text)

    # Resolved, the exception still names the photo: the supervisor can still look at it.
    resolved = client.post(
        f"/api/exceptions/{exception_id}/resolve",
        headers=as_role("supervisor1"),
        json={"outcome": "charged", "resolution": "Charged per the tools policy"},
    )
    assert resolved.status_code in (200, 201), resolved.text
    assert client.get(f"/api/blobs/{photo_sha}/display", headers=as_role("supervisor1")).status_code == 200


def test_bad_note_or_photos_are_rejected_naming_the_field(client, as_role, seeded, settings):
    depot_id, asset_id = _depot_and_tool(client, as_role)
    phone = SyncClient(client, as_role("tech1"))
    good = "a" * 64
    cases = [
        ({"note": "broken\x00"}, "note"),
        ({"note": "bell\x07"}, "note"),
        ({"note": "x" * 2001}, "note"),
        ({"blobs": [f"{i:064x}" for i in range(11)]}, "blobs"),
        ({"blobs": ["A" * 64]}, "blobs[0]"),
        ({"blobs": [good, "not-a-hash"]}, "blobs[1]"),
        ({"blobs": good}, "blobs"),
    ]
    batch = [
        phone.mutation(
            "custody.return",
            move_id=ids(),
            asset_id=asset_id,
            to_location_id=depot_id,
            condition="damaged",
            **extra,
        )
        for extra, _field in cases
    ]
    out = phone.push(batch)
    assert [(r["status"], r.get("code"), r.get("field")) for r in out["results"]] == [
        ("rejected", "INVALID_ARGS", field) for _extra, field in cases
    ]
    # Nothing moved: the tool is still with tech1, and no damage was recorded.
    for mutation in batch:
        assert [e.kind for e in _exceptions_of_move(settings, mutation["args"]["move_id"])] == []

    # Someone else's photo cannot be passed off as this tool's damage.
    foreign = upload(client, as_role("tech2"), jpeg_photo(seed=1502), "image/jpeg")
    out = phone.push(
        [
            phone.mutation(
                "custody.return",
                move_id=ids(),
                asset_id=asset_id,
                to_location_id=depot_id,
                condition="damaged",
                blobs=[foreign],
            )
        ]
    )
    assert [(r["status"], r["code"], r["field"]) for r in out["results"]] == [
        ("rejected", "FORBIDDEN", "blobs[0]")
    ]


def test_the_rest_return_takes_them_too_and_lost_keeps_them(client, as_role, seeded, settings):
    depot_id, asset_id = _depot_and_tool(client, as_role)
    tech = as_role("tech1")
    body = {"move_id": ids(), "asset_id": asset_id, "to_location_id": depot_id, "condition": "lost"}
    refused = client.post("/api/inventory/ops/return", headers=tech, json={**body, "note": "gone\x00"})
    assert refused.status_code == 400 and "note" in refused.text, refused.text
    refused = client.post("/api/inventory/ops/return", headers=tech, json={**body, "blobs": ["b" * 63]})
    assert refused.status_code == 400 and "blobs" in refused.text, refused.text
    photo = jpeg_photo(seed=1503)
    missing = client.post("/api/inventory/ops/return", headers=tech, json={**body, "blobs": [sha(photo)]})
    assert missing.status_code == 422 and missing.json()["code"] == "BLOB_MISSING", missing.text
    assert _exceptions_of_move(settings, body["move_id"]) == []

    upload(client, tech, photo, "image/jpeg")
    done = _ok(
        client.post(
            "/api/inventory/ops/return",
            headers=tech,
            json={**body, "note": "Left on the bus", "blobs": [sha(photo)]},
        )
    )
    [exception_id] = done["exception_ids"]
    shown = _ok(client.get(f"/api/exceptions/{exception_id}", headers=as_role("supervisor1")), 200)
    assert (shown["kind"], shown["note"], shown["blobs"]) == ("lost", "Left on the bus", [sha(photo)])
    assert client.get(f"/api/blobs/{sha(photo)}/display", headers=as_role("supervisor1")).status_code == 200

    # An ok return raises nothing; its note and photos stay with the operation's arguments.
    _ok(
        client.post(
            "/api/inventory/ops/checkout",
            headers=tech,
            json={"move_id": ids(), "from_location_id": depot_id, "asset_id": asset_id},
        )
    )
    fine = _ok(
        client.post(
            "/api/inventory/ops/return",
            headers=tech,
            json={
                "move_id": ids(),
                "asset_id": asset_id,
                "to_location_id": depot_id,
                "condition": "ok",
                "note": "Found it",
                "blobs": [sha(photo)],
            },
        )
    )
    assert fine["exception_ids"] == []
