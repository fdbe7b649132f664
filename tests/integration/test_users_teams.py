"""User and team management: roles, scope, validation, and the sync version/feed contract."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from backend.db import create_engine
from tests.conftest import bearer, login


def _feed_rows(settings, entity_id: str) -> list[tuple[str, int]]:
    async def read():
        engine = create_engine(settings)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text("SELECT op, version FROM sync_change WHERE entity_id = :id ORDER BY seq"),
                    {"id": uuid.UUID(entity_id).hex if settings.is_sqlite else uuid.UUID(entity_id)},
                )
                return [tuple(r) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


NEW_USER = {
    "username": "tech13",
    "display_name": "何亮 He Liang",
    "role": "technician",
    "password": "a-good-password",
}


def test_manager_creates_a_user_who_can_log_in(client, as_role, seeded):
    team_id = login(client, "tech1")["user"]["team_id"]
    response = client.post("/api/users", json={**NEW_USER, "team_id": team_id}, headers=as_role("manager"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["username"] == "tech13"
    assert body["team_id"] == team_id
    assert body["version"] == 1
    assert "password" not in body and "password_hash" not in body
    assert login(client, "tech13", "a-good-password")["user"]["role"] == "technician"


def test_user_creation_validates_every_field(client, as_role):
    manager = as_role("manager")
    cases = [
        ({**NEW_USER, "username": "Bad Name!"}, 400, "username"),
        ({**NEW_USER, "password": "short"}, 400, "password"),
        ({**NEW_USER, "role": "admin"}, 400, "role"),
        ({**NEW_USER, "display_name": ""}, 400, "display_name"),
        ({**NEW_USER, "team_id": "not-a-uuid"}, 400, "team_id"),
        ({**NEW_USER, "team_id": str(uuid.uuid4())}, 422, "team_id"),
        ({**NEW_USER, "is_active": False}, 400, "is_active"),
        ({**NEW_USER, "username": "tech1"}, 409, "username"),
    ]
    for payload, status, field in cases:
        response = client.post("/api/users", json=payload, headers=manager)
        assert response.status_code == status, (payload, response.text)
        assert response.json()["field"] == field, response.text
    # None of the refused requests left a user behind.
    usernames = [u["username"] for u in client.get("/api/users", headers=manager).json()]
    assert "tech13" not in usernames


def test_only_managers_administer_users(client, as_role, seeded):
    for username in ("tech1", "supervisor1", "quality"):
        response = client.post("/api/users", json=NEW_USER, headers=as_role(username))
        assert response.status_code == 403, username
        assert response.json()["code"] == "FORBIDDEN"
        patch = client.patch(
            f"/api/users/{seeded['tech2']}", json={"display_name": "x"}, headers=as_role(username)
        )
        assert patch.status_code == 403


def test_a_technician_sees_only_themselves(client, as_role, seeded):
    tech = as_role("tech1")
    assert client.get("/api/users", headers=tech).status_code == 403
    assert client.get(f"/api/users/{seeded['tech1']}", headers=tech).status_code == 200
    other = client.get(f"/api/users/{seeded['tech2']}", headers=tech)
    assert other.status_code == 404
    assert client.get(f"/api/users/{seeded['manager']}", headers=tech).status_code == 404


def test_a_supervisor_sees_their_teams(client, as_role, seeded):
    names = {u["username"] for u in client.get("/api/users", headers=as_role("supervisor1")).json()}
    assert names == {"supervisor1", "tech1", "tech2", "tech3", "tech4"}
    assert client.get(f"/api/users/{seeded['tech5']}", headers=as_role("supervisor1")).status_code == 404
    everyone = client.get("/api/users", headers=as_role("quality")).json()
    assert len(everyone) == 17


def test_update_bumps_version_and_records_the_change_in_the_feed(client, as_role, seeded, settings):
    tech2 = seeded["tech2"]
    assert _feed_rows(settings, tech2) == [("put", 1)]
    response = client.patch(
        f"/api/users/{tech2}", json={"display_name": "李强 Li Qiang (senior)"}, headers=as_role("manager")
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert _feed_rows(settings, tech2) == [("put", 1), ("put", 2)]
    # A refused change writes neither the user nor a feed entry.
    refused = client.patch(
        f"/api/users/{tech2}", json={"team_id": str(uuid.uuid4())}, headers=as_role("manager")
    )
    assert refused.status_code == 422
    assert _feed_rows(settings, tech2) == [("put", 1), ("put", 2)]


def test_role_change_ends_existing_logins(client, as_role, seeded):
    tech = login(client, "tech3")
    response = client.patch(
        f"/api/users/{seeded['tech3']}", json={"role": "supervisor"}, headers=as_role("manager")
    )
    assert response.status_code == 200
    assert client.get("/api/auth/me", headers=bearer(tech)).status_code == 401
    assert login(client, "tech3")["user"]["role"] == "supervisor"


def test_manager_cannot_lock_themselves_out(client, as_role, seeded):
    manager = as_role("manager")
    response = client.post(f"/api/users/{seeded['manager']}/deactivate", headers=manager)
    assert response.status_code == 409
    demote = client.patch(f"/api/users/{seeded['manager']}", json={"role": "technician"}, headers=manager)
    assert demote.status_code == 409
    assert demote.json()["field"] == "role"


def test_password_reset_generates_a_one_time_password_and_ends_logins(client, as_role, seeded):
    old = login(client, "tech6")
    response = client.post(
        f"/api/users/{seeded['tech6']}/reset-password", json={}, headers=as_role("manager")
    )
    assert response.status_code == 200
    temporary = response.json()["temporary_password"]
    assert temporary and len(temporary) >= 12
    assert response.json()["user"]["must_change_password"] is True
    assert client.get("/api/auth/me", headers=bearer(old)).status_code == 401
    fresh = login(client, "tech6", temporary)
    assert fresh["user"]["must_change_password"] is True
    changed = client.post(
        "/api/auth/password",
        json={"current_password": temporary, "new_password": "my-own-password"},
        headers=bearer(fresh),
    )
    assert changed.status_code == 204
    assert login(client, "tech6", "my-own-password")["user"]["must_change_password"] is False

    chosen = client.post(
        f"/api/users/{seeded['tech6']}/reset-password",
        json={"password": "chosen-password"},
        headers=as_role("manager"),
    )
    assert chosen.json()["temporary_password"] is None
    assert login(client, "tech6", "chosen-password")["user"]["username"] == "tech6"


def test_unknown_user_is_404(client, as_role):
    missing = str(uuid.uuid4())
    assert client.get(f"/api/users/{missing}", headers=as_role("manager")).status_code == 404
    assert client.post(f"/api/users/{missing}/deactivate", headers=as_role("manager")).status_code == 404
    assert client.get("/api/users/not-a-uuid", headers=as_role("manager")).status_code in (400, 404)


def test_teams_scope_and_management(client, as_role, seeded):
    all_teams = client.get("/api/teams", headers=as_role("manager")).json()
    assert len(all_teams) == 3
    led = client.get("/api/teams", headers=as_role("supervisor2")).json()
    assert [t["supervisor_ids"] for t in led] == [[seeded["supervisor2"]]]
    assert sorted(led[0]["member_ids"]) == sorted(seeded[f"tech{n}"] for n in (5, 6, 7, 8))
    own = client.get("/api/teams", headers=as_role("tech9")).json()
    assert len(own) == 1 and seeded["tech9"] in own[0]["member_ids"]
    foreign = next(t for t in all_teams if t["id"] != own[0]["id"])
    assert client.get(f"/api/teams/{foreign['id']}", headers=as_role("tech9")).status_code == 404

    manager = as_role("manager")
    created = client.post(
        "/api/teams",
        json={
            "name": "Jiading Team",
            "region": "Shanghai North",
            "supervisor_ids": [seeded["supervisor1"], seeded["supervisor2"]],
        },
        headers=manager,
    )
    assert created.status_code == 201, created.text
    assert len(created.json()["supervisor_ids"]) == 2
    # supervisor1 now leads two teams.
    assert len(client.get("/api/teams", headers=as_role("supervisor1")).json()) == 2

    not_supervisor = client.post(
        "/api/teams", json={"name": "X", "supervisor_ids": [seeded["tech1"]]}, headers=manager
    )
    assert not_supervisor.status_code == 422
    assert not_supervisor.json()["field"] == "supervisor_ids"
    duplicate = client.post("/api/teams", json={"name": "Jiading Team"}, headers=manager)
    assert duplicate.status_code == 409
    renamed = client.patch(
        f"/api/teams/{created.json()['id']}",
        json={"name": "嘉定 Jiading", "supervisor_ids": []},
        headers=manager,
    )
    assert renamed.status_code == 200
    assert renamed.json()["supervisor_ids"] == []
    assert renamed.json()["version"] > created.json()["version"]
    assert client.post("/api/teams", json={"name": "Y"}, headers=as_role("supervisor1")).status_code == 403


def test_a_supervisor_never_sees_staff_who_happen_to_carry_their_team(client, as_role, seeded):
    team_id = login(client, "tech1")["user"]["team_id"]
    moved = client.patch(
        f"/api/users/{seeded['quality']}", json={"team_id": team_id}, headers=as_role("manager")
    )
    assert moved.status_code == 200
    names = {u["username"] for u in client.get("/api/users", headers=as_role("supervisor1")).json()}
    assert "quality" not in names
    assert client.get(f"/api/users/{seeded['quality']}", headers=as_role("supervisor1")).status_code == 404


def test_control_characters_and_blank_names_are_refused(client, as_role):
    manager = as_role("manager")
    for payload, field in (
        ({**NEW_USER, "display_name": "a\u0000b"}, "display_name"),
        ({**NEW_USER, "display_name": "   "}, "display_name"),
    ):
        response = client.post("/api/users", json=payload, headers=manager)
        assert response.status_code == 400 and response.json()["field"] == field, response.text
    for name in ("x\u0000", "  ", "tab\tname"):
        response = client.post("/api/teams", json={"name": name}, headers=manager)
        assert response.status_code == 400 and response.json()["field"] == "name", response.text
    login_nul = client.post("/api/auth/login", json={"username": "tech1\u0000", "password": "fieldq-demo"})
    assert login_nul.status_code == 400 and login_nul.json()["field"] == "username"
    too_long = client.post("/api/auth/login", json={"username": "a" * 200, "password": "fieldq-demo"})
    assert too_long.status_code == 400
