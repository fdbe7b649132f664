"""The Web Push endpoints: the VAPID public key, subscriptions (validated like a push service would need
them), unsubscribe, muted kinds, and who may do what."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization

from backend.push.vapid import application_server_key, load_or_create_vapid_key
from tests.conftest import settings_with
from tests.push_receiver import PushReceiver, b64url


@pytest.fixture
def settings(settings):
    return settings_with(settings, push_worker=False)


@pytest.fixture
def receiver():
    with PushReceiver() as running:
        yield running


def subscribe(client, headers, device, **extra):
    return client.post("/api/push/subscriptions", headers=headers, json=device.subscription_json(**extra))


def test_the_vapid_public_key_is_generated_on_first_run_and_served(client, as_role, settings):
    response = client.get("/api/push/vapid-public-key", headers=as_role("tech1"))
    assert response.status_code == 200, response.text
    public = response.json()["public_key"]
    raw = base64.urlsafe_b64decode(public + "=" * (-len(public) % 4))
    assert len(raw) == 65 and raw[0] == 4
    path = settings.vapid_private_key_path
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    key, created = load_or_create_vapid_key(path)
    assert not created and application_server_key(key) == public
    assert client.get("/api/push/vapid-public-key").status_code == 401


def test_subscribe_list_resubscribe_and_unsubscribe(client, as_role, receiver):
    tech = as_role("tech1")
    device = receiver.device()
    made = subscribe(
        client, tech, device, client_id="6f1c0d2e-7a7b-4c59-9a55-0f3f2d7c1e01", user_agent="Chrome"
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["endpoint"] == device.endpoint and body["user_agent"] == "Chrome" and body["failures"] == 0
    again = subscribe(client, tech, device)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    second = subscribe(client, tech, receiver.device())
    assert second.status_code == 201
    listed = client.get("/api/push/subscriptions", headers=tech).json()
    assert [s["id"] for s in listed] == [body["id"], second.json()["id"]]
    assert "p256dh" not in listed[0] and "auth" not in listed[0]

    # Another person logs in on the same browser: the subscription moves to them.
    moved = subscribe(client, as_role("tech2"), device)
    assert moved.status_code == 200 and moved.json()["id"] == body["id"]
    assert [s["id"] for s in client.get("/api/push/subscriptions", headers=tech).json()] == [
        second.json()["id"]
    ]

    # Only one's own: someone else's is not found, and stays.
    assert client.delete(f"/api/push/subscriptions/{body['id']}", headers=tech).status_code == 404
    assert client.delete(f"/api/push/subscriptions/{body['id']}", headers=as_role("tech2")).status_code == 204
    assert client.get("/api/push/subscriptions", headers=as_role("tech2")).json() == []
    missing = client.delete(f"/api/push/subscriptions/{body['id']}", headers=as_role("tech2"))
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"


def _point_off_the_curve() -> str:
    while True:
        raw = b"\x04" + os.urandom(64)
        try:
            from cryptography.hazmat.primitives.asymmetric import ec

            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            return b64url(raw)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["keys"].update(p256dh=b64url(b"\x04" + b"\x01" * 31)), "keys.p256dh"),
        (lambda b: b["keys"].update(p256dh=_point_off_the_curve()), "keys.p256dh"),
        (lambda b: b["keys"].update(p256dh="not base64!"), "keys.p256dh"),
        (lambda b: b["keys"].update(auth=b64url(os.urandom(15))), "keys.auth"),
        (lambda b: b["keys"].update(auth="%%%"), "keys.auth"),
        (lambda b: b.update(endpoint="ftp://push.example.com/x"), "endpoint"),
        (lambda b: b.update(endpoint="http://push.example.com/x"), "endpoint"),
        (lambda b: b.update(endpoint="not a url"), "endpoint"),
        (lambda b: b.update(endpoint="https://user:pw@push.example.com/x"), "endpoint"),
        (lambda b: b.update(endpoint="https://push.example.com/" + "x" * 2100), "endpoint"),
        (lambda b: b.update(colour="blue"), "colour"),
        (lambda b: b["keys"].update(extra="1"), "extra"),
        (lambda b: b.pop("keys"), "keys"),
        (lambda b: b["keys"].pop("auth"), "auth"),
        (lambda b: b.update(expirationTime="tomorrow"), "expirationTime"),
        (lambda b: b.update(expirationTime=-5), "expirationTime"),
        (lambda b: b.update(client_id="not-a-uuid"), "client_id"),
        (lambda b: b.update(user_agent="two\nlines"), "user_agent"),
    ],
)
def test_a_subscription_the_browser_could_not_have_made_is_400_naming_the_field(
    client, as_role, receiver, change, field
):
    body = receiver.device().subscription_json()
    change(body)
    response = client.post("/api/push/subscriptions", headers=as_role("tech1"), json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert field in (error.get("field") or "") or field in error["message"], error
    assert client.get("/api/push/subscriptions", headers=as_role("tech1")).json() == []


def test_an_http_endpoint_is_allowed_only_to_this_machine_and_never_in_prod(client, as_role, receiver):
    device = receiver.device()
    assert subscribe(client, as_role("tech1"), device).status_code == 201  # dev: the local receiver

    from backend.push.services import BadSubscription, check_endpoint

    for url in (device.endpoint, "https://127.0.0.1/x", "https://10.1.2.3/x", "https://localhost/x"):
        with pytest.raises(BadSubscription):
            check_endpoint(url, allow_local_http=False)
    assert check_endpoint("https://fcm.googleapis.com/fcm/send/abc", allow_local_http=False)


def test_preferences_mute_known_kinds_only(client, as_role):
    tech = as_role("tech1")
    initial = client.get("/api/push/preferences", headers=tech).json()
    assert initial["muted"] == []
    kinds = {k["kind"] for k in initial["kinds"]}
    assert {
        "job_assigned",
        "job_returned",
        "spare_shortage",
        "quality_overdue",
    } <= kinds and "test" not in kinds
    response = client.put(
        "/api/push/preferences", headers=tech, json={"muted": ["spare_shortage", "job_returned"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["muted"] == ["job_returned", "spare_shortage"]
    assert client.get("/api/push/preferences", headers=tech).json()["muted"] == [
        "job_returned",
        "spare_shortage",
    ]

    unknown = client.put(
        "/api/push/preferences", headers=tech, json={"muted": ["job_assigned", "jobs_assigned"]}
    )
    assert unknown.status_code == 400 and "jobs_assigned" in unknown.json()["message"]
    assert unknown.json()["field"] == "muted[1]"
    assert client.put("/api/push/preferences", headers=tech, json={"muted": ["test"]}).status_code == 400
    extra = client.put("/api/push/preferences", headers=tech, json={"muted": [], "unmuted": []})
    assert extra.status_code == 400 and extra.json()["code"] == "UNKNOWN_FIELD"
    assert client.get("/api/push/preferences", headers=tech).json()["muted"] == [
        "job_returned",
        "spare_shortage",
    ]
    assert client.put("/api/push/preferences", headers=tech, json={"muted": []}).json()["muted"] == []
    # Someone else's preferences are their own.
    assert client.get("/api/push/preferences", headers=as_role("tech2")).json()["muted"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/push/vapid-public-key"),
        ("GET", "/api/push/subscriptions"),
        ("POST", "/api/push/subscriptions"),
        ("DELETE", "/api/push/subscriptions/6f1c0d2e-7a7b-4c59-9a55-0f3f2d7c1e01"),
        ("GET", "/api/push/preferences"),
        ("PUT", "/api/push/preferences"),
        ("POST", "/api/push/test"),
    ],
)
def test_no_login_is_401(client, method, path):
    response = client.request(method, path, json={} if method in ("POST", "PUT") else None)
    assert response.status_code == 401, response.text


def test_the_key_file_is_not_world_readable(settings, client):
    pem = settings.vapid_private_key_path.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert key.curve.name == "secp256r1"
