"""TEST DOUBLE: a provider that always fails, in one chosen way. Never route real traffic to it.

It exists so the failure paths of the cascade (the state machine's Retry on ``ProviderTimeout`` and
``ProviderUnavailable``, its Catch that falls through to the next tier, the no-retry on
``ProviderRejected``) can be exercised end to end, in tests and demos, with a catalogue entry like
``{"provider": "fault", "provider_model": "5xx", ...}`` instead of a flaky network.
"""

from __future__ import annotations

from typing import Literal

from switchboard.ports import (
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

FaultMode = Literal["timeout", "5xx", "4xx"]

_ERRORS: dict[str, type[ProviderError]] = {
    "timeout": ProviderTimeout,
    "5xx": ProviderUnavailable,
    "4xx": ProviderRejected,
}


class FaultInjecting:
    """Raises on every call: ``timeout`` -> ProviderTimeout, ``5xx`` -> ProviderUnavailable,
    ``4xx`` -> ProviderRejected. ``calls`` counts the attempts, so tests can assert on retries."""

    def __init__(self, mode: str) -> None:
        if mode not in _ERRORS:
            raise ProviderRejected(f"unknown fault mode {mode!r}; expected one of {sorted(_ERRORS)}")
        self.mode = mode
        self.calls = 0

    def __repr__(self) -> str:
        return f"FaultInjecting(mode={self.mode!r})"

    def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        raise _ERRORS[self.mode](f"injected fault ({self.mode}) on call {self.calls}")
