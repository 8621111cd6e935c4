"""In-memory fakes of the service ports, for fast functional tests. They raise the same errors as the
real adapters (StoreError), so error mapping is tested without AWS."""

from __future__ import annotations

import hashlib

import numpy as np

from switchboard.adapters.providers.base import Completion, ProviderUnavailable
from switchboard.adapters.stores.dynamo import StoreError
from switchboard.domain.cascade import step
from switchboard.domain.models import CascadeState, JudgeTask, ModelEntry, ModelPrice
from switchboard.domain.taxonomy import Category
from switchboard.service.ports import ExecutionOutcome, Trace
from switchboard.service.tasks import run_judge, run_tier


class FakeEncoder:
    """Text -> fixed unit vector: keyword axes make taxonomy tests exact, a hash fills the rest."""

    AXES = {"python": 0, "code": 0, "function": 0, "sum": 1, "times": 1, "+": 1}

    def embed_one(self, text: str) -> np.ndarray:
        vec = np.zeros(8, dtype=np.float32)
        hits = [axis for word, axis in self.AXES.items() if word in text.lower()]
        if hits:
            for axis in hits:
                vec[axis] += 1.0
        else:
            digest = hashlib.sha256(text.encode()).digest()
            vec[2 + digest[0] % 6] = 1.0
        return vec / np.linalg.norm(vec)

    def embed(self, texts):
        return np.stack([self.embed_one(t) for t in texts])


def catalog_entry(model_id: str, provider: str = "openai", price: float = 1.0, **kw) -> ModelEntry:
    return ModelEntry(model_id=model_id, provider=provider, provider_model=kw.pop("provider_model", model_id),
                      endpoint=kw.pop("endpoint", "http://127.0.0.1:9/v1"),
                      price=ModelPrice(input_usd_per_mtok=price, output_usd_per_mtok=2 * price), **kw)


class InMemoryCatalog:
    def __init__(self, entries: list[ModelEntry]) -> None:
        self.entries = {e.model_id: e for e in entries}

    def models(self) -> dict[str, ModelEntry]:
        return dict(self.entries)


class InMemoryTaxonomy:
    def __init__(self, categories: list[Category]) -> None:
        self._categories = categories

    def categories(self) -> list[Category]:
        return self._categories


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


class ScriptedProvider:
    """Answers from a script: a callable(messages) -> text, or raises the given error."""

    def __init__(self, reply=lambda messages: "4", error: Exception | None = None) -> None:
        self.reply = reply
        self.error = error
        self.calls = 0

    def complete(self, messages, *, max_tokens, temperature, seed=None) -> Completion:
        self.calls += 1
        if self.error is not None:
            raise self.error
        text = self.reply(messages)
        return Completion(text=text, input_tokens=sum(len(m.content) for m in messages) // 4,
                          output_tokens=max(1, len(text) // 4), finish_reason="stop")


class ScriptedProviders:
    def __init__(self, providers: dict[str, ScriptedProvider]) -> None:
        self.providers = providers

    def provider_for(self, entry: ModelEntry):
        return self.providers[entry.model_id]


class InProcessOrchestrator:
    """Runs the cascade with the same task functions and policy as the state machine, sequentially and
    without Step Functions: tier -> judges -> step until the decision is not 'escalate'. Provider errors
    are caught as the state machine's Catch would."""

    def __init__(self, catalog: InMemoryCatalog, providers: ScriptedProviders, traces: InMemoryTraces,
                 fail_with: str | None = None) -> None:
        self.catalog, self.providers, self.traces, self.fail_with = catalog, providers, traces, fail_with

    def run(self, state: CascadeState) -> ExecutionOutcome:
        if self.fail_with:
            return ExecutionOutcome(status="FAILED", error=self.fail_with, cause="scripted failure")
        models = self.catalog.models()
        while True:
            try:
                result = run_tier(state, models, self.providers)
                current = result.model_dump(mode="json")
                current["verdicts"] = [
                    run_judge(JudgeTask(judge=j, request=state.request, candidate=result.candidate), models,
                              self.providers).model_dump(mode="json") for j in result.judges]
            except Exception as exc:  # noqa: BLE001 - as Catch States.ALL
                current = {"Error": type(exc).__name__, "Cause": str(exc)}
            state = step(state.model_copy(update={"current": current}))
            if state.decision.action != "escalate":
                self.traces.put(Trace(trace_id=state.request_id, created_at="now", status="succeeded",
                                      state=state), 1)
                return ExecutionOutcome(status="SUCCEEDED", state=state)


def flaky(error: Exception | None = None) -> ScriptedProvider:
    return ScriptedProvider(error=error or ProviderUnavailable("upstream 503"))
