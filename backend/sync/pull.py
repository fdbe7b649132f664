"""Pull (SYNC.md, Pull): a page of the change feed within the caller's scope, from a signed cursor.

A page is read in one snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite): the
feed rows, the records' current data and the client's ``last_mutation_id`` agree with each other.
Feed numbers become visible in commit order (``backend.sync.feed``), so a cursor at number n has
seen every change below n, and nothing committed later can land behind it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Client
from backend.auth.services import CurrentUser, led_team_ids
from backend.auth.tokens import derive_key
from backend.db import utcnow
from backend.errors import InvalidInput
from backend.jobs.blobs import blob_url
from backend.jobs.models import hashes_match
from backend.sync.models import SyncChange, SyncChangeScope, SyncMeta
from backend.sync.scopes import ScopeResolver, entity_tables, scopes_of

MAX_LIMIT = 1000
PAGE_BYTES = 1024 * 1024
HORIZON_KEY = "horizon"

# Columns never sent to phones, whatever the entity.
_NEVER_SENT = frozenset({"password_hash", "seal", "snapshot"})
# What a user record carries (SYNC.md: username, display_name, role, team_id).
_USER_FIELDS = ("id", "version", "created_at", "updated_at", "username", "display_name", "role", "team_id")


class CursorRefused(InvalidInput):
    status_code = 400
    code = "INVALID_CURSOR"


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    seq: int
    user_id: UUID
    client_id: UUID
    scope_hash: str
    # The feed's horizon when the cursor was issued: a cursor below the horizon is still good if no
    # compaction ran since (a first pull paging through the compacted feed).
    horizon: int = 0


class CursorSigner:
    """Cursors are ``<payload>.<mac>`` in base64url: opaque to clients, and a forged, altered or foreign
    cursor fails the MAC or names another user or client."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "sync-cursor")

    def sign(self, cursor: Cursor) -> str:
        payload = msgspec.json.encode(cursor)
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return f"{_b64(payload)}.{_b64(mac)}"

    def verify(self, token: str, current: CurrentUser, client_id: UUID) -> Cursor:
        try:
            payload_part, mac_part = token.split(".", 1)
            payload, mac = _unb64(payload_part), _unb64(mac_part)
        except (ValueError, TypeError):
            raise CursorRefused("the cursor is not one this server issued", field="cursor") from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            raise CursorRefused("the cursor is not one this server issued", field="cursor")
        cursor = msgspec.json.decode(payload, type=Cursor)
        if cursor.user_id != current.id or cursor.client_id != client_id:
            raise CursorRefused("the cursor belongs to another user or device", field="cursor")
        return cursor


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PullPage:
    cursor: str
    checkpoint: int
    has_more: bool
    reset: bool
    last_mutation_id: int
    server_time: datetime
    # Each change already JSON-encoded (msgspec.Raw): {"entity", "id", "op", "version"?, "data"?}.
    changes: list[Any] = field(default_factory=list)


def _scope_hash(scopes: list[str] | None) -> str:
    text = "*" if scopes is None else "|".join(scopes)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def serialize(entity: str, row: dict[str, Any]) -> dict[str, Any]:
    """A record as phones receive it: its columns (no secrets), plus the fields SYNC.md names."""
    if entity == "user":
        return {name: row[name] for name in _USER_FIELDS}
    data = {k: v for k, v in row.items() if k not in _NEVER_SENT}
    if entity == "procedure":
        data["sync_version"] = data["version"]
        data["version"] = data["revision"]
    elif entity == "attachment":
        data["url"] = blob_url(row["blob"])
        data["thumbnail_url"] = blob_url(row["blob"], "thumbnail")
    elif entity == "signoff":
        data["signature_url"] = blob_url(row["signature_blob"])
        data["hash_match"] = hashes_match(row.get("client_hash"), row.get("summary_hash"))
    return data


