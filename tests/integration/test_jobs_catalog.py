"""Customers, sites, units and procedures: who may write them, and bad input answered with a clear 4xx
that names the field, with nothing written."""

from __future__ import annotations

from tests.jobs_helpers import STEPS, build_world, ids


def _count(client, headers, path: str, **params) -> int:
    return len(client.get(path, headers=headers, params={"limit": 200, **params}).json())


def test_catalog_writes_check_role_and_input(client, as_role, seeded):
    world = build_world(client, as_role, seeded)
    manager, tech = as_role("manager"), as_role("tech1")
    customers_before = _count(client, manager, "/api/customers")

    # Technicians and quality do not create customers or sites; technicians do not list them.
    assert client.post("/api/customers", headers=tech, json={"name": "X"}).status_code == 403
    assert client.post("/api/customers", headers=as_role("quality"), json={"name": "X"}).status_code == 403
    assert client.get("/api/customers", headers=tech).status_code == 403
    site = {"customer_id": world.customer["id"], "name": "Branch"}
    assert client.post("/api/sites", headers=tech, json=site).status_code == 403

    bad_customers = [
        ({"name": "X", "colour": "red"}, 400, "colour"),
        ({"name": "   "}, 400, "name"),
        ({"name": "X", "contacts": [{"name": "Li", "email": "not-an-email"}]}, 400, "contacts[0].email"),
        ({"name": "X", "code": world.customer["code"]}, 409, "code"),
    ]
    for body, status, field in bad_customers:
        response = client.post("/api/customers", headers=manager, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field and response.json()["message"], body
    assert _count(client, manager, "/api/customers") == customers_before

    sites_before = _count(client, manager, "/api/sites")
    bad_sites = [
        ({**site, "customer_id": ids()}, 404, "customer_id"),
        ({**site, "lat": 31.2}, 422, "lon"),
        ({**site, "lat": 91, "lon": 121}, 400, "lat"),
        ({**site, "code": world.site["code"]}, 409, "code"),
        ({**site, "code": world.depot["code"]}, 409, "code"),
    ]
    for body, status, field in bad_sites:
        response = client.post("/api/sites", headers=manager, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["field"] == field, body
    assert _count(client, manager, "/api/sites") == sites_before
    assert (
        client.patch(f"/api/sites/{world.site['id']}", headers=manager, json={"lat": None}).status_code == 422
    )

    # A unit names an asset installed at that site, once.
    units = f"/api/sites/{world.site['id']}/units"
    again = client.post(units, headers=manager, json={"asset_id": world.unit["asset_id"]})
    assert again.status_code == 409 and again.json()["code"] == "ALREADY_A_UNIT"
    other = client.post("/api/sites", headers=manager, json={**site, "name": "Other branch"}).json()
    elsewhere = client.post(
        f"/api/sites/{other['id']}/units", headers=manager, json={"asset_id": world.unit["asset_id"]}
    )
    assert elsewhere.status_code == 422 and elsewhere.json()["code"] == "NOT_INSTALLED_HERE"
    assert client.post(units, headers=manager, json={"asset_id": ids()}).status_code == 404
    assert client.post(units, headers=tech, json={"asset_id": world.unit["asset_id"]}).status_code == 403
    assert [u["id"] for u in client.get(units, headers=manager).json()] == [world.unit["id"]]


def test_procedure_publishing_checks_role_and_steps(client, as_role, seeded):
    build_world(client, as_role, seeded)
    manager = as_role("manager")
    code = f"P-{ids()[:6]}"
    body = {"code": code, "job_type": "inspection", "name": "Inspection", "steps": STEPS}
    for who in ("tech1", "supervisor1"):
        assert client.post("/api/procedures", headers=as_role(who), json=body).status_code == 403
    reading = {"id": "v", "title": "Voltage", "requires": ["reading"], "reading_unit": "V"}
    bad = [
        ({**body, "steps": []}, 400, "steps"),
        ({**body, "steps": [STEPS[0], STEPS[0]]}, 422, "steps[1].id"),
        ({**body, "steps": [{**reading, "reading_unit": ""}]}, 422, "steps[0].reading_unit"),
        ({**body, "steps": [{**reading, "reading_min": 5, "reading_max": 1}]}, 422, "steps[0].reading_min"),
        (
            {**body, "steps": [{"id": "c", "title": "Check", "requires": ["check"], "reading_unit": "V"}]},
            422,
            "steps[0].reading_unit",
        ),
        (
            {**body, "steps": [{"id": "c", "title": "Twice", "requires": ["photo", "photo"]}]},
            422,
            "steps[0].requires",
        ),
        (
            {**body, "steps": [{"id": "c", "title": "Sound", "requires": ["sound"]}]},
            400,
            "steps[0].requires[0]",
        ),
        ({**body, "job_type": "survey"}, 400, "job_type"),
        ({**body, "item_id": ids()}, 404, "item_id"),
    ]
    for request, status, field in bad:
        response = client.post("/api/procedures", headers=manager, json=request)
        assert response.status_code == status, (request, response.text)
        assert response.json()["field"] == field, (field, response.json())
    listed = client.get("/api/procedures", headers=manager, params={"include_retired": True}).json()
    assert code not in {p["code"] for p in listed}

    first = client.post("/api/procedures", headers=manager, json=body)
    assert first.status_code == 201 and first.json()["revision"] == 1
    second = client.post("/api/procedures", headers=as_role("quality"), json=body)
    assert second.status_code == 201 and second.json()["revision"] == 2
    other_type = client.post("/api/procedures", headers=manager, json={**body, "job_type": "repair"})
    assert other_type.status_code == 422 and other_type.json()["field"] == "job_type"
    current = client.get(
        "/api/procedures", headers=as_role("tech1"), params={"job_type": "inspection"}
    ).json()
    assert [p["revision"] for p in current if p["code"] == code] == [2]
