"""Login, refresh rotation with reuse detection, logout, throttling, devices: SYNC.md's Auth section."""

from __future__ import annotations

import uuid

from backend.auth import tokens
from tests.conftest import TEST_SECRET, bearer, login


def test_login_answers_the_contract_shape(client):
    body = login(client, "tech1")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert set(body["user"]) >= {"id", "username", "display_name", "role", "team_id"}
    assert body["user"]["username"] == "tech1"
    assert body["user"]["role"] == "technician"
    assert body["user"]["team_id"] is not None
    me = client.get("/api/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["display_name"] == "王伟 Wang Wei"
    assert "password_hash" not in me.json()


def test_username_is_case_insensitive(client):
    assert login(client, "TECH1")["user"]["username"] == "tech1"


def test_wrong_password_and_unknown_user_look_the_same(client):
    wrong = client.post("/api/auth/login", json={"username": "tech1", "password": "nope-nope-nope"})
    unknown = client.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json() == unknown.json() == {"code": "BAD_CREDENTIALS", "message": "wrong username or password"}
    )


def test_malformed_json_is_400(client):
    response = client.post(
        "/api/auth/login", content=b'{"username": "tech1", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "MALFORMED_JSON"


def test_missing_unknown_and_mistyped_fields_are_named(client):
    missing = client.post("/api/auth/login", json={"username": "tech1"})
    assert missing.status_code == 400
    assert missing.json()["field"] == "password"
    assert missing.json()["code"] == "MISSING_FIELD"

    unknown = client.post("/api/auth/login", json={"username": "tech1", "password": "x", "pasword": "y"})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "code": "UNKNOWN_FIELD",
        "message": "Object contains unknown field `pasword`",
        "field": "pasword",
    }

    mistyped = client.post("/api/auth/login", json={"username": ["tech1"], "password": "x"})
    assert mistyped.status_code == 400
    assert mistyped.json()["field"] == "username"

    not_an_object = client.post("/api/auth/login", json=["tech1", "fieldq-demo"])
    assert not_an_object.status_code == 400


def test_oversized_body_is_413_and_changes_nothing(client):
    huge = {"username": "tech1", "password": "x" * (2 * 1024 * 1024)}
    response = client.post("/api/auth/login", json=huge)
    assert response.status_code == 413
    assert response.json()["code"] == "BODY_TOO_LARGE"
    # The oversized attempt did not count as a failed login.
    for _ in range(4):
        client.post("/api/auth/login", json={"username": "tech1", "password": "wrong-wrong"})
    assert login(client, "tech1")["user"]["username"] == "tech1"


def test_repeated_failures_are_throttled_with_retry_after(client):
    for _ in range(5):
        response = client.post("/api/auth/login", json={"username": "tech2", "password": "wrong-password"})
        assert response.status_code == 401
    throttled = client.post("/api/auth/login", json={"username": "tech2", "password": "wrong-password"})
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(throttled.headers["retry-after"]) <= 61
    # Even the right password waits: otherwise the lockout would not stop guessing.
    right = client.post("/api/auth/login", json={"username": "tech2", "password": "fieldq-demo"})
    assert right.status_code == 429
    # Other users are not locked out by tech2's lock.
    assert login(client, "tech3")["user"]["username"] == "tech3"


def test_refresh_rotates_and_a_reused_token_revokes_the_family(client):
    first = login(client, "tech1")
    second = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/auth/me", headers=bearer(second)).status_code == 200

    replay = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "REFRESH_TOKEN_REUSED"
    # The whole family is gone: the newest refresh token and its access token too.
    after = client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    assert after.json()["code"] == "SESSION_REVOKED"
    assert client.get("/api/auth/me", headers=bearer(second)).status_code == 401
    # Another login of the same user is untouched.
    assert client.get("/api/auth/me", headers=bearer(login(client, "tech1"))).status_code == 200


def test_unknown_refresh_token_is_401(client):
    response = client.post("/api/auth/refresh", json={"refresh_token": "not-a-token"})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_REFRESH_TOKEN"


def test_logout_ends_the_login(client):
    tokens_ = login(client, "tech1")
    assert (
        client.post("/api/auth/logout", json={"refresh_token": tokens_["refresh_token"]}).status_code == 204
    )
    assert client.get("/api/auth/me", headers=bearer(tokens_)).status_code == 401
    refreshed = client.post("/api/auth/refresh", json={"refresh_token": tokens_["refresh_token"]})
    assert refreshed.status_code == 401


def test_expired_forged_and_malformed_access_tokens_are_401(client, seeded):
    good = login(client, "tech1")
    claims = tokens.decode_access_token(TEST_SECRET, good["access_token"])
    expired = tokens.issue_access_token(
        TEST_SECRET,
        user_id=claims.user_id,
        session_id=claims.session_id,
        client_id=None,
        role="manager",
        ttl=-60,
    )
    forged = tokens.issue_access_token(
        "another-secret-" + "y" * 40,
        user_id=claims.user_id,
        session_id=claims.session_id,
        client_id=None,
        role="manager",
        ttl=600,
    )
    for token, message in ((expired, "expired"), (forged, "invalid"), ("abc.def.ghi", "invalid")):
        response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert message in response.json()["message"]
    assert client.get("/api/auth/me", headers={"Authorization": "Basic dGVjaDE6eA=="}).status_code == 401


def test_role_in_token_is_not_trusted_over_the_database(client):
    good = login(client, "tech1")
    claims = tokens.decode_access_token(TEST_SECRET, good["access_token"])
    # A token claiming "manager" for a technician (signed with the real key) still acts as a technician.
    lying = tokens.issue_access_token(
        TEST_SECRET,
        user_id=claims.user_id,
        session_id=claims.session_id,
        client_id=None,
        role="manager",
        ttl=600,
    )
    response = client.get("/api/users", headers={"Authorization": f"Bearer {lying}"})
    assert response.status_code == 403


