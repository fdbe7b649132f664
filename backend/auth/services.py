"""Auth, users, teams and devices: the rules, with no HTTP in sight.

Services work in the caller's session (one transaction per request, committed
by the caller). The one exception is ``SecurityLedger``: failed-login counters
and the revocation of a login whose old refresh token was replayed must survive
even though the request itself fails, so they commit in their own short
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth import passwords, tokens
from backend.auth.models import (
    AuthSession,
    Client,
    LoginThrottle,
    RefreshToken,
    Role,
    Team,
    TeamSupervisor,
    User,
)
from backend.auth.schemas import (
    DeviceHealth,
    DeviceRead,
    DeviceReport,
    LoginUser,
    PasswordResetResult,
    TeamCreate,
    TeamRead,
    TeamUpdate,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
)
from backend.db import insert_unless_present, utcnow
from backend.errors import (
    ClientRevoked,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from backend.settings import Settings
from backend.sync.feed import touch

_UNSET = msgspec.UNSET
IP_FAILURE_FACTOR = 4  # an address may fail for several users before it is throttled
THROTTLE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class CurrentUser:
    """Who is calling, as the auth middleware established it."""

    id: UUID
    username: str
    display_name: str
    role: str
    team_id: UUID | None
    session_id: UUID
    client_id: UUID | None

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.manager, Role.quality)

    @classmethod
    def acting_as(cls, user: User) -> CurrentUser:
        """``user`` acting outside an HTTP request (the CLI, the demo seed, benchmarks, tests)."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            team_id=user.team_id,
            session_id=uuid4(),
            client_id=None,
        )


async def bind_client(
    session: AsyncSession, user_id: UUID, client_id: UUID, *, lock: bool = False, register: bool = True
) -> Client | None:
    """The client (one installation's database, SYNC.md Clients) bound to ``user_id``, registered on
    first use, whether that is a login or a sync call; two first uses at once make one row. Another
    user's client is refused (403), and so is a revoked one (``CLIENT_REVOKED``). With ``register``
    false an unknown client is None. ``lock`` holds the row for the rest of the transaction."""
    statement = select(Client).where(Client.id == client_id).execution_options(populate_existing=True)
    if lock and session.bind.dialect.name == "postgresql":
        statement = statement.with_for_update()
    client = await session.scalar(statement)
    if client is None:
        if not register:
            return None
        now = utcnow()
        await session.execute(
            insert_unless_present(session, Client.__table__, unique=["id"]).values(
                id=client_id,
                user_id=user_id,
                created_at=now,
                updated_at=now,
                last_seen_at=now,
                last_mutation_id=0,
                user_agent="",
                app_version="",
            )
        )
        client = await session.scalar(statement)
    if client.user_id != user_id:
        raise Forbidden(
            "this client_id belongs to another user; make a new one",
            field="client_id",
            code="CLIENT_ID_TAKEN",
        )
    if client.revoked_at is not None:
        raise ClientRevoked("this device has been revoked", field="client_id")
    return client


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        team_id=user.team_id,
        locale=user.locale,
        is_active=user.is_active,
        must_change_password=user.must_change_password,
        version=user.version,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def led_team_ids(session: AsyncSession, user_id: UUID) -> set[UUID]:
    rows = await session.execute(select(TeamSupervisor.team_id).where(TeamSupervisor.user_id == user_id))
    return set(rows.scalars())


# ---------------------------------------------------------------------------
# Throttling and revocations that must outlive a failed request


