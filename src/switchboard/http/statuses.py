"""The one table that maps every typed error to an HTTP status and OpenAI's error body.

Services raise typed errors (``service.errors``, the domain's ``PlanningError``/``UnknownModel``, the ports'
``StoreError``); the endpoints map them with ``http_error`` and nothing else decides a status. An exception
that is not in the table is a bug: it is logged with its trace and answered as a 500 whose message says
nothing about the internals.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from switchboard.domain.planner import BudgetTooSmall, PlanningError, UnknownModel
from switchboard.ports import StoreError
from switchboard.service.errors import (
    BadRequest,
    CascadeFailed,
    CascadeTimedOut,
    KeyBudgetExhausted,
    MethodNotAllowed,
    NotFound,
    NotReady,
    PromptTooLarge,
    Unauthorized,
)


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
