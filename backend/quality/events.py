"""Quality events, recorded in the transaction that causes them and delivered after it commits
(``backend.events``): Web Push tells the person who now owns the item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class QualityItemAssigned:
    """A complaint, nonconformance, corrective/preventive action or callback now has an owner."""

    kind: str  # complaint | nonconformance | action | callback
    item_id: UUID
    title: str
    assignee_id: UUID
    due_at: datetime | None


@dataclass(frozen=True)
class QualityItemOverdue:
    """An open quality item passed its due date (found by the periodic overdue scan, once per item)."""

    kind: str  # complaint | nonconformance | action | callback
    item_id: UUID
    title: str
    assignee_id: UUID
    due_at: datetime
