"""Anthropic's Messages API over plain httpx (no SDK: one POST does not justify another dependency).

The Messages API differs from the OpenAI format in three ways that matter here: the system prompt is a
top-level ``system`` field rather than a message, the turns must alternate user/assistant (adjacent
turns of one role are merged), and the answer is a list of content blocks. The key travels in the
``x-api-key`` header only and is hidden from ``repr`` and error messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx

from switchboard.adapters.providers.redact import redact
from switchboard.domain.requests import Message
from switchboard.ports import Completion, CompletionRequest, ProviderUnavailable

from .http_calls import HttpProvider, estimate_tokens, post_json

log = logging.getLogger(__name__)
ANTHROPIC_VERSION = "2023-06-01"

# The Messages API's stop reasons, in the OpenAI vocabulary the rest of Switchboard speaks.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter"}


def split_system(messages: Sequence[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """System text apart, then user/assistant turns with adjacent same-role turns merged.

    Returns the turns as ``{"role", "texts"}`` dicts so each adapter can shape its own content blocks.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["texts"].append(m.content)
        else:
            turns.append({"role": m.role, "texts": [m.content]})
    return system, turns


class AnthropicMessages(HttpProvider):
    """``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version`` headers."""

    def __init__(self, model: str, api_key: str | None = None, base_url: str = "https://api.anthropic.com",
                 http: httpx.Client | None = None, timeout_s: float = 60) -> None:
        super().__init__(model, base_url, api_key, http, timeout_s)

    def complete(self, request: CompletionRequest) -> Completion:
        """``seed`` and ``choices`` are accepted for the protocol; the Messages API has neither."""
        messages = request.messages
        system, turns = split_system(messages)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": min(request.temperature, 1.0),  # Anthropic's range is [0, 1]; OpenAI's goes to 2
            "messages": [{"role": t["role"], "content": "\n\n".join(t["texts"])} for t in turns],
        }
        if system:
            body["system"] = system
        headers = {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        started = time.perf_counter()
        data = post_json(self.http, f"{self.base_url}/v1/messages", body, headers,
                         provider=f"anthropic model '{self.model}'", timeout_s=self.timeout_s, deadline=request.deadline,
                         secrets=(self._api_key,))
        latency_ms = (time.perf_counter() - started) * 1000
        return _parse(data, messages, latency_ms)


def _parse(data: dict[str, Any], messages: Sequence[Message], latency_ms: float) -> Completion:
    if data.get("type") == "error":
        log.warning("anthropic returned an error object: %s", redact(str(data.get("error"))))
        raise ProviderUnavailable("anthropic returned an error object")
    blocks = data.get("content")
    if not isinstance(blocks, list):
        raise ProviderUnavailable("the anthropic response has no content blocks")
    text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    input_tokens = usage.get("input_tokens")
    output_tokens = usage.get("output_tokens")
    if not isinstance(input_tokens, int):
        input_tokens = sum(estimate_tokens(m.content) for m in messages)
    if not isinstance(output_tokens, int):
        output_tokens = estimate_tokens(text)
    stop = data.get("stop_reason")
    finish = _FINISH.get(stop, stop) if isinstance(stop, str) else None
    return Completion(text=text, input_tokens=input_tokens, output_tokens=output_tokens,
                      finish_reason=finish, latency_ms=latency_ms)
