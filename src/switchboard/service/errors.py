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
    """An error whose message is meant for the caller (no secrets, no upstream bodies); ``param`` names the
    request parameter at fault, as OpenAI's error object does."""

    def __init__(self, message: str, *, trace_id: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.trace_id = trace_id
        self.param = param


class BadRequest(ApiError):
    """The request cannot be served as sent (malformed JSON, missing fields, unsupported values)."""


class PromptTooLarge(BadRequest):
    """The prompt is over the configured size limit."""


class NotFound(ApiError):
    """The addressed resource (a trace) does not exist or has expired."""


class Unauthorized(ApiError):
    """No API key, or a key that is unknown or revoked."""


class KeyBudgetExhausted(ApiError):
    """The API key has too little budget left for this request's first tier."""


class NotReady(ApiError):
    """The service cannot serve yet (nothing to route to); retry after ``retry_after_s``."""

    retry_after_s = 5


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
    code: str


# Most specific first: the first class an exception is an instance of decides.
STATUS_TABLE: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (PromptTooLarge, ErrorKind(413, "invalid_request_error", "context_length_exceeded")),
    (Unauthorized, ErrorKind(401, "invalid_request_error", "invalid_api_key")),
    (KeyBudgetExhausted, ErrorKind(429, "insufficient_quota", "insufficient_quota")),
    (BudgetTooSmall, ErrorKind(402, "insufficient_budget", "budget_too_small")),
    (UnknownModel, ErrorKind(404, "invalid_request_error", "model_not_found")),
    (NotFound, ErrorKind(404, "not_found", "not_found")),
    (MethodNotAllowed, ErrorKind(405, "invalid_request_error", "method_not_allowed")),
    (CascadeTimedOut, ErrorKind(504, "timeout", "deadline_exceeded")),
    (CascadeFailed, ErrorKind(502, "upstream_error", "no_model_answered")),
    (StoreError, ErrorKind(503, "service_unavailable", "storage_unavailable")),
    (NotReady, ErrorKind(503, "service_unavailable", "not_ready")),
    (PlanningError, ErrorKind(400, "invalid_request_error", "unplannable_request")),
    (BadRequest, ErrorKind(400, "invalid_request_error", "invalid_request")),
    (ValidationError, ErrorKind(400, "invalid_request_error", "invalid_request")),
)
INTERNAL = ErrorKind(500, "internal_error", "internal_error")

# What the caller reads for errors whose own message must not leave the service.
_PUBLIC_MESSAGES = {
    503: "storage is unavailable; retry later",  # NotReady's own message is public (see http_error)
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
    if isinstance(exc, NotReady):
        message = str(exc)
    elif kind.status in _PUBLIC_MESSAGES:
        message = _PUBLIC_MESSAGES[kind.status]
    elif isinstance(exc, ValidationError):
        message = validation_message(exc)
    elif isinstance(exc, CascadeFailed):
        message = f"no model could answer: {exc}"
    else:
        message = str(exc)
    param = getattr(exc, "param", None)
    if param is None and isinstance(exc, ValidationError) and exc.errors():
        param = ".".join(str(p) for p in exc.errors()[0]["loc"]) or None
    if param is None and isinstance(exc, UnknownModel):
        param = "model"
    if param is None and isinstance(exc, BudgetTooSmall):
        param = "switchboard.max_cost_usd"
    body: dict = {"message": message, "type": kind.type, "param": param, "code": kind.code}
    trace_id = getattr(exc, "trace_id", None)
    if trace_id:
        body["trace_id"] = trace_id
    return kind.status, {"error": body}