class SecurityLedger:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._session_factory = session_factory
        self._settings = settings

    def _limit(self, key: str) -> int:
        factor = IP_FAILURE_FACTOR if key.startswith("ip:") else 1
        return self._settings.login_max_failures * factor

    async def count_attempt(self, keys: Iterable[str], *, also_check: Iterable[str] = ()) -> None:
        """Count a password attempt against each of ``keys`` *before* the password is checked, and
        answer 429 when any key (or any of ``also_check``) is locked or this attempt goes over a limit.

        Counting first (an atomic increment, committed at once) means a burst of concurrent guesses
        at one account cannot all slip past the check; a success gives its attempt back (``forgive``).
        Shared keys such as an address go in ``also_check`` and count only failures
        (``record_failures``): a depot's worth of phones behind one NAT logging in at shift start
        must not lock each other out.
        """
        waits = await self._with_retry(list(keys), list(also_check))
        if waits:
            raise TooManyRequests(
                "too many failed attempts; wait before trying again", retry_after=int(max(waits)) + 1
            )

    async def record_failures(self, keys: Iterable[str]) -> None:
        await self._with_retry(list(keys), [])

    async def _with_retry(self, count: list[str], check: list[str]) -> list[float]:
        for attempt in range(3):
            try:
                return await self._count(count, check)
            except IntegrityError:  # two first attempts raced to insert a key: count again
                if attempt == 2:
                    raise
        return []

    async def _count(self, count: list[str], check: list[str]) -> list[float]:
        now = utcnow()
        waits: list[float] = []
        async with self._session_factory() as session, session.begin():
            for key in check:
                row = await session.get(LoginThrottle, key)
                if row is not None and row.locked_until is not None and row.locked_until > now:
                    waits.append((row.locked_until - now).total_seconds())
            for key in count:
                bumped = await session.execute(
                    update(LoginThrottle)
                    .where(LoginThrottle.key == key)
                    .values(failures=LoginThrottle.failures + 1)
                    .execution_options(synchronize_session=False)
                )
                if bumped.rowcount == 0:
                    session.add(LoginThrottle(key=key, failures=1, lockouts=0, window_started_at=now))
                    await session.flush()
                row = await session.get(LoginThrottle, key, populate_existing=True)
                if row.locked_until is not None and row.locked_until > now:
                    row.failures -= 1  # attempts during a lockout do not count towards the next one
                    waits.append((row.locked_until - now).total_seconds())
                    continue
                if now - row.window_started_at > THROTTLE_WINDOW:
                    row.failures, row.window_started_at = 1, now
                if row.failures > self._limit(key):
                    # Each lockout in a row doubles the wait, up to the ceiling.
                    seconds = min(
                        self._settings.login_lockout_seconds * (2**row.lockouts),
                        self._settings.login_lockout_max_seconds,
                    )
                    row.locked_until = now + timedelta(seconds=seconds)
                    row.lockouts += 1
                    row.failures = 0
                    row.window_started_at = now
                    waits.append(seconds)
        return waits

    @staticmethod
    async def forgive(session: AsyncSession, user_key: str) -> None:
        """After a success, in the caller's transaction: the user's counter starts afresh."""
        await session.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key))

    async def revoke_session(self, session_id: UUID, reason: str) -> None:
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoked_reason=reason)
            )


# ---------------------------------------------------------------------------
# Login, refresh, logout, and who a bearer token belongs to


