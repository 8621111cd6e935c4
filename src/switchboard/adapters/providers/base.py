"""The Provider port: one protocol every model adapter implements, and the errors it may raise.

The error class names are part of the contract with the state machine: a Lambda that raises
``ProviderTimeout`` or ``ProviderUnavailable`` is retried with backoff by the tier task's Retry; any
provider error that survives the retries is caught and the cascade falls through to the next tier.
``ProviderRejected`` (a 4xx from the provider: bad key, bad request) is not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from switchboard.domain.models import Message


class ProviderError(Exception):
    """Base class of every provider failure."""


class ProviderTimeout(ProviderError):
    """The provider did not answer in time (retryable)."""


class ProviderUnavailable(ProviderError):
    """The provider failed on its side: 5xx, throttling, connection refused (retryable)."""


class ProviderRejected(ProviderError):
    """The provider refused the request: 4xx, authentication, unknown model (not retryable)."""


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None = None
    latency_ms: float = 0.0


@runtime_checkable
class Provider(Protocol):
    """Produces one chat completion. Implementations take injected clients and never log secrets."""

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float,
                 seed: int | None = None) -> Completion: ...
