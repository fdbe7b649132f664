"""Walk every route of the app: each non-public one refuses anonymous callers (401) and every
role it does not list (403); every public one is on a short, reviewed list."""

from __future__ import annotations

import re
import uuid

from backend.auth.models import ALL_ROLES

# Public on purpose: logging in, the health probe, the API docs, the PWA's static files and the survey pages.
EXPECTED_PUBLIC = {
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/health",
    "/",
    "/{path:path}",
    # The customer's survey link (the signed token is the capability) and its stylesheet.
    "/s/{token:str}",
    "/s/survey.css",
}
USER_FOR_ROLE = {
    "technician": "tech1",
    "supervisor": "supervisor1",
    "quality": "quality",
    "manager": "manager",
}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}:]+:uuid\}", str(uuid.uuid4()), path)


def _handlers(app):
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", [])):
                yield route.path, method, handler


def test_every_route_declares_public_or_roles(client):
    public = set()
    for path, method, handler in _handlers(client.app):
        if method == "OPTIONS":  # Litestar's generated preflight handlers
            continue
        if path.startswith("/api/schema"):
            assert handler.opt.get("public"), path
            continue
        if handler.opt.get("public"):
            public.add(path)
        else:
            assert handler.opt.get("roles"), f"{path} declares neither public nor roles"
            assert set(handler.opt["roles"]) <= {str(r) for r in ALL_ROLES}
    assert public == EXPECTED_PUBLIC


def test_non_public_routes_refuse_anonymous_and_wrong_roles(client, as_role):
    checked_401 = checked_403 = 0
    for path, method, handler in _handlers(client.app):
        if handler.opt.get("public") or method in ("OPTIONS", "HEAD"):
            continue
        url = _concrete(path)
        anonymous = client.request(method, url, json={})
        assert anonymous.status_code == 401, (method, url, anonymous.text)
        assert anonymous.json()["code"] in ("MISSING_TOKEN", "UNAUTHORIZED")
        checked_401 += 1
        for role, username in USER_FOR_ROLE.items():
            if role in handler.opt["roles"]:
                continue
            refused = client.request(method, url, json={}, headers=as_role(username))
            assert refused.status_code == 403, (method, url, role, refused.text)
            assert refused.json()["code"] == "FORBIDDEN"
            checked_403 += 1
    # The walk is not vacuous: the app has routes closed to anonymous callers and to roles.
    assert checked_401 >= 14
    assert checked_403 >= 20


def test_public_routes_answer_without_a_token(client):
    assert client.get("/api/health").json() == {"status": "ok", "database": "ok"}
    assert client.get("/api/schema/openapi.json").status_code == 200
    assert client.get("/").status_code == 200
