"""What each route does: parse the request, authenticate its caller, hand a command to one service, render
the result - and, whatever goes wrong, an error in OpenAI's shape (Anthropic's on ``/v1/messages``) from
the one status table (``http.statuses``). Endpoints see a plain ``HttpRequest``, so the Lambda handler and the
HTTP server serve them alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.http import messages_api, rendering
from switchboard.http.body import parse, parse_body
from switchboard.http.chat_completions import ChatCompletionRequest, FeedbackRequest
from switchboard.http.sse import chat_completion_events
from switchboard.http.statuses import http_error
from switchboard.ports import ApiKey
from switchboard.service.assembly import Services
from switchboard.service.errors import BadRequest, NotReady
from switchboard.service.responses import owner_of

log = logging.getLogger(__name__)
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
TRACE_PAGE, MAX_TRACE_PAGE = 50, 100  # GET /v1/traces: traces per answer (a trace can be tens of KB)


@dataclass(frozen=True)
class HttpRequest:
    """One request as an endpoint sees it. ``headers`` are keyed in lower case; ``params`` are the path's."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    base64: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)  # the query string's parameters
    # The caller as API Gateway authenticated it, where the deployment's apiAuth is "iam" or "api_key"
    # ("iam:<user ARN>", "apikey:<API key id>"; the router Lambda reads it from the event's request
    # context); None locally and behind bearer keys. It owns a keyless request's trace and stored response.
    principal: str | None = None

    @classmethod
    def of_rest_event(cls, event: Mapping[str, Any], params: Mapping[str, str]) -> HttpRequest:
        """The request an API Gateway REST proxy event carries (``params``: its path's, as routed)."""
        return cls(event.get("httpMethod") or "", event.get("path") or "",
                   {k.lower(): v for k, v in (event.get("headers") or {}).items()}, event.get("body"),
                   bool(event.get("isBase64Encoded")), params, event.get("queryStringParameters") or {},
                   principal_of(event.get("requestContext") or {}))

    def json(self) -> dict[str, Any]:
        return parse_body(self.body, self.base64)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


def principal_of(request_context: Mapping[str, Any]) -> str | None:
    """The caller as API Gateway authenticated it, from a REST API event's ``requestContext`` (apiAuth
    "iam": its IAM ARN; "api_key": its API key's id); None when API Gateway authenticated no one."""
    identity = request_context.get("identity") or {}
    if identity.get("userArn"):
        return f"iam:{identity['userArn']}"
    if identity.get("apiKeyId"):
        return f"apikey:{identity['apiKeyId']}"
    return None


@dataclass
class HttpResponse:
    status: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, value: HttpResponse | dict[str, Any]) -> HttpResponse:
        return value if isinstance(value, HttpResponse) else cls(200, json.dumps(value))


@dataclass
class StreamedResponse:
    """A response written as it is produced: its status, headers and the body's pieces."""

    status: int
    headers: dict[str, str]
    pieces: Iterator[bytes]


Endpoint = Callable[[HttpRequest, Services], "HttpResponse | dict[str, Any]"]


def _caller(request: HttpRequest, services: Services) -> ApiKey | None:
    return services.admission.authenticate(request.authorization)


def _chat_request(request: HttpRequest) -> ChatCompletionRequest:
    """A chat completion's request (jobs are started on /v1/route only)."""
    chat = parse(ChatCompletionRequest, request.json())
    if chat.async_:
        raise BadRequest("jobs are started with POST /v1/route and \"async\": true", param="async")
    return chat


def chat_completions(request: HttpRequest, services: Services) -> HttpResponse | dict[str, Any]:
    chat = _chat_request(request)
    command = chat.command(_caller(request, services), services.limits.max_prompt_chars, request.principal)
    if chat.stream:  # buffered: one body (a Lambda proxy response); the HTTP server streams it (``stream``)
        events = services.streams.stream(command, live=False)
        return HttpResponse(200, "".join(chat_completion_events(events, _include_usage(chat))),
                            "text/event-stream", {"Cache-Control": "no-cache"})
    return rendering.chat_completion_response(services.chat.complete(command))


