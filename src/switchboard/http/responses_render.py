"""The Responses API's answers: the response object for a cascade's final state (``output`` items - a
``message`` with ``output_text``, ``function_call`` items - ``usage`` as billed, the ``switchboard``
extension), its conversation items (what ``previous_response_id`` continues from), and its server-sent
events (``response.created`` ... ``response.completed``; an ``error`` event when a stream fails after it
began)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from switchboard.domain.state import CascadeState
from switchboard.http.rendering import chat_completion_response
from switchboard.http.responses_api import ResponsesRequest
from switchboard.http.sse import KEEP_ALIVE
from switchboard.http.statuses import http_error
from switchboard.service.streaming import Delta, Failed, Final, KeepAlive, StreamEvent


def response_id(state: CascadeState) -> str:
    return f"resp_{state.request_id}"


def _echo(request: ResponsesRequest) -> dict[str, Any]:
    """The request's settings as the response object repeats them."""
    fmt = request.text.format.model_dump(by_alias=True, exclude_none=True) if request.text and request.text.format \
        else {"type": "text"}
    return {"instructions": request.instructions, "metadata": request.metadata or {},
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "temperature": request.temperature if request.temperature is not None else 0.0,
            "tool_choice": request.tool_choice or "auto", "tools": request.tools or [], "top_p": 1.0,
            "max_output_tokens": request.max_output_tokens, "previous_response_id": request.previous_response_id,
            "store": request.stored, "text": {"format": fmt}, "truncation": "disabled", "user": request.user,
            "prompt_cache_key": request.prompt_cache_key,
            "reasoning": None, "service_tier": "default", "background": False, "error": None,
            "incomplete_details": None}


def output_items(state: CascadeState) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The answer's output items and the chat completion they were read from."""
    whole = chat_completion_response(state)
    message = whole["choices"][0]["message"]
    items: list[dict[str, Any]] = []
    if message.get("content") is not None:
        items.append({"type": "message", "id": f"msg_{state.request_id}", "status": "completed", "role": "assistant",
                      "content": [{"type": "output_text", "text": message["content"], "annotations": []}]})
    for call in message.get("tool_calls") or []:
        items.append({"type": "function_call", "id": call["id"].replace("call_", "fc_", 1), "call_id": call["id"],
                      "name": call["function"]["name"], "arguments": call["function"]["arguments"],
                      "status": "completed"})
    return items, whole


def response_object(state: CascadeState, request: ResponsesRequest, created_at: int | None = None) -> dict[str, Any]:
    """The response object of a finished cascade."""
    items, whole = output_items(state)
    usage = whole["usage"]
    cut = whole["choices"][0]["finish_reason"] == "length"
    return {"id": response_id(state), "object": "response", "created_at": created_at or int(time.time()),
            "status": "incomplete" if cut else "completed", "model": whole["model"], "output": items,
            **_echo(request), "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"],
                      "total_tokens": usage["total_tokens"], "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}},
            "switchboard": {**whole["switchboard"], "response_id": response_id(state)}}


def conversation_items(history: list[dict[str, Any]], request: ResponsesRequest,
                       response: dict[str, Any]) -> list[dict[str, Any]]:
    """What a later request continues from with ``previous_response_id``: the earlier conversation, this
    request's input (not its instructions: OpenAI does not carry them over) and this response's output."""
    return [*history, *request.items(), *response["output"]]


class ResponseEvents:
    """The Responses API's server-sent events of one response, numbered in order."""

    def __init__(self) -> None:
        self.sequence = 0

    def event(self, kind: str, **data: Any) -> str:
        payload = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"

    def start(self, request: ResponsesRequest, rid: str, model: str, created_at: int) -> str:
        shell = {"id": rid, "object": "response", "created_at": created_at, "status": "in_progress", "model": model,
                 "output": [], "usage": None, **_echo(request)}
        return self.event("response.created", response=shell) + self.event("response.in_progress", response=shell)

    def open_text(self, index: int, item_id: str) -> str:
        item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        return (self.event("response.output_item.added", output_index=index, item=item)
                + self.event("response.content_part.added", output_index=index, item_id=item_id, content_index=0,
                             part=part))

    def text_delta(self, index: int, item_id: str, text: str) -> str:
        return self.event("response.output_text.delta", output_index=index, item_id=item_id, content_index=0,
                          delta=text, logprobs=[])

    def close_text(self, index: int, item: dict[str, Any]) -> str:
        part = item["content"][0]
        return (self.event("response.output_text.done", output_index=index, item_id=item["id"], content_index=0,
                           text=part["text"], logprobs=[])
                + self.event("response.content_part.done", output_index=index, item_id=item["id"], content_index=0,
                             part=part)
                + self.event("response.output_item.done", output_index=index, item=item))

    def call(self, index: int, item: dict[str, Any]) -> str:
        return (self.event("response.output_item.added", output_index=index, item={**item, "arguments": "",
                                                                                    "status": "in_progress"})
                + self.event("response.function_call_arguments.delta", output_index=index, item_id=item["id"],
                             delta=item["arguments"])
                + self.event("response.function_call_arguments.done", output_index=index, item_id=item["id"],
                             arguments=item["arguments"])
                + self.event("response.output_item.done", output_index=index, item=item))

    def error(self, exc: Exception) -> str:
        _, body = http_error(exc)
        error = body["error"]
        return self.event("error", code=error.get("code"), message=error["message"], param=error.get("param"),
                          error=error)


def response_events(events: Iterator[StreamEvent], request: ResponsesRequest,
                    finished: list[dict[str, Any]]) -> Iterator[str]:
    """The Responses API's events for the stream service's events: ``response.created`` first, the text's
    deltas as the model produces them (a single tier) or at once once the cascade has decided, each
    function call's arguments, ``response.completed`` with the whole response. The finished response is
    appended to ``finished`` (the endpoint stores it)."""
    writer = ResponseEvents()
    created_at = int(time.time())
    streamed: str | None = None  # the id of the message item whose text is being streamed
    for event in events:
        if isinstance(event, KeepAlive):
            yield KEEP_ALIVE
        elif isinstance(event, Delta):
            if streamed is None:
                streamed = f"msg_{event.request_id}"
                yield writer.start(request, f"resp_{event.request_id}", event.model, created_at) + writer.open_text(0, streamed)
            yield writer.text_delta(0, streamed, event.text)
        elif isinstance(event, Final):
            response = response_object(event.state, request, created_at)
            out = "" if streamed is not None else writer.start(request, response["id"], response["model"], created_at)
            for index, item in enumerate(response["output"]):
                if item["type"] == "message":
                    if streamed is None:
                        text = item["content"][0]["text"]
                        out += writer.open_text(index, item["id"]) + writer.text_delta(index, item["id"], text)
                    out += writer.close_text(index, item)
                else:
                    out += writer.call(index, item)
            finished.append(response)
            yield out + writer.event("response.completed", response=response)
        elif isinstance(event, Failed):
            yield writer.error(event.error)
