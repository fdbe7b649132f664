"""Users, teams, devices (sync clients), login sessions and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from backend.db import Entity, SyncedEntity

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,39}$"
USERNAME_MAX = 40
DISPLAY_NAME_MAX = 120
TEAM_NAME_MAX = 120
REGION_MAX = 80
PASSWORD_MIN = 10
PASSWORD_MAX = 256
LOCALES = ("en", "zh-CN")


class Role(StrEnum):
    technician = "technician"
    supervisor = "supervisor"
    quality = "quality"
    manager = "manager"


ALL_ROLES = tuple(Role)


class Team(SyncedEntity, table=True):
    __tablename__ = "team"
    __entity_name__ = "team"

    name: str = Field(max_length=TEAM_NAME_MAX, unique=True, nullable=False)
    region: str = Field(default="", max_length=REGION_MAX, nullable=False)


class TeamSupervisor(SQLModel, table=True):
    """A supervisor leads one or more teams; a team may have several supervisors."""

    __tablename__ = "team_supervisor"

    team_id: UUID = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE")
    user_id: UUID = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE", index=True)


class User(SyncedEntity, table=True):
    __tablename__ = "user"
    __entity_name__ = "user"

    username: str = Field(max_length=USERNAME_MAX, unique=True, nullable=False)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX, nullable=False)
    role: str = Field(max_length=20, nullable=False)
    # RESTRICT, not SET NULL: a database-side change would bypass the version and the change feed.
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    locale: str = Field(default="zh-CN", max_length=10, nullable=False)
    # Never leaves the server: the sync serializer and every read schema omit it.
    password_hash: str = Field(max_length=255, nullable=False)
    is_active: bool = Field(default=True, nullable=False)
    must_change_password: bool = Field(default=False, nullable=False)
    password_changed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class Client(Entity, table=True):
    """One installation's local database (SYNC.md, Clients): bound to the first user who uses it."""

    __tablename__ = "client"

    user_id: UUID = Field(foreign_key="user.id", index=True, nullable=False, ondelete="CASCADE")
    user_agent: str = Field(default="", max_length=300, nullable=False)
    app_version: str = Field(default="", max_length=40, nullable=False)
    last_seen_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    last_mutation_id: int = Field(default=0, nullable=False)
    last_push_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    last_pull_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    # The first mutation id of a push that skipped numbers (SYNC.md: a gap); cleared once it catches up.
    pending_gap_from: int | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    revoked_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    # The latest device health report (SYNC.md 1.1, ``device`` on push and pull) as the phone sent it,
    # and when the server stored it: the supervisors' early warning of a stuck outbox or a full disk.
    health: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    health_received_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class AuthSession(Entity, table=True):
    """A login: the family every rotated refresh token of that login belongs to.

    Revoking it (logout, reuse of an old refresh token, deactivation, password
    reset, a revoked device) ends the refresh chain and, because access tokens
    name their session, every access token issued under it.
    """

    __tablename__ = "auth_session"

    user_id: UUID = Field(foreign_key="user.id", index=True, nullable=False, ondelete="CASCADE")
    client_id: UUID | None = Field(default=None, foreign_key="client.id", index=True, ondelete="SET NULL")
    ip: str = Field(default="", max_length=64, nullable=False)
    user_agent: str = Field(default="", max_length=300, nullable=False)
    last_refreshed_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
    revoked_reason: str = Field(default="", max_length=40, nullable=False)


class RefreshToken(Entity, table=True):
    __tablename__ = "refresh_token"

    session_id: UUID = Field(foreign_key="auth_session.id", index=True, nullable=False, ondelete="CASCADE")
    # sha256 of the opaque token: a database leak does not leak usable tokens.
    token_hash: str = Field(max_length=64, unique=True, nullable=False)
    expires_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)


class LoginThrottle(SQLModel, table=True):
    """Failed-login counters per username and per address, shared by every app process."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = Field(default=0, nullable=False)
    lockouts: int = Field(default=0, nullable=False)
    window_started_at: datetime = Field(sa_type=DateTimeUTC, nullable=False)
    locked_until: datetime | None = Field(default=None, sa_type=DateTimeUTC)
