"""The sync change feed: one row per change to a synced entity, in commit order.

Rows are written only by ``backend.sync.feed``, at the commit of the transaction that made the
change, numbered under a lock so that numbers become visible in commit order (see that module).
Scopes (``sync_change_scope``) say who may pull each change; ``backend.sync.pull`` reads them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from backend.db import SyncedEntity, utcnow

EXCEPTION_NOTE_MAX = 2000
EXCEPTION_BLOBS_MAX = 10

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
_SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class SyncChange(SQLModel, table=True):
    __tablename__ = "sync_change"

    seq: int | None = Field(default=None, sa_column=Column(_SEQ_TYPE, primary_key=True, autoincrement=True))
    entity: str = Field(max_length=40, nullable=False)
    entity_id: UUID = Field(nullable=False, index=True)
    op: str = Field(max_length=3, nullable=False)  # "put" | "del"
    version: int = Field(nullable=False)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False)


class SyncChangeScope(SQLModel, table=True):
    """Who may pull a change: one row per scope tag of a ``sync_change`` row (``all``, ``u:<user>``,
    ``t:<team>``; see ``backend.sync.scopes``). ``op`` is ``del`` where the change takes the record out of
    that scope (a job reassigned away from its technician), else ``put``. A pull reads its scopes'
    rows by the primary key (scope, seq), in commit order."""

    __tablename__ = "sync_change_scope"

    scope: str = Field(max_length=40, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    op: str = Field(max_length=3, nullable=False)


class MutationResult(SQLModel, table=True):
    """What a pushed mutation's processing answered, kept so that a replay of the same mutation id
    gets the same answer (SYNC.md, Push). Written in the transaction that applied the mutation."""

    __tablename__ = "sync_mutation_result"

    client_id: UUID = Field(foreign_key="client.id", primary_key=True, ondelete="CASCADE")
    mutation_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=40, nullable=False)
    status: str = Field(max_length=10, nullable=False)
    result: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTimeUTC, nullable=False, index=True)


class SyncMeta(SQLModel, table=True):
    """Small numbers the feed keeps about itself: ``horizon`` is the highest change number compaction
    removed; a cursor below it gets ``reset`` (SYNC.md, Pull)."""

    __tablename__ = "sync_meta"

    key: str = Field(max_length=40, primary_key=True)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class ExceptionKind(StrEnum):
    rejected = "rejected"
    custody_conflict = "custody_conflict"
    stock_discrepancy = "stock_discrepancy"
    damaged = "damaged"
    lost = "lost"
    duplicate_signoff = "duplicate_signoff"
    # SYNC.md 1.1: the phone's hash of what the customer saw differs from the server's recomputation.
    signoff_mismatch = "signoff_mismatch"


class ExceptionStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class ExceptionOutcome(StrEnum):
    confirmed = "confirmed"  # the field fact stands; the store was wrong
    corrected = "corrected"  # a compensating movement or edit fixed it
    written_off = "written_off"
    charged = "charged"  # handed to the penalty workflow
    dismissed = "dismissed"


class SyncException(SyncedEntity, table=True):
    """Something a person must look at: a fact that contradicted the store (custody conflict, stock
    below zero), a damaged or lost return, or a rejected mutation kept in full. Supervisors of the
    technician's team, quality and managers list and resolve them; who resolved what, how and when
    is kept on the row."""

    __tablename__ = "sync_exception"
    __entity_name__ = "sync_exception"

    kind: str = Field(max_length=30, nullable=False, index=True)
    status: str = Field(default=ExceptionStatus.open, max_length=10, nullable=False, index=True)
    message: str = Field(max_length=1000, nullable=False)
    # The mutation or operation as it arrived, in full.
    mutation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The technician concerned (whose custody, whose device) and their team, for scoping.
    user_id: UUID | None = Field(default=None, foreign_key="user.id", index=True, ondelete="RESTRICT")
    team_id: UUID | None = Field(default=None, foreign_key="team.id", index=True, ondelete="RESTRICT")
    raised_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    move_id: UUID | None = Field(default=None, index=True)
    item_id: UUID | None = Field(default=None, foreign_key="item.id", ondelete="RESTRICT")
    asset_id: UUID | None = Field(default=None, foreign_key="asset.id", ondelete="RESTRICT")
    location_id: UUID | None = Field(default=None, foreign_key="location.id", ondelete="RESTRICT")
    job_id: UUID | None = Field(default=None, index=True)
    # The other technician in a custody conflict (who the store thought held it).
    other_user_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    qty: int | None = Field(default=None)
    # What the technician said and photographed about it (a damaged or lost return): the supervisor
    # sees it with the exception, and may fetch the photos (``BlobService.may_see``).
    note: str = Field(default="", max_length=EXCEPTION_NOTE_MAX, nullable=False)
    blobs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    outcome: str | None = Field(default=None, max_length=20)
    resolution: str = Field(default="", max_length=1000, nullable=False)
    resolved_by_id: UUID | None = Field(default=None, foreign_key="user.id", ondelete="RESTRICT")
    resolved_at: datetime | None = Field(default=None, sa_type=DateTimeUTC)
