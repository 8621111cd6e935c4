"""The Responses API's endpoints (``POST /v1/responses``, streamed or not, and ``GET /v1/responses/{id}``):
parse, authenticate, continue a stored conversation, answer on the one cascade, keep the response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from switchboard.http.body import parse
from switchboard.http.endpoints import (
    SSE_HEADERS,
    HttpRequest,
    HttpResponse,
    StreamedResponse,
    error_response,
)
from switchboard.http.responses_api import ResponsesRequest
from switchboard.http.responses_render import conversation_items, response_events, response_object
from switchboard.ports import StoredResponse
from switchboard.service.assembly import Services
from switchboard.service.commands import ChatCommand
from switchboard.service.responses import owner_of


def _command(request: HttpRequest, services: Services) -> tuple[ResponsesRequest, ChatCommand, list[dict[str, Any]],
                                                                  str | None]:
    """The parsed request, its command, the conversation it continues, and its owner (``owner_of``)."""
    body = parse(ResponsesRequest, request.json())
    caller = services.admission.authenticate(request.authorization)
    owner = owner_of(caller, request.principal)
    history: list[dict[str, Any]] = []
    if body.previous_response_id is not None:
        history = services.responses.get(body.previous_response_id, owner, param="previous_response_id").conversation
    command = body.chat_request(history).command(caller, services.limits.max_prompt_chars, request.principal)
    previous = body.previous_response_id
    if previous is not None and previous.startswith("resp_"):  # the model that answered it answers this one
        continued = command.request.model_copy(update={"previous_trace": previous.removeprefix("resp_")})
        command = replace(command, request=continued)
    return body, command, history, owner


def _keep(services: Services, body: ResponsesRequest, history: list[dict[str, Any]], owner: str | None,
          response: dict[str, Any]) -> None:
    if body.stored:
        services.responses.keep(StoredResponse(response_id=response["id"], owner=owner,
                                               created_at=response["created_at"], response=response,
                                               conversation=conversation_items(history, body, response)))


def create_response(request: HttpRequest, services: Services) -> HttpResponse | dict[str, Any]:
    body, command, history, owner = _command(request, services)
    if body.stream:  # buffered: one body (a Lambda proxy response); the HTTP server streams it
        finished: list[dict[str, Any]] = []
        text = "".join(response_events(services.streams.stream(command, live=False), body, finished))
        for response in finished:
            _keep(services, body, history, owner, response)
        return HttpResponse(200, text, "text/event-stream", {"Cache-Control": "no-cache"})
    response = response_object(services.chat.complete(command), body, int(time.time()))
    _keep(services, body, history, owner, response)
    return response


def stream_response(request: HttpRequest, services: Services) -> StreamedResponse | None:
    """``stream: true`` as it is produced: refusals before the first event (an HTTP error), then the
    Responses events; the response is stored once it is complete. None without ``stream: true``."""
    try:
        if request.json().get("stream") is not True:
            return None
        body, command, history, owner = _command(request, services)
        finished: list[dict[str, Any]] = []
        events = response_events(services.streams.stream(command), body, finished)
        first = next(events)  # raises a refusal or an early failure before anything is sent
    except Exception as exc:  # noqa: BLE001 - every error is mapped, as the other endpoints' are
        response = error_response(exc, anthropic_shape=False)
        return StreamedResponse(response.status, {"Content-Type": "application/json", **response.headers},
                                iter([response.body.encode("utf-8")]))

    def pieces() -> Iterator[bytes]:
        try:
            yield first.encode("utf-8")
            for piece in events:
                if finished:  # stored before response.completed is sent: a client may continue at once
                    _keep(services, body, history, owner, finished.pop())
                yield piece.encode("utf-8")
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # a client that went away: the stream's own cleanup (the key's settlement) runs now

    return StreamedResponse(200, dict(SSE_HEADERS), pieces())


def get_response(request: HttpRequest, services: Services) -> dict[str, Any]:
    caller = services.admission.authenticate(request.authorization)
    return services.responses.get(request.params["response_id"], owner_of(caller, request.principal)).response
