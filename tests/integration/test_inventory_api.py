"""The inventory and custody API over HTTP, on SQLite and PostgreSQL: the catalog, operations and their
idempotency, scope per role, the exceptions workflow, the spare report, and bad input answered with a
clear 4xx that writes nothing."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest


def _id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def world(client, as_role, seeded):
    """A small catalog and set of locations made through the API by the manager."""
    manager = as_role("manager")

    def item(**body):
        response = client.post("/api/inventory/items", json=body, headers=manager)
        assert response.status_code == 201, response.text
        return response.json()

    def location(**body):
        response = client.post("/api/inventory/locations", json=body, headers=manager)
        assert response.status_code == 201, response.text
        return response.json()

    gloves = item(sku="GLV-01", name="Work gloves", kind="consumable", unit="pair")
    belt = item(sku="BELT-CC", name="Cash cassette belt", kind="part")
    shirt = item(sku="UNI-SHIRT", name="Polo shirt", kind="uniform", sizes=["S", "M", "L", "XL"])
    wrench = item(
        sku="TW-10",
        name="Torque wrench",
        kind="tool",
        service_kind="calibration",
        service_interval_days=180,
        loan_days=7,
    )
    meter = item(sku="MM-1", name="Multimeter", kind="tool")
    toolbox = item(
        sku="TBX-STD",
        name="Standard toolbox",
        kind="toolbox",
        contents=[{"item_id": wrench["id"], "qty": 1}, {"item_id": meter["id"], "qty": 1}],
    )
    van = item(
        sku="VAN-T", name="Service van", kind="vehicle", service_kind="inspection", service_interval_days=365
    )
    atm = item(
        sku="ATM-NCR-22E",
        name="NCR SelfServ 22e",
        kind="spare_unit",
        service_kind="maintenance",
        service_interval_days=90,
    )
    depot = location(kind="depot", name="Test depot", code="DEP-T", region="Shanghai East")
    repair = location(kind="repair", name="Test workshop", code="REP-T", region="Shanghai East")
    site = location(kind="site", name="ICBC Lujiazui branch", code="SITE-1", region="Shanghai East")
    return {
        "gloves": gloves,
        "belt": belt,
        "shirt": shirt,
        "wrench": wrench,
        "meter": meter,
        "toolbox": toolbox,
        "van": van,
        "atm": atm,
        "depot": depot,
        "repair": repair,
        "site": site,
        "manager": manager,
    }


def _op(client, name: str, headers, **body):
    body.setdefault("move_id", _id())
    return client.post(f"/api/inventory/ops/{name}", json=body, headers=headers)


def _receive(client, world, item, **body):
    response = _op(
        client, "receive", world["manager"], to_location_id=world["depot"]["id"], item_id=item["id"], **body
    )
    assert response.status_code == 201, response.text
    return response.json()


def _stock_of(client, headers, location_id):
    response = client.get(f"/api/inventory/locations/{location_id}/stock", headers=headers)
    assert response.status_code == 200, response.text
    return {(b["sku"], b["size"]): b["qty"] for b in response.json()["stock"]}


def test_checkout_is_idempotent_by_move_id_and_shows_in_my_custody(client, as_role, world):
    _receive(client, world, world["gloves"], qty=20)
    tech = as_role("tech1")
    move_id = _id()
    first = _op(
        client,
        "checkout",
        tech,
        move_id=move_id,
        item_id=world["gloves"]["id"],
        qty=5,
        from_location_id=world["depot"]["id"],
    )
    assert first.status_code == 201, first.text
    again = _op(
        client,
        "checkout",
        tech,
        move_id=move_id,
        item_id=world["gloves"]["id"],
        qty=5,
        from_location_id=world["depot"]["id"],
    )
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["movement_ids"] == first.json()["movement_ids"]

    assert _stock_of(client, world["manager"], world["depot"]["id"]) == {("GLV-01", ""): 15}
    custody = client.get("/api/inventory/custody/me", headers=tech).json()
    assert [(b["sku"], b["qty"]) for b in custody["stock"]] == [("GLV-01", 5)]


def test_a_toolbox_moves_with_its_tools_and_the_history_shows_it(client, as_role, world, seeded):
    received = _receive(client, world, world["toolbox"], assets=[{"serial": "TBX-0001"}])
    toolbox_id = received["asset_ids"][0]
    tech = as_role("tech1")
    response = _op(client, "checkout", tech, asset_id=toolbox_id, from_location_id=world["depot"]["id"])
    assert response.status_code == 201, response.text
    custody = client.get("/api/inventory/custody/me", headers=tech).json()
    assert [a["serial"] for a in custody["assets"]] == ["TBX-0001"]
    history = client.get(f"/api/inventory/assets/{toolbox_id}/history", headers=tech).json()
    assert [m["operation"] for m in history["movements"]] == ["receive", "checkout"]
    assert history["movements"][1]["custodian_id"] == seeded["tech1"]


def test_a_loaned_tool_gets_a_return_date_and_a_calibration_due_date(client, as_role, world):
    received = _receive(client, world, world["wrench"], assets=[{"serial": "TW-77"}])
    tech = as_role("tech2")
    _op(client, "checkout", tech, asset_id=received["asset_ids"][0], from_location_id=world["depot"]["id"])
    asset = client.get("/api/inventory/custody/me", headers=tech).json()["assets"][0]
    assert asset["return_due_at"] is not None and asset["due_at"] is not None
    assert asset["due_kind"] == "calibration"
    due = client.get("/api/inventory/due?within_days=200&kind=tool", headers=tech).json()
    assert [a["serial"] for a in due] == ["TW-77"]


def test_technicians_see_only_their_own_custody(client, as_role, world, seeded):
    _receive(client, world, world["gloves"], qty=3)
    _op(
        client,
        "checkout",
        as_role("tech1"),
        item_id=world["gloves"]["id"],
        qty=1,
        from_location_id=world["depot"]["id"],
    )
    tech1_custody = f"/api/inventory/custody/users/{seeded['tech1']}"
    assert client.get(tech1_custody, headers=as_role("tech2")).status_code == 404
    assert client.get(tech1_custody, headers=as_role("supervisor2")).status_code == 404
    assert client.get(tech1_custody, headers=as_role("supervisor1")).status_code == 200
    assert client.get(tech1_custody, headers=as_role("quality")).status_code == 200
    person = client.get("/api/inventory/custody/me", headers=as_role("tech1")).json()["person_location_id"]
    assert client.get(f"/api/inventory/locations/{person}/stock", headers=as_role("tech2")).status_code == 404
    listed = client.get("/api/inventory/locations?kind=person", headers=as_role("tech2")).json()
    assert person not in [loc["id"] for loc in listed]


def test_taking_from_another_technicians_stock_is_forbidden_and_writes_nothing(client, as_role, world):
    _receive(client, world, world["gloves"], qty=4)
    _op(
        client,
        "checkout",
        as_role("tech1"),
        item_id=world["gloves"]["id"],
        qty=4,
        from_location_id=world["depot"]["id"],
    )
    person = client.get("/api/inventory/custody/me", headers=as_role("tech1")).json()["person_location_id"]
    response = _op(
        client, "checkout", as_role("tech2"), item_id=world["gloves"]["id"], qty=1, from_location_id=person
    )
    assert response.status_code == 403
    assert response.json()["field"] == "from_location_id"
    # A supervisor of another team cannot act for tech1 either.
    response = _op(
        client,
        "return",
        as_role("supervisor2"),
        item_id=world["gloves"]["id"],
        qty=1,
        user_id=client.get("/api/auth/me", headers=as_role("tech1")).json()["id"],
        to_location_id=world["depot"]["id"],
        condition="ok",
    )
    assert response.status_code == 403
    assert _stock_of(client, world["manager"], person) == {("GLV-01", ""): 4}


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"qty": 0}, 400, None, "qty"),
        ({"qty": -3}, 400, None, "qty"),
        ({"qty": 1.5}, 400, None, "qty"),
        ({"colour": "red"}, 400, None, "colour"),
        ({"item_id": "not-a-uuid"}, 400, None, "item_id"),
        ({"item_id": str(uuid.uuid4())}, 422, "UNKNOWN_ITEM", "item_id"),
        ({"from_location_id": str(uuid.uuid4())}, 422, "UNKNOWN_LOCATION", "from_location_id"),
        ({"size": "XXXL"}, 422, "INVALID_SIZE", "size"),
        ({"size": ""}, 422, "INVALID_SIZE", "size"),
        ({"recorded_at": "2026-11-24T08:00:00"}, 400, None, "recorded_at"),
        ({"from_location": "site"}, 422, "WRONG_LOCATION_KIND", "from_location_id"),
    ],
)
def test_bad_checkouts_get_a_clear_error_and_change_nothing(
    client, as_role, world, change, status, code, field
):
    _receive(client, world, world["shirt"], qty=10, size="M")
    body = {"item_id": world["shirt"]["id"], "qty": 1, "size": "M", "from_location_id": world["depot"]["id"]}
    if change.get("from_location") == "site":
        body["from_location_id"] = world["site"]["id"]
    else:
        body.update(change)
    response = _op(client, "checkout", as_role("tech1"), **body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["message"]
    if code:
        assert error["code"] == code
    assert field in (error.get("field") or "") or field in error["message"]
    assert _stock_of(client, world["manager"], world["depot"]["id"]) == {("UNI-SHIRT", "M"): 10}
    assert client.get("/api/inventory/custody/me", headers=as_role("tech1")).json()["stock"] == []


def test_serialized_items_need_an_asset_and_counted_items_a_quantity(client, as_role, world):
    response = _op(
        client,
        "checkout",
        as_role("tech1"),
        item_id=world["wrench"]["id"],
        qty=1,
        from_location_id=world["depot"]["id"],
    )
    assert response.status_code == 422
    assert response.json()["code"] == "SERIAL_REQUIRED"
    response = _op(
        client,
        "receive",
        world["manager"],
        to_location_id=world["depot"]["id"],
        item_id=world["gloves"]["id"],
        assets=[{"serial": "G-1"}],
    )
    assert response.status_code == 422
    response = _op(
        client,
        "receive",
        world["manager"],
        to_location_id=world["site"]["id"],
        item_id=world["gloves"]["id"],
        qty=1,
    )
    assert response.json()["code"] == "WRONG_LOCATION_KIND"


def test_stock_below_zero_is_still_recorded_and_raises_a_discrepancy_for_the_team(
    client, as_role, world, seeded
):
    _receive(client, world, world["belt"], qty=2)
    tech = as_role("tech1")
    response = _op(
        client,
        "checkout",
        tech,
        item_id=world["belt"]["id"],
        qty=5,
        from_location_id=world["depot"]["id"],
        to_vehicle=False,
    )
    assert response.status_code == 201
    [exception_id] = response.json()["exception_ids"]
    assert _stock_of(client, world["manager"], world["depot"]["id"]) == {("BELT-CC", ""): -3}

    mine = client.get("/api/exceptions", headers=tech).json()
    assert [e["id"] for e in mine["items"]] == [exception_id]
    assert mine["items"][0]["kind"] == "stock_discrepancy" and mine["items"][0]["qty"] == 3
    assert client.get("/api/exceptions", headers=as_role("supervisor2")).json()["total"] == 0
    assert client.get(f"/api/exceptions/{exception_id}", headers=as_role("tech2")).status_code == 404

    resolve = f"/api/exceptions/{exception_id}/resolve"
    assert (
        client.post(resolve, json={"outcome": "confirmed", "resolution": "x"}, headers=tech).status_code
        == 403
    )
    assert (
        client.post(
            resolve, json={"outcome": "maybe", "resolution": "x"}, headers=as_role("supervisor1")
        ).status_code
        == 400
    )
    assert (
        client.post(
            resolve, json={"outcome": "confirmed", "resolution": "   "}, headers=as_role("supervisor1")
        ).status_code
        == 400
    )
    done = client.post(
        resolve,
        json={"outcome": "corrected", "resolution": "Delivery note was short by 3"},
        headers=as_role("supervisor1"),
    )
    assert done.status_code == 200, done.text
    assert done.json()["resolved_by_id"] == seeded["supervisor1"]
    assert done.json()["status"] == "resolved" and done.json()["resolved_at"]
    again = client.post(
        resolve, json={"outcome": "confirmed", "resolution": "again"}, headers=as_role("manager")
    )
    assert again.status_code == 409
    assert client.get("/api/exceptions?status=resolved", headers=tech).json()["total"] == 1


def test_a_custody_conflict_moves_the_asset_and_names_the_other_holder(client, as_role, world, seeded):
    received = _receive(client, world, world["meter"], assets=[{"serial": "MM-9"}])
    asset_id = received["asset_ids"][0]
    _op(client, "checkout", as_role("tech1"), asset_id=asset_id, from_location_id=world["depot"]["id"])
    # tech2 took it from the depot shelf offline: the store thinks tech1 has it.
    response = _op(
        client, "checkout", as_role("tech2"), asset_id=asset_id, from_location_id=world["depot"]["id"]
    )
    assert response.status_code == 201
    [exception_id] = response.json()["exception_ids"]
    exception = client.get(f"/api/exceptions/{exception_id}", headers=as_role("supervisor1")).json()
    assert exception["kind"] == "custody_conflict"
    assert exception["other_user_id"] == seeded["tech1"]
    assert exception["mutation"]["asset_id"] == asset_id
    holders = [
        a["serial"]
        for a in client.get("/api/inventory/custody/me", headers=as_role("tech2")).json()["assets"]
    ]
    assert holders == ["MM-9"]
    assert client.get("/api/inventory/custody/me", headers=as_role("tech1")).json()["assets"] == []


def test_handover_passes_custody_only_when_the_receiver_accepts(client, as_role, world, seeded):
    received = _receive(client, world, world["meter"], assets=[{"serial": "MM-5"}])
    asset_id = received["asset_ids"][0]
    _op(client, "checkout", as_role("tech1"), asset_id=asset_id, from_location_id=world["depot"]["id"])
    transfer = _op(client, "transfer", as_role("tech1"), asset_id=asset_id, to_user_id=seeded["tech2"])
    handover_id = transfer.json()["handover_id"]
    waiting = client.get("/api/inventory/custody/me", headers=as_role("tech2")).json()["handovers_in"]
    assert [h["id"] for h in waiting] == [handover_id]
    assert (
        client.post(
            f"/api/inventory/ops/handovers/{handover_id}/accept",
            json={"move_id": _id()},
            headers=as_role("tech3"),
        ).status_code
        == 404
    )
    accepted = client.post(
        f"/api/inventory/ops/handovers/{handover_id}/accept",
        json={"move_id": _id()},
        headers=as_role("tech2"),
    )
    assert accepted.status_code == 201, accepted.text
    assert [
        a["serial"]
        for a in client.get("/api/inventory/custody/me", headers=as_role("tech2")).json()["assets"]
    ] == ["MM-5"]
    again = client.post(
        f"/api/inventory/ops/handovers/{handover_id}/decline",
        json={"move_id": _id()},
        headers=as_role("tech2"),
    )
    assert again.status_code == 409


def test_damaged_and_lost_returns_raise_exceptions_and_lost_goods_are_written_off(client, as_role, world):
    received = _receive(client, world, world["meter"], assets=[{"serial": "MM-1"}, {"serial": "MM-2"}])
    tech = as_role("tech3")
    for asset_id in received["asset_ids"]:
        _op(client, "checkout", tech, asset_id=asset_id, from_location_id=world["depot"]["id"])
    damaged = _op(
        client,
        "return",
        tech,
        asset_id=received["asset_ids"][0],
        to_location_id=world["depot"]["id"],
        condition="damaged",
    )
    lost = _op(
        client,
        "return",
        tech,
        asset_id=received["asset_ids"][1],
        to_location_id=world["depot"]["id"],
        condition="lost",
    )
    kinds = {e["kind"] for e in client.get("/api/exceptions", headers=as_role("quality")).json()["items"]}
    assert {"damaged", "lost"} <= kinds
    assert damaged.status_code == lost.status_code == 201
    history = client.get(
        f"/api/inventory/assets/{received['asset_ids'][1]}/history", headers=as_role("manager")
    )
    assert history.json()["asset"]["status"] == "written_off"
    assert history.json()["asset"]["condition"] == "lost"


def test_spare_report_counts_the_installed_base_and_exports_csv(client, as_role, world):
    serials = [{"serial": f"NCR-{n:04d}"} for n in range(150)]
    assets = _receive(client, world, world["atm"], assets=serials)["asset_ids"]
    manager = world["manager"]
    for asset_id in assets[:148]:
        response = _op(client, "install", manager, asset_id=asset_id, site_location_id=world["site"]["id"])
        assert response.status_code == 201, response.text
    report = client.get("/api/spares/report", headers=as_role("supervisor1")).json()
    [row] = [r for r in report if r["sku"] == "ATM-NCR-22E"]
    # 148 installed × 1 % = 1.48 → 2 spares; 2 are in the depot.
    assert (row["installed"], row["required"], row["serviceable"], row["shortage"]) == (148, 2, 2, 0)
    policy = client.put(
        "/api/spares/policies",
        headers=manager,
        json={"item_id": world["atm"]["id"], "region": "Shanghai East", "ratio": 0.02, "minimum": 1},
    )
    assert policy.status_code == 200, policy.text
    row = next(
        r for r in client.get("/api/spares/report", headers=manager).json() if r["sku"] == "ATM-NCR-22E"
    )
    assert (row["required"], row["shortage"]) == (3, 1)
    shortages = client.get("/api/spares/shortages", headers=manager).json()
    assert [(s["region"], s["shortage"]) for s in shortages] == [("Shanghai East", 1)]

    exported = client.get("/api/spares/report.csv", headers=manager)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["sku"] == "ATM-NCR-22E" and rows[0]["shortage"] == "1"
    assert client.get("/api/spares/report", headers=as_role("tech1")).status_code == 403
    assert (
        client.put(
            "/api/spares/policies",
            headers=as_role("supervisor1"),
            json={"item_id": world["atm"]["id"], "region": "X"},
        ).status_code
        == 403
    )


def test_swap_puts_the_spare_in_and_the_faulty_unit_into_repair(client, as_role, world, seeded):
    assets = _receive(client, world, world["atm"], assets=[{"serial": "A-1"}, {"serial": "A-2"}])["asset_ids"]
    installed, spare = assets
    _op(client, "install", world["manager"], asset_id=installed, site_location_id=world["site"]["id"])
    tech = as_role("tech1")
    _op(client, "checkout", tech, asset_id=spare, from_location_id=world["depot"]["id"])
    job_id = _id()
    swap = _op(
        client,
        "swap",
        tech,
        job_id=job_id,
        installed_asset_id=installed,
        spare_asset_id=spare,
        removed_serial="A-1",
        repair_location_id=world["repair"]["id"],
    )
    assert swap.status_code == 201, swap.text
    assert swap.json()["exception_ids"] == []
    manager = world["manager"]
    spare_now = client.get(f"/api/inventory/assets/{spare}/history", headers=manager).json()
    faulty_now = client.get(f"/api/inventory/assets/{installed}/history", headers=manager).json()
    assert (spare_now["asset"]["status"], spare_now["asset"]["location_id"]) == (
        "installed",
        world["site"]["id"],
    )
    assert (faulty_now["asset"]["status"], faulty_now["asset"]["condition"]) == ("in_repair", "faulty")
    assert spare_now["movements"][-1]["job_id"] == job_id
    back = _op(
        client,
        "repair-receive",
        manager,
        asset_id=installed,
        to_location_id=world["depot"]["id"],
        repaired=True,
    )
    assert back.status_code == 201
    restored = client.get(f"/api/inventory/assets/{installed}/history", headers=manager).json()["asset"]
    assert (restored["status"], restored["condition"]) == ("in_stock", "ok")
    assert restored["due_at"] is not None


def test_a_count_corrects_stock_with_a_movement_and_needs_a_reason(client, as_role, world):
    _receive(client, world, world["gloves"], qty=10)
    manager = world["manager"]
    lines = [{"item_id": world["gloves"]["id"], "counted": 7}]
    missing_reason = _op(client, "count", manager, location_id=world["depot"]["id"], lines=lines)
    assert missing_reason.status_code == 422 and missing_reason.json()["field"] == "reason"
    counted = _op(
        client, "count", manager, location_id=world["depot"]["id"], lines=lines, reason="Monthly count"
    )
    assert counted.status_code == 201 and len(counted.json()["movement_ids"]) == 1
    assert _stock_of(client, manager, world["depot"]["id"]) == {("GLV-01", ""): 7}
    assert (
        _op(
            client, "count", as_role("supervisor1"), location_id=world["depot"]["id"], lines=lines, reason="x"
        ).status_code
        == 403
    )


def test_vans_are_assigned_with_their_load_and_checkouts_can_go_into_the_van(client, as_role, world, seeded):
    van_id = _receive(client, world, world["van"], assets=[{"serial": "沪A-12345"}])["asset_ids"][0]
    supervisor = as_role("supervisor1")
    assigned = _op(client, "vehicles/" + van_id + "/assign", supervisor, user_id=seeded["tech1"])
    assert assigned.status_code == 201, assigned.text
    assert _op(
        client, "vehicles/" + van_id + "/assign", as_role("supervisor2"), user_id=seeded["tech5"]
    ).status_code in (403, 409)
    _receive(client, world, world["belt"], qty=6)
    tech = as_role("tech1")
    loaded = _op(
        client,
        "checkout",
        tech,
        item_id=world["belt"]["id"],
        qty=6,
        from_location_id=world["depot"]["id"],
        to_vehicle=True,
    )
    assert loaded.status_code == 201
    consumed = _op(client, "consume", tech, job_id=_id(), item_id=world["belt"]["id"], qty=2)
    assert consumed.status_code == 201
    custody = client.get("/api/inventory/custody/me", headers=tech).json()
    assert custody["vehicle"]["serial"] == "沪A-12345"
    assert [(b["sku"], b["qty"]) for b in custody["stock"]] == [("BELT-CC", 4)]
    team_id = client.get("/api/auth/me", headers=tech).json()["team_id"]
    team = client.get(f"/api/inventory/custody/teams/{team_id}", headers=supervisor)
    assert team.status_code == 200 and len(team.json()) == 4
    assert (
        _op(
            client,
            "checkout",
            as_role("tech2"),
            item_id=world["belt"]["id"],
            qty=1,
            from_location_id=world["depot"]["id"],
            to_vehicle=True,
        ).json()["code"]
        == "NO_VEHICLE"
    )


def test_catalog_rules(client, as_role, world):
    manager = world["manager"]
    duplicate = client.post(
        "/api/inventory/items", headers=manager, json={"sku": "GLV-01", "name": "Again", "kind": "consumable"}
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "SKU_TAKEN"
    sized_tool = client.post(
        "/api/inventory/items",
        headers=manager,
        json={"sku": "X-1", "name": "Sized tool", "kind": "tool", "sizes": ["S"]},
    )
    assert sized_tool.status_code == 422 and sized_tool.json()["field"] == "sizes"
    counted_van = client.post(
        "/api/inventory/items",
        headers=manager,
        json={"sku": "X-2", "name": "Van", "kind": "vehicle", "tracking": "quantity"},
    )
    assert counted_van.status_code == 422
    assert (
        client.post(
            "/api/inventory/items",
            headers=as_role("supervisor1"),
            json={"sku": "X-3", "name": "n", "kind": "part"},
        ).status_code
        == 403
    )
    _receive(client, world, world["shirt"], qty=2, size="S")
    shrink = client.put(
        f"/api/inventory/items/{world['shirt']['id']}", headers=manager, json={"sizes": ["M", "L"]}
    )
    assert shrink.status_code == 409 and shrink.json()["code"] == "SIZE_IN_USE"
    grown = client.put(
        f"/api/inventory/items/{world['shirt']['id']}",
        headers=manager,
        json={"sizes": ["S", "M", "L", "XL", "XXL"]},
    )
    assert grown.status_code == 200 and grown.json()["version"] == world["shirt"]["version"] + 1
    items = client.get("/api/inventory/items?kind=toolbox", headers=as_role("tech1")).json()
    assert [len(i["contents"]) for i in items] == [2]


def test_an_oversized_operation_is_refused(client, as_role, world):
    huge = {"move_id": _id(), "location_id": world["depot"]["id"], "reason": "x" * 5_000_000, "lines": []}
    response = client.post("/api/inventory/ops/count", json=huge, headers=world["manager"])
    assert response.status_code == 413


def test_overdue_lists_tools_past_their_return_date(client, as_role, world):
    past = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    received = _receive(client, world, world["wrench"], assets=[{"serial": "TW-OLD"}])
    tech = as_role("tech4")
    _op(
        client,
        "checkout",
        tech,
        asset_id=received["asset_ids"][0],
        from_location_id=world["depot"]["id"],
        recorded_at=past,
    )
    overdue = client.get("/api/inventory/overdue", headers=tech).json()
    assert [a["serial"] for a in overdue] == ["TW-OLD"] and overdue[0]["overdue"] is True
    assert client.get("/api/inventory/overdue", headers=as_role("tech1")).json() == []
    assert [
        a["serial"] for a in client.get("/api/inventory/overdue", headers=as_role("supervisor1")).json()
    ] == ["TW-OLD"]


def test_a_technician_sees_only_their_own_part_of_a_tools_history(client, as_role, world, seeded):
    asset_id = _receive(client, world, world["meter"], assets=[{"serial": "MM-H"}])["asset_ids"][0]
    depot = world["depot"]["id"]
    _op(client, "checkout", as_role("tech1"), asset_id=asset_id, from_location_id=depot, job_id=_id())
    _op(client, "return", as_role("tech1"), asset_id=asset_id, to_location_id=depot, condition="ok")
    _op(client, "checkout", as_role("tech2"), asset_id=asset_id, from_location_id=depot)
    full = client.get(f"/api/inventory/assets/{asset_id}/history", headers=as_role("supervisor1")).json()
    assert [m["operation"] for m in full["movements"]] == ["receive", "checkout", "return", "checkout"]
    own = client.get(f"/api/inventory/assets/{asset_id}/history", headers=as_role("tech2")).json()
    assert [m["operation"] for m in own["movements"]] == ["receive", "checkout"]
    assert {m["custodian_id"] for m in own["movements"]} == {None, seeded["tech2"]}
    assert (
        client.get(f"/api/inventory/assets/{asset_id}/history", headers=as_role("tech1")).status_code == 404
    )


def test_a_move_id_reused_by_someone_else_is_refused_not_answered_with_their_result(client, as_role, world):
    move_id = _id()
    _receive(client, world, world["gloves"], qty=5, move_id=move_id)
    reused = _op(
        client,
        "checkout",
        as_role("tech1"),
        move_id=move_id,
        item_id=world["gloves"]["id"],
        qty=1,
        from_location_id=world["depot"]["id"],
    )
    assert reused.status_code == 409 and reused.json()["code"] == "MOVE_ID_REUSED"


def test_a_hand_over_is_decided_once(client, as_role, world, seeded):
    _receive(client, world, world["gloves"], qty=5)
    _op(
        client,
        "checkout",
        as_role("tech1"),
        item_id=world["gloves"]["id"],
        qty=5,
        from_location_id=world["depot"]["id"],
    )
    handover_id = _op(
        client, "transfer", as_role("tech1"), item_id=world["gloves"]["id"], qty=5, to_user_id=seeded["tech2"]
    ).json()["handover_id"]
    accept = f"/api/inventory/ops/handovers/{handover_id}/accept"
    assert client.post(accept, json={"move_id": _id()}, headers=as_role("tech2")).status_code == 201
    twice = client.post(accept, json={"move_id": _id()}, headers=as_role("supervisor1"))
    assert twice.status_code == 409 and twice.json()["code"] == "HANDOVER_DECIDED"
    stock = client.get("/api/inventory/custody/me", headers=as_role("tech2")).json()["stock"]
    assert [(b["sku"], b["qty"]) for b in stock] == [("GLV-01", 5)]


def test_vans_and_tools_cannot_be_consumed_or_returned_like_parts(client, as_role, world, seeded):
    van_id = _receive(client, world, world["van"], assets=[{"serial": "沪C-00001"}])["asset_ids"][0]
    _op(client, f"vehicles/{van_id}/assign", world["manager"], user_id=seeded["tech1"])
    tech = as_role("tech1")
    returned = _op(
        client, "return", tech, asset_id=van_id, to_location_id=world["depot"]["id"], condition="ok"
    )
    assert returned.status_code == 422 and returned.json()["code"] == "USE_VEHICLE_ASSIGN"
    meter = _receive(client, world, world["meter"], assets=[{"serial": "MM-C"}])["asset_ids"][0]
    consumed = _op(
        client,
        "consume",
        tech,
        job_id=_id(),
        item_id=world["meter"]["id"],
        qty=1,
        asset_id=meter,
        from_location_id=world["depot"]["id"],
    )
    assert consumed.status_code == 422 and consumed.json()["code"] == "NOT_CONSUMABLE"


def test_times_far_from_now_are_refused_with_a_clear_error(client, as_role, world):
    for when in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "2019-01-01T00:00:00Z"):
        response = _op(
            client,
            "receive",
            world["manager"],
            to_location_id=world["depot"]["id"],
            item_id=world["wrench"]["id"],
            assets=[{"serial": f"TW-{when[:4]}"}],
            recorded_at=when,
        )
        assert response.status_code in (400, 422), (when, response.text)
        assert response.json()["field"] == "recorded_at"
    far_due = _op(
        client,
        "receive",
        world["manager"],
        to_location_id=world["depot"]["id"],
        item_id=world["wrench"]["id"],
        assets=[{"serial": "TW-DUE", "due_at": "9999-01-01T00:00:00Z"}],
    )
    assert far_due.status_code == 422 and far_due.json()["field"] == "assets[0].due_at"


def test_exceptions_about_a_supervisor_are_resolved_by_someone_else(client, as_role, world, seeded):
    meter = _receive(client, world, world["meter"], assets=[{"serial": "MM-S"}])["asset_ids"][0]
    supervisor = as_role("supervisor1")
    _op(client, "checkout", supervisor, asset_id=meter, from_location_id=world["depot"]["id"])
    lost = _op(
        client, "return", supervisor, asset_id=meter, to_location_id=world["depot"]["id"], condition="lost"
    )
    [exception_id] = lost.json()["exception_ids"]
    resolve = f"/api/exceptions/{exception_id}/resolve"
    body = {"outcome": "dismissed", "resolution": "never mind"}
    assert client.post(resolve, json=body, headers=supervisor).status_code == 403
    assert (
        client.post(resolve, json=body | {"outcome": "charged"}, headers=as_role("quality")).status_code
        == 200
    )


def test_a_holders_supervisor_sees_a_conflict_raised_by_another_team(client, as_role, world, seeded):
    meter = _receive(client, world, world["meter"], assets=[{"serial": "MM-X"}])["asset_ids"][0]
    _op(client, "checkout", as_role("tech1"), asset_id=meter, from_location_id=world["depot"]["id"])
    taken = _op(client, "checkout", as_role("tech5"), asset_id=meter, from_location_id=world["depot"]["id"])
    [exception_id] = taken.json()["exception_ids"]
    for supervisor in ("supervisor1", "supervisor2"):  # tech1's and tech5's
        ids = [e["id"] for e in client.get("/api/exceptions", headers=as_role(supervisor)).json()["items"]]
        assert exception_id in ids, supervisor
    assert client.get("/api/exceptions", headers=as_role("supervisor3")).json()["total"] == 0
    # Held by another team's technician: not supervisor3's to see at all.
    assert (
        client.get(f"/api/inventory/assets/{meter}/history", headers=as_role("supervisor3")).status_code
        == 404
    )
    _op(
        client,
        "return",
        as_role("tech5"),
        asset_id=meter,
        to_location_id=world["depot"]["id"],
        condition="ok",
    )
    # Back on the depot shelf it is, but not who had it before or for which jobs.
    history = client.get(f"/api/inventory/assets/{meter}/history", headers=as_role("supervisor3")).json()
    assert [m["operation"] for m in history["movements"]] == ["receive"]


def test_technicians_do_not_browse_what_everyone_consumed_or_lost(client, as_role, world):
    _receive(client, world, world["belt"], qty=3)
    tech = as_role("tech1")
    _op(client, "checkout", tech, item_id=world["belt"]["id"], qty=3, from_location_id=world["depot"]["id"])
    _op(client, "consume", tech, job_id=_id(), item_id=world["belt"]["id"], qty=1)
    kinds = {loc["kind"] for loc in client.get("/api/inventory/locations", headers=tech).json()}
    assert "written_off" not in kinds
    sinks = client.get("/api/inventory/locations?kind=written_off", headers=world["manager"]).json()
    assert (
        sinks
        and client.get(f"/api/inventory/locations/{sinks[0]['id']}/stock", headers=tech).status_code == 404
    )


def test_a_toolbox_leaves_behind_a_tool_someone_else_took_out_of_it(client, as_role, world, seeded, settings):
    import asyncio

    from backend.db import create_engine, create_session_factory
    from backend.inventory.models import Asset

    box = _receive(client, world, world["toolbox"], assets=[{"serial": "TBX-K"}])["asset_ids"][0]
    wrench = _receive(client, world, world["wrench"], assets=[{"serial": "TW-K"}])["asset_ids"][0]

    async def pack():
        engine = create_engine(settings)
        async with create_session_factory(engine)() as session, session.begin():
            (await session.get(Asset, uuid.UUID(wrench))).parent_asset_id = uuid.UUID(box)
        await engine.dispose()

    asyncio.run(pack())
    _op(client, "checkout", as_role("tech2"), asset_id=wrench, from_location_id=world["depot"]["id"])
    taken = _op(client, "checkout", as_role("tech1"), asset_id=box, from_location_id=world["depot"]["id"])
    assert taken.status_code == 201 and len(taken.json()["movement_ids"]) == 1
    assert [
        a["serial"]
        for a in client.get("/api/inventory/custody/me", headers=as_role("tech2")).json()["assets"]
    ] == ["TW-K"]


def test_a_service_must_be_the_kind_the_item_needs(client, as_role, world):
    wrench = _receive(client, world, world["wrench"], assets=[{"serial": "TW-S"}])["asset_ids"][0]
    tech = as_role("tech1")
    _op(client, "checkout", tech, asset_id=wrench, from_location_id=world["depot"]["id"])
    wrong = client.post(f"/api/inventory/assets/{wrench}/services", json={"kind": "inspection"}, headers=tech)
    assert wrong.status_code == 422 and wrong.json()["code"] == "WRONG_SERVICE_KIND"
    done = client.post(f"/api/inventory/assets/{wrench}/services", json={"kind": "calibration"}, headers=tech)
    assert done.status_code == 201 and done.json()["services"][0]["next_due_at"]


def test_installing_a_unit_the_store_has_as_lost_is_recorded_with_a_conflict(client, as_role, world):
    [lost, other] = _receive(client, world, world["atm"], assets=[{"serial": "L-1"}, {"serial": "L-2"}])[
        "asset_ids"
    ]
    tech = as_role("tech2")
    _op(client, "checkout", tech, asset_id=lost, from_location_id=world["depot"]["id"])
    _op(client, "return", tech, asset_id=lost, to_location_id=world["depot"]["id"], condition="lost")
    installed = _op(client, "install", world["manager"], asset_id=lost, site_location_id=world["site"]["id"])
    assert installed.status_code == 201 and len(installed.json()["exception_ids"]) == 1
    exception = client.get(
        f"/api/exceptions/{installed.json()['exception_ids'][0]}", headers=world["manager"]
    ).json()
    assert exception["kind"] == "custody_conflict" and "written_off" in exception["message"]
    clean = _op(client, "install", world["manager"], asset_id=other, site_location_id=world["site"]["id"])
    assert clean.json()["exception_ids"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "who", "status", "field"),
    [
        ("post", "/api/inventory/locations", {"kind": "person", "name": "Me"}, "manager", 400, "kind"),
        (
            "post",
            "/api/inventory/locations",
            {"kind": "depot", "name": "Again", "code": "DEP-T"},
            "manager",
            409,
            "code",
        ),
        ("post", "/api/inventory/locations", {"kind": "depot", "name": "x\u0000y"}, "manager", 400, "name"),
        ("post", "/api/inventory/locations", {"kind": "depot", "name": "Mine"}, "supervisor1", 403, None),
        (
            "put",
            "/api/spares/policies",
            {"item_id": "{atm}", "region": "East", "ratio": 1.5},
            "manager",
            400,
            "ratio",
        ),
        ("put", "/api/spares/policies", {"item_id": "{gloves}", "region": "East"}, "manager", 422, "item_id"),
        ("put", "/api/spares/policies", {"item_id": "{atm}", "region": ""}, "manager", 400, "region"),
        ("get", "/api/inventory/assets?limit=0", None, "manager", 400, "limit"),
        ("get", "/api/inventory/due?within_days=-1", None, "tech1", 400, "within_days"),
        ("get", "/api/exceptions?status=bogus", None, "supervisor1", 400, "status"),
        ("get", "/api/inventory/locations?kind=moon", None, "tech1", 400, "kind"),
        (
            "post",
            "/api/exceptions/{random}/resolve",
            {"outcome": "confirmed", "resolution": "x"},
            "manager",
            404,
            "exception_id",
        ),
        (
            "post",
            "/api/inventory/ops/handovers/{random}/accept",
            {"move_id": "{random}"},
            "tech1",
            404,
            "handover_id",
        ),
        ("get", "/api/inventory/custody/teams/{random}", None, "supervisor1", 404, "team_id"),
        ("get", "/api/inventory/assets/{random}/history", None, "tech1", 404, "asset_id"),
        ("put", "/api/inventory/items/{random}", {"name": "x"}, "manager", 404, "item_id"),
        ("put", "/api/inventory/items/{gloves}", {"sku": "NEW"}, "manager", 400, "sku"),
    ],
)
def test_inventory_endpoints_answer_bad_input_with_a_clear_4xx(
    client, as_role, world, method, path, body, who, status, field
):
    def fill(text: str) -> str:
        return (
            text.replace("{atm}", world["atm"]["id"])
            .replace("{gloves}", world["gloves"]["id"])
            .replace("{random}", _id())
        )

    payload = {k: fill(v) if isinstance(v, str) else v for k, v in (body or {}).items()}
    response = client.request(
        method.upper(), fill(path), json=payload if body is not None else None, headers=as_role(who)
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["message"]
    if field:
        assert field in (error.get("field") or "") or field in error["message"], error
