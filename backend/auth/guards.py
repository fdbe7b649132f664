"""Who is calling (bearer middleware) and whether their role may call this (one guard).

Every route handler declares either ``opt={"public": True}`` or
``opt={"roles": (...)}``; a handler that declares neither is refused to
everyone (fail closed), and ``tests/integration/test_route_guards.py`` walks the
app to prove each non-public route answers 401 anonymously and 403 to a role
it does not list.
"""

from __future__ import annotations

from collections.abc import Iterable

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from backend.auth.models import ALL_ROLES, Role
from backend.auth.services import AuthService, CurrentUser
from backend.errors import Forbidden, Unauthorized

PUBLIC = {"public": True}


def roles(*allowed: Role) -> dict[str, tuple[str, ...]]:
    """``opt`` for a handler open to the given roles."""
    return {"roles": tuple(str(r) for r in allowed)}


ANY_ROLE = roles(*ALL_ROLES)
MANAGER = roles(Role.manager)
STAFF = roles(Role.supervisor, Role.quality, Role.manager)


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send 'Authorization: Bearer <access_token>'", code="MISSING_TOKEN")
        state = connection.app.state
        async with state.session_factory() as session:
            current = await AuthService(session, state.settings, state.security_ledger).authenticate(
                token.strip()
            )
        return AuthenticationResult(user=current, auth=token)


def bearer_auth_middleware(exclude_paths: Iterable[str]) -> DefineMiddleware:
    return DefineMiddleware(
        BearerAuthMiddleware,
        exclude=list(exclude_paths),
        exclude_from_auth_key="public",
        exclude_http_methods=["OPTIONS"],
    )


def role_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    if handler.opt.get("public"):
        return
    allowed = handler.opt.get("roles")
    if not allowed:
        raise Forbidden("this endpoint declares no roles and is closed")
    user = connection.user
    if not isinstance(user, CurrentUser):
        raise Unauthorized("authentication required", code="MISSING_TOKEN")
    if user.role not in allowed:
        raise Forbidden(f"the {user.role} role may not do this")
