"""Router Lambda: the HTTP API (API Gateway REST proxy events).

Parse the body, call the router service, serialise. Every error is mapped by one table
(``switchboard.service.errors``) into OpenAI's error shape; never a stack trace.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from switchboard.composition import container
from switchboard.service import api
from switchboard.service.errors import BadRequest, MethodNotAllowed, NotFound, NotReady, http_error
from switchboard.service.messages import MessagesRequest, anthropic_error, messages_response, messages_stream
from switchboard.service.openapi import openapi_document

logger = Logger(service="switchboard-router")


class _PerThread(threading.local):
    app: APIGatewayRestResolver | None = None


_resolvers = _PerThread()


def _app() -> APIGatewayRestResolver:
    """This thread's resolver. Powertools keeps a request's state on its resolver (and the event on the
    resolver's class), which is right for Lambda - one request per process at a time - but the local
    server runs requests on threads of one process: each thread gets its own resolver, and the event is
    pinned on the instance, so two requests at once never read each other's body, path or route."""
    if _resolvers.app is None:
        app = APIGatewayRestResolver()
        for method, path, route in ROUTES:
            app.route(path, method)(route)
        app.not_found(_not_found)
        app.exception_handler(Exception)(_error)
        _resolvers.app = app
    return _resolvers.app


def _event() -> Any:
    return _app().current_event


def _body() -> dict:
    return api.parse_body(_event().body, bool(_event().is_base64_encoded))


def _authorization() -> str | None:
    return _event().headers.get("Authorization")  # case-insensitive


def _authenticated() -> None:
    container().router().authenticate(_authorization())


def _chat_request(body: dict) -> api.ChatCompletionRequest:
    """A chat completion's request (jobs are started on /v1/route only)."""
    request = api.parse(api.ChatCompletionRequest, body)
    if request.async_:
        raise BadRequest("jobs are started with POST /v1/route and \"async\": true", param="async")
    return request


def chat_completions():
    request = _chat_request(_body())
    if request.stream:  # buffered here (a Lambda proxy response is one body); stream_chat streams it
        events = "".join(container().router().chat_stream(request, _authorization(), live=False))
        return Response(status_code=200, content_type="text/event-stream", body=events,
                        headers={"Cache-Control": "no-cache"})
    return api.chat_completion_response(container().router().chat(request, _authorization()))


def anthropic_messages():
    """Anthropic's Messages API on the same cascade (``service.messages``)."""
    request = api.parse(MessagesRequest, _body())
    state = container().router().chat(request.openai(), _authorization() or _x_api_key())
    if request.stream:
        return Response(status_code=200, content_type="text/event-stream", body=messages_stream(state),
                        headers={"Cache-Control": "no-cache"})
    return messages_response(state)


def _x_api_key() -> str | None:
    """Anthropic clients send their key as ``x-api-key``: read as a bearer key."""
    key = _event().headers.get("x-api-key")
    return f"Bearer {key}" if key else None


def route():
    request = api.parse(api.ChatCompletionRequest, _body())
    if request.stream:
        raise BadRequest("/v1/route answers with the whole plan; stream only /v1/chat/completions",
                         param="stream")
    if request.async_:
        job = container().router().submit(request, _authorization())
        return Response(status_code=202, content_type="application/json", body=json.dumps(api.job_response(job)),
                        headers={"Location": f"/v1/jobs/{job.trace_id}"})
    return api.route_response(container().router().chat(request, _authorization()))


def get_job(job_id: str):
    _authenticated()
    return api.job_response(*container().router().job(job_id))


def get_trace(trace_id: str):
    _authenticated()
    return container().router().trace(trace_id).model_dump(mode="json")


def feedback():
    _authenticated()
    return container().router().feedback(api.parse(api.FeedbackRequest, _body()))


def models():
    _authenticated()
    return container().router().models()


def health():
    return container().router().health()


def openapi_json():
    return openapi_document()


def _not_found(_exc):
    method, path = _event().http_method, _event().path
    allowed = api.methods_for(path)
    if allowed:
        return _error(MethodNotAllowed(f"{method} is not allowed on {path}; use {' or '.join(allowed)}"))
    return _error(NotFound(f"no route {method} {path}"))


def _error(exc: Exception, path: str | None = None) -> Response:
    status, body = http_error(exc)
    if (path or _event().path).rstrip("/") == "/v1/messages":
        body = anthropic_error(status, body)
    headers = {"Retry-After": str(NotReady.retry_after_s)} if status == 503 else None
    if status == 502:  # the trace holds the why; the cascade's failure is not the router's
        logger.warning("cascade failed", extra={"trace_id": body["error"].get("trace_id")})
    elif status >= 500:
        logger.exception("request failed", extra={"status": status})
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def stream_chat(event: dict) -> tuple[int, dict[str, str], Iterator[bytes]] | None:
    """A ``stream: true`` chat completion as it is produced, for a server that can stream (the local
    server): the status, the headers and the body's pieces. Every refusal happens before the first piece
    (an error status and OpenAI's JSON error); once events flow, a failure ends them with an error event.
    None when the event is not a streaming chat completion (``lambda_handler`` serves it)."""
    if event.get("httpMethod") != "POST" or (event.get("path") or "").rstrip("/") != "/v1/chat/completions":
        return None
    try:
        body = api.parse_body(event.get("body"), bool(event.get("isBase64Encoded")))
        if body.get("stream") is not True:
            return None
        request = _chat_request(body)
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        events = container().router().chat_stream(request, headers.get("authorization"))
        first = next(events)  # raises a refusal or an early failure before anything is sent
    except Exception as exc:  # noqa: BLE001 - every error is mapped (as _error does)
        response = _error(exc, path="/v1/chat/completions")
        headers = {k: v if isinstance(v, str) else ", ".join(v) for k, v in (response.headers or {}).items()}
        return response.status_code, {"Content-Type": "application/json", **headers}, \
            iter([str(response.body).encode("utf-8")])
    return 200, dict(SSE_HEADERS), _encoded(first, events)


def _encoded(first: str, events: Iterator[str]) -> Iterator[bytes]:
    try:
        yield first.encode("utf-8")
        for piece in events:
            yield piece.encode("utf-8")
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # a client that went away: the stream's own cleanup (the key's settlement) runs now


ROUTES = (
    ("POST", "/v1/chat/completions", chat_completions),
    ("POST", "/v1/messages", anthropic_messages),
    ("POST", "/v1/route", route),
    ("GET", "/v1/jobs/<job_id>", get_job),
    ("GET", "/v1/traces/<trace_id>", get_trace),
    ("POST", "/v1/feedback", feedback),
    ("GET", "/v1/models", models),
    ("GET", "/health", health),
    ("GET", "/openapi.json", openapi_json),
)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context: Any) -> dict:
    app = _app()
    app.current_event = app._to_proxy_event(event)  # type: ignore[assignment] # this request's, on this thread's resolver (see _app)
    return app.resolve(event, context)
