"""Stored responses of the Responses API: kept with a TTL for ``GET /v1/responses/{id}`` and
``previous_response_id``, and scoped to their owner (``owner_of``: the caller's key, else the identity API
Gateway authenticated) - a key never reads another's response, and a caller without either reads only
responses made without one. Another owner's response is reported exactly as a missing one (404), so ids
cannot be probed."""

from __future__ import annotations

from switchboard.ports import ApiKey, ResponseStore, StoredResponse
from switchboard.service.errors import NotFound


def owner_of(caller: ApiKey | None, principal: str | None = None) -> str | None:
    """Who owns what a request leaves behind (its trace, its stored response): its API key's id; without a
    key of ours, the identity API Gateway authenticated (``HttpRequest.principal``: an IAM caller or an API
    Gateway key); None for a caller neither identifies."""
    return caller.key_id if caller is not None else principal


class ResponseBook:
    """Keeps and finds the Responses API's stored responses, each visible to its own caller only."""

    def __init__(self, store: ResponseStore | None, ttl_days: int = 30) -> None:
        self.store = store
        self.ttl_days = ttl_days

    def keep(self, stored: StoredResponse) -> None:
        if self.store is None:
            raise NotFound("responses are not stored in this deployment (no responses table); send store=false")
        self.store.put(stored, self.ttl_days)

    def get(self, response_id: str, owner: str | None, param: str | None = None) -> StoredResponse:
        """The stored response ``response_id`` of ``owner`` (``owner_of``); ``NotFound`` (404) when it does
        not exist, has expired, or belongs to another caller."""
        found = self.store.get(response_id) if self.store is not None else None
        if found is None or found.owner != owner:
            raise NotFound(f"no response {response_id!r}", param=param)
        return found
