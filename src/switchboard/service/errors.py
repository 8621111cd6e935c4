"""Errors a caller can see, and the one table that maps every typed error to an HTTP status.

Services raise typed errors (their own, the domain's ``PlanningError``/``UnknownModel``, the ports'
``StoreError``); the router handler maps them with ``http_error`` and nothing else decides a status.
An exception that is not in the table is a bug: it is logged with its trace and answered as a 500 whose
message says nothing about the internals.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from switchboard.domain.planner import BudgetTooSmall, PlanningError, UnknownModel
from switchboard.ports import StoreError


class ApiError(Exception):
    """An error whose message is meant for the caller (no secrets, no upstream bodies)."""

    def __init__(self, message: str, *, trace_id: str | None = None) -> None:
        super().__init__(message)
        self.trace_id = trace_id


class BadRequest(ApiError):
    """The request cannot be served as sent (malformed JSON, missing fields, unsupported values)."""


class PromptTooLarge(BadRequest):
    """The prompt is over the configured size limit."""


class NotFound(ApiError):
    """The addressed resource (a trace) does not exist or has expired."""


class MethodNotAllowed(ApiError):
    """The path exists, but not with this HTTP method."""


class CascadeFailed(ApiError):
    """The cascade produced no answer (every tier failed, or the execution itself failed)."""

    def __init__(self, trace_id: str, message: str) -> None:
        super().__init__(message, trace_id=trace_id)


class CascadeTimedOut(CascadeFailed):
    """The request's deadline passed before any model answered."""


@dataclass(frozen=True)
class ErrorKind:
    status: int
    type: str


# Most specific first: the first class an exception is an instance of decides.
STATUS_TABLE: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (PromptTooLarge, ErrorKind(413, "invalid_request_error")),
    (BudgetTooSmall, ErrorKind(402, "insufficient_budget")),
    (UnknownModel, ErrorKind(404, "invalid_request_error")),
    (NotFound, ErrorKind(404, "not_found")),
    (MethodNotAllowed, ErrorKind(405, "invalid_request_error")),
    (CascadeTimedOut, ErrorKind(504, "timeout")),
    (CascadeFailed, ErrorKind(502, "upstream_error")),
    (StoreError, ErrorKind(503, "service_unavailable")),
    (PlanningError, ErrorKind(400, "invalid_request_error")),
    (BadRequest, ErrorKind(400, "invalid_request_error")),
    (ValidationError, ErrorKind(400, "invalid_request_error")),
)
INTERNAL = ErrorKind(500, "internal_error")

# What the caller reads for errors whose own message must not leave the service.
_PUBLIC_MESSAGES = {
    503: "storage is unavailable; retry later",
    500: "internal error; the request id is in the response headers of API Gateway",
}


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one line a caller can act on: the field path and what is wrong with it."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def classify(exc: BaseException) -> ErrorKind:
    for cls, kind in STATUS_TABLE:
        if isinstance(exc, cls):
            return kind
    return INTERNAL


def http_error(exc: BaseException) -> tuple[int, dict]:
    """(status, OpenAI-shaped error body) for ``exc``."""
    kind = classify(exc)
    if kind.status in _PUBLIC_MESSAGES:
        message = _PUBLIC_MESSAGES[kind.status]
    elif isinstance(exc, ValidationError):
        message = validation_message(exc)
    elif isinstance(exc, CascadeFailed):
        message = f"no model could answer: {exc}"
    else:
        message = str(exc)
    body: dict = {"message": message, "type": kind.type, "code": kind.status}
    trace_id = getattr(exc, "trace_id", None)
    if trace_id:
        body["trace_id"] = trace_id
    return kind.status, {"error": body}
