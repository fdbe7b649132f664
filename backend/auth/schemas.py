"""Request and response bodies of the auth, user, team and device endpoints.

Requests refuse unknown fields and wrong types (msgspec, strict), so a typo in a
field name is a 400 naming it instead of a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from backend.auth.models import (
    DISPLAY_NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    REGION_MAX,
    TEAM_NAME_MAX,
    USERNAME_MAX,
    USERNAME_PATTERN,
    Role,
)

# Names people read: no control characters (PostgreSQL refuses NUL; the rest breaks displays),
# and not blank once trimmed.
NAME_PATTERN = r"^(?=.*\S)[^\x00-\x1f\x7f]*$"
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# Text of several lines (comments, reasons): tabs and line breaks, but no NUL (PostgreSQL refuses it in
# text, SQLite would keep it) and no other control character.
MULTILINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Username = Annotated[str, Meta(pattern=USERNAME_PATTERN, max_length=USERNAME_MAX)]
DisplayName = Annotated[str, Meta(pattern=NAME_PATTERN, max_length=DISPLAY_NAME_MAX)]
NewPassword = Annotated[str, Meta(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
Locale = Literal["en", "zh-CN"]
TeamName = Annotated[str, Meta(pattern=NAME_PATTERN, max_length=TEAM_NAME_MAX)]
Region = Annotated[str, Meta(pattern=SINGLE_LINE_PATTERN, max_length=REGION_MAX)]
# A client's version string: short, one line, no NUL (PostgreSQL refuses it in text).
AppVersion = Annotated[str, Meta(max_length=40, pattern=SINGLE_LINE_PATTERN)]
# A count a phone reports (items, bytes): JSON-safe integers only.
DeviceCount = Annotated[int, Meta(ge=0, le=2**53)]


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class LoginRequest(Request):
    # Looser than Username (case and spaces are normalised), but never longer or with control characters.
    username: Annotated[str, Meta(min_length=1, max_length=USERNAME_MAX + 8, pattern=SINGLE_LINE_PATTERN)]
    password: Annotated[str, Meta(min_length=1, max_length=PASSWORD_MAX)]
    # Additive to SYNC.md: a client may register its device with its first login.
    client_id: UUID | None = None
    app_version: AppVersion = ""


class RefreshRequest(Request):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=200)]


class LogoutRequest(Request):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=200)]


class ChangePasswordRequest(Request):
    current_password: Annotated[str, Meta(min_length=1, max_length=PASSWORD_MAX)]
    new_password: NewPassword


class UserRead(msgspec.Struct, kw_only=True):
    id: UUID
    username: str
    display_name: str
    role: str
    team_id: UUID | None
    locale: str
    is_active: bool
    must_change_password: bool
    version: int
    created_at: datetime
    updated_at: datetime


class LoginUser(msgspec.Struct, kw_only=True):
    id: UUID
    username: str
    display_name: str
    role: str
    team_id: UUID | None
    locale: str
    must_change_password: bool


class TokenPair(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: LoginUser


class UserCreate(Request):
    username: Username
    display_name: DisplayName
    role: Role
    password: NewPassword
    team_id: UUID | None = None
    locale: Locale = "zh-CN"


class UserUpdate(Request):
    display_name: DisplayName | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    team_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET


class PasswordReset(Request):
    # Absent: the server generates a one-time password and returns it once.
    password: NewPassword | None = None


class PasswordResetResult(msgspec.Struct, kw_only=True):
    user: UserRead
    temporary_password: str | None = None


class TeamRead(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    region: str
    supervisor_ids: list[UUID]
    member_ids: list[UUID]
    version: int
    created_at: datetime
    updated_at: datetime


class TeamCreate(Request):
    name: TeamName
    region: Region = ""
    supervisor_ids: list[UUID] = msgspec.field(default_factory=list)


class TeamUpdate(Request):
    name: TeamName | msgspec.UnsetType = msgspec.UNSET
    region: Region | msgspec.UnsetType = msgspec.UNSET
    supervisor_ids: list[UUID] | msgspec.UnsetType = msgspec.UNSET


class DeviceReport(Request):
    """SYNC.md 1.1, device health: what a phone says about itself with a push or a pull. Every field is
    optional; the report is kept as sent (the fields it names), the latest per client."""

    app_version: AppVersion | msgspec.UnsetType = msgspec.UNSET
    outbox_pending: DeviceCount | msgspec.UnsetType = msgspec.UNSET
    oldest_pending_at: Annotated[datetime, Meta(tz=True)] | msgspec.UnsetType | None = msgspec.UNSET
    blobs_pending: DeviceCount | msgspec.UnsetType = msgspec.UNSET
    storage_used: DeviceCount | msgspec.UnsetType = msgspec.UNSET
    storage_quota: DeviceCount | msgspec.UnsetType = msgspec.UNSET
    persisted: bool | msgspec.UnsetType | None = msgspec.UNSET


class DeviceHealth(msgspec.Struct, kw_only=True):
    """The latest device report of a client (null fields: not reported), and when it arrived."""

    app_version: str | None = None
    outbox_pending: int | None = None
    oldest_pending_at: datetime | None = None
    blobs_pending: int | None = None
    storage_used: int | None = None
    storage_quota: int | None = None
    persisted: bool | None = None
    received_at: datetime


class DeviceRead(msgspec.Struct, kw_only=True):
    id: UUID
    user_id: UUID
    username: str
    app_version: str
    user_agent: str
    created_at: datetime
    last_seen_at: datetime | None
    last_mutation_id: int
    last_push_at: datetime | None = None
    last_pull_at: datetime | None = None
    # A push skipped mutation ids from here on: the phone has work the server has not seen yet.
    pending_gap_from: int | None = None
    revoked_at: datetime | None
    # SYNC.md 1.1: the latest health report the phone sent with a push or a pull; null: never reported.
    health: DeviceHealth | None = None
