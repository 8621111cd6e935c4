"""Server-sent events: OpenAI's chat completion chunks of one response, written from the stream
service's events (``service.streaming``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from switchboard.http.rendering import chat_completion_response
from switchboard.http.statuses import http_error
from switchboard.service.streaming import Delta, Failed, Final, KeepAlive, StreamEvent


class SseWriter:
    """OpenAI's chat completion chunks (server-sent events) of one response: a role chunk, content (or
    tool-call) chunks, a final chunk with the finish reason and the ``switchboard`` object, an optional
    usage chunk, ``[DONE]``; an ``error`` event when the stream must end in failure after it began."""

    def __init__(self, request_id: str, model: str) -> None:
        self.base = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model}

    def event(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps({**self.base, "choices": choices, **extra}, separators=(",", ":")) + "\n\n"

    def head(self) -> str:
        return self.event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])

    def delta(self, text: str) -> str:
        return self.event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])

    def body(self, message: dict[str, Any]) -> str:
        if message.get("tool_calls"):
            calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
            return self.event([{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}])
        return self.delta(message["content"])

    def tail(self, whole: dict[str, Any], include_usage: bool) -> str:
        self.base["model"] = whole["model"]
        out = self.event([{"index": 0, "delta": {}, "finish_reason": whole["choices"][0]["finish_reason"]}],
                         switchboard=whole["switchboard"])
        if include_usage:
            out += self.event([], usage=whole["usage"])
        return out + DONE

    @staticmethod
    def error(exc: Exception) -> str:
        _, body = http_error(exc)
        return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n" + DONE


DONE = "data: [DONE]\n\n"
KEEP_ALIVE = ": keep-alive\n\n"  # an SSE comment: clients ignore it, proxies see a live connection


def chat_completion_events(events: Iterator[StreamEvent], include_usage: bool) -> Iterator[str]:
    """OpenAI's chunks for the stream service's events: the role chunk before the first text, each piece
    of text as it comes, a keep-alive comment while the cascade works, and - once the final state is in -
    the rest of the answer, the final chunk with the finish reason and the ``switchboard`` object, usage
    and ``[DONE]``; an error event when the stream fails after it began."""
    writer: SseWriter | None = None
    for event in events:
        if isinstance(event, KeepAlive):
            yield KEEP_ALIVE
        elif isinstance(event, Delta):
            if writer is None:
                writer = SseWriter(event.request_id, event.model)
                yield writer.head() + writer.delta(event.text)
            else:
                yield writer.delta(event.text)
        elif isinstance(event, Final):
            whole = chat_completion_response(event.state)
            if writer is None:  # nothing streamed: the whole answer at once
                writer = SseWriter(event.state.request_id, whole["model"])
                yield writer.head() + writer.body(whole["choices"][0]["message"]) + writer.tail(whole, include_usage)
            else:
                yield writer.tail(whole, include_usage)
        elif isinstance(event, Failed):
            yield SseWriter.error(event.error)
