"""Every port of Switchboard in one place: the protocols the services depend on, the data types that
cross them, and the errors they raise.

Adapters (``switchboard.adapters``) implement these; services (``switchboard.service``) use them; tests
pass in-memory fakes (``tests/support/fakes.py``) that raise the same errors. Nothing here performs I/O
or imports an adapter.

Provider errors are part of the contract with the state machine: a task that raises ``ProviderTimeout``
or ``ProviderUnavailable`` is retried with backoff by the tier task's Retry (the error type is the class
name); any provider error that survives the retries is caught and the cascade falls through to the next
tier. ``ProviderRejected`` (a 4xx from the provider: bad key, bad request) and ``DeadlineExceeded`` (the
request's deadline passed) are not retried. A provider error's message is what callers and traces see: it
names the provider kind, the model and the failure category (and the HTTP status), never the upstream's
body, URL or credentials - adapters log those, redacted (``adapters.providers.redact``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, Field

from switchboard.domain.answer_features import AnswerFeatures
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.dial import Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.release import Release, ReleasePointer, ShadowPolicy
from switchboard.domain.requests import Message, ToolUse
from switchboard.domain.state import CascadeState
from switchboard.domain.taxonomy import Category

# ------------------------------------------------------------------------------------------ models


class ProviderError(Exception):
    """Base class of every provider failure."""


class ProviderTimeout(ProviderError):
    """The provider did not answer in time (retryable)."""


class ProviderUnavailable(ProviderError):
    """The provider failed on its side: 5xx, throttling, connection refused (retryable)."""


class ProviderRejected(ProviderError):
    """The provider refused the request: 4xx, authentication, unknown model (not retryable)."""


class DeadlineExceeded(ProviderError):
    """The request's own deadline passed before the provider answered (not retryable: no time is left)."""


