"""In-memory fakes of the service ports, for fast functional tests. They raise the same errors as the
real adapters (StoreError), so error mapping is tested without AWS."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import numpy as np

from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.dial import Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.release import ReleasePointer, ShadowPolicy, sha256_hex
from switchboard.domain.state import CascadeState
from switchboard.domain.taxonomy import Category
from switchboard.ports import (
    ApiKey,
    BlobError,
    Completion,
    CompletionRequest,
    ExecutionOutcome,
    ProviderUnavailable,
    StoredResponse,
    StoreError,
    Trace,
)
from switchboard.service.tasks import run_in_process
from switchboard.service.traces import record


class FakeEncoder:
    """Text -> fixed unit vector (dimension 8), so taxonomy and routing tests are exact.

    ``keywords`` maps a word to an axis: a text containing the word (lower-cased) points along that axis.
    A text with no keyword gets a hash-chosen axis among the others. ``jitter`` > 0 adds a small
    hash-derived offset on the axes from ``jitter_from`` on, so texts of one keyword are near but distinct.
    """

    MATH_AND_CODE = {"python": 0, "code": 0, "function": 0, "sum": 1, "times": 1, "+": 1}

    def __init__(self, keywords: dict[str, int] | None = None, jitter: float = 0.0, jitter_from: int = 3,
                 dim: int = 8) -> None:
        self.keywords = self.MATH_AND_CODE if keywords is None else keywords
        self.jitter, self.jitter_from, self.dim = jitter, jitter_from, dim

    def embed_one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        digest = hashlib.sha256(text.encode()).digest()
        hits = {axis for word, axis in self.keywords.items() if word in text.lower()}
        for word, axis in self.keywords.items():
            if word in text.lower():
                vec[axis] += 1.0
        if not hits and not self.jitter:
            free = [a for a in range(self.dim) if a not in set(self.keywords.values())]
            vec[free[digest[0] % len(free)]] = 1.0
        if self.jitter:
            width = self.dim - self.jitter_from
            vec[self.jitter_from:] = np.frombuffer(digest[:width], dtype=np.uint8) / 255.0 * self.jitter
        return vec / np.linalg.norm(vec)

    def embed(self, texts):
        return np.stack([self.embed_one(t) for t in texts]) if len(texts) else np.zeros((0, self.dim), np.float32)


def catalog_entry(model_id: str, provider: Any = "openai", price: float = 1.0, **kw) -> ModelEntry:
    return ModelEntry(model_id=model_id, provider=provider, provider_model=kw.pop("provider_model", model_id),
                      endpoint=kw.pop("endpoint", "http://127.0.0.1:9/v1"),
                      price=ModelPrice(input_usd_per_mtok=price, output_usd_per_mtok=2 * price), **kw)


class InMemoryCatalog:
    """``CatalogSource`` and ``CatalogWriter`` in a dict."""

    def __init__(self, entries: list[ModelEntry] | None = None) -> None:
        self.entries = {e.model_id: e for e in entries or []}

    def models(self) -> dict[str, ModelEntry]:
        return dict(self.entries)

    def put_all(self, entries) -> int:  # noqa: ANN001
        entries = list(entries)
        self.entries.update({e.model_id: e for e in entries})
        return len(entries)


class InMemoryTaxonomy:
    """``TaxonomySource`` and ``TaxonomyWriter`` in a list (sorted by name, as the table reads back)."""

    def __init__(self, categories: list[Category] | None = None) -> None:
        self._categories = list(categories or [])

    def categories(self) -> list[Category]:
        return self._categories

    def replace_all(self, categories) -> tuple[int, list[str]]:  # noqa: ANN001
        categories = list(categories)
        stale = sorted({c.name for c in self._categories} - {c.name for c in categories})
        self._categories = sorted(categories, key=lambda c: c.name)
        return len(categories), stale


class InMemoryPolicy:
    """The published dial (``PolicySource``), held in memory."""

    def __init__(self, dial: Dial | None, judges: JudgePolicy | None = None,
                 release: ReleasePointer | None = None) -> None:
        self._dial = dial
        self._judges = judges
        self._release = release
        self._shadow: ShadowPolicy | None = None

    def dial(self) -> Dial | None:
        return self._dial

    def judge_policy(self) -> JudgePolicy | None:
        return self._judges

    def put(self, dial: Dial, published_at: str) -> None:
        self._dial = dial

    def put_judges(self, policy: JudgePolicy, published_at: str) -> None:
        self._judges = policy

    def release(self) -> ReleasePointer | None:
        return self._release

    def put_release(self, pointer: ReleasePointer, dial: Dial | None, judges: JudgePolicy | None,
                    published_at: str) -> None:
        self._release, self._dial, self._judges = pointer, dial, judges

    def shadow(self) -> ShadowPolicy | None:
        return self._shadow

    def put_shadow(self, shadow: ShadowPolicy | None, published_at: str) -> None:
        self._shadow = shadow


class InMemoryBlobs:
    """The artifact bucket (``BlobStore``) in memory; ``corrupt(sha)`` damages a stored blob."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.gets = 0

    def put(self, data: bytes) -> str:
        sha = sha256_hex(data)
        self.blobs[sha] = data
        return sha

    def get(self, sha256: str) -> bytes:
        self.gets += 1
        data = self.blobs.get(sha256)
        if data is None:
            raise BlobError(f"no blob {sha256}")
        if sha256_hex(data) != sha256:
            raise BlobError(f"blob {sha256} does not have its sha256")
        return data

    def corrupt(self, sha256: str) -> None:
        self.blobs[sha256] = self.blobs[sha256][:-7] + b"garbage"