class AuthService:
    def __init__(self, session: AsyncSession, settings: Settings, ledger: SecurityLedger) -> None:
        self.session = session
        self.settings = settings
        self.ledger = ledger

    async def login(
        self,
        username: str,
        password: str,
        *,
        ip: str,
        user_agent: str = "",
        client_id: UUID | None = None,
        app_version: str = "",
    ) -> TokenPair:
        username = username.strip().lower()
        user_key, ip_key = f"user:{username}", f"ip:{ip}"
        # The ledger's short transactions run while the request's own session holds no connection,
        # so no request ever waits on the pool while holding a connection itself.
        await self.ledger.count_attempt([user_key], also_check=[ip_key])
        user = await self.session.scalar(select(User).where(User.username == username))
        valid = await passwords.verify_password(user.password_hash if user else None, password)
        if not valid or user is None:
            await self.session.rollback()  # gives the connection back before the ledger takes one
            await self.ledger.record_failures([ip_key])
            raise Unauthorized("wrong username or password", code="BAD_CREDENTIALS")
        if not user.is_active:
            raise Unauthorized("this account is deactivated", code="ACCOUNT_DEACTIVATED")
        await self.ledger.forgive(self.session, user_key)

        client = await self._register_client(user, client_id, user_agent, app_version)
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = await passwords.hash_password(password)
        # No "last login" on the user row: it is a synced entity, and every login would otherwise
        # bump its version, feed the phones a change and race concurrent logins (AuthSession has it).
        auth_session = AuthSession(
            user_id=user.id, client_id=client.id if client else None, ip=ip, user_agent=user_agent[:300]
        )
        self.session.add(auth_session)
        await self.session.flush()
        return await self._issue_pair(user, auth_session)

    async def _register_client(
        self, user: User, client_id: UUID | None, user_agent: str, app_version: str
    ) -> Client | None:
        if client_id is None:
            return None
        client = await bind_client(self.session, user.id, client_id)
        client.user_agent = user_agent[:300]
        client.app_version = app_version
        client.last_seen_at = utcnow()
        return client

    async def _issue_pair(self, user: User, auth_session: AuthSession) -> TokenPair:
        token, token_hash = tokens.new_refresh_token()
        self.session.add(
            RefreshToken(
                session_id=auth_session.id,
                token_hash=token_hash,
                expires_at=utcnow() + timedelta(seconds=self.settings.refresh_token_ttl),
            )
        )
        access = tokens.issue_access_token(
            self.settings.secret_key,
            user_id=user.id,
            session_id=auth_session.id,
            client_id=auth_session.client_id,
            role=user.role,
            ttl=self.settings.access_token_ttl,
        )
        return TokenPair(
            access_token=access,
            refresh_token=token,
            token_type="bearer",  # noqa: S106 - the token type, not a secret
            expires_in=self.settings.access_token_ttl,
            user=LoginUser(
                id=user.id,
                username=user.username,
                display_name=user.display_name,
                role=user.role,
                team_id=user.team_id,
                locale=user.locale,
                must_change_password=user.must_change_password,
            ),
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        found = await self.session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == tokens.hash_refresh_token(refresh_token))
        )
        row = found.first()
        if row is None:
            raise Unauthorized("unknown refresh token", code="INVALID_REFRESH_TOKEN")
        stored, auth_session, user = row
        client = await self.session.get(Client, auth_session.client_id) if auth_session.client_id else None
        # A revoked device is told so (SYNC.md: 403 CLIENT_REVOKED), not merely that its login ended.
        if client is not None and client.revoked_at is not None:
            raise ClientRevoked("this device has been revoked")
        if auth_session.revoked_at is not None:
            raise Unauthorized("this login has ended; log in again", code="SESSION_REVOKED")
        if stored.used_at is not None:
            await self._revoke_for_reuse(auth_session)
        if stored.expires_at <= utcnow():
            raise Unauthorized("the refresh token has expired; log in again", code="REFRESH_EXPIRED")
        if not user.is_active:
            raise Unauthorized("this account is deactivated", code="ACCOUNT_DEACTIVATED")
        if client is not None:
            client.last_seen_at = utcnow()
        # Conditional update: of two racing refreshes with one token, only one rotates it.
        claimed = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            await self._revoke_for_reuse(auth_session)
        auth_session.last_refreshed_at = utcnow()
        return await self._issue_pair(user, auth_session)

    async def _revoke_for_reuse(self, auth_session: AuthSession) -> None:
        # An old refresh token came back: someone holds a copy. End the whole family.
        session_id = auth_session.id  # rollback expires the instance
        await self.session.rollback()
        await self.ledger.revoke_session(session_id, "refresh_token_reuse")
        raise Unauthorized(
            "this refresh token was already used; the login has been ended for safety",
            code="REFRESH_TOKEN_REUSED",
        )

    async def logout(self, refresh_token: str) -> None:
        stored = await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == tokens.hash_refresh_token(refresh_token))
        )
        if stored is None:
            raise Unauthorized("unknown refresh token", code="INVALID_REFRESH_TOKEN")
        auth_session = await self.session.get(AuthSession, stored.session_id)
        if auth_session is not None and auth_session.revoked_at is None:
            auth_session.revoked_at = utcnow()
            auth_session.revoked_reason = "logout"

    async def authenticate(self, access_token: str) -> CurrentUser:
        try:
            claims = tokens.decode_access_token(self.settings.secret_key, access_token)
        except tokens.InvalidToken as exc:
            raise Unauthorized(str(exc), code="INVALID_TOKEN") from exc
        row = (
            await self.session.execute(
                select(User, AuthSession, Client)
                .join(AuthSession, AuthSession.user_id == User.id)
                .outerjoin(Client, Client.id == AuthSession.client_id)
                .where(User.id == claims.user_id, AuthSession.id == claims.session_id)
            )
        ).first()
        if row is None:
            raise Unauthorized("the access token is invalid", code="INVALID_TOKEN")
        user, auth_session, client = row
        if client is not None and client.revoked_at is not None:
            raise ClientRevoked("this device has been revoked")
        if auth_session.revoked_at is not None:
            raise Unauthorized("this login has ended; log in again", code="SESSION_REVOKED")
        if not user.is_active:
            raise Unauthorized("this account is deactivated", code="ACCOUNT_DEACTIVATED")
        return CurrentUser(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            team_id=user.team_id,
            session_id=auth_session.id,
            client_id=auth_session.client_id,
        )

    async def change_password(self, current: CurrentUser, current_password: str, new_password: str) -> None:
        if current_password == new_password:
            raise InvalidInput("the new password must differ from the current one", field="new_password")
        # Guessing the current password with a stolen access token is throttled like a login.
        user_key = f"user:{current.username}"
        await self.ledger.count_attempt([user_key])
        user = await self.session.get(User, current.id)
        if user is None or not await passwords.verify_password(user.password_hash, current_password):
            raise InvalidInput("the current password is wrong", field="current_password")
        await self.ledger.forgive(self.session, user_key)
        user.password_hash = await passwords.hash_password(new_password)
        user.password_changed_at = utcnow()
        user.must_change_password = False
        # Every other login of this user ends; the one that changed the password stays.
        await revoke_sessions(self.session, user.id, "password_changed", keep=current.session_id)


