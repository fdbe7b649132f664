"""HTTP for auth, users, teams and devices: thin, the rules live in services."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE, MANAGER, PUBLIC, STAFF, roles
from backend.auth.models import Role
from backend.auth.schemas import (
    ChangePasswordRequest,
    DeviceRead,
    LoginRequest,
    LogoutRequest,
    PasswordReset,
    PasswordResetResult,
    RefreshRequest,
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
)
from backend.auth.services import (
    AuthService,
    CurrentUser,
    DeviceService,
    TeamService,
    UserService,
    user_read,
)
from backend.errors import error_responses


async def provide_auth_service(db_session: NamedDependency[AsyncSession], state: State) -> AuthService:
    return AuthService(db_session, state.settings, state.security_ledger)


async def provide_user_service(db_session: NamedDependency[AsyncSession]) -> UserService:
    return UserService(db_session)


async def provide_team_service(db_session: NamedDependency[AsyncSession]) -> TeamService:
    return TeamService(db_session)


async def provide_device_service(db_session: NamedDependency[AsyncSession]) -> DeviceService:
    return DeviceService(db_session)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]
    dependencies = {"auth_service": Provide(provide_auth_service)}

    @post(
        "/login",
        operation_id="login",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="Log in and get an access and a refresh token",
        responses=error_responses(400, 401, 403, 413, 429),
    )
    async def login(
        self, data: JSONBody[LoginRequest], request: Request, auth_service: NamedDependency[AuthService]
    ) -> TokenPair:
        return await auth_service.login(
            data.username,
            data.password,
            ip=_client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
            client_id=data.client_id,
            app_version=data.app_version,
        )

    @post(
        "/refresh",
        operation_id="refreshTokens",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="Trade a refresh token for a new pair (the old one stops working)",
        description="A refresh token that was already used revokes its whole login (reuse detection).",
        responses=error_responses(400, 401, 403, 413),
    )
    async def refresh(
        self, data: JSONBody[RefreshRequest], auth_service: NamedDependency[AuthService]
    ) -> TokenPair:
        return await auth_service.refresh(data.refresh_token)

    @post(
        "/logout",
        operation_id="logout",
        opt=PUBLIC,
        status_code=HTTP_204_NO_CONTENT,
        summary="End the login the refresh token belongs to",
        responses=error_responses(400, 401, 413),
    )
    async def logout(self, data: JSONBody[LogoutRequest], auth_service: NamedDependency[AuthService]) -> None:
        await auth_service.logout(data.refresh_token)

    @get("/me", operation_id="getMe", opt=ANY_ROLE, summary="Who I am", responses=error_responses(401, 403))
    async def me(
        self, request: Request[CurrentUser, str, State], db_session: NamedDependency[AsyncSession]
    ) -> UserRead:
        return user_read(await UserService(db_session).get_visible(request.user, request.user.id))

    @post(
        "/password",
        operation_id="changeMyPassword",
        opt=ANY_ROLE,
        status_code=HTTP_204_NO_CONTENT,
        summary="Change my password (ends my other logins)",
        responses=error_responses(400, 401, 403, 413, 422),
    )
    async def change_password(
        self,
        data: JSONBody[ChangePasswordRequest],
        request: Request[CurrentUser, str, State],
        auth_service: NamedDependency[AuthService],
    ) -> None:
        await auth_service.change_password(request.user, data.current_password, data.new_password)


class UserController(Controller):
    path = "/api/users"
    tags = ["users"]
    dependencies = {"users": Provide(provide_user_service)}

    @get(
        "/",
        operation_id="listUsers",
        opt=STAFF,
        summary="Users I may see (supervisors: their teams)",
        responses=error_responses(401, 403),
    )
    async def list_users(
        self, request: Request[CurrentUser, str, State], users: NamedDependency[UserService]
    ) -> list[UserRead]:
        return await users.list(request.user)

    @post(
        "/",
        operation_id="createUser",
        opt=MANAGER,
        status_code=HTTP_201_CREATED,
        summary="Create a user",
        responses=error_responses(400, 401, 403, 409, 413, 422),
    )
    async def create_user(self, data: JSONBody[UserCreate], users: NamedDependency[UserService]) -> UserRead:
        return user_read(await users.create(data))

    @get(
        "/{user_id:uuid}",
        operation_id="getUser",
        opt=ANY_ROLE,
        summary="One user (technicians: only themselves)",
        responses=error_responses(401, 403, 404),
    )
    async def get_user(
        self,
        user_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        users: NamedDependency[UserService],
    ) -> UserRead:
        return user_read(await users.get_visible(request.user, user_id))

    @patch(
        "/{user_id:uuid}",
        operation_id="updateUser",
        opt=MANAGER,
        summary="Change a user's name, role, team or language",
        responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def update_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UserUpdate],
        request: Request[CurrentUser, str, State],
        users: NamedDependency[UserService],
    ) -> UserRead:
        return user_read(await users.update(request.user, user_id, data))

    @post(
        "/{user_id:uuid}/deactivate",
        operation_id="deactivateUser",
        opt=MANAGER,
        status_code=HTTP_200_OK,
        summary="Deactivate a user and end all their logins",
        responses=error_responses(401, 403, 404, 409),
    )
    async def deactivate_user(
        self,
        user_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        users: NamedDependency[UserService],
    ) -> UserRead:
        return user_read(await users.set_active(request.user, user_id, False))

    @post(
        "/{user_id:uuid}/activate",
        operation_id="activateUser",
        opt=MANAGER,
        status_code=HTTP_200_OK,
        summary="Reactivate a user",
        responses=error_responses(401, 403, 404),
    )
    async def activate_user(
        self,
        user_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        users: NamedDependency[UserService],
    ) -> UserRead:
        return user_read(await users.set_active(request.user, user_id, True))

    @post(
        "/{user_id:uuid}/reset-password",
        operation_id="resetUserPassword",
        opt=MANAGER,
        status_code=HTTP_200_OK,
        summary="Set a new password (or generate a one-time one) and end all the user's logins",
        responses=error_responses(400, 401, 403, 404, 413),
    )
    async def reset_password(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[PasswordReset],
        request: Request[CurrentUser, str, State],
        users: NamedDependency[UserService],
    ) -> PasswordResetResult:
        return await users.reset_password(request.user, user_id, data.password)


class TeamController(Controller):
    path = "/api/teams"
    tags = ["teams"]
    dependencies = {"teams": Provide(provide_team_service)}

    @get(
        "/",
        operation_id="listTeams",
        opt=ANY_ROLE,
        summary="Teams I may see (technicians: their own; supervisors: those they lead)",
        responses=error_responses(401, 403),
    )
    async def list_teams(
        self, request: Request[CurrentUser, str, State], teams: NamedDependency[TeamService]
    ) -> list[TeamRead]:
        return await teams.list(request.user)

    @get(
        "/{team_id:uuid}",
        operation_id="getTeam",
        opt=ANY_ROLE,
        summary="One team",
        responses=error_responses(401, 403, 404),
    )
    async def get_team(
        self,
        team_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        teams: NamedDependency[TeamService],
    ) -> TeamRead:
        return await teams.read(request.user, team_id)

    @post(
        "/",
        operation_id="createTeam",
        opt=MANAGER,
        status_code=HTTP_201_CREATED,
        summary="Create a team",
        responses=error_responses(400, 401, 403, 409, 413, 422),
    )
    async def create_team(
        self,
        data: JSONBody[TeamCreate],
        request: Request[CurrentUser, str, State],
        teams: NamedDependency[TeamService],
    ) -> TeamRead:
        team = await teams.create(data)
        return await teams.read(request.user, team.id)

    @patch(
        "/{team_id:uuid}",
        operation_id="updateTeam",
        opt=MANAGER,
        summary="Rename a team, change its region or its supervisors",
        responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def update_team(
        self,
        team_id: FromPath[UUID],
        data: JSONBody[TeamUpdate],
        request: Request[CurrentUser, str, State],
        teams: NamedDependency[TeamService],
    ) -> TeamRead:
        team = await teams.update(team_id, data)
        return await teams.read(request.user, team.id)


class DeviceController(Controller):
    path = "/api/devices"
    tags = ["devices"]
    dependencies = {"devices": Provide(provide_device_service)}

    @get(
        "/",
        operation_id="listDevices",
        opt=roles(Role.supervisor, Role.manager),
        summary="Registered devices (supervisors: their teams')",
        responses=error_responses(401, 403),
    )
    async def list_devices(
        self, request: Request[CurrentUser, str, State], devices: NamedDependency[DeviceService]
    ) -> list[DeviceRead]:
        return await devices.list(request.user)

    @post(
        "/{client_id:uuid}/revoke",
        operation_id="revokeDevice",
        opt=roles(Role.supervisor, Role.manager),
        status_code=HTTP_200_OK,
        summary="Revoke a device (a lost phone): its logins end and it can no longer sync",
        responses=error_responses(401, 403, 404),
    )
    async def revoke_device(
        self,
        client_id: FromPath[UUID],
        request: Request[CurrentUser, str, State],
        devices: NamedDependency[DeviceService],
    ) -> DeviceRead:
        return await devices.revoke(request.user, client_id)


ROUTE_HANDLERS = [AuthController, UserController, TeamController, DeviceController]
