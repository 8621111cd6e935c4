"""Any OpenAI-compatible ``/chat/completions`` endpoint: OpenAI itself, vLLM, llama.cpp's server, LiteLLM...

One adapter covers most hosted and self-hosted models because that wire format is the lingua franca.
Failures are mapped onto the provider error classes the state machine retries on (timeouts, 5xx, 429,
connection errors, garbled bodies) or gives up on (other 4xx). The API key only ever goes into the
``Authorization`` header: it is never logged, never put in an error message and hidden from ``repr``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from switchboard.domain.models import Message
from switchboard.ports import Completion, ProviderRejected, ProviderTimeout, ProviderUnavailable

log = logging.getLogger(__name__)

_ERROR_BODY_CHARS = 300


def estimate_tokens(text: str) -> int:
    """About four characters per token: the usual rule of thumb for English, used when usage is missing."""
    return (len(text) + 3) // 4


def default_client(timeout_s: float) -> httpx.Client:
    """The client an adapter builds when none is injected: the whole call bounded by ``timeout_s``."""
    return httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))


def raise_for_status(response: httpx.Response, provider: str) -> None:
    """Map an HTTP error status onto the provider error classes (shared by the httpx-based adapters)."""
    status = response.status_code
    if status < 400:
        return
    detail = response.text[:_ERROR_BODY_CHARS].strip()
    message = f"{provider} returned HTTP {status}" + (f": {detail}" if detail else "")
    if status == 408:
        raise ProviderTimeout(message)
    if status == 429 or status >= 500:
        raise ProviderUnavailable(message)
    raise ProviderRejected(message)


def post_json(http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str],
              provider: str) -> dict[str, Any]:
    """POST ``body`` and return the decoded JSON object, mapping transport and HTTP failures."""
    try:
        response = http.post(url, json=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(f"{provider} did not answer in time ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:  # connection refused/reset, DNS, protocol errors
        raise ProviderUnavailable(f"{provider} unreachable: {type(exc).__name__}: {exc}") from exc
    raise_for_status(response, provider)
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProviderUnavailable(f"{provider} returned malformed JSON (HTTP {response.status_code}): "
                                  f"{response.text[:_ERROR_BODY_CHARS]!r}") from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{provider} returned JSON that is not an object: {type(data).__name__}")
    return data


class OpenAICompatible:
    """``POST {base_url}/chat/completions``; ``base_url`` includes the version prefix, e.g. ``.../v1``."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 http: httpx.Client | None = None, timeout_s: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self._http = http
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else None
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    @property
    def http(self) -> httpx.Client:
        """The injected client, or one built on first use (a warm Lambda reuses its connections)."""
        if self._http is None:
            self._http = default_client(self.timeout_s)
        return self._http

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float,
                 seed: int | None = None) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            body["seed"] = seed
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        url = f"{self.base_url}/chat/completions"
        started = time.perf_counter()
        data = post_json(self.http, url, body, headers, provider=f"{self.model} at {self.base_url}")
        latency_ms = (time.perf_counter() - started) * 1000
        completion = parse_chat_completion(data, messages, latency_ms)
        log.debug("openai-compatible completion: model=%s latency_ms=%.0f output_tokens=%d", self.model,
                  latency_ms, completion.output_tokens)
        return completion


def parse_chat_completion(data: dict[str, Any], messages: list[Message],
                          latency_ms: float = 0.0) -> Completion:
    """Read an OpenAI chat-completion object; estimate usage (chars/4) when the server does not report it."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderUnavailable(f"response has no choices: {json.dumps(data)[:_ERROR_BODY_CHARS]}")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ProviderUnavailable(f"response choice has no message: {json.dumps(choice)[:_ERROR_BODY_CHARS]}")
    text = message.get("content") or ""  # null content: a refusal or a tool call; no text either way
    if not isinstance(text, str):
        raise ProviderUnavailable(f"response message content is not text: {type(text).__name__}")
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    input_tokens = usage.get("prompt_tokens")
    output_tokens = usage.get("completion_tokens")
    if not isinstance(input_tokens, int):
        input_tokens = sum(estimate_tokens(m.content) for m in messages)
    if not isinstance(output_tokens, int):
        output_tokens = estimate_tokens(text)
    return Completion(text=text, input_tokens=input_tokens, output_tokens=output_tokens,
                      finish_reason=choice.get("finish_reason"), latency_ms=latency_ms)
