"""Ports of the service layer: what it needs from storage, orchestration and models.

Adapters (DynamoDB stores, Step Functions orchestrators, providers) implement these; tests pass
in-memory fakes that raise the same errors.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from switchboard.adapters.providers.base import Provider
from switchboard.domain.models import CascadeState, ModelEntry
from switchboard.domain.taxonomy import Category


class Trace(BaseModel):
    """What Switchboard did for one request and what it cost; stored with a TTL."""

    trace_id: str
    created_at: str
    status: Literal["succeeded", "failed"]
    state: CascadeState | None = None
    error: str | None = None
    feedback: list[dict] = Field(default_factory=list)


class ExecutionOutcome(BaseModel):
    status: Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
    state: CascadeState | None = None
    error: str | None = None
    cause: str | None = None


class CatalogSource(Protocol):
    def models(self) -> dict[str, ModelEntry]: ...


class TaxonomySource(Protocol):
    def categories(self) -> list[Category]: ...


class TraceStore(Protocol):
    def put(self, trace: Trace, ttl_days: int) -> None: ...

    def get(self, trace_id: str) -> Trace | None: ...

    def add_feedback(self, trace_id: str, feedback: dict) -> bool: ...


class Orchestrator(Protocol):
    def run(self, state: CascadeState) -> ExecutionOutcome: ...


class ProviderSource(Protocol):
    def provider_for(self, entry: ModelEntry) -> Provider: ...