async def revoke_sessions(
    session: AsyncSession,
    user_id: UUID,
    reason: str,
    *,
    keep: UUID | None = None,
    client_id: UUID | None = None,
) -> None:
    statement = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    if client_id is not None:
        statement = statement.where(AuthSession.client_id == client_id)
    await session.execute(statement)


# ---------------------------------------------------------------------------
# Users


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def visible_user_ids_filter(self, current: CurrentUser):
        """A WHERE clause limiting users to those ``current`` may see."""
        if current.sees_everything:
            return None
        if current.role == Role.supervisor:
            teams = await led_team_ids(self.session, current.id)
            return (User.id == current.id) | (User.team_id.in_(teams) & (User.role == Role.technician))
        return User.id == current.id

    async def list(self, current: CurrentUser) -> list[UserRead]:
        statement = select(User).order_by(User.username)
        scope = await self.visible_user_ids_filter(current)
        if scope is not None:
            statement = statement.where(scope)
        return [user_read(u) for u in (await self.session.scalars(statement)).all()]

    async def get_visible(self, current: CurrentUser, user_id: UUID) -> User:
        statement = select(User).where(User.id == user_id)
        scope = await self.visible_user_ids_filter(current)
        if scope is not None:
            statement = statement.where(scope)
        user = await self.session.scalar(statement)
        if user is None:
            raise NotFound("no such user", field="user_id")
        return user

    async def _check_team(self, team_id: UUID | None) -> None:
        if team_id is not None and await self.session.get(Team, team_id) is None:
            raise InvalidInput("no such team", field="team_id")

    async def create(self, data: UserCreate) -> User:
        if await self.session.scalar(select(User.id).where(User.username == data.username)):
            raise Conflict(
                f"the username {data.username!r} is taken", field="username", code="USERNAME_TAKEN"
            )
        await self._check_team(data.team_id)
        user = User(
            username=data.username,
            display_name=data.display_name.strip(),
            role=str(data.role),
            team_id=data.team_id,
            locale=data.locale,
            password_hash=await passwords.hash_password(data.password),
            password_changed_at=utcnow(),
        )
        self.session.add(user)
        await self.session.flush()
        return user

    async def update(self, actor: CurrentUser, user_id: UUID, data: UserUpdate) -> User:
        user = await self.get_visible(actor, user_id)
        if data.team_id is not _UNSET:
            await self._check_team(data.team_id)
        if data.role is not _UNSET and user.id == actor.id and str(data.role) != user.role:
            raise Conflict("you cannot change your own role", field="role")
        if data.display_name is not _UNSET:
            user.display_name = data.display_name.strip()
        if data.locale is not _UNSET:
            user.locale = data.locale
        if data.team_id is not _UNSET:
            user.team_id = data.team_id
        if data.role is not _UNSET and str(data.role) != user.role:
            if user.role == Role.supervisor:
                await self._drop_supervision(user.id)
            user.role = str(data.role)
            # A role change takes effect at once: existing logins carry the old role.
            await revoke_sessions(self.session, user.id, "role_changed")
        await self.session.flush()
        return user

    async def _drop_supervision(self, user_id: UUID) -> None:
        for team_id in await led_team_ids(self.session, user_id):
            team = await self.session.get(Team, team_id)
            if team is not None:
                touch(team)  # its supervisor_ids changed
        await self.session.execute(delete(TeamSupervisor).where(TeamSupervisor.user_id == user_id))

    async def set_active(self, actor: CurrentUser, user_id: UUID, active: bool) -> User:
        user = await self.get_visible(actor, user_id)
        if user.id == actor.id and not active:
            raise Conflict("you cannot deactivate yourself", field="user_id")
        if user.is_active != active:
            user.is_active = active
            if not active:
                await revoke_sessions(self.session, user.id, "deactivated")
        await self.session.flush()
        return user

    async def reset_password(
        self, actor: CurrentUser, user_id: UUID, password: str | None
    ) -> PasswordResetResult:
        user = await self.get_visible(actor, user_id)
        temporary = None
        if password is None:
            password = temporary = passwords.generate_temporary_password()
        user.password_hash = await passwords.hash_password(password)
        user.password_changed_at = utcnow()
        user.must_change_password = True
        await revoke_sessions(self.session, user.id, "password_reset")
        await self.session.flush()
        return PasswordResetResult(user=user_read(user), temporary_password=temporary)