def stream_chat_completion(request: HttpRequest, services: Services) -> StreamedResponse | None:
    """``stream: true`` as it is produced, for a server that can stream. Every refusal happens before the
    first piece (an error status and OpenAI's JSON error); once events flow, a failure ends them with an
    error event. None when the request does not ask for a stream (the plain endpoint serves it)."""
    try:
        body = request.json()
        if body.get("stream") is not True:
            return None
        chat = _chat_request(request)
        command = chat.command(_caller(request, services), services.limits.max_prompt_chars, request.principal)
        chunks = chat_completion_events(services.streams.stream(command), _include_usage(chat))
        first = next(chunks)  # raises a refusal or an early failure before anything is sent
    except Exception as exc:  # noqa: BLE001 - every error is mapped, as the other endpoints' are
        response = error_response(exc, anthropic_shape=False)
        return StreamedResponse(response.status, {"Content-Type": "application/json", **response.headers},
                                iter([response.body.encode("utf-8")]))
    return StreamedResponse(200, dict(SSE_HEADERS), _encoded(first, chunks))


def _encoded(first: str, chunks: Iterator[str]) -> Iterator[bytes]:
    try:
        yield first.encode("utf-8")
        for piece in chunks:
            yield piece.encode("utf-8")
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a client that went away: the stream's own cleanup (the key's settlement) runs now


def _include_usage(chat: ChatCompletionRequest) -> bool:
    return bool(chat.stream_options and chat.stream_options.include_usage)


def anthropic_messages(request: HttpRequest, services: Services) -> HttpResponse | dict[str, Any]:
    """Anthropic's Messages API on the same cascade (``http.messages_api``); its clients send their key as
    ``x-api-key``, read as a bearer key."""
    messages = parse(messages_api.MessagesRequest, request.json())
    key = request.headers.get("x-api-key")
    caller = services.admission.authenticate(request.authorization or (f"Bearer {key}" if key else None))
    state = services.chat.complete(messages.openai().command(caller, services.limits.max_prompt_chars,
                                                             request.principal))
    if messages.stream:
        return HttpResponse(200, messages_api.messages_stream(state), "text/event-stream", {"Cache-Control": "no-cache"})
    return messages_api.messages_response(state)


def route(request: HttpRequest, services: Services) -> HttpResponse | dict[str, Any]:
    chat = parse(ChatCompletionRequest, request.json())
    if chat.stream:
        raise BadRequest("/v1/route answers with the whole plan; stream only /v1/chat/completions", param="stream")
    command = chat.command(_caller(request, services), services.limits.max_prompt_chars, request.principal)
    if chat.async_:
        job = services.jobs.submit(command)
        return HttpResponse(202, json.dumps(rendering.job_response(job)), headers={"Location": f"/v1/jobs/{job.trace_id}"})
    return rendering.route_response(services.chat.complete(command))


def get_job(request: HttpRequest, services: Services) -> dict[str, Any]:
    _caller(request, services)
    return rendering.job_response(*services.jobs.job(request.params["job_id"]))


def get_trace(request: HttpRequest, services: Services) -> dict[str, Any]:
    _caller(request, services)
    return services.traces.get(request.params["trace_id"]).model_dump(mode="json")


def list_traces(request: HttpRequest, services: Services) -> dict[str, Any]:
    """The caller's newest traces (``?limit=``, 1 to 100, default 50): its own key's requests only."""
    caller = _caller(request, services)
    raw = request.query.get("limit", str(TRACE_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TRACE_PAGE:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_TRACE_PAGE}", param="limit")
    traces = services.traces.recent(owner_of(caller, request.principal), int(raw))
    return {"object": "list", "data": [t.model_dump(mode="json") for t in traces]}


def feedback(request: HttpRequest, services: Services) -> dict[str, Any]:
    _caller(request, services)
    return services.traces.feedback(parse(FeedbackRequest, request.json()).feedback())


def models(request: HttpRequest, services: Services) -> dict[str, Any]:
    _caller(request, services)
    return services.inventory.models()


def health(request: HttpRequest, services: Services) -> dict[str, Any]:
    return services.inventory.health()


def error_response(exc: Exception, anthropic_shape: bool) -> HttpResponse:
    """``exc`` as the caller sees it: the status table's status and body (in Anthropic's shape for the
    Messages API), ``Retry-After`` on a 503; a 502 is the cascade's failure (its trace holds the why),
    anything at or above 500 else is logged with its stack."""
    status, body = http_error(exc)
    if anthropic_shape:
        body = messages_api.anthropic_error(status, body)
    headers = {"Retry-After": str(NotReady.retry_after_s)} if status == 503 else {}
    if status == 502:
        log.warning("cascade failed (trace %s)", (body.get("error") or {}).get("trace_id"))
    elif status >= 500:
        log.error("request failed with %s", status, exc_info=exc)
    return HttpResponse(status, json.dumps(body), headers=headers)
