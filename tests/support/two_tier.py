"""A two-tier cascade whose judges reject the small model's answer (so it escalates to the big one), on
scripted OpenAI-kind providers: the request the timing and tracing tests run."""

from __future__ import annotations

from switchboard.domain.catalog import ModelEntry, ModelPrice
from tests.support.builder import build_services, complete_chat
from tests.support.fakes import InMemoryCatalog, InMemoryTraces, ScriptedProvider, ScriptedProviders

MODELS = (("small", 0.1), ("big", 1.0))


def entries() -> list[ModelEntry]:
    return [ModelEntry(model_id=m, provider="openai", provider_model=f"{m}-v1", endpoint="http://127.0.0.1:9/v1",
                       price=ModelPrice(input_usd_per_mtok=p, output_usd_per_mtok=p)) for m, p in MODELS]


def reply(messages):  # noqa: ANN001, ANN202 - the judges reject the small model's answer: two tiers
    last = messages[-1].content
    if "<<<ANSWER" in last:
        return "VERDICT: INCORRECT" if "small says" in last else "VERDICT: CORRECT"
    return f"{reply.model} says 4"


class Source(ScriptedProviders):
    def provider_for(self, entry):  # noqa: ANN001, ANN201
        reply.model = entry.model_id
        return super().provider_for(entry)


def two_tier_services(traces: InMemoryTraces | None = None):  # noqa: ANN202
    models = entries()
    return build_services(InMemoryCatalog(models), traces=traces or InMemoryTraces(),
                          providers=Source({e.model_id: ScriptedProvider(reply) for e in models}))


def ask_two_tier(services):  # noqa: ANN001, ANN202
    """``POST /v1/chat/completions`` of "What is 2+2?" on ``services``; the final state."""
    return complete_chat(services, {"model": "auto", "max_tokens": 16,
                                    "messages": [{"role": "user", "content": "What is 2+2?"}]})
