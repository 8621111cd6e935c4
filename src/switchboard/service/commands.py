"""What the application services take: commands in the domain's terms, never an HTTP model or a header.
The HTTP layer (``switchboard.http``) parses a request, authenticates its caller and hands one over."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.domain.requests import ChatRequest
from switchboard.ports import ApiKey


@dataclass(frozen=True)
class ChatCommand:
    """A request to answer: the domain request (mapped from whichever API it came in on), the catalogue
    model the caller pinned (None: route it), and the caller's API key (None: no key of ours was sent)."""

    request: ChatRequest
    pinned: str | None = None
    caller: ApiKey | None = None


@dataclass(frozen=True)
class Feedback:
    """A caller's score of an answer (0..1), and an optional comment, for the next training run."""

    trace_id: str
    score: float
    comment: str | None = None
