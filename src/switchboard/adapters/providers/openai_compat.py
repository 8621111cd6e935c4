"""Any OpenAI-compatible ``/chat/completions`` endpoint: OpenAI itself, vLLM, llama.cpp's server, LiteLLM...

One adapter covers most hosted and self-hosted models because that wire format is the lingua franca.
Failures are mapped onto the provider error classes the state machine retries on (timeouts, 5xx, 429,
connection errors, garbled bodies) or gives up on (other 4xx). The API key only ever goes into the
``Authorization`` header: it is never logged, never put in an error message and hidden from ``repr``.
Error messages name the model and the failure, never the endpoint's URL or what the upstream said (that
is logged, redacted); every call is bounded by a total time limit (``within``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from switchboard.adapters.providers.http_calls import (
    HttpProvider,
    estimate_tokens,
    post_json,
    raise_for_status,
    within,
)
from switchboard.adapters.providers.redact import redact
from switchboard.domain.requests import Message
from switchboard.ports import (
    Completion,
    CompletionRequest,
    ProviderTimeout,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)


def stream_chat_completion(http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str],
                           provider: str, messages: Sequence[Message], on_delta: Callable[[str], None],
                           timeout_s: float = 60.0, deadline: float | None = None,
                           secrets: tuple[str | None, ...] = ()) -> Completion:
    """POST ``body`` with ``stream: true`` and read OpenAI's server-sent chunks, handing each piece of text
    to ``on_delta`` as it arrives; the same total time limit, status mapping and redaction as
    ``post_json``. A stream cut before its finish reason or ``[DONE]`` is a ``ProviderUnavailable``."""
    stop = threading.Event()
    started = time.perf_counter()

    def call(limit: float) -> Completion:
        timeout = httpx.Timeout(limit, connect=min(10.0, limit))
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        logprobs: list[float] = []
        done = False
        try:
            with http.stream("POST", url, json={**body, "stream": True, "stream_options": {"include_usage": True}},
                             headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_status(response, provider, secrets)
                for line in response.iter_lines():
                    if stop.is_set():
                        break
                    if not line.startswith("data:"):
                        continue  # comments, event names, blank separators
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(data)
                    except json.JSONDecodeError as exc:
                        log.warning("%s sent a malformed stream chunk: %s", provider, redact(data, secrets))
                        raise ProviderUnavailable(f"{provider} sent a malformed stream chunk") from exc
                    if not isinstance(chunk, dict) or "error" in chunk:
                        log.warning("%s ended its stream with an error: %s", provider, redact(data, secrets))
                        raise ProviderUnavailable(f"{provider} ended its stream with an error")
                    for choice in chunk.get("choices") or []:
                        content = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
                        if isinstance(content, str) and content:
                            parts.append(content)
                            on_delta(content)
                        if isinstance(choice, dict) and choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                        lp = mean_token_logprob(choice.get("logprobs")) if isinstance(choice, dict) else None
                        if lp is not None:
                            logprobs.append(lp)
                    if isinstance(chunk.get("usage"), dict):
                        usage = chunk["usage"]
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{provider} stopped streaming in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            log.warning("%s stream broke: %s", provider, redact(str(exc), secrets))
            raise ProviderUnavailable(f"{provider} stream broke ({type(exc).__name__})") from exc
        if not done and finish is None:
            raise ProviderUnavailable(f"{provider}'s stream ended before the answer was complete")
        text = "".join(parts)
        input_tokens, output_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
        return Completion(
            text=text,
            input_tokens=input_tokens if isinstance(input_tokens, int) else sum(estimate_tokens(m.content)
                                                                                for m in messages),
            output_tokens=output_tokens if isinstance(output_tokens, int) else estimate_tokens(text),
            finish_reason=finish, latency_ms=(time.perf_counter() - started) * 1000,
            mean_logprob=sum(logprobs) / len(logprobs) if logprobs else None)

    try:
        return within(call, timeout_s, deadline, provider)
    finally:
        stop.set()  # a stream past its time limit stops handing out text


class OpenAICompatible(HttpProvider):
    """``POST {base_url}/chat/completions``; ``base_url`` includes the version prefix, e.g. ``.../v1``."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 http: httpx.Client | None = None, timeout_s: float = 60) -> None:
        super().__init__(model, base_url, api_key, http, timeout_s)

    def complete(self, request: CompletionRequest) -> Completion:
        """``choices`` is ignored: the chat-completions API has no portable way to constrain a reply."""
        messages = request.messages
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.top_logprobs:
            body["logprobs"], body["top_logprobs"] = True, min(20, int(request.top_logprobs))
        if request.response_format:
            body["response_format"] = request.response_format
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        if request.on_delta is not None:  # the caller shows the answer as it comes: stream it
            return stream_chat_completion(self.http, f"{self.base_url}/chat/completions", body, headers,
                                          provider=f"openai-compatible model '{self.model}'", messages=messages,
                                          on_delta=request.on_delta, timeout_s=self.timeout_s, deadline=request.deadline,
                                          secrets=(self._api_key,))
        started = time.perf_counter()
        data = post_json(self.http, f"{self.base_url}/chat/completions", body, headers,
                         provider=f"openai-compatible model '{self.model}'", timeout_s=self.timeout_s,
                         deadline=request.deadline, secrets=(self._api_key,))
        latency_ms = (time.perf_counter() - started) * 1000
        completion = parse_chat_completion(data, messages, latency_ms, provider=f"openai-compatible model "
                                                                                 f"'{self.model}'")
        log.debug("openai-compatible completion: model=%s latency_ms=%.0f output_tokens=%d", self.model,
                  latency_ms, completion.output_tokens)
        return completion


def parse_chat_completion(data: dict[str, Any], messages: Sequence[Message], latency_ms: float = 0.0,
                          provider: str = "the provider") -> Completion:
    """Read an OpenAI chat-completion object; estimate usage (chars/4) when the server does not report it."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderUnavailable(f"{provider}: the response has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ProviderUnavailable(f"{provider}: the response's choice has no message")
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
                      finish_reason=choice.get("finish_reason"), latency_ms=latency_ms,
                      first_token_logprobs=first_token_logprobs(choice.get("logprobs")),
                      mean_logprob=mean_token_logprob(choice.get("logprobs")))


def mean_token_logprob(logprobs: Any) -> float | None:
    """The mean log-probability of the generated tokens from an OpenAI-shaped ``logprobs`` object; None
    when it holds none."""
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("content"), list):
        return None
    values = [float(e["logprob"]) for e in logprobs["content"]
              if isinstance(e, dict) and isinstance(e.get("logprob"), (int, float))]
    return sum(values) / len(values) if values else None


def first_token_logprobs(logprobs: Any) -> dict[str, float] | None:
    """The first generated token's alternatives (token -> log-probability) from an OpenAI-shaped
    ``logprobs`` object (``{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}``)."""
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("content"), list) or not logprobs["content"]:
        return None
    first = logprobs["content"][0]
    if not isinstance(first, dict):
        return None
    out: dict[str, float] = {}
    for entry in [first, *(first.get("top_logprobs") or [])]:
        if isinstance(entry, dict) and isinstance(entry.get("token"), str) and isinstance(entry.get("logprob"),
                                                                                        (int, float)):
            out[entry["token"]] = max(float(entry["logprob"]), out.get(entry["token"], float("-inf")))
    return out or None