# ---------------------------------------------------------------------------
# Teams


class TeamService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _read(self, teams: Sequence[Team]) -> list[TeamRead]:
        ids = [t.id for t in teams]
        supervisors: dict[UUID, list[UUID]] = {i: [] for i in ids}
        members: dict[UUID, list[UUID]] = {i: [] for i in ids}
        if ids:
            for team_id, user_id in await self.session.execute(
                select(TeamSupervisor.team_id, TeamSupervisor.user_id).where(TeamSupervisor.team_id.in_(ids))
            ):
                supervisors[team_id].append(user_id)
            for team_id, user_id in await self.session.execute(
                select(User.team_id, User.id)
                .where(User.team_id.in_(ids), User.role == Role.technician, User.is_active.is_(True))
                .order_by(User.username)
            ):
                members[team_id].append(user_id)
        return [
            TeamRead(
                id=t.id,
                name=t.name,
                region=t.region,
                supervisor_ids=sorted(supervisors[t.id], key=str),
                member_ids=members[t.id],
                version=t.version,
                created_at=t.created_at,
                updated_at=t.updated_at,
            )
            for t in teams
        ]

    async def list(self, current: CurrentUser, *, team_id: UUID | None = None) -> list[TeamRead]:
        statement = select(Team).order_by(Team.name)
        if current.role == Role.supervisor:
            statement = statement.where(Team.id.in_(await led_team_ids(self.session, current.id)))
        elif current.role == Role.technician:
            statement = statement.where(Team.id == current.team_id)
        if team_id is not None:
            statement = statement.where(Team.id == team_id)
        return await self._read((await self.session.scalars(statement)).all())

    async def read(self, current: CurrentUser, team_id: UUID) -> TeamRead:
        found = await self.list(current, team_id=team_id)
        if not found:
            raise NotFound("no such team", field="team_id")
        return found[0]

    async def _set_supervisors(self, team: Team, supervisor_ids: list[UUID]) -> None:
        wanted = set(supervisor_ids)
        if wanted:
            found = (
                await self.session.scalars(
                    select(User).where(User.id.in_(wanted), User.role == Role.supervisor)
                )
            ).all()
            if len(found) != len(wanted):
                raise InvalidInput(
                    "every supervisor_id must name a user with the supervisor role", field="supervisor_ids"
                )
        await self.session.execute(delete(TeamSupervisor).where(TeamSupervisor.team_id == team.id))
        for user_id in wanted:
            self.session.add(TeamSupervisor(team_id=team.id, user_id=user_id))
        touch(team)

    async def create(self, data: TeamCreate) -> Team:
        name = data.name.strip()
        if await self.session.scalar(select(Team.id).where(Team.name == name)):
            raise Conflict(f"a team named {name!r} exists", field="name", code="TEAM_NAME_TAKEN")
        team = Team(name=name, region=data.region.strip())
        self.session.add(team)
        await self.session.flush()
        await self._set_supervisors(team, data.supervisor_ids)
        await self.session.flush()
        return team

    async def update(self, team_id: UUID, data: TeamUpdate) -> Team:
        team = await self.session.get(Team, team_id)
        if team is None:
            raise NotFound("no such team", field="team_id")
        if data.name is not _UNSET:
            name = data.name.strip()
            clash = await self.session.scalar(select(Team.id).where(Team.name == name, Team.id != team.id))
            if clash:
                raise Conflict(f"a team named {name!r} exists", field="name", code="TEAM_NAME_TAKEN")
            team.name = name
        if data.region is not _UNSET:
            team.region = data.region.strip()
        if data.supervisor_ids is not _UNSET:
            await self._set_supervisors(team, data.supervisor_ids)
        await self.session.flush()
        return team


