"""What the application services take: commands in the domain's terms, never an HTTP model or a header.
The HTTP layer (``switchboard.http``) parses a request, authenticates its caller and hands one over."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.domain.requests import ChatRequest
from switchboard.ports import ApiKey
from switchboard.service.responses import owner_of


@dataclass(frozen=True)
class ChatCommand:
    """A request to answer: the domain request (mapped from whichever API it came in on), the catalogue
    model the caller pinned (None: route it), the caller's API key (None: no key of ours was sent) and,
    without one, the identity API Gateway authenticated (``HttpRequest.principal``), which then owns the
    request's trace."""

    request: ChatRequest
    pinned: str | None = None
    caller: ApiKey | None = None
    principal: str | None = None

    @property
    def owner(self) -> str | None:
        """Who owns the request's trace (``service.responses.owner_of``): the key's id, else the principal."""
        return owner_of(self.caller, self.principal)

    def owned_request(self) -> ChatRequest:
        """The request with its owner (``owner``) in ``key_id``, which the trace is recorded and listed under."""
        owner = self.owner
        return self.request if owner is None else self.request.model_copy(update={"key_id": owner})


@dataclass(frozen=True)
class Feedback:
    """A caller's score of an answer (0..1), and an optional comment, for the next training run."""

    trace_id: str
    score: float
    comment: str | None = None
