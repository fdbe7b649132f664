"""Web Push rules with no database: backoff, topics, the validation of what the browser sends, the words."""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.errors import DomainError
from backend.push.kinds import KINDS, MUTABLE_KINDS, topic_header
from backend.push.messages import TEMPLATES, render
from backend.push.services import BadSubscription, check_auth, check_endpoint, check_muted, check_p256dh
from backend.push.vapid import application_server_key, ensure_vapid_key
from backend.push.worker import DeliveryPolicy, Sender, _retry_after, backoff, placeholder_subject


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_backoff_doubles_is_capped_jittered_and_honours_retry_after():
    policy = DeliveryPolicy(backoff_base=30, backoff_cap=3600, jitter=0.25)
    for attempts, full in ((1, 30), (2, 60), (3, 120), (4, 240), (8, 3600), (20, 3600)):
        for _ in range(50):
            delay = backoff(attempts, policy)
            assert full * 0.75 <= delay <= full
    assert backoff(1, policy, retry_after=900) == 900
    assert backoff(1, policy, retry_after=10 * 24 * 3600) == policy.retry_after_cap
    assert len({round(backoff(3, policy), 6) for _ in range(20)}) > 1  # spread, not in lockstep


def test_retry_after_in_seconds_or_as_a_date():
    assert _retry_after("120") == 120
    assert _retry_after(None) is None and _retry_after("soon") is None
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 300))
    assert 290 <= _retry_after(when) <= 301


def test_topic_header_is_32_urlsafe_characters_and_stable():
    topic = topic_header("job:" + "x" * 500)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", topic)
    assert topic == topic_header("job:" + "x" * 500) and topic != topic_header("job:y")


def test_every_kind_has_a_valid_urgency_a_ttl_and_words_in_both_languages():
    for kind in KINDS.values():
        assert kind.urgency in ("very-low", "low", "normal", "high") and 0 < kind.ttl <= 4 * 7 * 24 * 3600
    for template, texts in TEMPLATES.items():
        assert set(texts) == {"en", "zh-CN"}, template
    assert "test" not in MUTABLE_KINDS
    title, body = render("job_returned", "fr", {"number": "J1", "reason": "blurred " * 200})
    assert title == "Job J1 returned" and len(body) <= 400 and body.endswith("…")


def test_p256dh_must_be_an_uncompressed_point_on_p256():
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert check_p256dh(b64(point)) == b64(point)
    assert check_p256dh(b64(point) + "=") == b64(point)  # padding tolerated, stored without
    compressed = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    for bad in (b64(compressed), b64(point[:-1]), b64(b"\x05" + point[1:]), "***", ""):
        with pytest.raises(BadSubscription) as error:
            check_p256dh(bad)
        assert error.value.field == "keys.p256dh" and error.value.status_code == 400


def test_auth_must_be_16_bytes():
    assert check_auth(b64(os.urandom(16)))
    for bad in (b64(os.urandom(15)), b64(os.urandom(32)), "a b"):
        with pytest.raises(BadSubscription):
            check_auth(bad)


@pytest.mark.parametrize(
    ("url", "local_ok", "valid"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", False, True),
        ("https://updates.push.services.mozilla.com/wpush/v2/abc", False, True),
        ("http://127.0.0.1:9999/push/x", True, True),
        ("http://127.0.0.1:9999/push/x", False, False),
        ("http://push.example.com/x", True, False),
        ("https://192.168.1.10/x", False, False),
        ("https://[::1]/x", False, False),
        ("https://push.example.com:99999/x", True, False),
        ("javascript:alert(1)", True, False),
        ("https:///nohost", True, False),
    ],
)
def test_endpoint_rules(url, local_ok, valid):
    if valid:
        assert check_endpoint(url, allow_local_http=local_ok) == url
    else:
        with pytest.raises(BadSubscription):
            check_endpoint(url, allow_local_http=local_ok)


def test_muted_kinds_are_known_mutable_and_deduplicated():
    assert check_muted(["spare_shortage", "job_assigned", "spare_shortage"]) == [
        "job_assigned",
        "spare_shortage",
    ]
    with pytest.raises(DomainError) as error:
        check_muted(["job_assigned", "nope"])
    assert error.value.field == "muted[1]" and "nope" in error.value.message
    with pytest.raises(DomainError):
        check_muted(["test"])


def test_the_vapid_key_is_made_once_and_kept(tmp_path: Path):
    path = tmp_path / "data" / "vapid_private_key.pem"
    first = ensure_vapid_key(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert application_server_key(ensure_vapid_key(path)) == application_server_key(first)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_the_vapid_jwt_is_cached_per_push_service(tmp_path: Path):
    sender = Sender(ensure_vapid_key(tmp_path / "k.pem"), "mailto:ops@fieldq.invalid")
    a = sender.authorization("https://fcm.googleapis.com/fcm/send/1")
    assert a == sender.authorization("https://fcm.googleapis.com/fcm/send/2")
    assert a != sender.authorization("https://updates.push.services.mozilla.com/wpush/v2/3")
    assert a.startswith("vapid t=") and f"k={sender.public_key}" in a


@pytest.mark.parametrize(
    ("subject", "placeholder"),
    [
        ("mailto:ops@fieldq.invalid", True),  # the default: Apple answers 403 BadJwtToken
        ("mailto:push@localhost", True),
        ("https://fieldq.example", True),
        ("mailto:x@example.com", True),
        ("mailto:nobody", True),
        ("mailto:ops@bank-services.cn", False),
        ("mailto:x@myexample.com", False),
        ("https://fieldq.com.cn", False),
    ],
)
def test_a_placeholder_vapid_subject_is_recognised(subject, placeholder):
    assert placeholder_subject(subject) is placeholder
