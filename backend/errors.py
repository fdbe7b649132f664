"""Domain errors and their one mapping to HTTP.

Services raise ``DomainError`` subclasses and know nothing of HTTP; this module
turns them (and framework errors about bad input) into ``{"code", "message",
"field"?}`` JSON. Bad input is always a 4xx naming the problem; an unexpected
failure is logged and answered with a bare 500 that leaks nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

log = logging.getLogger("fieldq.errors")


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error FieldQ answers with."""

    code: str
    message: str
    field: str | None = None


class DomainError(Exception):
    status_code = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        return {}


class InvalidInput(DomainError):
    status_code = 422
    code = "INVALID_INPUT"


class Unauthorized(DomainError):
    status_code = 401
    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    status_code = 403
    code = "FORBIDDEN"


class ClientRevoked(Forbidden):
    code = "CLIENT_REVOKED"


class NotFound(DomainError):
    status_code = 404
    code = "NOT_FOUND"


class Conflict(DomainError):
    status_code = 409
    code = "CONFLICT"


class InvalidTransition(Conflict):
    code = "INVALID_TRANSITION"


class TooManyRequests(DomainError):
    status_code = 429
    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _json(status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
    return Response(
        content=ErrorBody(code=code, message=message, field=field),
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers or {},
    )


def domain_error_handler(_request: Request, exc: DomainError) -> Response:
    return _json(exc.status_code, exc.code, exc.message, exc.field, exc.headers())


_KEY_PATH = re.compile(r"^\$\.?(.*)$")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def _field_from_detail(detail: dict[str, Any]) -> str | None:
    key = detail.get("key")
    message = str(detail.get("message", ""))
    for pattern in (_UNKNOWN_FIELD, _MISSING_FIELD):
        found = pattern.search(message)
        if found:
            return found.group(1)
    if isinstance(key, str) and key:
        match = _KEY_PATH.match(key)
        path = match.group(1) if match else key
        return path or None
    return None


def validation_error_handler(_request: Request, exc: ValidationException) -> Response:
    """Litestar's body/parameter validation → 400 naming the first offending field."""
    details = exc.extra if isinstance(exc.extra, list) else []
    if not details:
        message = exc.detail or "invalid request"
        if "JSON" in message or "decode" in message.lower():
            return _json(400, "MALFORMED_JSON", "the request body is not valid JSON")
        return _json(400, "INVALID_INPUT", message)
    first = details[0] if isinstance(details[0], dict) else {"message": str(details[0])}
    field = _field_from_detail(first)
    message = str(first.get("message") or exc.detail)
    if field and field not in message:
        message = f"{field}: {message}"
    code = "UNKNOWN_FIELD" if _UNKNOWN_FIELD.search(message) or "Extra inputs" in message else "INVALID_INPUT"
    if code == "INVALID_INPUT" and ("missing" in message.lower() or "required" in message.lower()):
        code = "MISSING_FIELD"
    return _json(400, code, message, field)


_DECODE_HINTS = (
    "json",
    "truncated",
    "malformed",
    "invalid character",
    "trailing characters",
    "decode",
    "utf-8",
)


def _looks_like_decode_error(message: str) -> bool:
    lowered = message.lower()
    return any(hint in lowered for hint in _DECODE_HINTS)


def http_exception_handler(_request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status == HTTP_500_INTERNAL_SERVER_ERROR:
        log.error("internal error: %s", exc.detail)
        return _json(500, "INTERNAL", "internal error")
    code = {
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "BODY_TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
        429: "TOO_MANY_REQUESTS",
    }.get(status, "HTTP_ERROR")
    message = exc.detail or code.lower().replace("_", " ")
    if isinstance(exc, NotAuthorizedException):
        code = "UNAUTHORIZED"
    elif isinstance(exc, PermissionDeniedException):
        code = "FORBIDDEN"
    elif status == 413:
        message = "the request body is larger than this endpoint accepts"
    elif status == 400 and _looks_like_decode_error(message):
        code, message = "MALFORMED_JSON", f"the request body is not valid JSON ({message})"
    headers = {k: v for k, v in (exc.headers or {}).items()}
    return _json(status, code, message, headers=headers)


def integrity_error_handler(_request: Request, exc: IntegrityError) -> Response:
    # A race the service's own checks could not see (two creates of one username):
    # the transaction is rolled back by the plugin, nothing half-written remains.
    log.warning("integrity error: %s", exc.orig)
    if any(name in str(exc.orig) for name in ("pk_inventory_operation", "inventory_operation.move_id")):
        # The same move_id arrived twice at once (a retry while the first try was still running): the
        # first one stands; asking again returns its result.
        return _json(
            409,
            "MOVE_IN_PROGRESS",
            "an operation with this move_id was being recorded at the same time; retry to get its result",
            field="move_id",
            headers={"Retry-After": "1"},
        )
    return _json(409, "CONFLICT", "the change conflicts with existing data; reload and try again")


def stale_data_handler(_request: Request, exc: StaleDataError) -> Response:
    # Another transaction changed the same record first (optimistic concurrency on ``version``).
    log.info("concurrent update refused: %s", exc)
    return _json(409, "CONCURRENT_UPDATE", "the record was changed by someone else at the same time; retry")


def data_error_handler(_request: Request, exc: DataError) -> Response:
    # A value the database cannot store; the schemas should have refused it first.
    log.warning("data error: %s", exc.orig)
    return _json(400, "INVALID_INPUT", "a value in the request cannot be stored (bad characters or too long)")


def operational_error_handler(_request: Request, exc: OperationalError) -> Response:
    if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
        return _json(503, "BUSY", "the database is busy; retry shortly", headers={"Retry-After": "2"})
    log.exception("database error", exc_info=exc)
    return _json(503, "DATABASE_UNAVAILABLE", "the database is unavailable", headers={"Retry-After": "5"})


# PostgreSQL conditions that are the database's way of saying "try again" or "that value is too big";
# asyncpg surfaces them as a generic DBAPIError, so they are told apart by their SQLSTATE.
RETRYABLE_SQLSTATES = {"40001": "serialization failure", "40P01": "deadlock", "55P03": "lock not available"}
OUT_OF_RANGE_SQLSTATES = {"22003", "22008"}


def dbapi_error_handler(request: Request, exc: DBAPIError) -> Response:
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        log.info("retryable database conflict (%s): %s", RETRYABLE_SQLSTATES[sqlstate], exc.orig)
        return _json(
            503, "BUSY", "the database is busy with a conflicting change; retry", headers={"Retry-After": "1"}
        )
    if sqlstate in OUT_OF_RANGE_SQLSTATES:
        log.warning("value out of range: %s", exc.orig)
        return _json(400, "INVALID_INPUT", "a number or date in the request is out of range")
    return internal_error_handler(request, exc)


def internal_error_handler(_request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return _json(500, "INTERNAL", "internal error")


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_exception_handler,
    IntegrityError: integrity_error_handler,
    StaleDataError: stale_data_handler,
    DataError: data_error_handler,
    OperationalError: operational_error_handler,
    DBAPIError: dbapi_error_handler,
    Exception: internal_error_handler,
}

_DESCRIPTIONS = {
    400: "Malformed JSON, an unknown, missing or mistyped field (named in `field`)",
    401: "Missing, expired or invalid credentials",
    403: "The role or scope does not allow this, or the client is revoked (`CLIENT_REVOKED`)",
    404: "No such record visible to you",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Well-formed but breaks a business rule (named in `field`)",
    415: "Not a supported image type, or the content is not the type it claims",
    426: "The client speaks a sync protocol this server does not (`PROTOCOL_UNSUPPORTED`)",
    429: "Too many attempts; see `Retry-After`",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the errors an operation can answer (400 always: any path or
    query parameter can be malformed)."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[status])
        for status in sorted({400, *statuses})
    }
