"""Stored responses of the Responses API: kept with a TTL for ``GET /v1/responses/{id}`` and
``previous_response_id``, and scoped to the caller's key - a key never reads another's response, and a
caller without a key reads only responses made without one. Another key's response is reported exactly
as a missing one (404), so ids cannot be probed."""

from __future__ import annotations

from switchboard.ports import ApiKey, ResponseStore, StoredResponse
from switchboard.service.errors import NotFound


def owner_of(caller: ApiKey | None) -> str | None:
    return caller.key_id if caller is not None else None


class ResponseBook:
    """Keeps and finds the Responses API's stored responses, each visible to its own caller only."""

    def __init__(self, store: ResponseStore | None, ttl_days: int = 30) -> None:
        self.store = store
        self.ttl_days = ttl_days

    def keep(self, stored: StoredResponse) -> None:
        if self.store is None:
            raise NotFound("responses are not stored in this deployment (no responses table); send store=false")
        self.store.put(stored, self.ttl_days)

    def get(self, response_id: str, caller: ApiKey | None, param: str | None = None) -> StoredResponse:
        """The caller's stored response ``response_id``; ``NotFound`` (404) when it does not exist, has
        expired, or belongs to another key."""
        found = self.store.get(response_id) if self.store is not None else None
        if found is None or found.owner != owner_of(caller):
            raise NotFound(f"no response {response_id!r}", param=param)
        return found
