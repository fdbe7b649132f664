"""A local push service for tests and the push benchmark: a real HTTP server on 127.0.0.1 that checks
every request the way FCM or Mozilla's autopush would, and decrypts it the way the browser would.

Each request must carry ``Authorization: vapid t=<JWT>,k=<key>`` with an ES256 JWT signed by ``k``,
whose ``aud`` is this server's origin, whose ``exp`` is in the future and at most 24 hours away and
whose ``sub`` is a mailto: or https: URL (RFC 8292); ``k`` must be the server's VAPID public key when
the receiver knows it; ``Content-Encoding: aes128gcm``, a ``TTL``, an ``Urgency`` of the four RFC 8030
values, a ``Topic`` of at most 32 URL-safe base64 characters when present. The body is decrypted with
the subscription's private key and auth secret (``http_ece``, RFC 8291) and parsed as JSON. A request
that fails a check is answered 400 and its error kept in ``errors``.

Each device (a subscription, as a browser makes one: a P-256 key pair and 16 random auth bytes) answers
201 unless scripted: ``receiver.script(device, 500, 201)`` answers its next two requests 500 then 201;
``(429, {"Retry-After": "600"})`` adds headers.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

URLSAFE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
AUTH_HEADER = re.compile(r"^vapid\s+(.*)$", re.IGNORECASE)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 refuses a burst of new connections
    daemon_threads = True


@dataclass
class Device:
    """A browser's push subscription: what the server gets, and the secrets only the browser keeps."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def subscription_json(self, **extra: Any) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives the PWA, ready to POST."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
            **extra,
        }


@dataclass
class Received:
    device: str
    status: int  # what the receiver answered
    headers: dict[str, str]
    payload: dict[str, Any]
    claims: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class PushReceiver:
    def __init__(self, vapid_public_key: str | None = None) -> None:
        self.vapid_public_key = vapid_public_key
        self.devices: dict[str, Device] = {}
        self.received: list[Received] = []
        self.attempts: dict[str, int] = defaultdict(int)  # requests per device, answered or not
        self.errors: list[str] = []
        self._scripts: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> PushReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="push-receiver", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def device(self, name: str | None = None) -> Device:
        name = name or f"device-{uuid.uuid4().hex[:8]}"
        device = Device(
            name=name,
            endpoint=f"{self.origin}/push/{name}/{uuid.uuid4().hex}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )
        self.devices[name] = device
        return device

    def script(self, device: Device, *answers: int | tuple[int, dict[str, str]]) -> None:
        with self._lock:
            for answer in answers:
                self._scripts[device.name].append(answer if isinstance(answer, tuple) else (answer, {}))

    def delivered(self, device: Device | str) -> list[dict[str, Any]]:
        """The payloads accepted (2xx) for ``device``, oldest first."""
        name = device if isinstance(device, str) else device.name
        with self._lock:
            return [r.payload for r in self.received if r.device == name and 200 <= r.status < 300]

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    # --- the push service's checks ----------------------------------------------------------------

    def _verify(self, device: Device, headers: dict[str, str], body: bytes) -> tuple[dict, dict]:
        match = AUTH_HEADER.match(headers.get("authorization", ""))
        if not match:
            raise ValueError(f"no 'vapid' Authorization: {headers.get('authorization')!r}")
        params = dict(part.strip().split("=", 1) for part in match.group(1).split(",") if "=" in part.strip())
        token, key = params.get("t"), params.get("k")
        if not token or not key:
            raise ValueError("Authorization lacks t= or k=")
        if self.vapid_public_key is not None and key != self.vapid_public_key:
            raise ValueError("k is not the server's VAPID public key")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        claims = jwt.decode(
            token,
            public,
            algorithms=["ES256"],
            audience=self.origin,
            options={"require": ["aud", "exp", "sub"]},
        )
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("the VAPID JWT expires more than 24 hours from now")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            raise ValueError(f"sub must be mailto: or https:, got {claims['sub']!r}")
        if headers.get("content-encoding") != "aes128gcm":
            raise ValueError(f"Content-Encoding {headers.get('content-encoding')!r}, not aes128gcm")
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            raise ValueError(f"TTL {ttl!r} is not a number of seconds")
        if headers.get("urgency", "normal") not in ("very-low", "low", "normal", "high"):
            raise ValueError(f"Urgency {headers.get('urgency')!r}")
        topic = headers.get("topic")
        if topic is not None and not URLSAFE.match(topic):
            raise ValueError(f"Topic {topic!r} is not ≤ 32 URL-safe base64 characters")
        if len(body) > 4096:
            raise ValueError(f"body of {len(body)} bytes is over the 4096 a push service takes")
        plain = http_ece.decrypt(
            body, private_key=device.private_key, auth_secret=device.auth_secret, version="aes128gcm"
        )
        return json.loads(plain), claims

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _answer(self, status: int, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.split("/")
                name = parts[2] if len(parts) > 3 and parts[1] == "push" else ""
                device = receiver.devices.get(name)
                if device is None or not device.endpoint.endswith(self.path):
                    self._answer(404)
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.attempts[name] += 1
                try:
                    payload, claims = receiver._verify(device, headers, body)
                except Exception as exc:  # every failed check is the sender's bug: 400, kept for the test
                    with receiver._lock:
                        receiver.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    self._answer(400)
                    return
                with receiver._lock:
                    script = receiver._scripts[name]
                    status, extra = script.popleft() if script else (201, {})
                    receiver.received.append(Received(name, status, headers, payload, claims))
                self._answer(status, extra)

        return Handler