@dataclass(frozen=True)
class Completion:
    """One chat completion. ``cost_usd`` is set only by providers that know the exact cost of the call
    (the replay provider's recorded cost); otherwise the caller prices the usage with the catalogue.
    ``canonical_recorded`` says ``canonical_answer`` was read from a record (the replay provider serving a
    benchmark's own answer extraction, None where it found none) and is to be used as is instead of
    reading the text (``domain.answers.canonical_answer``)."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None = None
    latency_ms: float = 0.0
    cost_usd: float | None = None
    canonical_answer: str | None = None
    canonical_recorded: bool = False
    # The most likely alternatives of the first generated token, token -> log-probability, when the call
    # asked for ``top_logprobs`` and the provider exposes them (local GGUF, OpenAI-compatible).
    first_token_logprobs: dict[str, float] | None = None
    # The mean log-probability of the generated tokens (the model's own confidence in its answer), when
    # the provider returned each token's log-probability (local GGUF always does).
    mean_logprob: float | None = None


@dataclass(frozen=True)
class CompletionRequest:
    """One call to a model, as a value: every provider adapter and every fake reads the same fields, so
    none can drift from the others on a parameter.

    ``max_tokens`` bounds the answer. ``deadline`` (epoch seconds) bounds the whole call: past it the
    provider raises ``DeadlineExceeded``. ``choices`` asks for a reply that is exactly one of these
    strings, where the provider can constrain its output (others ignore it). ``top_logprobs`` asks for
    the first token's most likely alternatives (providers that cannot give them leave
    ``first_token_logprobs`` empty). ``response_format`` (OpenAI's object) asks for JSON where the
    provider has a JSON mode; others ignore it (the request's messages say it too, and the cascade checks
    every answer: ``domain.formats``). ``on_delta`` is called with each piece of the answer's text as the
    model produces it, by providers that stream; others never call it (the caller then has the text when
    ``complete`` returns). It must not raise. ``grammar`` (llama.cpp's GBNF) constrains the reply where the
    provider runs llama.cpp (local GGUF models); others ignore it and follow ``response_format``."""

    messages: Sequence[Message]
    max_tokens: int
    temperature: float = 0.0
    seed: int | None = None
    deadline: float | None = None
    choices: Sequence[str] | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    on_delta: Callable[[str], None] | None = None
    grammar: str | None = None
    # The request's tools, for providers that render them in the model's own form (its chat template's
    # tool section) and read its calls back into the tool-call protocol; the others ignore it (the
    # messages offer the tools in the protocol, and ``response_format`` constrains the answer to it).
    tools: ToolUse | None = None


class Provider(Protocol):
    """Produces one chat completion. Implementations take injected clients and never log secrets."""

    def complete(self, request: CompletionRequest) -> Completion:
        """One completion of ``request`` (see ``CompletionRequest`` for what each field asks)."""
        ...


class ProviderSource(Protocol):
    """Builds (and caches) the provider a catalogue entry describes."""

    def provider_for(self, entry: ModelEntry) -> Provider: ...


# ------------------------------------------------------------------------------------------ routing


class Encoder(Protocol):
    """Text -> unit vector (the router's sentence encoder)."""

    def embed_one(self, text: str) -> np.ndarray: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class LearnedRouter(Protocol):
    """Per-model probability of a correct answer from a prompt embedding (EMAFusion's learned router).
    ``models`` are the models it scores, in the order it was trained on (a dial needs the same)."""

    models: list[str]

    def predict(self, embedding: np.ndarray) -> Mapping[str, float]: ...


class LearnedRouterUnavailable(RuntimeError):
    """The learned router's artifacts are missing, unreadable or were trained for another encoder."""


class Verifier(Protocol):
    """The learned verifier: feature rows of candidate answers -> P(correct). ``sha256`` names it, so a
    dial calibrated on another verifier is detected; ``answer_features`` says which features of the
    answers themselves it reads (``domain.answer_features``: built by the decide task)."""

    sha256: str

    @property
    def answer_features(self) -> AnswerFeatures: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class AxisHeads(Protocol):
    """The four-axis taxonomy's fast classifier (``domain.axes``): one embedding -> a distribution per axis."""

    def predict(self, embedding: np.ndarray) -> Mapping[str, np.ndarray]: ...


@dataclass(frozen=True)
class ReleaseModels:
    """A training run's models as a function holds them: the learned router and the verifier of the
    release ``version`` (None: the models packaged with the function, or none at all)."""

    version: str | None = None
    learned: LearnedRouter | None = None
    verifier: Verifier | None = None
    verifier_sha256: str | None = None  # the verifier's; given alone where only the name matters
    axes: AxisHeads | None = None

    def __post_init__(self) -> None:
        if self.verifier is not None and self.verifier_sha256 is None:
            object.__setattr__(self, "verifier_sha256", self.verifier.sha256)


class ReleaseModelSource(Protocol):
    """The release's models a function uses: ``current()`` (the router), ``for_version(v)`` (the decide
    function: the release a plan names; None when it cannot be loaded)."""

    def current(self) -> ReleaseModels: ...

    def for_version(self, version: str | None) -> ReleaseModels | None: ...

    def load(self, release: Release) -> ReleaseModels | None: ...


class PolicySource(Protocol):
    """What ``switchboard publish`` put in force: the trained dial, the measured judge policy, the
    release pointer (which training run's model files the functions load; ``domain.release``) and the
    shadow policy, each None when none is published. They are read together, as one snapshot."""

    def dial(self) -> Dial | None: ...

    def judge_policy(self) -> JudgePolicy | None: ...

    def release(self) -> ReleasePointer | None: ...

    def shadow(self) -> ShadowPolicy | None: ...


class CatalogSource(Protocol):
    def models(self) -> dict[str, ModelEntry]: ...


class TaxonomySource(Protocol):
    def categories(self) -> list[Category]: ...


# ------------------------------------------------------------------------------------------ publishing


class CatalogWriter(Protocol):
    """Where ``switchboard publish`` writes catalogue entries; returns how many it wrote."""

    def put_all(self, entries: Iterable[ModelEntry]) -> int: ...


class TaxonomyWriter(Protocol):
    """Where ``switchboard publish`` writes a taxonomy: the table ends up holding exactly ``categories``
    (written first, stale ones deleted after); returns (written, deleted names)."""

    def replace_all(self, categories: Iterable[Category]) -> tuple[int, list[str]]: ...


class PolicyWriter(Protocol):
    """Where ``switchboard publish`` puts a dial and a judge policy in force; ``put_release`` puts a
    release pointer in force together with its dial and judge policy, atomically (None: that item is
    removed, so nothing of an earlier release outlives it)."""

    def put(self, dial: Dial, published_at: str) -> None: ...

    def put_judges(self, policy: JudgePolicy, published_at: str) -> None: ...

    def put_release(self, pointer: ReleasePointer, dial: Dial | None, judges: JudgePolicy | None,
                    published_at: str) -> None: ...

    def release(self) -> ReleasePointer | None: ...

    def put_shadow(self, shadow: ShadowPolicy | None, published_at: str) -> None: ...


class BlobError(RuntimeError):
    """A blob could not be stored or fetched, or its content does not have its sha256."""


class BlobStore(Protocol):
    """Content-addressed files (the artifact bucket): ``put`` stores bytes under their sha256 and returns
    it; ``get`` returns the bytes of a sha256, verified, or raises ``BlobError``."""

    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...


# ------------------------------------------------------------------------------------------ storage


class StoreError(RuntimeError):
    """A store could not be read or written (the message says which table and why)."""


class Trace(BaseModel):
    """What Switchboard did for one request and what it cost; stored with a TTL."""

    trace_id: str
    created_at: str
    status: Literal["running", "succeeded", "failed"]  # running: a job (POST /v1/route async) not done yet
    state: CascadeState | None = None
    error: str | None = None
    feedback: list[dict] = Field(default_factory=list)


class ApiKey(BaseModel):
    """A caller's API key as stored: only the sha256 of the secret, never the secret itself. With a
    ``budget_usd``, ``available_usd`` is what is left to reserve (budget - spent - reserved), kept as one
    attribute so a reservation is one conditional write (DynamoDB conditions cannot add)."""

    key_id: str
    key_hash: str
    name: str = ""
    created_at: str = ""
    revoked: bool = False
    budget_usd: float | None = None
    spent_usd: float = 0.0
    available_usd: float | None = None
    # A budget per ``period`` ("day" or "month", UTC) instead of in all: ``window`` is the period the
    # available budget belongs to ("2026-11-30", "2026-11"); the first request of a new one renews it.
    period: Literal["day", "month"] | None = None
    window: str | None = None


class KeyStore(Protocol):
    """Callers' API keys and their spend. ``reserve`` takes ``amount`` from the key's available budget
    only if that much is available, atomically (False otherwise, or when the key is unknown or revoked;
    with ``window``, also when the key's budget belongs to another period); ``settle`` adds the spend and
    returns what a request reserved but did not spend - to the window it was reserved from only (a budget
    renewed since keeps its new amount); ``renew`` starts a new period's budget, atomically, only when
    the key is still in ``old`` and ``new`` comes after it."""

    def get(self, key_hash: str) -> ApiKey | None: ...

    def reserve(self, key_hash: str, amount: float, window: str | None = None) -> bool: ...

    def settle(self, key_hash: str, reserved: float, spent: float, window: str | None = None) -> None: ...

    def renew(self, key_hash: str, old: str | None, new: str, budget: float) -> bool: ...

    def create(self, key: ApiKey) -> None: ...

    def all(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> bool: ...


class TraceStore(Protocol):
    def put(self, trace: Trace, ttl_days: int) -> None: ...

    def get(self, trace_id: str) -> Trace | None: ...

    def add_feedback(self, trace_id: str, feedback: dict) -> bool: ...

    def recent(self, owner: str | None, limit: int) -> list[Trace]:
        """The newest ``limit`` traces of requests made with the API key ``owner`` (its public id; None:
        the requests made without a key), newest first."""
        ...


class StoredResponse(BaseModel):
    """A Responses API response kept for ``GET /v1/responses/{id}`` and ``previous_response_id``: the
    response object as returned, the conversation items a later request continues from, and whose it is
    (the caller's key id; None: a caller without a key of ours). Stored with a TTL."""

    response_id: str
    owner: str | None = None
    created_at: int
    response: dict[str, Any]
    conversation: list[dict[str, Any]] = Field(default_factory=list)


class ResponseStore(Protocol):
    def put(self, stored: StoredResponse, ttl_days: int) -> None: ...

    def get(self, response_id: str) -> StoredResponse | None: ...


class SessionStore(Protocol):
    """Which model a session's requests start with (``service.affinity``), expiring after a while."""

    def get(self, session: str) -> str | None: ...

    def put(self, session: str, model: str, ttl_s: int) -> None: ...


# ------------------------------------------------------------------------------------------ orchestration


class ExecutionOutcome(BaseModel):
    """How one execution of the cascade state machine ended (its status mapped explicitly)."""

    status: Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
    state: CascadeState | None = None
    error: str | None = None
    cause: str | None = None


class Orchestrator(Protocol):
    """Runs the cascade for one request (Step Functions in AWS and locally; in-process in tests)."""

    def run(self, state: CascadeState) -> ExecutionOutcome: ...

    def start(self, state: CascadeState) -> None:
        """Start the cascade and return at once (a job): the record task stores its trace when it ends."""
        ...