class InMemoryResponses:
    """The Responses API's stored responses, in memory (expiry is not simulated)."""

    def __init__(self) -> None:
        self.items: dict[str, StoredResponse] = {}

    def put(self, stored: StoredResponse, ttl_days: int) -> None:
        self.items[stored.response_id] = stored.model_copy(deep=True)

    def get(self, response_id: str) -> StoredResponse | None:
        found = self.items.get(response_id)
        return found.model_copy(deep=True) if found is not None else None


class InMemorySessions:
    """Sessions' models, in memory (expiry is not simulated)."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def get(self, session: str) -> str | None:
        return self.items.get(session)

    def put(self, session: str, model: str, ttl_s: int) -> None:
        self.items[session] = model


class InMemoryTraces:
    def __init__(self, fail: bool = False) -> None:
        self.items: dict[str, Trace] = {}
        self.fail = fail

    def put(self, trace: Trace, ttl_days: int) -> None:
        if self.fail:
            raise StoreError("fake store is down")
        self.items[trace.trace_id] = trace

    def get(self, trace_id: str) -> Trace | None:
        if self.fail:
            raise StoreError("fake store is down")
        return self.items.get(trace_id)

    def add_feedback(self, trace_id: str, feedback: dict) -> bool:
        trace = self.get(trace_id)
        if trace is None:
            return False
        trace.feedback.append(feedback)
        return True

    def recent(self, owner: str | None, limit: int) -> list[Trace]:
        if self.fail:
            raise StoreError("fake store is down")
        mine = [t for t in self.items.values() if (t.state.request.key_id if t.state else None) == owner]
        return sorted(mine, key=lambda t: t.created_at, reverse=True)[:limit]


class ScriptedProvider:
    """Answers from a script: a callable(messages) -> text, or raises the given error. ``logprobs``
    (a dict of first-token alternatives) is returned when the caller asks for ``top_logprobs``;
    ``mean_logprob`` (the answer's own token log-probability) with every completion."""

    def __init__(self, reply=lambda messages: "4", error: Exception | None = None,
                 logprobs: dict[str, float] | None = None, mean_logprob: float | None = None) -> None:
        self.reply = reply
        self.error = error
        self.logprobs = logprobs
        self.mean_logprob = mean_logprob
        self.calls = 0

    def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        if self.error is not None:
            raise self.error
        messages, top_logprobs = request.messages, request.top_logprobs
        text = self.reply(messages)
        return Completion(text=text, input_tokens=sum(len(m.content) for m in messages) // 4,
                          output_tokens=max(1, len(text) // 4), finish_reason="stop",
                          first_token_logprobs=self.logprobs if top_logprobs else None,
                          mean_logprob=self.mean_logprob)


class ScriptedProviders:
    def __init__(self, providers: dict[str, ScriptedProvider]) -> None:
        self.providers = providers

    def provider_for(self, entry: ModelEntry):
        return self.providers[entry.model_id]


class InProcessOrchestrator:
    """Runs the cascade with the same engine and task functions as the state machine, in this process and
    without Step Functions (``service.tasks.run_in_process``). ``verifier`` and ``embed`` (its encoder)
    are the decide task's."""

    def __init__(self, catalog: InMemoryCatalog, providers, traces: InMemoryTraces,  # noqa: ANN001
                 fail_with: str | None = None, verifier=None, embed=None) -> None:  # noqa: ANN001
        self.catalog, self.providers, self.traces, self.fail_with = catalog, providers, traces, fail_with
        self.verifier, self.embed = verifier, embed

    def start(self, state: CascadeState) -> None:
        """A job: run to the end at once (the record step stores its trace, as in the state machine)."""
        self.run(state)

    def run(self, state: CascadeState) -> ExecutionOutcome:
        if self.fail_with:
            return ExecutionOutcome(status="FAILED", error=self.fail_with, cause="scripted failure")
        state = run_in_process(state, self.catalog.models(), self.providers, verifier=self.verifier,
                               embed=self.embed)
        record(state, self.traces, 1)  # the record task's work, as the state machine's Record state does
        return ExecutionOutcome(status="SUCCEEDED", state=state)


def flaky(error: Exception | None = None) -> ScriptedProvider:
    return ScriptedProvider(error=error or ProviderUnavailable("upstream 503"))


class InMemoryKeys:
    """``KeyStore`` in a dict; each operation atomic under one lock, as DynamoDB's conditional writes are."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> ApiKey | None:
        with self._lock:
            key = self.keys.get(key_hash)
            return key.model_copy() if key is not None else None

    def reserve(self, key_hash: str, amount: float, window: str | None = None) -> bool:
        with self._lock:
            key = self.keys.get(key_hash)
            if key is None or key.revoked or (window is not None and key.window != window):
                return False
            available = key.available_usd or 0.0
            if key.budget_usd is not None and available < amount:
                return False
            key.available_usd = available - amount
            return True

    def settle(self, key_hash: str, reserved: float, spent: float, window: str | None = None) -> None:
        with self._lock:
            key = self.keys.get(key_hash)
            if key is None:
                return  # the key was deleted meanwhile: nothing to settle (as in DynamoDB)
            if window is None or key.window == window:
                key.available_usd = (key.available_usd or 0.0) + reserved - spent
            key.spent_usd += spent

    def renew(self, key_hash: str, old: str | None, new: str, budget: float) -> bool:
        with self._lock:
            key = self.keys.get(key_hash)
            if key is None or key.window != old or (old is not None and old >= new):
                return False
            key.window, key.available_usd = new, budget
            return True

    def create(self, key: ApiKey) -> None:
        with self._lock:
            if key.key_hash in self.keys:
                raise StoreError(f"key {key.key_id} exists already")
            self.keys[key.key_hash] = key.model_copy(
                update={"available_usd": key.budget_usd if key.budget_usd is not None else 0.0})

    def all(self) -> list[ApiKey]:
        with self._lock:
            return sorted((k.model_copy() for k in self.keys.values()), key=lambda k: (k.created_at, k.key_id))

    def revoke(self, key_id: str) -> bool:
        with self._lock:
            for key in self.keys.values():
                if key.key_id == key_id:
                    key.revoked = True
                    return True
            return False

    def delete(self, key_hash: str) -> None:
        """An operator removing the key's item (``DeleteItem``); not part of ``KeyStore``."""
        with self._lock:
            self.keys.pop(key_hash, None)