# ---------------------------------------------------------------------------
# Devices (sync clients)


class DeviceService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _scoped(self, current: CurrentUser):
        statement = select(Client, User.username).join(User, User.id == Client.user_id)
        if current.role == Role.supervisor:
            teams = await led_team_ids(self.session, current.id)
            statement = statement.where(
                (User.team_id.in_(teams) & (User.role == Role.technician)) | (User.id == current.id)
            )
        return statement

    async def list(self, current: CurrentUser) -> list[DeviceRead]:
        statement = (await self._scoped(current)).order_by(Client.last_seen_at.desc())
        return [_device_read(c, name) for c, name in (await self.session.execute(statement)).all()]

    async def revoke(self, current: CurrentUser, client_id: UUID) -> DeviceRead:
        row = (
            await self.session.execute((await self._scoped(current)).where(Client.id == client_id))
        ).first()
        if row is None:
            raise NotFound("no such device", field="client_id")
        client, username = row
        if client.revoked_at is None:
            client.revoked_at = utcnow()
            client.revoked_by_id = current.id
            await revoke_sessions(self.session, client.user_id, "device_revoked", client_id=client.id)
        await self.session.flush()
        return _device_read(client, username)


def health_report(device: DeviceReport) -> dict[str, Any]:
    """A device report as a client row keeps it (``Client.health``): the fields the phone named, in
    JSON types, as sent."""
    return msgspec.to_builtins(device)


def reported_app_version(app_version: str, device: DeviceReport | None) -> str:
    """The version a sync request reports: its own ``app_version``, else its device report's."""
    if app_version or device is None or device.app_version is msgspec.UNSET:
        return app_version
    return device.app_version


def _device_health(client: Client) -> DeviceHealth | None:
    if client.health is None or client.health_received_at is None:
        return None
    try:
        return msgspec.convert(
            {**client.health, "received_at": client.health_received_at}, DeviceHealth, strict=False
        )
    except msgspec.ValidationError:
        # Kept by an older or newer server in another shape: the device list still answers.
        return DeviceHealth(received_at=client.health_received_at)


def _device_read(client: Client, username: str) -> DeviceRead:
    return DeviceRead(
        id=client.id,
        user_id=client.user_id,
        username=username,
        app_version=client.app_version,
        user_agent=client.user_agent,
        created_at=client.created_at,
        last_seen_at=client.last_seen_at,
        last_mutation_id=client.last_mutation_id,
        last_push_at=client.last_push_at,
        last_pull_at=client.last_pull_at,
        pending_gap_from=client.pending_gap_from,
        revoked_at=client.revoked_at,
        health=_device_health(client),
    )
