"""The kinds of notification FieldQ sends: who gets them, how urgent they are, how long they may wait.

TTL is how long the push service keeps a message for a phone that is offline; urgency tells a phone on
battery saving whether to wake for it (RFC 8030 §5.3). A person may mute any kind but ``test``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

HOUR = 3600
DAY = 24 * HOUR


@dataclass(frozen=True)
class Kind:
    name: str
    urgency: str
    ttl: int
    description: str
    mutable: bool = True


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("job_assigned", "high", DAY, "A job was assigned to you (technicians)"),
        Kind("job_reassigned", "normal", 4 * HOUR, "A job of yours was given to someone else (technicians)"),
        Kind("job_returned", "high", DAY, "Your work was returned by the supervisor (technicians)"),
        Kind("job_awaiting_approval", "normal", DAY, "A job of your team waits for approval (supervisors)"),
        Kind("sync_exception", "normal", DAY, "A sync exception in your team to resolve (supervisors)"),
        Kind(
            "quality_assigned",
            "normal",
            3 * DAY,
            "A complaint, nonconformance or callback is yours (quality)",
        ),
        Kind("quality_overdue", "high", DAY, "A quality item of yours is overdue (quality)"),
        Kind("spare_shortage", "low", 3 * DAY, "A region is short of spare units (managers)"),
        Kind("test", "high", 10 * 60, "A test notification you sent yourself", mutable=False),
    )
}
MUTABLE_KINDS = tuple(name for name, kind in KINDS.items() if kind.mutable)


def topic_header(logical_topic: str) -> str:
    """The ``Topic`` header for a logical topic ("job:<id>"): 32 characters of the URL-safe base64
    alphabet (a hash, so ids and long names fit and nothing about them leaks to the push service)."""
    digest = hashlib.sha256(logical_topic.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]
