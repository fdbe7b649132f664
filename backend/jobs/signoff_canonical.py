"""The customer summary in its canonical form: what the phone showed the customer when they signed, as
bytes both the phone (TypeScript) and the server (this module) can write identically (SYNC.md 1.1,
"The phone's own hash of what the customer saw"; the rules are in docs/SYNC.md, "The customer
summary's canonical form").

It is not the record hash (``backend.jobs.record``): that one covers what only the server knows (who
completed each step, the ledger's lines, the server's own times) and is sealed with a server key. This
one holds only what a phone has offline: the job as pulled and edited on the phone, the steps, logs and
photos it recorded, the parts it used, and the customer's answers with the signature image's sha256.
The phone sends its sha256 as ``client_hash``; the server computes the same over its own rows when the
sign-off arrives and keeps both.

Rules, in short: JSON with keys sorted and no spaces, UTF-8; every string trimmed of the whitespace in
``TRIM`` at both ends and then in Unicode NFC; numbers as JavaScript's ``JSON.stringify`` writes them;
lists in a fixed order; ``signed_at`` as ``Date.prototype.toISOString()`` writes it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

SUMMARY_FORMAT = 1
# Whitespace trimmed from both ends of every string: Python's ``str.isspace()`` characters and
# JavaScript's ``String.prototype.trim()`` ones together (the server stores ``str.strip()``-ed text, the
# phone may hold what was typed).
TRIM = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_TRIM_CLASS = "[" + re.escape(TRIM) + "]+"
_TRIM_RE = re.compile(f"^{_TRIM_CLASS}|{_TRIM_CLASS}$")

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
)
STEP_FIELDS = ("step_id", "result", "value", "note", "blobs")
LOG_FIELDS = ("id", "kind", "text", "minutes", "value")
ATTACHMENT_FIELDS = ("id", "blob", "step_id", "caption")
PART_FIELDS = ("move_id", "item_id", "asset_id", "size", "qty")
ANSWER_FIELDS = (
    "signer_name",
    "accepted",
    "rating",
    "rating_technical",
    "rating_service",
    "comment",
    "signed_at",
    "signature_blob",
)
# Fields that hold readings (any real number); every other number is an integer.
_READINGS = frozenset({"value", "meter_reading"})


class JsNumber(float):
    """A reading, written as ECMAScript's ``Number::toString`` writes it (``JSON.stringify``)."""


def ecma_number(value: float) -> str:
    """``String(x)`` in JavaScript: the shortest digits that round-trip (Python's ``repr`` finds the same
    digits), laid out by ECMA-262's Number::toString (no exponent from 1e-6 up to 1e21)."""
    if not math.isfinite(value):
        raise ValueError("readings are finite numbers")
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that round-trip, as ECMA-262 asks; Decimal splits them out.
    exact = Decimal(repr(abs(value))).normalize()
    _sign, digit_tuple, exponent = exact.as_tuple()
    digits = "".join(map(str, digit_tuple))
    # n of ECMA-262: value = 0.digits × 10^n.
    point = len(digits) + exponent
    k = len(digits)
    if k <= point <= 21:
        text = digits + "0" * (point - k)
    elif 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * (-point) + digits
    else:
        e = point - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + text


def text(value: str) -> str:
    """A string as the canonical form holds it: trimmed (``TRIM``), then NFC."""
    return unicodedata.normalize("NFC", _TRIM_RE.sub("", value))


def iso_millis(value: datetime) -> str:
    """``Date.prototype.toISOString()``: UTC, milliseconds (the rest cut off), ``Z``."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _value(name: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, str):
        return text(value)
    if name in _READINGS and isinstance(value, (int, float)):
        return JsNumber(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name} is a whole number")
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)):
        return sorted(_value(name, v) for v in value)
    raise TypeError(f"{name}: {type(value).__name__} has no canonical form")


def _get(row: Any, name: str) -> Any:
    # A field the phone's record leaves out is null, as the document says.
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name)


def _object(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: _value(name, _get(row, name)) for name in fields}


def summary_document(
    job: Any,
    steps: Iterable[Any],
    logs: Iterable[Any],
    attachments: Iterable[Any],
    parts: Iterable[Any],
    answers: Mapping[str, Any],
) -> dict[str, Any]:
    """The summary as a plain document. Rows may be objects or mappings with the fields named above."""
    steps = [_object(s, STEP_FIELDS) for s in steps]
    # A step's photo is in the step's ``blobs``; the server also makes an attachment of it (an id the
    # phone cannot know offline): left out, whoever made it.
    step_photos = {(s["step_id"], blob) for s in steps for blob in s["blobs"] or ()}
    attachments = [
        a
        for a in (_object(a, ATTACHMENT_FIELDS) for a in attachments)
        if (a["step_id"], a["blob"]) not in step_photos
    ]
    return {
        "format": SUMMARY_FORMAT,
        "job": _object(job, JOB_FIELDS),
        "steps": sorted(steps, key=lambda s: s["step_id"]),
        "logs": sorted((_object(g, LOG_FIELDS) for g in logs), key=lambda g: g["id"]),
        "attachments": sorted(attachments, key=lambda a: a["id"]),
        "parts": sorted((_object(p, PART_FIELDS) for p in parts), key=lambda p: p["move_id"]),
        "answers": _object(answers, ANSWER_FIELDS),
    }


def _dumps(node: Any) -> str:
    """JSON as ``JSON.stringify`` writes it for these values, keys sorted, no spaces: strings escaped as
    Python's ``json`` and JavaScript both escape them (``"``, ``\\``, and control characters, as
    ``\\b \\f \\n \\r \\t`` or ``\\u00xx``), everything else verbatim."""
    if node is None:
        return "null"
    if node is True:
        return "true"
    if node is False:
        return "false"
    if isinstance(node, JsNumber):
        return ecma_number(float(node))
    if isinstance(node, int):
        return str(node)
    if isinstance(node, str):
        return json.dumps(node, ensure_ascii=False)
    if isinstance(node, list):
        return "[" + ",".join(_dumps(v) for v in node) + "]"
    if isinstance(node, dict):
        return "{" + ",".join(json.dumps(k) + ":" + _dumps(node[k]) for k in sorted(node)) + "}"
    raise TypeError(f"{type(node).__name__} has no canonical form")


def canonical_summary(
    job: Any,
    steps: Iterable[Any],
    logs: Iterable[Any],
    attachments: Iterable[Any],
    parts: Iterable[Any],
    answers: Mapping[str, Any],
) -> bytes:
    """The canonical form's bytes (UTF-8)."""
    return _dumps(summary_document(job, steps, logs, attachments, parts, answers)).encode("utf-8")


def summary_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


# The ledger lines a phone shows as parts used: one per ``stock.consume`` and per ``spare.swap`` (the spare
# that went in; the unit taken out is not a part).
SUMMARY_PART_OPERATIONS = frozenset({"consume", "swap_install"})


def customer_summary(
    job: Any,
    steps: Iterable[Any],
    logs: Iterable[Any],
    attachments: Iterable[Any],
    movements: Iterable[Any],
    answers: Mapping[str, Any],
) -> bytes:
    """The server's side: the canonical form over its own rows, the job's part movements filtered to
    the ones a phone shows."""
    parts = [m for m in movements if str(m.operation) in SUMMARY_PART_OPERATIONS]
    return canonical_summary(job, steps, logs, attachments, parts, answers)
