"""Errors a caller can see: what the services raise when a request cannot be served as sent.

Services raise these (and the domain's ``PlanningError``/``UnknownModel``, the ports' ``StoreError``); the
HTTP layer's one status table (``switchboard.http.statuses``) maps each to a status and a body.
"""

from __future__ import annotations


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