class PullService:
    def __init__(self, session: AsyncSession, secret_key: str) -> None:
        self.session = session
        self.signer = CursorSigner(secret_key)

    async def _scopes(self, current: CurrentUser) -> list[str] | None:
        teams = await led_team_ids(self.session, current.id) if current.role == "supervisor" else ()
        return scopes_of(current.role, current.id, teams, current.team_id)

    async def pull(self, current: CurrentUser, client: Client, token: str | None, limit: int) -> PullPage:
        """One page. The caller has started the session's transaction as a snapshot (see the controller)."""
        limit = max(1, min(limit, MAX_LIMIT))
        scopes = await self._scopes(current)
        scope_hash = _scope_hash(scopes)
        after, reset = 0, True
        # Three numbers of this snapshot in one round trip (an empty pull is the most frequent request).
        horizon, last_mutation_id, newest = (
            await self.session.execute(
                select(
                    select(SyncMeta.value).where(SyncMeta.key == HORIZON_KEY).scalar_subquery(),
                    select(Client.last_mutation_id).where(Client.id == client.id).scalar_subquery(),
                    select(func.max(SyncChange.seq)).scalar_subquery(),
                )
            )
        ).one()
        horizon = int(horizon or 0)
        if token is not None:
            cursor = self.signer.verify(token, current, client.id)
            # A cursor from before compaction removed tombstones past it, or from before the user's scope
            # changed (a supervisor given another team), starts over: the client replaces its synced data.
            fresh = cursor.seq >= horizon or cursor.horizon == horizon
            if cursor.scope_hash == scope_hash and fresh:
                after, reset = cursor.seq, False
        rows = await self._feed_rows(scopes, after, limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        changes, consumed_to = await self.session.run_sync(
            lambda s: _materialize(s.connection(), rows, scopes, after)
        )
        if consumed_to < (rows[-1][0] if rows else after):
            has_more = True  # the byte budget ended the page early
        if has_more:
            position = consumed_to
        else:
            # Nothing more in scope up to this snapshot: the cursor moves to the newest change number
            # the snapshot holds, so the next pull (and the write checkpoint comparison) starts there.
            position = max(after, newest or 0)
        cursor = self.signer.sign(Cursor(position, current.id, client.id, scope_hash, horizon))
        return PullPage(
            cursor=cursor,
            checkpoint=position,
            has_more=has_more,
            reset=reset,
            last_mutation_id=int(last_mutation_id or 0),
            server_time=utcnow(),
            changes=changes,
        )

    async def _feed_rows(self, scopes: list[str] | None, after: int, count: int) -> list[tuple]:
        """(seq, entity, entity_id, op) in commit order; a change seen through several scopes once, as
        a ``put`` if any of them still holds the record."""
        change = SyncChange.__table__
        if scopes is None:
            statement = (
                select(change.c.seq, change.c.entity, change.c.entity_id, change.c.op)
                .where(change.c.seq > after)
                .order_by(change.c.seq)
                .limit(count)
            )
            return [tuple(r) for r in await self.session.execute(statement)]
        scope = SyncChangeScope.__table__
        tagged = (
            select(scope.c.seq, func.max(scope.c.op).label("op"))  # "put" > "del"
            .where(scope.c.scope.in_(scopes), scope.c.seq > after)
            .group_by(scope.c.seq)
            .order_by(scope.c.seq)
            .limit(count)
            .subquery()
        )
        statement = (
            select(change.c.seq, change.c.entity, change.c.entity_id, tagged.c.op, change.c.op)
            .join(tagged, tagged.c.seq == change.c.seq)
            .order_by(change.c.seq)
        )
        return [
            (seq, entity, entity_id, "del" if global_op == "del" else op)
            for seq, entity, entity_id, op, global_op in await self.session.execute(statement)
        ]


def _materialize(
    connection: Connection, rows: list[tuple], scopes: list[str] | None, after: int
) -> tuple[list[dict[str, Any]], int]:
    """The changes of a page with their records' current data, at most about ``PAGE_BYTES`` of it.
    Returns the changes and the feed number the page ends at."""
    # The last change per record wins: its data is the current state anyway.
    latest: dict[tuple[str, UUID], tuple[int, str]] = {}
    for seq, entity, entity_id, op in rows:
        latest.pop((entity, entity_id), None)
        latest[(entity, entity_id)] = (seq, op)
    wanted: dict[str, list[UUID]] = defaultdict(list)
    for (entity, entity_id), (_seq, op) in latest.items():
        if op == "put":
            wanted[entity].append(entity_id)
    tables = entity_tables()
    records: dict[tuple[str, UUID], dict[str, Any]] = {}
    for entity, ids in wanted.items():
        table = tables[entity]
        for first in range(0, len(ids), 500):
            for row in connection.execute(select(table).where(table.c.id.in_(ids[first : first + 500]))):
                records[(entity, row.id)] = dict(row._mapping)
    visible = _still_visible(connection, records, scopes)
    changes: list[Any] = []
    size = 0
    end = rows[-1][0] if rows else after
    encoder = msgspec.json.Encoder()
    for (entity, entity_id), (seq, op) in sorted(latest.items(), key=lambda kv: kv[1][0]):
        record = records.get((entity, entity_id))
        if op == "put" and record is None:
            continue  # deleted since: its "del" is further on in the feed
        if op == "put" and (entity, entity_id) in visible:
            data = serialize(entity, record)
            change = {
                "entity": entity,
                "id": entity_id,
                "op": "put",
                "version": record["version"],
                "data": data,
            }
        else:
            # Out of the caller's scope now (reassigned, returned, resolved) or deleted.
            change = {"entity": entity, "id": entity_id, "op": "del"}
        # Encoded once, here: the size counts toward the page budget, and the response embeds the bytes.
        encoded = msgspec.Raw(encoder.encode(change))
        size += len(encoded)
        if size > PAGE_BYTES and changes:
            end = _end_before(rows, seq, after)
            break
        changes.append(encoded)
    return changes, end


def _end_before(rows: list[tuple], seq: int, after: int) -> int:
    """The feed number just before ``seq`` among the page's rows (the page stops short of ``seq``)."""
    previous = after
    for row_seq, *_ in rows:
        if row_seq >= seq:
            break
        previous = row_seq
    return previous


def _still_visible(
    connection: Connection, records: dict[tuple[str, UUID], dict[str, Any]], scopes: list[str] | None
) -> set[tuple[str, UUID]]:
    """Records the caller may see in this snapshot. A put read from the feed may be older than the
    record's move out of the caller's scope (its ``del`` comes later in the feed): the record is then
    sent as ``del`` now, never with data the caller may no longer see."""
    if scopes is None:
        return set(records)
    wanted = set(scopes)
    resolver = ScopeResolver(connection)
    by_entity: dict[str, dict[UUID, dict[str, Any]]] = defaultdict(dict)
    for (entity, entity_id), record in records.items():
        by_entity[entity][entity_id] = record
    visible = set()
    for entity, rows in by_entity.items():
        for entity_id, tags in resolver.tags(entity, rows).items():
            if tags & wanted:
                visible.add((entity, entity_id))
    return visible
