"""Amazon Bedrock through the model-agnostic Converse API (one request shape for every Bedrock model).

Credentials come from the Lambda role via boto3's default chain; nothing secret passes through here.
The SDK's own retries are cut to one extra attempt because the state machine already retries
``ProviderTimeout``/``ProviderUnavailable`` with backoff: two layers of retries multiply the wait.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from switchboard.ports import (
    Completion,
    CompletionRequest,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

from .anthropic import split_system
from .http_calls import within
from .redact import redact

log = logging.getLogger(__name__)
_TIMEOUT_CODES = {"ModelTimeoutException", "RequestTimeout", "RequestTimeoutException"}
_UNAVAILABLE_CODES = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException",
                      "ModelNotReadyException", "ServiceQuotaExceededException", "TooManyRequestsException",
                      "ModelStreamErrorException"}
# Everything else (ValidationException, AccessDeniedException, ResourceNotFoundException,
# ModelErrorException, UnrecognizedClientException...) is the request's fault: retrying will not help.

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "guardrail_intervened": "content_filter", "content_filtered": "content_filter"}


class BedrockConverse:
    """``bedrock-runtime:Converse`` for ``model_id`` (a model id, inference-profile id or ARN)."""

    def __init__(self, model_id: str, client: Any | None = None, region: str | None = None,
                 timeout_s: float = 60) -> None:
        self.model_id = model_id
        self.region = region
        self.timeout_s = timeout_s
        self._client = client

    def __repr__(self) -> str:
        return f"BedrockConverse(model_id={self.model_id!r}, region={self.region!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(read_timeout=self.timeout_s, connect_timeout=min(10.0, self.timeout_s),
                            retries={"mode": "standard", "max_attempts": 2})
            self._client = boto3.client("bedrock-runtime", region_name=self.region, config=config)
        return self._client

    def complete(self, request: CompletionRequest) -> Completion:
        """``seed`` and ``choices`` are accepted for the protocol; Converse has no portable way to use them.
        The call is bounded by the provider's timeout and the request's deadline (``within``)."""
        messages = request.messages
        system, turns = split_system(messages)
        converse_args: dict[str, Any] = {
            "modelId": self.model_id,
            "messages": [{"role": t["role"], "content": [{"text": x} for x in t["texts"]]} for t in turns],
            "inferenceConfig": {"maxTokens": request.max_tokens, "temperature": min(request.temperature, 1.0)},
        }
        if system:
            converse_args["system"] = [{"text": system}]
        started = time.perf_counter()
        client = self.client  # built here, not on the worker thread
        stop = threading.Event()

        def streamed() -> dict[str, Any]:
            """``ConverseStream``: each text delta to ``on_delta`` as it arrives; the same shape back as
            ``converse`` returns. A stream that ends before its stop reason is a failure, not an answer."""
            assert request.on_delta is not None
            parts: list[str] = []
            reason: str | None = None
            usage: dict[str, Any] = {}
            for event in client.converse_stream(**converse_args)["stream"]:
                if stop.is_set():
                    break
                if "contentBlockDelta" in event:
                    piece = (event["contentBlockDelta"].get("delta") or {}).get("text")
                    if piece:
                        parts.append(piece)
                        request.on_delta(piece)
                elif "messageStop" in event:
                    reason = event["messageStop"].get("stopReason")
                elif "metadata" in event:
                    usage = event["metadata"].get("usage") or {}
                elif any(k.endswith("Exception") for k in event):
                    log.warning("bedrock %s stream error: %s", self.model_id, redact(str(event)[:300]))
                    raise ProviderUnavailable(f"bedrock model '{self.model_id}' ended its stream with an error")
            if reason is None:
                raise ProviderUnavailable(f"bedrock model '{self.model_id}': the stream ended before the answer "
                                          "was complete")
            return {"output": {"message": {"content": [{"text": "".join(parts)}]}}, "usage": usage,
                    "stopReason": reason}

        def call(_limit: float) -> dict[str, Any]:
            try:
                if request.on_delta is not None:  # the caller shows the answer as it comes: stream it
                    return streamed()
                return client.converse(**converse_args)
            except ClientError as exc:
                raise _map_client_error(exc, self.model_id) from exc
            except (ReadTimeoutError, ConnectTimeoutError) as exc:
                raise ProviderTimeout(f"bedrock model '{self.model_id}' did not answer in time") from exc
            except (EndpointConnectionError, ConnectionClosedError) as exc:
                raise ProviderUnavailable(f"bedrock model '{self.model_id}' unreachable "
                                          f"({type(exc).__name__})") from exc

        try:
            response = within(call, self.timeout_s, request.deadline, f"bedrock model '{self.model_id}'")
        finally:
            stop.set()  # a stream past its time limit stops handing out text
        latency_ms = (time.perf_counter() - started) * 1000
        return _parse(response, self.model_id, latency_ms)


def _map_client_error(exc: ClientError, model_id: str) -> Exception:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    log.warning("bedrock %s: %s (HTTP %s): %s", model_id, code, status, redact(error.get("Message", "")))
    message = f"bedrock model '{model_id}' failed: {code or 'error'} (HTTP {status})"
    if code in _TIMEOUT_CODES:
        return ProviderTimeout(message)
    if code in _UNAVAILABLE_CODES or (isinstance(status, int) and (status == 429 or status >= 500)):
        return ProviderUnavailable(message)
    return ProviderRejected(message)


def _parse(response: dict[str, Any], model_id: str, latency_ms: float) -> Completion:
    try:
        blocks = response["output"]["message"]["content"]
    except (KeyError, TypeError):
        raise ProviderUnavailable(f"bedrock model '{model_id}': the response has no output message") from None
    text = "".join(b["text"] for b in blocks if isinstance(b, dict) and "text" in b)
    usage = response.get("usage") or {}
    stop = response.get("stopReason")
    finish = _FINISH.get(stop, stop) if isinstance(stop, str) else None
    return Completion(text=text, input_tokens=int(usage.get("inputTokens", 0)),
                      output_tokens=int(usage.get("outputTokens", 0)), finish_reason=finish,
                      latency_ms=latency_ms)
