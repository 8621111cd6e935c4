"""What every provider that calls a model over a network shares: a total time limit on the call
(``within``), httpx's POST of a JSON body with every failure mapped onto the ports' provider errors, and the
base of the adapters that speak HTTP (their client, their endpoint, their key hidden from ``repr``)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import httpx

from switchboard.adapters.providers.redact import redact
from switchboard.ports import DeadlineExceeded, ProviderRejected, ProviderTimeout, ProviderUnavailable

log = logging.getLogger(__name__)
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="switchboard-provider")


def estimate_tokens(text: str) -> int:
    """About four characters per token: the usual rule of thumb for English, used when usage is missing."""
    return (len(text) + 3) // 4


def default_client(timeout_s: float) -> httpx.Client:
    """The client an adapter builds when none is injected (each call passes its own total timeout)."""
    return httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))


T = TypeVar("T")


def within(call: Callable[[float], T], timeout_s: float, deadline: float | None, provider: str) -> T:
    """Run ``call(seconds_left)`` with a *total* time limit: the provider's own ``timeout_s`` or what is
    left of the request's ``deadline`` (epoch seconds), whichever ends first.

    httpx and botocore time each phase (connect, every read) separately, so an upstream that drips a byte
    a second never trips them; the call therefore runs on a worker thread and is abandoned when the limit
    passes (its own per-phase timeouts, set to the same limit, end the thread soon after). Raises
    ``ProviderTimeout`` (retryable) when the provider's timeout ran out, ``DeadlineExceeded`` (not
    retryable) when the request's deadline did.
    """
    limit, by_deadline = timeout_s, False
    if deadline is not None:
        remaining = deadline - time.time()
        if remaining <= 0:
            raise DeadlineExceeded(f"{provider}: the request's deadline had passed before the call")
        if remaining < limit:
            limit, by_deadline = remaining, True
    future = _POOL.submit(call, limit)
    try:
        return future.result(timeout=limit)
    except FutureTimeout:
        future.cancel()
        if by_deadline:
            raise DeadlineExceeded(f"{provider} did not answer before the request's deadline") from None
        raise ProviderTimeout(f"{provider} did not answer within {timeout_s:g}s") from None
    except ProviderTimeout:
        # the call's own per-phase timeout (set to the same limit) fired first: the same limit ran out
        if by_deadline:
            raise DeadlineExceeded(f"{provider} did not answer before the request's deadline") from None
        raise


def raise_for_status(response: httpx.Response, provider: str, secrets: tuple[str | None, ...] = ()) -> None:
    """Map an HTTP error status onto the provider error classes (shared by the httpx-based adapters).

    The message names the provider and the status only; the upstream's body goes to the log, redacted.
    """
    status = response.status_code
    if status < 400:
        return
    log.warning("%s returned HTTP %d: %s", provider, status, redact(response.text, secrets))
    message = f"{provider} returned HTTP {status}"
    if status == 408:
        raise ProviderTimeout(message)
    if status == 429 or status >= 500:
        raise ProviderUnavailable(message)
    raise ProviderRejected(message)


def post_json(http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str], provider: str,
              timeout_s: float = 60.0, deadline: float | None = None,
              secrets: tuple[str | None, ...] = ()) -> dict[str, Any]:
    """POST ``body`` and return the decoded JSON object within a total time limit (``within``), mapping
    transport and HTTP failures. ``provider`` names the provider in errors (never the URL); ``secrets``
    are redacted from anything logged."""

    def call(limit: float) -> dict[str, Any]:
        timeout = httpx.Timeout(limit, connect=min(10.0, limit))
        try:
            response = http.post(url, json=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(f"{provider} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:  # connection refused/reset, DNS, protocol errors
            log.warning("%s unreachable: %s", provider, redact(str(exc), secrets))
            raise ProviderUnavailable(f"{provider} unreachable ({type(exc).__name__})") from exc
        raise_for_status(response, provider, secrets)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.warning("%s returned malformed JSON: %s", provider, redact(response.text, secrets))
            raise ProviderUnavailable(f"{provider} returned malformed JSON (HTTP {response.status_code})") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{provider} returned JSON that is not an object: {type(data).__name__}")
        return data

    return within(call, timeout_s, deadline, provider)


class HttpProvider:
    """The state of an adapter that calls a model over HTTP: the model, the endpoint, the API key (only
    ever sent in a header: never logged, never in an error, hidden from ``repr``), the injected client
    (or one built on first use: a warm Lambda reuses its connections) and the call's time limit."""

    def __init__(self, model: str, base_url: str, api_key: str | None = None, http: httpx.Client | None = None,
                 timeout_s: float = 60) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = http
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else None
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, api_key={key})"

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = default_client(self.timeout_s)
        return self._http
