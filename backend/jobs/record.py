"""The job record as the customer signs it, in one canonical form, and its tamper-evident hash.

The canonical form is JSON with sorted keys, no spaces, UTF-8, times in UTC with microseconds, and
every list in a fixed order, so the same record always gives the same bytes. It holds what the work
*was* (the job's description and findings, the checklist results, logs, photos and parts), not what
happens to the job afterwards (its status, approval), which changes without changing the work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from backend.inventory.models import Movement
from backend.jobs.models import Attachment, Job, JobLog, JobStep

RECORD_FORMAT = 2
# The sign-off's own fields the hash covers (what the customer gave, where, and who held the phone).
SIGNOFF_FIELDS = (
    "signer_name",
    "signature_blob",
    "accepted",
    "rating",
    "rating_technical",
    "rating_service",
    "comment",
    "signed_at",
    "lat",
    "lon",
    "accuracy_m",
    "recorded_by_id",
)
JOB_FIELDS = (
    "id",
    "number",
    "type",
    "customer_id",
    "site_id",
    "unit_id",
    "procedure_id",
    "description",
    "findings",
    "arrival_note",
    "departure_note",
    "meter_reading",
    "assignee_id",
    "accepted_at",
    "arrived_at",
    "arrival_lat",
    "arrival_lon",
    "arrival_accuracy_m",
    "departed_at",
    "departure_lat",
    "departure_lon",
    "departure_accuracy_m",
    "work_done_at",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, float):
        # One spelling per number: 12 and 12.0 are the same reading.
        return int(value) if value.is_integer() else value
    return value


def canonical_record(
    job: Job,
    steps: Iterable[JobStep],
    logs: Iterable[JobLog],
    attachments: Iterable[Attachment],
    parts: Iterable[Movement],
) -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "job": {name: _plain(getattr(job, name)) for name in JOB_FIELDS},
        "steps": [
            {
                "step_id": s.step_id,
                "result": s.result,
                "value": _plain(s.value),
                "note": s.note,
                "in_range": s.in_range,
                "completed_by_id": _plain(s.completed_by_id),
                "blobs": sorted(s.blobs),
            }
            for s in sorted(steps, key=lambda s: s.step_id)
        ],
        "logs": [
            {
                "id": _plain(g.id),
                "kind": g.kind,
                "text": g.text,
                "minutes": g.minutes,
                "value": _plain(g.value),
            }
            for g in sorted(logs, key=lambda g: str(g.id))
        ],
        "attachments": [
            {"id": _plain(a.id), "blob": a.blob, "step_id": a.step_id, "caption": a.caption}
            for a in sorted(attachments, key=lambda a: str(a.id))
        ],
        "parts": [
            {
                "move_id": _plain(m.move_id),
                "line": m.line,
                "operation": m.operation,
                "item_id": _plain(m.item_id),
                "asset_id": _plain(m.asset_id),
                "size": m.size,
                "qty": m.qty,
            }
            for m in sorted(parts, key=lambda m: (str(m.move_id), m.line))
        ],
    }


def signed_payload(record: dict[str, Any], signoff: dict[str, Any]) -> bytes:
    """What the hash covers: the record, the signature image's sha256, the signer, the ratings, where it
    was signed and who recorded it."""
    document = {
        "record": record,
        "signoff": {name: _plain(signoff[name]) for name in SIGNOFF_FIELDS},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def seal(key: bytes, digest: str) -> str:
    """An HMAC of the hash with a server key: whoever can rewrite the database but not read the key
    cannot make a changed record verify."""
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def changed_sections(signed: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Which parts of the record differ between signing and now: ``job.<field>`` or a list's name."""
    changes = [
        f"job.{name}" for name in JOB_FIELDS if signed.get("job", {}).get(name) != now["job"].get(name)
    ]
    changes += [name for name in ("steps", "logs", "attachments", "parts") if signed.get(name) != now[name]]
    return changes
