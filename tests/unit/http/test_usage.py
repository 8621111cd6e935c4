"""``usage`` is what the request was billed for: every tier's answer and every judge's calls, each counted
once - not only the answering model's tokens."""

from __future__ import annotations

from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.requests import ChatRequest, Message
from switchboard.http.rendering import chat_completion_response
from tests.support.builder import build_services, complete
from tests.support.fakes import InMemoryCatalog, InMemoryTraces, ScriptedProvider, ScriptedProviders


class Metered(ScriptedProvider):
    """A scripted provider that keeps the token counts of every call it answers."""

    def __init__(self, reply) -> None:  # noqa: ANN001
        super().__init__(reply)
        self.billed: list[tuple[int, int]] = []

    def complete(self, request):  # noqa: ANN001, ANN201
        completion = super().complete(request)
        self.billed.append((completion.input_tokens, completion.output_tokens))
        return completion


def test_usage_counts_every_billed_call_of_the_cascade():
    entries = [ModelEntry(model_id=m, provider="openai", provider_model=m, endpoint="http://127.0.0.1:9/v1",
                          price=ModelPrice(input_usd_per_mtok=p, output_usd_per_mtok=p))
               for m, p in (("small", 0.1), ("big", 1.0))]
    # judges reject the small model's answer, so the cascade escalates: two tiers, four judges
    def reply(messages):  # noqa: ANN001, ANN202
        last = messages[-1].content
        if "<<<ANSWER" in last:
            return "VERDICT: INCORRECT" if "small says" in last else "VERDICT: CORRECT"
        return "small says 4" if reply.model == "small" else "big says 4"

    providers = {e.model_id: Metered(reply) for e in entries}

    class Source(ScriptedProviders):
        def provider_for(self, entry):  # noqa: ANN001, ANN201
            reply.model = entry.model_id
            return super().provider_for(entry)

    catalog, traces = InMemoryCatalog(entries), InMemoryTraces()
    service = build_services(catalog, providers=Source(providers), traces=traces)
    state = complete(service, ChatRequest(messages=[Message(role="user", content="What is 2+2?")], max_tokens=16))
    assert len(state.attempts) == 2
    body = chat_completion_response(state)
    calls = [c for p in providers.values() for c in p.billed]
    assert len(calls) > 2  # the answers and the judges
    assert body["usage"]["prompt_tokens"] == sum(i for i, _ in calls)
    assert body["usage"]["completion_tokens"] == sum(o for _, o in calls)
    answer = body["switchboard"]["answer_usage"]
    assert answer["prompt_tokens"] + answer["completion_tokens"] < body["usage"]["total_tokens"]
