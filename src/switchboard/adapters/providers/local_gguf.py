"""A GGUF model run in-process with llama.cpp (through the ``xllamacpp`` bindings), no server to operate.

Why in-process: the local stack and the Lambda container image both need a real, cheap model without
a sidecar. ``xllamacpp.Server`` embeds llama.cpp's server engine and exposes its OpenAI-style
``handle_chat_completions`` to Python, so this adapter speaks the same request format as
``openai_compat``.

Loading costs about a second and hundreds of MB, so each model is loaded once per process (per path,
context size and thread count) into a module-level cache guarded by a lock. Inference is serialised by
one process-wide lock: on two cores, two generations at once only make both slower.

Determinism: llama.cpp's prompt cache makes a repeated prompt re-evaluate its last token alone, which
changes the logits slightly, so two calls with the same seed could sample differently. When a seed is
given the prompt cache is therefore bypassed for that request.

The request is streamed internally so that ``timeout_s`` is a real deadline: the stream is cut as soon
as it is exceeded and ``ProviderTimeout`` is raised (the prompt's prefill itself cannot be interrupted).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from switchboard.domain.formats import only_repeats, tool_format, without_repeated_tools
from switchboard.domain.requests import Message
from switchboard.ports import (
    Completion,
    CompletionRequest,
    DeadlineExceeded,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

from .http_calls import estimate_tokens
from .native_tools import (
    chat_template,
    has_tool_section,
    native_messages,
    native_tool_fields,
    protocol_answer,
    without_tools,
)
from .openai_compat import first_token_logprobs

PULL_HINT = "run `switchboard models pull`"

_LOAD_LOCK = threading.Lock()
_INFER_LOCK = threading.Lock()
_ENGINES: dict[tuple[str, int, int], _Engine] = {}


@dataclass
class _Engine:
    server: Any
    load_seconds: float


def choice_grammar(choices: Sequence[str]) -> str:
    """A llama.cpp (GBNF) grammar whose only sentences are the given strings."""
    return "root ::= " + " | ".join(json.dumps(c) for c in choices)


def default_threads() -> int:
    """The cores this process may run on (a Lambda's or container's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def loaded_models() -> list[str]:
    """Paths of the models currently loaded in this process."""
    return sorted({key[0] for key in _ENGINES})


def unload_all() -> None:
    """Drop every loaded model (benchmarks measure cold loads; tests free memory)."""
    with _LOAD_LOCK, _INFER_LOCK:
        _ENGINES.clear()


def _set_omp_wait_policy() -> None:
    """Make llama.cpp's OpenMP workers sleep rather than spin while waiting, except on Lambda.

    libgomp spins by default. On shared cores (the local stack, CI, a laptop) spinning workers starve
    each other: measured on 2 busy cores, Qwen 0.5B decode fell to 1-3 tok/s, against 9-12 with
    PASSIVE. On idle, dedicated cores spinning is ~25% faster (23 vs 17 tok/s), so a Lambda, whose
    vCPUs are its own, keeps the default. An explicit ``OMP_WAIT_POLICY`` always wins. It must be set
    before libgomp loads, i.e. before the first import of xllamacpp.
    """
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _check_model_file(path: Path) -> None:
    """Fail early with an actionable message: llama.cpp only says 'Failed to init server'."""
    if not path.is_file():
        raise ProviderRejected(f"model file not found: {path}; {PULL_HINT}")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ProviderRejected(f"not a GGUF file: {path} (starts with {magic!r}); delete it and {PULL_HINT}")


def _load(path: Path, n_ctx: int, n_threads: int) -> _Engine:
    key = (str(path), n_ctx, n_threads)
    engine = _ENGINES.get(key)
    if engine is not None:
        return engine
    with _LOAD_LOCK:
        engine = _ENGINES.get(key)
        if engine is not None:
            return engine
        _check_model_file(path)
        _set_omp_wait_policy()
        try:
            import xllamacpp as xlc
        except (ImportError, OSError) as exc:
            hint = "it needs the system libgomp.so.1"
            raise ProviderRejected(f"cannot import xllamacpp ({hint}): {exc}") from exc
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1  # one slot: requests are serialised anyway, and each slot holds a KV cache
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        params.verbosity = 0  # llama.cpp logs every request to stderr otherwise
        started = time.perf_counter()
        try:
            server = xlc.Server(params)
        except RuntimeError as exc:
            raise ProviderUnavailable(f"llama.cpp could not load {path} (n_ctx={n_ctx}): {exc}; "
                                      f"is there enough memory? if the file is corrupt, {PULL_HINT}") from exc
        engine = _Engine(server=server, load_seconds=time.perf_counter() - started)
        _ENGINES[key] = engine
        return engine


class LocalGGUF:
    """Chat completions from a local GGUF file; the model loads on first use (or on ``load()``)."""

    def __init__(self, model_path: str | Path, n_ctx: int = 2048, n_threads: int | None = None,
                 timeout_s: float | None = None, native_tools: bool = True) -> None:
        self.model_path = Path(model_path).expanduser().resolve()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.timeout_s = timeout_s
        self._native_tools: bool | None = None if native_tools else False

    def native_tools(self) -> bool:
        """Whether the model's chat template renders tools itself (``native_tools``), read once."""
        if self._native_tools is None:
            _check_model_file(self.model_path)
            self._native_tools = has_tool_section(chat_template(self.model_path))
        return self._native_tools

    def __repr__(self) -> str:
        return (f"LocalGGUF(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx}, "
                f"n_threads={self.n_threads})")

    def load(self) -> float:
        """Load the model now (warm-up); returns the seconds the load took when it happened."""
        return _load(self.model_path, self.n_ctx, self.n_threads).load_seconds

    def complete(self, request: CompletionRequest) -> Completion:
        """``choices`` constrains the reply to exactly one of them (a llama.cpp grammar); ``deadline``
        (epoch seconds) and the provider's ``timeout_s`` bound the call, whichever ends first."""
        messages = request.messages
        started = time.perf_counter()
        limit, by_request = self.timeout_s, False
        if request.deadline is not None:
            remaining = request.deadline - time.time()
            if remaining <= 0:
                raise DeadlineExceeded(f"{self.model_path.name}: the request's deadline had passed")
            if limit is None or remaining < limit:
                limit, by_request = remaining, True
        stop_at = started + limit if limit else None
        engine = _load(self.model_path, self.n_ctx, self.n_threads)
        # A forced call (tool_choice "required" or a named function) keeps the protocol, whose grammar makes
        # every answer a call valid against its tool's schema: llama.cpp's native path reads a named choice
        # as "auto" and did not hold "required" to a call (instructor's TOOLS mode got fenced JSON)
        native = request.tools is not None and request.tools.text_allowed and self.native_tools()
        body: dict[str, Any] = {
            "messages": (native_messages(list(messages)) if native
                         else [{"role": m.role, "content": m.content} for m in messages]),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
            "cache_prompt": request.seed is None,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.choices:
            body["grammar"] = choice_grammar(request.choices)
        elif request.grammar:
            body["grammar"] = request.grammar
        elif native and request.tools is not None:  # the template renders the tools; llama.cpp parses the calls
            body.update(native_tool_fields(request.tools))
        elif request.response_format:
            body["response_format"] = request.response_format  # llama.cpp compiles it to a grammar
        # every generated token's log-probability (the answer's own confidence, ``mean_logprob``): llama.cpp
        # has the logits anyway; alternatives only when asked for
        # (not with native tools: llama.cpp streams no log-probabilities beside parsed calls, so the
        # ``confidence`` judge abstains on such answers; the calls are checked against their schemas)
        if not native:
            body["logprobs"] = True
            body["top_logprobs"] = int(request.top_logprobs) if request.top_logprobs else 1  # llama.cpp's default: 20
        completion, calls = self._generate(engine, body, request, stop_at, by_request, started)
        if not native or request.tools is None:
            rest = (without_repeated_tools(completion.text, request.tools)
                    if request.tools is not None and "response_format" in body and request.on_delta is None else None)
            if rest is not None:
                # a forced call that only repeats answered calls: once more, held to the other tools
                again, _ = self._generate(engine, {**body, "response_format": tool_format(rest).openai()}, request,
                                          stop_at, by_request, started)
                completion = replace(again, input_tokens=completion.input_tokens + again.input_tokens,
                                     output_tokens=completion.output_tokens + again.output_tokens)
            return completion
        # read back into the tool-call protocol, which the cascade checks
        answer = protocol_answer(completion.text, calls)
        if request.tools.text_allowed and request.on_delta is None and only_repeats(answer, request.tools):
            # the model restated a call already answered instead of answering: once more, without the tools
            again, calls = self._generate(engine, without_tools(body), request, stop_at, by_request, started)
            answer = protocol_answer(again.text, calls)
            completion = replace(again, input_tokens=completion.input_tokens + again.input_tokens,
                                 output_tokens=completion.output_tokens + again.output_tokens)
        return replace(completion, text=answer)

    def _generate(self, engine: _Engine, body: dict[str, Any], request: CompletionRequest, stop_at: float | None,
                  by_request: bool, started: float) -> tuple[Completion, list[dict[str, Any]]]:
        """One generation of ``body`` under the process-wide inference lock, bounded by ``stop_at``."""
        wait = -1 if stop_at is None else max(0.0, stop_at - time.perf_counter())
        if not _INFER_LOCK.acquire(timeout=wait):
            if by_request:
                raise DeadlineExceeded(f"{self.model_path.name}: still busy with another request at the "
                                       "request's deadline")
            raise ProviderTimeout(f"{self.model_path.name}: still busy with another request "
                                  f"after {self.timeout_s}s")
        try:
            stream = _Stream(stop_at, request.on_delta)
            try:
                engine.server.handle_chat_completions(body, stream)
            except ValueError as exc:  # xllamacpp validates the request shape before running it
                raise ProviderRejected(f"{self.model_path.name}: invalid request: {exc}") from exc
        finally:
            _INFER_LOCK.release()
        latency_ms = (time.perf_counter() - started) * 1000
        if stream.timed_out and by_request:
            raise DeadlineExceeded(f"{self.model_path.name}: generation passed the request's deadline")
        completion = stream.completion(self.model_path.name, request.messages, self.timeout_s, latency_ms)
        return completion, stream.calls()


class _Stream:
    """Collects the streamed chunks; returning True from ``__call__`` tells llama.cpp to stop generating.

    It must never raise: xllamacpp swallows exceptions raised in the callback.
    """

    def __init__(self, deadline: float | None, on_delta: Callable[[str], None] | None = None) -> None:
        self.deadline = deadline
        self.on_delta = on_delta
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = {}
        self.error: dict[str, Any] | None = None
        self.timed_out = False
        self.first_token_logprobs: dict[str, float] | None = None
        self.token_logprobs: list[float] = []
        self.tool_calls: dict[int, dict[str, str]] = {}  # native tool calls as llama.cpp parsed them, by index

    def calls(self) -> list[dict[str, Any]]:
        """The tool calls llama.cpp parsed out of the answer (arguments still JSON text)."""
        return [{"name": c["name"], "arguments": c["arguments"]} for _, c in sorted(self.tool_calls.items())]

    def __call__(self, chunk: Any) -> bool:
        if not isinstance(chunk, dict):
            self.error = {"code": 500, "message": f"unexpected chunk {chunk!r:.200}"}
            return True
        if "error" in chunk:
            error = chunk["error"]
            self.error = error if isinstance(error, dict) else {"message": str(error)}
            return True
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    slot = self.tool_calls.setdefault(int(call.get("index") or 0), {"name": "", "arguments": ""})
                    function = call.get("function") or {}
                    slot["name"] += function.get("name") or ""
                    slot["arguments"] += function.get("arguments") or ""
            content = delta.get("content")
            if content:
                self.parts.append(content)
                if self.on_delta is not None:
                    try:
                        self.on_delta(content)
                    except Exception:  # noqa: BLE001 - a consumer's failure must not stop the generation
                        self.on_delta = None
            logprobs = choice.get("logprobs")
            if self.first_token_logprobs is None:
                self.first_token_logprobs = first_token_logprobs(logprobs)
            if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
                self.token_logprobs += [float(e["logprob"]) for e in logprobs["content"]
                                        if isinstance(e, dict) and isinstance(e.get("logprob"), (int, float))]
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        if self.deadline is not None and time.perf_counter() > self.deadline and self.finish_reason is None:
            self.timed_out = True
            return True
        return False

    def completion(self, name: str, messages: Sequence[Message], timeout_s: float | None,
                   latency_ms: float) -> Completion:
        if self.error is not None:
            code = self.error.get("code")
            message = f"{name}: llama.cpp error {code}: {self.error.get('message', '')}"
            if isinstance(code, int) and 400 <= code < 500:
                raise ProviderRejected(message)
            raise ProviderUnavailable(message)
        if self.timed_out:
            raise ProviderTimeout(f"{name}: generation exceeded {timeout_s}s")
        text = "".join(self.parts)
        input_tokens = self.usage.get("prompt_tokens")
        output_tokens = self.usage.get("completion_tokens")
        return Completion(
            text=text,
            input_tokens=input_tokens if isinstance(input_tokens, int) else sum(
                estimate_tokens(m.content) for m in messages),
            output_tokens=output_tokens if isinstance(output_tokens, int) else estimate_tokens(text),
            finish_reason=self.finish_reason,
            latency_ms=latency_ms,
            first_token_logprobs=self.first_token_logprobs,
            mean_logprob=sum(self.token_logprobs) / len(self.token_logprobs) if self.token_logprobs else None,
        )
