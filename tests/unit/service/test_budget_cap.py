"""``max_cost_usd`` is a cap: over random prompts (CJK and emoji included), prices, max_tokens and budgets,
a request is either refused before anything is spent or spends at most its budget - first tier and
judges included - even when every provider reports the most tokens a tokenizer could produce."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.costs import call_bound, input_token_bound
from switchboard.domain.planner import BudgetTooSmall
from switchboard.domain.requests import ChatRequest, Message
from switchboard.ports import Completion, CompletionRequest
from tests.support.builder import build_services, complete
from tests.support.fakes import InMemoryCatalog, InMemoryTraces

TEXT = st.text(alphabet=st.sampled_from(list("abc xyz?") + list("日本語の質問です") + ["😀", "é", "\n"]),
               min_size=1, max_size=400)


class WorstCaseProvider:
    """Answers every call with ``max_tokens`` tokens and reports as many input tokens as the bound allows
    (one per UTF-8 byte, plus template tokens): the most a real provider could bill. Judges get a verdict
    chosen by the test, so cascades escalate."""

    def __init__(self, verdict: str) -> None:
        self.verdict, self.calls = verdict, 0

    def complete(self, request: CompletionRequest):
        messages, max_tokens = request.messages, request.max_tokens
        self.calls += 1
        judging = "<<<ANSWER" in messages[-1].content
        text = self.verdict if judging else "答" * max_tokens
        return Completion(text=text, input_tokens=input_token_bound(messages), output_tokens=max_tokens,
                          finish_reason="stop")


class Providers:
    def __init__(self, verdict: str) -> None:
        self.provider = WorstCaseProvider(verdict)

    def provider_for(self, entry):
        return self.provider


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompt=TEXT, system=st.one_of(st.none(), TEXT), max_tokens=st.integers(1, 300),
       prices=st.lists(st.floats(0.01, 20.0), min_size=2, max_size=3),
       scale=st.floats(-0.5, 3.0), verdict=st.sampled_from(["VERDICT: INCORRECT", "VERDICT: CORRECT", "?"]))
def test_spend_never_exceeds_the_budget(prompt, system, max_tokens, prices, scale, verdict):
    catalog = InMemoryCatalog([ModelEntry(model_id=f"m{i}", provider="openai", provider_model=f"m{i}",
                                          endpoint="http://127.0.0.1:9/v1",
                                          price=ModelPrice(input_usd_per_mtok=p, output_usd_per_mtok=3 * p))
                               for i, p in enumerate(prices)])
    providers, traces = Providers(verdict), InMemoryTraces()
    service = build_services(catalog, providers=providers, traces=traces)
    messages = ([Message(role="system", content=system)] if system else []) + [Message(role="user", content=prompt)]
    # budgets from a third of the cheapest bare call to a thousand of them: refusals, a tier without judges,
    # judged tiers and escalations all occur
    cheapest = min(call_bound(e.price, messages, max_tokens) for e in catalog.models().values())
    budget = cheapest * 10.0 ** scale
    request = ChatRequest(messages=messages, max_tokens=max_tokens, max_cost_usd=budget)
    try:
        state = complete(service, request)
    except BudgetTooSmall:
        assert providers.provider.calls == 0, "a refused request spent nothing"
        return
    assert state.spent_usd <= budget * (1 + 1e-9), (state.spent_usd, budget)
    billed = sum(a.cost_usd for a in state.attempts)
    assert billed == pytest.approx(state.spent_usd)
    assert providers.provider.calls >= 1


def test_a_budget_that_fits_no_first_tier_is_refused_before_any_spend():
    catalog = InMemoryCatalog([ModelEntry(model_id="m", provider="openai", provider_model="m",
                                          endpoint="http://127.0.0.1:9/v1",
                                          price=ModelPrice(input_usd_per_mtok=1.0, output_usd_per_mtok=2.0))])
    providers, traces = Providers("VERDICT: CORRECT"), InMemoryTraces()
    service = build_services(catalog, providers=providers, traces=traces)
    with pytest.raises(BudgetTooSmall, match="cheapest first tier can cost up to"):
        complete(service, ChatRequest(messages=[Message(role="user", content="日本語" * 50)], max_cost_usd=1e-9))
    assert providers.provider.calls == 0 and not traces.items


def test_cjk_text_is_bounded_by_bytes_not_characters_over_four():
    cjk = [Message(role="user", content="漢" * 100)]
    assert input_token_bound(cjk) >= 300  # 100 characters, 300 UTF-8 bytes; characters / 4 would say 25
