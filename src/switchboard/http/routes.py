"""The API's one route table. The router Lambda's resolver, the HTTP server, the OpenAPI document and the
CDK API's resources are all derived from it; nothing else spells a route."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from switchboard.http import endpoints as e
from switchboard.http import ui
from switchboard.http.chat_completions import ChatCompletionRequest, FeedbackRequest
from switchboard.http.endpoints import Endpoint, HttpRequest, HttpResponse, StreamedResponse, error_response
from switchboard.http.messages_api import MessagesRequest
from switchboard.http.openapi import openapi_document
from switchboard.http.responses_api import ResponsesRequest
from switchboard.http.responses_endpoints import create_response, get_response, stream_response
from switchboard.http.schemas import (
    COMPLETION_SCHEMA,
    JOB_SCHEMA,
    MESSAGE_SCHEMA,
    RESPONSE_SCHEMA,
    ROUTE_SCHEMA,
)
from switchboard.service.assembly import Services
from switchboard.service.errors import MethodNotAllowed, NotFound

COMPLETION_ERRORS = ("400", "401", "402", "404", "413", "429", "502", "503", "504")
READ_ERRORS = ("400", "401", "404", "503")
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    """One method on one path: the endpoint that serves it and what the OpenAPI document says of it.
    ``path`` is OpenAPI's template (``/v1/jobs/{job_id}``); ``stream``, where set, serves the route as it
    is produced on a server that can stream; ``anthropic``: errors in Anthropic's shape."""

    method: str
    path: str
    endpoint: Endpoint
    operation_id: str
    summary: str
    success: dict[str, Any]
    errors: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    anthropic: bool = False
    stream: Callable[[HttpRequest, Services], StreamedResponse | None] | None = None
    event_stream: bool = False  # the success may be server-sent events
    extra_responses: Mapping[str, Any] = field(default_factory=dict)
    # a page for a browser, not part of the API: left out of the OpenAPI document, and deployed only when
    # the CDK context asks for it (``switchboard:ui``)
    page: bool = False

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def resolver_path(self) -> str:
        """The path as Powertools' resolver writes it (``/v1/jobs/<job_id>``)."""
        return _PARAM.sub(r"<\1>", self.path)

    @property
    def resource_path(self) -> str:
        """The path as an API Gateway resource (``v1/jobs/{job_id}``)."""
        return self.path.lstrip("/")

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when ``path`` is this route's, else None."""
        expected, parts = self.path.split("/"), path.rstrip("/").split("/")
        if len(expected) != len(parts):
            return None
        params = {}
        for want, got in zip(expected, parts, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params

    def serve(self, request: HttpRequest, services: Services) -> HttpResponse:
        """The endpoint's response, or the error it raised in the route's error shape."""
        try:
            return HttpResponse.of(self.endpoint(request, services))
        except Exception as exc:  # noqa: BLE001 - every error is mapped by the one status table
            return error_response(exc, anthropic_shape=self.anthropic)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/chat/completions", e.chat_completions, "createChatCompletion",
          "OpenAI-compatible chat completion (stream=true: server-sent events)", COMPLETION_SCHEMA,
          COMPLETION_ERRORS, body=ChatCompletionRequest, stream=e.stream_chat_completion, event_stream=True),
    Route("POST", "/v1/messages", e.anthropic_messages, "createMessage",
          "Anthropic-compatible Messages API on the same cascade (errors in Anthropic's shape)", MESSAGE_SCHEMA,
          COMPLETION_ERRORS, body=MessagesRequest, anthropic=True, event_stream=True),
    Route("POST", "/v1/responses", create_response, "createResponse",
          "OpenAI's Responses API on the same cascade (stream=true: its server-sent events; store and "
          "previous_response_id continue a conversation)", RESPONSE_SCHEMA, COMPLETION_ERRORS,
          body=ResponsesRequest, stream=stream_response, event_stream=True),
    Route("GET", "/v1/responses/{response_id}", get_response, "getResponse",
          "A stored response (the caller's own; 404 for another key's)", RESPONSE_SCHEMA, READ_ERRORS),
    Route("POST", "/v1/route", e.route, "route",
          "The same request, answered with the full plan and attempts; with \"async\": true a job (202; "
          "GET /v1/jobs/{id})", ROUTE_SCHEMA, COMPLETION_ERRORS, body=ChatCompletionRequest,
          extra_responses={"202": {"description": "a job was started (\"async\": true)",
                                   "content": {"application/json": {"schema": JOB_SCHEMA}}}}),
    Route("GET", "/v1/jobs/{job_id}", e.get_job, "getJob", "A job's status, and its result or error once done",
          JOB_SCHEMA, READ_ERRORS),
    Route("GET", "/v1/traces", e.list_traces, "listTraces",
          "The caller's newest traces, newest first (?limit=, 1 to 100, default 50; a key sees its own requests')",
          {"type": "object", "required": ["object", "data"],
           "properties": {"object": {"const": "list"}, "data": {"type": "array"}}}, READ_ERRORS),
    Route("GET", "/v1/traces/{trace_id}", e.get_trace, "getTrace", "A stored trace",
          {"type": "object", "required": ["trace_id", "status"]}, READ_ERRORS),
    Route("POST", "/v1/feedback", e.feedback, "postFeedback", "Score an answer, for the next training run",
          {"type": "object", "required": ["trace_id", "stored"]}, READ_ERRORS, body=FeedbackRequest),
    Route("GET", "/v1/models", e.models, "listModels", "The routing names and the catalogue's models",
          {"type": "object", "required": ["object", "data"],
           "properties": {"object": {"const": "list"}, "data": {"type": "array"}}}, ("401", "503")),
    Route("GET", "/health", e.health, "health", "Ready to route (503 with Retry-After while not)",
          {"type": "object", "required": ["status"]}, ("503",)),
    Route("GET", "/openapi.json", lambda request, services: document(), "getOpenApi", "This document",
          {"type": "object", "required": ["openapi", "paths"]}),
    Route("GET", "/ui", ui.serve, "getUi", "A page of the recent requests (HTML)", {"type": "string"}, page=True),
)


# What the Lambda Web Adapter polls before it forwards requests (deployed streaming): a route that answers
# from this process alone, without storage or models.
READINESS_PATH = next(r.path for r in ROUTES if r.operation_id == "getOpenApi")


def document() -> dict[str, Any]:
    """The API's OpenAPI document: every route of the table (``http.openapi``)."""
    return openapi_document([r for r in ROUTES if not r.page])


def find(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route serving ``method`` on ``path``, with its path parameters."""
    for candidate in ROUTES:
        params = candidate.match(path)
        if params is not None and candidate.method == method.upper():
            return candidate, params
    return None


def methods_for(path: str) -> list[str]:
    """The methods a path is served with (empty: no such path)."""
    return [r.method for r in ROUTES if r.match(path) is not None]


def unrouted(method: str, path: str) -> HttpResponse:
    """No route: 405 naming the methods the path has, else 404 (JSON, like every other answer)."""
    allowed = methods_for(path)
    if allowed:
        return error_response(MethodNotAllowed(f"{method} is not allowed on {path}; use {' or '.join(allowed)}"),
                              anthropic_shape=False)
    return error_response(NotFound(f"no route {method} {path}"), anthropic_shape=False)
