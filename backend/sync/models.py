"""The sync change feed: one row per change to a synced entity, in commit order.

Rows are written only by ``backend.sync.feed`` inside the transaction that made
the change. The pull side (cursor, scopes, PostgreSQL visibility order) is built
on top of this table by the sync issue.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from backend.db import utcnow

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