def test_deactivated_user_cannot_log_in_and_loses_access(client, seeded, as_role):
    tech = login(client, "tech4")
    deactivate = client.post(f"/api/users/{seeded['tech4']}/deactivate", headers=as_role("manager"))
    assert deactivate.status_code == 200
    assert deactivate.json()["is_active"] is False
    assert client.get("/api/auth/me", headers=bearer(tech)).status_code == 401
    again = client.post("/api/auth/login", json={"username": "tech4", "password": "fieldq-demo"})
    assert again.status_code == 401
    assert again.json()["code"] == "ACCOUNT_DEACTIVATED"
    assert client.post("/api/auth/refresh", json={"refresh_token": tech["refresh_token"]}).status_code == 401
    # Reactivated, the same password works again.
    assert (
        client.post(f"/api/users/{seeded['tech4']}/activate", headers=as_role("manager")).status_code == 200
    )
    assert login(client, "tech4")["user"]["username"] == "tech4"


def test_devices_register_on_login_belong_to_one_user_and_can_be_revoked(client, as_role):
    phone = str(uuid.uuid4())
    tech = login(client, "tech1", client_id=phone, app_version="0.1.0")

    stolen = client.post(
        "/api/auth/login", json={"username": "tech2", "password": "fieldq-demo", "client_id": phone}
    )
    assert stolen.status_code == 403
    assert stolen.json()["field"] == "client_id"
    assert stolen.json()["code"] == "CLIENT_ID_TAKEN"

    devices = client.get("/api/devices", headers=as_role("supervisor1")).json()
    assert [d["id"] for d in devices] == [phone]
    assert devices[0]["username"] == "tech1"
    assert client.get("/api/devices", headers=as_role("supervisor2")).json() == []
    # A supervisor of another team cannot revoke it.
    other = client.post(f"/api/devices/{phone}/revoke", headers=as_role("supervisor2"))
    assert other.status_code == 404

    revoked = client.post(f"/api/devices/{phone}/revoke", headers=as_role("manager"))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None

    me = client.get("/api/auth/me", headers=bearer(tech))
    assert me.status_code == 403
    assert me.json()["code"] == "CLIENT_REVOKED"
    refresh = client.post("/api/auth/refresh", json={"refresh_token": tech["refresh_token"]})
    assert refresh.status_code == 403
    assert refresh.json()["code"] == "CLIENT_REVOKED"
    relogin = client.post(
        "/api/auth/login", json={"username": "tech1", "password": "fieldq-demo", "client_id": phone}
    )
    assert relogin.status_code == 403
    assert relogin.json()["code"] == "CLIENT_REVOKED"
    # The technician can still log in from a new installation.
    assert login(client, "tech1", client_id=str(uuid.uuid4()))["user"]["username"] == "tech1"


def _change_password(client, tokens_, current: str, new: str):
    return client.post(
        "/api/auth/password", json={"current_password": current, "new_password": new}, headers=bearer(tokens_)
    )


def test_change_password_ends_other_logins(client):
    phone, laptop = login(client, "tech5"), login(client, "tech5")
    bad = _change_password(client, phone, "wrong-one-here", "a-new-password-1")
    assert bad.status_code == 422
    assert bad.json()["field"] == "current_password"
    short = _change_password(client, phone, "fieldq-demo", "short")
    assert short.status_code == 400
    assert short.json()["field"] == "new_password"
    same = _change_password(client, phone, "fieldq-demo", "fieldq-demo")
    assert same.status_code == 422
    assert same.json()["field"] == "new_password"
    assert _change_password(client, phone, "fieldq-demo", "a-new-password-1").status_code == 204
    assert client.get("/api/auth/me", headers=bearer(phone)).status_code == 200
    assert client.get("/api/auth/me", headers=bearer(laptop)).status_code == 401
    assert login(client, "tech5", "a-new-password-1")["user"]["username"] == "tech5"


def test_guessing_the_current_password_is_throttled(client):
    tech = login(client, "tech8")
    for _ in range(5):
        assert _change_password(client, tech, "not-my-password", "a-new-password-1").status_code == 422
    throttled = _change_password(client, tech, "fieldq-demo", "a-new-password-1")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"]


def test_a_commit_that_fails_is_an_error_not_a_success(settings, seeded, tmp_path):
    """The transaction commits before the response is sent: a lock timeout at commit answers 503
    (retry), and nothing claims success for a change that was not stored."""
    import sqlite3

    import pytest
    from litestar.testing import TestClient

    from backend.app import create_app
    from tests.conftest import settings_with

    if not settings.is_sqlite:
        pytest.skip("holds SQLite's write lock from a second connection")
    quick = settings_with(settings, sqlite_busy_timeout_ms=200)
    with TestClient(app=create_app(quick), base_url="http://127.0.0.1:8000") as client:
        tokens_ = login(client, "tech7")
        blocker = sqlite3.connect(quick.database_url.split("///", 1)[1], timeout=1)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            response = client.post("/api/auth/logout", json={"refresh_token": tokens_["refresh_token"]})
        finally:
            blocker.rollback()
            blocker.close()
        assert response.status_code == 503
        assert response.headers["retry-after"]
        # Not stored, and the client was told so: the login still works, and logging out again succeeds.
        assert client.get("/api/auth/me", headers=bearer(tokens_)).status_code == 200
        assert (
            client.post("/api/auth/logout", json={"refresh_token": tokens_["refresh_token"]}).status_code
            == 204
        )
